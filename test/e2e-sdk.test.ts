import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, flush, REPO_ROOT, runCli, sql, startBridge, type BridgeProcess } from './helpers/bridge-process.ts';

const exec = promisify(execFile);
const APP = join(REPO_ROOT, 'test/fixtures/sdk-app.ts');

let bridge: BridgeProcess;

beforeAll(async () => {
  // One intake worker whatever the cores (its heap is one of the memory figures checked below).
  bridge = await startBridge({ args: ['--intake-workers', '1'] });
});
afterAll(async () => {
  const code = await bridge?.stop();
  expect(code).toBe(0);
});

async function runApp(protocol: string, caseId: string): Promise<Record<string, string>> {
  const { stdout } = await exec(process.execPath, [APP, bridge.otlpUrl, protocol, caseId], { cwd: REPO_ROOT, timeout: 60_000 });
  return JSON.parse(stdout.trim().split('\n').at(-1)!);
}

interface Row {
  event_type: string;
  correlation_id: string;
  correlation_source: string;
  trace_id: string;
  span_id: string;
  actor_id: string;
  risk: string;
  tenant: string;
  service_name: string;
  content: string;
  links: Array<{ trace_id: string; span_id: string }>;
  [k: string]: unknown;
}

describe.each([
  ['http/protobuf', 'CASE-PROTO-1'],
  ['http/json', 'CASE-JSON-1'],
])('real @opentelemetry/sdk-node over %s → bridge → chDB', (protocol, caseId) => {
  let ids: Record<string, string>;
  let rows: Row[];

  beforeAll(async () => {
    ids = await runApp(protocol, caseId);
    rows = await eventually(
      async () => {
        const r = await sql<Row>(bridge.apiUrl, `SELECT * FROM otel_audit.events WHERE correlation_id = '${caseId}' ORDER BY event_time, seq`);
        return r.length >= 6 ? r : undefined;
      },
      30_000,
      `six events under ${caseId}`,
    );
  });

  it('stores each audit event once under the case id, dropping the non-audit span', () => {
    expect(rows.map((r) => r.event_type).sort()).toEqual(
      ['approval', 'model_call', 'request', 'retrieval', 'system_effect', 'tool_call'].sort(),
    );
    expect(new Set(rows.map((r) => r.span_id)).size).toBe(rows.length);
  });

  it('puts children that arrived before their root under the root correlation id and identity', () => {
    const model = rows.find((r) => r.event_type === 'model_call')!;
    expect(model.span_id).toBe(ids.model_span_id);
    expect(model.trace_id).toBe(ids.trace_id);
    expect(model.correlation_source).toBe('ancestor');
    expect(model.actor_id).toBe('agent-42');
    expect(model.risk).toBe('high');
    expect(model.tenant).toBe('acme');
    expect(model.service_name).toBe('support-assistant');
    expect(model.provider).toBe('openai');
    expect(model.response_model).toBe('gpt-4o-mini-2024-07-18');
    expect(Number(model.input_tokens)).toBe(42);
    expect(Number(model.output_tokens)).toBe(12);
  });

  it('joins the log-record content to its model call, redacted, with digests', () => {
    const model = rows.find((r) => r.event_type === 'model_call')!;
    expect(model.content).toContain('refund request');
    expect(model.content).not.toContain('4111 1111 1111 1111');
    expect(model.content).not.toContain('jane.doe@example.com');
    expect(model.input_digest).toMatch(/^[0-9a-f]{64}$/);
    expect(model.output_digest).toMatch(/^[0-9a-f]{64}$/);
    expect(Number(model.redactions)).toBeGreaterThanOrEqual(2);
  });

  it('keeps the approval link to the proposal in the other trace', () => {
    const approval = rows.find((r) => r.event_type === 'approval')!;
    expect(approval.trace_id).toBe(ids.approval_trace_id);
    expect(approval.decision).toBe('approved');
    expect(approval.reviewer_id).toBe('lead-7');
    expect(approval.links).toEqual([{ trace_id: ids.trace_id, span_id: ids.tool_span_id }]);
    const tool = rows.find((r) => r.event_type === 'tool_call')!;
    expect(tool.approval_required).toBe(true);
    const effect = rows.find((r) => r.event_type === 'system_effect')!;
    expect(effect.correlation_id).toBe(caseId);
    expect(effect.effect).toBe('record_updated');
  });

  it('retrieval sources are structured', () => {
    const retrieval = rows.find((r) => r.event_type === 'retrieval')!;
    expect((retrieval.sources as Array<{ id: string }>).map((s) => s.id)).toEqual(['KB-1', 'KB-7']);
  });

  it('chains every event', () => {
    for (const r of rows) {
      expect(r.hash).toMatch(/^[0-9a-f]{64}$/);
      expect(Number(r.seq)).toBeGreaterThan(0);
    }
  });

  it('the CLI prints the timeline', async () => {
    const r = await runCli(['timeline', caseId, '--format', 'table', '--api-url', bridge.apiUrl]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('model_call');
    expect(r.stdout).toContain('approval');
    const lines = r.stdout.trim().split('\n');
    expect(lines.length).toBe(2 + rows.length);
    const jsonl = await runCli(['timeline', caseId, '--format', 'jsonl', '--api-url', bridge.apiUrl]);
    expect(jsonl.stdout.trim().split('\n').map((l) => JSON.parse(l).event_type)).toEqual(rows.map((r) => r.event_type));
  });
});

describe('bridge bookkeeping', () => {
  it('counts the dropped non-audit spans in /metrics', async () => {
    await flush(bridge.apiUrl);
    const text = await (await fetch(`${bridge.apiUrl}/metrics`)).text();
    const dropped = Number(/otel_audit_spans_dropped_total (\d+)/.exec(text)?.[1]);
    expect(dropped).toBeGreaterThanOrEqual(2);
    expect(text).toMatch(/otel_audit_events_stored_total \d+/);
  });

  it('shows where its memory is: the intake workers\' heaps and the embedded engine\'s own count, beside the process figures', async () => {
    const read = async () => {
      const text = await (await fetch(`${bridge.apiUrl}/metrics`)).text();
      const value = (name: string) => Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(text)?.[1]);
      return { rss: value('process_resident_memory_bytes'), intake: value('otel_audit_intake_heap_bytes'), engine: value('otel_audit_embedded_clickhouse_memory_bytes') };
    };
    // The workers' heaps are read at a scrape and shown at the next; the engine's every second.
    let m = await read();
    for (let i = 0; i < 50 && !(m.intake > 0 && m.engine > 0); i++) {
      await new Promise((r) => setTimeout(r, 100));
      m = await read();
    }
    expect(m.intake).toBeGreaterThan(1024 * 1024);
    expect(m.engine).toBeGreaterThan(1024 * 1024);
    expect(m.intake + m.engine).toBeLessThan(m.rss);
  });

  it('the trace command lists one trace', async () => {
    const ids = await sql<{ trace_id: string }>(bridge.apiUrl, `SELECT trace_id FROM otel_audit.events WHERE event_type='approval' LIMIT 1`);
    const r = await runCli(['trace', ids[0].trace_id, '--format', 'jsonl', '--api-url', bridge.apiUrl]);
    expect(r.code).toBe(0);
    const types = r.stdout.trim().split('\n').map((l) => JSON.parse(l).event_type).sort();
    expect(types).toEqual(['approval', 'system_effect']);
  });
});
