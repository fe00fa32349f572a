/**
 * Privacy end to end through the real bridge (`otel-audit serve`): every item of the secrets
 * corpus (packages/bridge/src/redact/testdata/secrets-corpus.json: credentials and personal
 * data, 208 items) is sent in every position a payload reaches (span attributes, resource
 * attributes, log-record bodies of a model call, tool arguments and results, a retrieval query,
 * an approval rationale, actor, on-behalf-of and reviewer ids), as OTLP/JSON and protobuf, at
 * every risk level. Afterwards no 8-character window of any secret may be found in any table
 * (SQL), in the bridge's own log, in the write-ahead log files, or in the raw bytes of the data
 * directory.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { flush, REPO_ROOT, sql, startBridge, type BridgeProcess } from './helpers/bridge-process.ts';
import { filesUnder, LeakFinder, type SecretItem } from './helpers/leaks.ts';
import { encodeLogs, encodeTraces, postOtlp, spanId, traceId, type LogSpec, type SpanSpec, type WireFormat } from './helpers/otlp.ts';

const corpus = JSON.parse(readFileSync(join(REPO_ROOT, 'packages/bridge/src/redact/testdata/secrets-corpus.json'), 'utf8')) as SecretItem[];
const leaks = new LeakFinder(corpus);
const RISKS = ['low', 'medium', 'high'] as const;
const BATCH = 20;
/** Events per corpus item: request, tool call, retrieval, approval, model call. */
const PER_ITEM = 5;

let bridge: BridgeProcess;
let walBeforeStop: Array<[string, string]> = [];

function itemTelemetry(item: SecretItem, i: number): { spans: SpanSpec[]; logs: LogSpec[] } {
  const v = item.value;
  const t = traceId();
  const root = spanId();
  const model = spanId();
  const spans: SpanSpec[] = [
    {
      traceId: t,
      spanId: root,
      name: 'POST /support/answer',
      kind: 1,
      attributes: {
        'audit.event.type': 'request',
        'audit.correlation_id': `PRIV-${i}`,
        'audit.actor.id': v,
        'audit.actor.type': 'human',
        'audit.on_behalf_of': v,
        'audit.risk': RISKS[i % 3],
        'app.customer.note': `the customer wrote ${v} in the form`,
        'app.payload': JSON.stringify({ field: v }),
      },
    },
    {
      traceId: t,
      spanId: spanId(),
      parentSpanId: root,
      name: 'execute_tool crm_update',
      attributes: {
        'gen_ai.operation.name': 'execute_tool',
        'gen_ai.tool.name': 'crm_update',
        'gen_ai.tool.call.arguments': JSON.stringify({ account: 'ACC-9', note: v }),
        'gen_ai.tool.call.result': `updated with ${v}`,
      },
    },
    {
      traceId: t,
      spanId: spanId(),
      parentSpanId: root,
      name: 'retrieval kb',
      attributes: { 'gen_ai.operation.name': 'retrieval', 'gen_ai.data_source.id': 'kb', 'gen_ai.retrieval.query.text': `find ${v}` },
    },
    {
      traceId: t,
      spanId: model,
      parentSpanId: root,
      name: 'chat gpt-4o-mini',
      kind: 2,
      attributes: { 'gen_ai.operation.name': 'chat', 'gen_ai.system': 'openai', 'gen_ai.request.model': 'gpt-4o-mini' },
    },
    {
      traceId: t,
      spanId: spanId(),
      parentSpanId: root,
      name: 'approval',
      attributes: {
        'audit.approval.decision': 'approved',
        'audit.approval.reviewer.id': v,
        'audit.approval.reviewer.role': 'lead',
        'audit.approval.rationale': `approved, customer confirmed ${v}`,
      },
    },
  ];
  const logs: LogSpec[] = [
    { traceId: t, spanId: model, eventName: 'gen_ai.user.message', attributes: { 'gen_ai.system': 'openai' }, body: { content: `my details: ${v}` } },
    {
      traceId: t,
      spanId: model,
      eventName: 'gen_ai.choice',
      attributes: { 'gen_ai.system': 'openai' },
      body: { index: 0, finish_reason: 'stop', message: { role: 'assistant', content: `I noted ${v}` } },
    },
  ];
  return { spans, logs };
}

beforeAll(async () => {
  // Intake on the main thread here (the other end-to-end tests use the default worker threads).
  bridge = await startBridge({ args: ['--content-wait', '500ms', '--decision-wait', '2s', '--intake-workers', '0'] });
  for (let b = 0; b * BATCH < corpus.length; b++) {
    const batch = corpus.slice(b * BATCH, (b + 1) * BATCH);
    const format: WireFormat = b % 2 ? 'protobuf' : 'json';
    // Resource attributes too: one per item of the batch.
    const resource = {
      'service.name': 'privacy-e2e',
      'audit.tenant': 'acme',
      ...Object.fromEntries(batch.map((item, j) => [`app.owner.${j}`, `owner ${item.value}`])),
    };
    const all = batch.map((item, j) => itemTelemetry(item, b * BATCH + j));
    // Content first, as the official OpenAI instrumentation sends it, then the spans.
    const lr = await postOtlp(bridge.otlpUrl, 'logs', encodeLogs(all.flatMap((x) => x.logs), format, resource), { format });
    expect(lr.status).toBe(200);
    const tr = await postOtlp(bridge.otlpUrl, 'traces', encodeTraces(all.flatMap((x) => x.spans), format, resource), { format, gzip: b % 3 === 0 });
    expect(tr.status).toBe(200);
  }
  // The control: the same telemetry with a harmless value, in its own request.
  const control = itemTelemetry({ kind: 'control', value: 'harmless-value' }, 0);
  for (const s of control.spans) if (s.attributes?.['audit.correlation_id']) s.attributes['audit.correlation_id'] = 'PRIV-CONTROL';
  const ctlResource = { 'service.name': 'privacy-e2e', 'audit.tenant': 'acme', 'app.owner.0': 'owner harmless-value' };
  expect((await postOtlp(bridge.otlpUrl, 'logs', encodeLogs(control.logs, 'json', ctlResource))).status).toBe(200);
  expect((await postOtlp(bridge.otlpUrl, 'traces', encodeTraces(control.spans, 'json', ctlResource))).status).toBe(200);
  await flush(bridge.apiUrl);
  const res = await fetch(`${bridge.apiUrl}/api/v1/sql?format=jsonl`, {
    method: 'POST',
    body: `SELECT * FROM otel_audit.events WHERE correlation_id = 'PRIV-CONTROL' OR seq = 1`,
  });
  const controlRows = await res.text();
  expect(controlRows.split('\n').filter(Boolean).length).toBeGreaterThanOrEqual(PER_ITEM);
  // What the detectors keep on purpose (a URL's host around its masked password, ...) is no leak.
  const kept = corpus.map((item) => (item.secret ? item.value.replace(item.secret, ' ') : '')).join('\n');
  leaks.ignore(controlRows + '\n' + kept);
  walBeforeStop = filesUnder(join(bridge.dataDir, 'wal'));
}, 120_000);

afterAll(async () => {
  if (bridge && bridge.child.exitCode === null) await bridge.stop();
});

describe('the secrets corpus through the real bridge', () => {
  it(`stores every event: ${corpus.length} items × ${PER_ITEM} events, at every risk level, content per risk`, async () => {
    const rows = await sql<{ risk: string; event_type: string; n: string; with_content: string; sealed: string; digests: string }>(
      bridge.apiUrl,
      `SELECT risk, event_type, count() AS n, countIf(content != '') AS with_content, countIf(content_sealed != '') AS sealed, countIf(input_digest != '' OR output_digest != '') AS digests
       FROM otel_audit.events WHERE correlation_id LIKE 'PRIV-%' AND correlation_id != 'PRIV-CONTROL' GROUP BY risk, event_type ORDER BY risk, event_type`,
    );
    const total = rows.reduce((n, r) => n + Number(r.n), 0);
    expect(total).toBe(corpus.length * PER_ITEM);
    const model = (risk: string) => rows.find((r) => r.risk === risk && r.event_type === 'model_call')!;
    // low: digests only; medium: redacted content; high: redacted content and sealed raw content.
    expect(model('low')).toMatchObject({ with_content: '0', sealed: '0', digests: model('low').n });
    expect(model('medium')).toMatchObject({ with_content: model('medium').n, sealed: '0' });
    expect(model('high')).toMatchObject({ with_content: model('high').n, sealed: model('high').n });
    // Identities held personal data or secrets: all are pseudonyms now.
    const ids = await sql<{ a: string; o: string; r: string }>(
      bridge.apiUrl,
      `SELECT countIf(actor_id NOT LIKE 'pii:%') AS a, countIf(on_behalf_of NOT LIKE 'pii:%') AS o, countIf(event_type = 'approval' AND reviewer_id NOT LIKE 'pii:%') AS r
       FROM otel_audit.events WHERE correlation_id LIKE 'PRIV-%' AND correlation_id != 'PRIV-CONTROL'`,
    );
    expect(ids[0]).toEqual({ a: '0', o: '0', r: '0' });
  });

  it('leaves no plaintext in any table (every column of every table, read through SQL)', async () => {
    const tables = await sql<{ name: string }>(
      bridge.apiUrl,
      `SELECT name FROM system.tables WHERE database = 'otel_audit' AND engine NOT LIKE '%View%' ORDER BY name`,
    );
    expect(tables.map((t) => t.name)).toEqual(expect.arrayContaining(['events', 'checkpoints', 'schema_migrations']));
    let dumped = 0;
    for (const { name } of tables) {
      const res = await fetch(`${bridge.apiUrl}/api/v1/sql?format=jsonl`, { method: 'POST', body: `SELECT * FROM otel_audit.${name}` });
      expect(res.status).toBe(200);
      const text = await res.text();
      dumped += text.length;
      expect(leaks.find(text), `table ${name}`).toEqual([]);
      // Stored redacted, not dropped: the masks name what was there.
      if (name === 'events') for (const mask of ['[email]', '[card …', '[iban]', '[openai-key]', '[private-key]', '[secret]']) expect(text).toContain(mask);
    }
    expect(dumped).toBeGreaterThan(corpus.length * PER_ITEM * 500);
  });

  it('leaves no plaintext in the write-ahead log files (sealed with AES-256-GCM)', () => {
    expect(walBeforeStop.length).toBeGreaterThan(0);
    const bytes = walBeforeStop.reduce((n, [, text]) => n + text.length, 0);
    expect(bytes).toBeGreaterThan(100_000);
    for (const [file, text] of walBeforeStop) expect(leaks.find(text), file).toEqual([]);
  });

  it("leaves no plaintext in the bridge's log, nor in any file of the data directory once it stopped", async () => {
    expect(await bridge.stop()).toBe(0);
    const log = bridge.log();
    expect(log).toContain('otel-audit bridge stopped');
    expect(leaks.find(log)).toEqual([]);
    const files = filesUnder(bridge.dataDir);
    expect(files.some(([f]) => f.includes(`${join('keys', 'subjects')}`))).toBe(true);
    for (const [file, text] of files) expect(leaks.find(text), file).toEqual([]);
  });
});
