import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { eventually, REPO_ROOT, sql, startBridge, type BridgeProcess } from './helpers/bridge-process.ts';

const exec = promisify(execFile);
let bridge: BridgeProcess;

beforeAll(async () => {
  bridge = await startBridge();
});
afterAll(async () => {
  await bridge?.stop();
});

it('the real openai v6 client, instrumented by @opentelemetry/instrumentation-openai, lands as an audited model call with its content', async () => {
  const { stdout } = await exec(process.execPath, [join(REPO_ROOT, 'test/fixtures/openai-app.ts'), bridge.otlpUrl, 'TICKET-501'], {
    cwd: REPO_ROOT,
    timeout: 60_000,
    env: { ...process.env, OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT: 'true' },
  });
  const app = JSON.parse(stdout.trim().split('\n').at(-1)!);
  expect(app.answer).toContain('refund');

  const rows = await eventually(
    async () => {
      const r = await sql<Record<string, unknown>>(bridge.apiUrl, "SELECT * FROM otel_audit.events WHERE correlation_id = 'TICKET-501' ORDER BY event_time");
      return r.length === 2 && r.some((x) => x.event_type === 'model_call' && String(x.content).includes('refund')) ? r : undefined;
    },
    30_000,
    'the model call with its content',
  );
  const model = rows.find((r) => r.event_type === 'model_call')!;
  expect(model).toMatchObject({
    trace_id: app.trace_id,
    provider: 'openai',
    request_model: 'gpt-4o',
    response_model: 'gpt-4o-2024-08-06',
    input_tokens: '31',
    output_tokens: '11',
    actor_id: 'support-bot',
    on_behalf_of: 'cust-77',
    correlation_source: 'ancestor',
    service_name: 'openai-support-bot',
  });
  const content = JSON.parse(String(model.content));
  expect(JSON.stringify(content.system)).toContain('support assistant');
  expect(JSON.stringify(content.input)).toContain('Where is my refund?');
  expect(JSON.stringify(content.output)).toContain('on its way');
  // The password in the prompt never reaches storage.
  expect(String(model.content)).not.toContain('hunter2-Secret!');
  const everything = JSON.stringify(rows);
  expect(everything).not.toContain('hunter2-Secret!');
  expect(everything).not.toContain('sk-proj-e2eTestKey');
  expect(bridge.log()).not.toContain('hunter2');
  // The write-ahead log keeps requests as they arrived, so it is sealed: no plaintext on disk.
  const walDir = join(bridge.dataDir, 'wal');
  for (const f of readdirSync(walDir)) {
    const bytes = readFileSync(join(walDir, f));
    expect(bytes.includes('hunter2-Secret!')).toBe(false);
    expect(bytes.includes('Where is my refund')).toBe(false);
  }
});
