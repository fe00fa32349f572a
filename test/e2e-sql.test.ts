/**
 * Read-only SQL end to end (DESIGN 3.4, issue 10): a real bridge with an auth file, the HTTP
 * endpoint and the `otel-audit sql` CLI. Every statement kind but SELECT and every vector that
 * reaches outside the audit database is refused with a 400 naming what was wrong, and changes
 * nothing; a reader limited to a tenant sees that tenant's rows only; a runaway query is
 * stopped by the time limit while /readyz and ingest keep answering; more queries than the
 * slots get 429.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { flush, runCli, startBridge, tempDir, writeAuthFile, type BridgeProcess } from './helpers/bridge-process.ts';
import { sendSpans, spanId, traceId, type SpanSpec } from './helpers/otlp.ts';

const TOKENS = {
  admin: 'admin-token-0123456789abcdef',
  readerAll: 'reader-all-0123456789abcdef',
  readerAcme: 'reader-acme-0123456789abcdef',
  ingestAcme: 'ingest-acme-0123456789abcdef',
  ingestGlobex: 'ingest-globex-0123456789abcdef',
};

let bridge: BridgeProcess;
const OUTFILE = join(tempDir('otel-audit-outfile-'), 'leak.txt');

/** One span of each kind the analyst views select, in its own trace. */
function spans(tenantCase: string): SpanSpec[] {
  const t = traceId();
  const root = spanId();
  const now = Date.now();
  return [
    { traceId: t, spanId: spanId(), parentSpanId: root, name: 'chat m', startMs: now + 1, attributes: { 'gen_ai.operation.name': 'chat', 'gen_ai.request.model': 'm' } },
    { traceId: t, spanId: spanId(), parentSpanId: root, name: 'retrieve', startMs: now + 2, attributes: { 'gen_ai.operation.name': 'retrieval', 'audit.event.type': 'retrieval' } },
    { traceId: t, spanId: spanId(), parentSpanId: root, name: 'execute_tool crm', startMs: now + 3, attributes: { 'gen_ai.operation.name': 'execute_tool', 'gen_ai.tool.name': 'crm' } },
    { traceId: t, spanId: spanId(), parentSpanId: root, name: 'approve', startMs: now + 4, attributes: { 'audit.approval.decision': 'approved', 'audit.approval.reviewer.id': 'r' } },
    { traceId: t, spanId: spanId(), parentSpanId: root, name: 'effect', startMs: now + 5, attributes: { 'audit.event.type': 'system_effect', 'audit.effect': 'note_saved' } },
    { traceId: t, spanId: root, name: 'POST /x', kind: 1, startMs: now, attributes: { 'audit.correlation_id': tenantCase } },
  ];
}

beforeAll(async () => {
  const dir = tempDir();
  const auth = writeAuthFile(dir, [
    { name: 'ops', token: TOKENS.admin, roles: ['admin'], tenants: ['*'] },
    { name: 'analyst', token: TOKENS.readerAll, roles: ['reader'], tenants: ['*'] },
    { name: 'acme-analyst', token: TOKENS.readerAcme, roles: ['reader'], tenants: ['acme'] },
    { name: 'app-acme', token: TOKENS.ingestAcme, roles: ['ingest'], tenants: ['acme'] },
    { name: 'app-globex', token: TOKENS.ingestGlobex, roles: ['ingest'], tenants: ['globex'] },
  ]);
  bridge = await startBridge({ args: ['--auth-file', auth, '--sql-timeout', '2s', '--otlp-grpc', 'off'] });
  await sendSpans(bridge.otlpUrl, spans('ACME-1'), { 'service.name': 'a' }, TOKENS.ingestAcme);
  await sendSpans(bridge.otlpUrl, spans('GLOBEX-1'), { 'service.name': 'g' }, TOKENS.ingestGlobex);
  await flush(bridge.apiUrl, TOKENS.admin);
});
afterAll(async () => {
  expect(await bridge?.stop()).toBe(0);
});

async function post(query: string, token = TOKENS.admin, format = 'jsonl'): Promise<{ status: number; body: string; headers: Headers }> {
  const res = await fetch(`${bridge.apiUrl}/api/v1/sql?format=${format}`, { method: 'POST', body: query, headers: { authorization: `Bearer ${token}` } });
  return { status: res.status, body: await res.text(), headers: res.headers };
}

async function rows(query: string, token = TOKENS.admin): Promise<Array<Record<string, string>>> {
  const r = await post(query, token);
  if (r.status !== 200) throw new Error(`${r.status} ${r.body}`);
  return r.body
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, string>);
}

const STATE = `SELECT (SELECT count() FROM otel_audit.events) AS events, (SELECT count() FROM otel_audit.checkpoints) AS checkpoints,
  (SELECT groupArray(name) FROM (SELECT name FROM system.tables ORDER BY name)) AS tables`;

describe('refused with 400, naming what was wrong, and nothing changed', () => {
  let before: Record<string, string>;
  beforeAll(async () => {
    [before] = await rows(STATE);
    expect(Number(before.events)).toBeGreaterThanOrEqual(12);
  });

  const VECTORS: Array<[string, RegExp]> = [
    // Issue 10's vectors.
    ['SELECT * FROM `file`(\'<data-dir>/keys/signing-key.pem\', \'LineAsString\')', /^table function file\(\) is not allowed/],
    ["SELECT * /* ' */ FROM file('/etc/passwd','LineAsString') /* ' */", /^table function file\(\) is not allowed/],
    ["SELECT 1 /* ' */; DROP TABLE otel_audit.events; SELECT 1 /* ' */", /^only one statement is allowed/],
    ["SELECT 1 /* ' */; ALTER TABLE otel_audit.events DELETE WHERE 1; SELECT 1 /* ' */", /^only one statement is allowed/],
    [`SELECT event_id FROM otel_audit.events INTO OUTFILE '${OUTFILE}'`, /^INTO OUTFILE is not allowed/],
    ["ALTER TABLE otel_audit.events UPDATE tenant = 'x' WHERE 1", /^ALTER is not allowed/],
    ['ALTER TABLE otel_audit.checkpoints DELETE WHERE 1', /^ALTER is not allowed/],
    ['CREATE TABLE otel_audit.x (a Int8) ENGINE = Memory', /^CREATE is not allowed/],
    ['SELECT 1 SETTINGS `max_execution_time` = 0', /^SETTINGS is not allowed/],
    // And their relatives.
    ["SELECT file('/etc/passwd')", /^file\(\) is not allowed: it reads files of the bridge host/],
    ["SELECT count() FROM otel_audit.events WHERE event_id IN (SELECT * FROM file('/etc/passwd', 'LineAsString'))", /^table function file\(\) is not allowed/],
    ["WITH s AS (SELECT file('/etc/passwd') AS f) SELECT f FROM s", /^file\(\) is not allowed/],
    ['SELECT name FROM system.users', /^system\.users is not allowed/],
    ['SELECT * FROM system.settings', /^system\.settings is not allowed/],
    ["SELECT * FROM url('http://127.0.0.1:1/', 'LineAsString')", /^table function url\(\) is not allowed/],
    ["SELECT * FROM remote('127.0.0.1', system.one)", /^table function remote\(\) is not allowed/],
    ["SELECT * FROM input('a UInt8')", /^table function input\(\) is not allowed/],
    ["SELECT * FROM dictionary('d')", /^table function dictionary\(\) is not allowed/],
    ["SELECT * FROM merge(REGEXP('.*'), '.*')", /^table function merge\(\) is not allowed/],
    ["SELECT dictGet('d', 'a', 1)", /^dictGet\(\) is not allowed/],
    ["SELECT getSetting('additional_table_filters')", /^getSetting\(\) is not allowed/],
    ['SELECT 1 FORMAT TSV', /^FORMAT is not allowed in the query/],
  ];

  it.each(VECTORS)('%s', async (template, why) => {
    const query = template.replace('<data-dir>', bridge.dataDir);
    const r = await post(query);
    expect(r.status, r.body).toBe(400);
    const body = JSON.parse(r.body) as { error: string };
    expect(body.error).toMatch(why);
    expect(r.body).not.toContain('PRIVATE KEY');
  });

  const STATEMENTS = [
    'SHOW TABLES', 'DESCRIBE otel_audit.events', 'EXPLAIN SELECT 1', 'SYSTEM FLUSH LOGS', 'KILL QUERY WHERE 1', 'OPTIMIZE TABLE otel_audit.events FINAL',
    'ATTACH TABLE otel_audit.x', 'DETACH TABLE otel_audit.events', "BACKUP TABLE otel_audit.events TO Disk('backups', 'b.zip')",
    "RESTORE TABLE otel_audit.events FROM Disk('backups', 'b.zip')", 'GRANT SELECT ON *.* TO u', 'REVOKE SELECT ON *.* FROM u', 'CREATE USER u',
    'DROP TABLE otel_audit.events', "INSERT INTO otel_audit.events (event_id) VALUES ('x')", 'DELETE FROM otel_audit.events WHERE 1',
    "UPDATE otel_audit.events SET tenant = 'x' WHERE 1", 'TRUNCATE TABLE otel_audit.events', 'RENAME TABLE otel_audit.events TO otel_audit.e2',
    'EXCHANGE TABLES otel_audit.events AND otel_audit.checkpoints', 'SET readonly = 0', 'USE system', 'CHECK TABLE otel_audit.events', 'WATCH lv',
    'MOVE USER u TO local_directory', 'UNDROP TABLE otel_audit.x', 'EXISTS TABLE otel_audit.events',
  ];

  it.each(STATEMENTS)('%s', async (query) => {
    const r = await post(query);
    expect(r.status, r.body).toBe(400);
    const kind = query.split(' ')[0];
    expect((JSON.parse(r.body) as { error: string }).error).toBe(`${kind} is not allowed: sql runs one SELECT (or WITH … SELECT) and nothing else`);
  });

  it('the CLI exits 2 with the message and prints nothing on stdout', async () => {
    const env = { OTEL_AUDIT_TOKEN: TOKENS.admin };
    for (const [query, why] of [
      [`SELECT * FROM \`file\`('${bridge.dataDir}/keys/signing-key.pem', 'LineAsString')`, /table function file\(\) is not allowed/],
      ["SELECT 1 /* ' */; SELECT 2 /* ' */", /only one statement is allowed/],
      ['SELECT 1 SETTINGS max_execution_time = 0', /SETTINGS is not allowed/],
      ['SELECT count() FROM otel_audit.events FORMAT TSV', /FORMAT is not allowed/],
    ] as Array<[string, RegExp]>) {
      const r = await runCli(['sql', query, '--format', 'jsonl', '--api-url', bridge.apiUrl], env);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(why);
      expect(r.stdout).toBe('');
    }
  });

  it('a JSON body {"query", "format"} is checked the same way', async () => {
    const res = await fetch(`${bridge.apiUrl}/api/v1/sql`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKENS.admin}`, 'content-type': 'application/json' },
      body: JSON.stringify({ query: "SELECT file('/etc/passwd')", format: 'csv' }),
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: string }).error).toMatch(/^file\(\) is not allowed/);
  });

  it('nothing was written, dropped or created', async () => {
    expect((await rows(STATE))[0]).toEqual(before);
    expect(existsSync(OUTFILE)).toBe(false);
  });
});

describe('a reader limited to a tenant sees its rows only (the engine filters every table and view)', () => {
  it.each(['otel_audit.events', 'timeline', 'model_calls', 'retrievals', 'tool_calls', 'approvals', 'system_effects'])('%s', async (table) => {
    const q = `SELECT DISTINCT tenant FROM ${table} ORDER BY tenant`;
    expect((await rows(q, TOKENS.readerAcme)).map((r) => r.tenant)).toEqual(['acme']);
    expect((await rows(q, TOKENS.readerAll)).map((r) => r.tenant)).toEqual(['acme', 'globex']);
  });

  it('through subqueries, joins and the CLI too; checkpoints and system.tables are hidden from it', async () => {
    const q = "SELECT count() AS n FROM events WHERE event_id IN (SELECT event_id FROM timeline WHERE tenant = 'globex')";
    expect(await rows(q, TOKENS.readerAcme)).toEqual([{ n: '0' }]);
    expect(Number((await rows(q, TOKENS.readerAll))[0].n)).toBeGreaterThan(0);
    expect(await rows('SELECT count() AS n FROM checkpoints', TOKENS.readerAcme)).toEqual([{ n: '0' }]);
    expect(await rows('SELECT count() AS n FROM system.tables', TOKENS.readerAcme)).toEqual([{ n: '0' }]);
    const cli = await runCli(['sql', 'SELECT DISTINCT tenant FROM otel_audit.events', '--format', 'csv', '--api-url', bridge.apiUrl], { OTEL_AUDIT_TOKEN: TOKENS.readerAcme });
    expect(cli.code, cli.stderr).toBe(0);
    expect(cli.stdout).toBe('"tenant"\n"acme"\n');
  });
});

describe('limits', () => {
  it('a runaway query is stopped by the time limit; /readyz and ingest answer within a second meanwhile', async () => {
    const started = Date.now();
    const runaway = post('SELECT count() FROM numbers(1e12)');
    await new Promise((r) => setTimeout(r, 300));
    let t = Date.now();
    const ready = await fetch(`${bridge.apiUrl}/readyz`);
    expect(ready.status).toBe(200);
    expect(Date.now() - t).toBeLessThan(1000);
    t = Date.now();
    await sendSpans(bridge.otlpUrl, spans('ACME-2'), { 'service.name': 'a' }, TOKENS.ingestAcme);
    expect(Date.now() - t).toBeLessThan(1000);
    t = Date.now();
    expect(await rows('SELECT 1 AS one', TOKENS.readerAll)).toEqual([{ one: 1 }]);
    expect(Date.now() - t).toBeLessThan(1000);
    const r = await runaway;
    expect(r.status).toBe(400);
    expect(r.body).toMatch(/Timeout exceeded/);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('more queries than the slots (2) get 429 with Retry-After', async () => {
    const a = post('SELECT count() FROM numbers(1e12)');
    const b = post('SELECT count() FROM numbers(1e12)', TOKENS.readerAll);
    await new Promise((r) => setTimeout(r, 300));
    const c = await post('SELECT 1');
    expect(c.status).toBe(429);
    expect(c.headers.get('retry-after')).toBe('1');
    expect(c.body).toMatch(/sql queries are running/);
    expect((await a).status).toBe(400);
    expect((await b).status).toBe(400);
    expect((await post('SELECT 1')).status).toBe(200);
  });
});
