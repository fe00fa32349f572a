/**
 * The CLI contract (DESIGN 3.1), with the real `otel-audit` binary against a real bridge:
 * usage and exit codes, listings in every format, read-only SQL, migrations, and the checked-in
 * DDL that must never drift from what `migrate --print` generates.
 */
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, flush, REPO_ROOT, runCli, sql, startBridge, tempDir, type BridgeProcess } from './helpers/bridge-process.ts';
import { sendSpans, spanId, traceId, type SpanSpec } from './helpers/otlp.ts';

// Every CLI run is a fresh Node process: let them share compiled code (about 3x faster starts).
process.env.NODE_COMPILE_CACHE ??= join(tmpdir(), 'otel-audit-test-compile-cache');

let bridge: BridgeProcess;
const api = () => ['--api-url', bridge.apiUrl];

/** Runs the CLI against the test bridge. */
const cli = (...args: string[]) => runCli([...args, ...api()]);

// Seed data: case A (recent, with an approval in another trace) and case B (mid-2025).
const NOW = Date.now();
const TA = traceId();
const TB = traceId();
const TC = traceId();
const A_ROOT = spanId();
const A_MODEL = spanId();
const A_TOOL = spanId();
const B_APPROVAL = spanId();
const C_ROOT = spanId();
const C_TOOL = spanId();
const OLD = Date.parse('2025-06-01T12:00:00Z');
const TD = traceId();
const D_OUTCOME = spanId();
const ODD_CASE = 'CASE/7 #x ?y=1 %2F ü';

const SEED: SpanSpec[] = [
  // Children first, as SDKs export them.
  {
    traceId: TA,
    spanId: A_MODEL,
    parentSpanId: A_ROOT,
    name: 'chat gpt-4o-mini',
    kind: 2,
    startMs: NOW - 30 * 60_000 + 1000,
    attributes: { 'gen_ai.operation.name': 'chat', 'gen_ai.system': 'openai', 'gen_ai.request.model': 'gpt-4o-mini' },
  },
  {
    traceId: TA,
    spanId: A_TOOL,
    parentSpanId: A_ROOT,
    name: 'execute_tool crm_update',
    startMs: NOW - 30 * 60_000 + 2000,
    attributes: {
      'gen_ai.operation.name': 'execute_tool',
      'gen_ai.tool.name': 'crm_update',
      'audit.tool.action': 'update',
      'audit.target.system': 'crm',
      'audit.target.id': 'ACC-9',
      'audit.approval.required': true,
    },
  },
  {
    traceId: TA,
    spanId: A_ROOT,
    name: 'POST /support/answer',
    kind: 1,
    startMs: NOW - 30 * 60_000,
    attributes: { 'audit.correlation_id': 'CLI-CASE-A', 'audit.actor.id': 'alice', 'audit.actor.type': 'human', 'audit.purpose': 'answer' },
  },
  {
    traceId: TB,
    spanId: B_APPROVAL,
    name: 'approval approved',
    startMs: NOW - 20 * 60_000,
    links: [{ traceId: TA, spanId: A_TOOL }],
    attributes: {
      'audit.correlation_id': 'CLI-CASE-A',
      'audit.approval.decision': 'approved',
      'audit.approval.reviewer.id': 'lead-7',
      'audit.actor.id': 'lead-7',
      'audit.actor.type': 'human',
    },
  },
  {
    traceId: TC,
    spanId: C_ROOT,
    name: 'POST /kb/search',
    kind: 1,
    startMs: OLD,
    attributes: { 'audit.correlation_id': 'CLI-CASE-B', 'audit.actor.id': 'bob', 'audit.actor.type': 'human' },
  },
  {
    traceId: TC,
    spanId: C_TOOL,
    parentSpanId: C_ROOT,
    name: 'execute_tool search_kb',
    startMs: OLD + 1000,
    attributes: { 'gen_ai.operation.name': 'execute_tool', 'gen_ai.tool.name': 'search_kb', 'audit.tool.action': 'search' },
  },
  // A correlation id that needs escaping in a URL path.
  {
    traceId: TD,
    spanId: D_OUTCOME,
    name: 'case closed',
    startMs: Date.parse('2024-01-01T00:00:00Z'),
    attributes: { 'audit.correlation_id': ODD_CASE, 'audit.event.type': 'outcome', 'audit.outcome': 'completed' },
  },
];

beforeAll(async () => {
  bridge = await startBridge();
  // One request per span, over OTLP/JSON.
  for (const s of SEED) await sendSpans(bridge.otlpUrl, [s]);
  await flush(bridge.apiUrl);
  const n = await sql<{ n: string }>(bridge.apiUrl, 'SELECT count() AS n FROM otel_audit.events');
  if (Number(n[0].n) !== SEED.length) throw new Error(`seeding stored ${n[0].n} events, expected ${SEED.length}`);
});
afterAll(async () => {
  const code = await bridge?.stop();
  expect(code).toBe(0);
});

interface Event {
  event_type: string;
  span_id: string;
  trace_id: string;
  correlation_id: string;
  event_time: string;
  [k: string]: unknown;
}

function jsonl(stdout: string): Event[] {
  return stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Event);
}

/** RFC 4180 CSV (ClickHouse's CSVWithNames): quoted fields, "" for a quote, newlines inside quotes. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      row.push(field);
      field = '';
    } else if (c === '\n') {
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
    } else field += c;
  }
  if (field || row.length) {
    row.push(field);
    rows.push(row);
  }
  return rows;
}

const spanIdsOf = (events: Event[]) => events.map((e) => e.span_id).sort();

describe('usage', () => {
  it('lists the commands; --help on each exits 0 and prints its usage', async () => {
    const main = await runCli(['--help']);
    expect(main.code).toBe(0);
    const commands = [...main.stdout.matchAll(/^ {2}(\S+)\s{2,}\S/gm)].map((m) => m[1]);
    expect(commands).toEqual(expect.arrayContaining(['serve', 'timeline', 'trace', 'event', 'search', 'export', 'sql', 'migrate']));
    const runs = commands.flatMap((c) => ['--help', '-h'].map((flag) => [c, flag]));
    const results = await Promise.all(runs.map((args) => runCli(args)));
    results.forEach((r, i) => {
      const [c, flag] = runs[i];
      expect(r.code, `${c} ${flag}`).toBe(0);
      expect(r.stdout).toContain(`Usage: otel-audit ${c}`);
      expect(r.stderr).toBe('');
    });
  });

  it('no command exits 2 with the usage; an unknown command exits 2', async () => {
    const none = await runCli([]);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('Usage: otel-audit <command>');
    expect(none.stdout).toBe('');
    const unknown = await runCli(['frobnicate']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('unknown command "frobnicate"');
    expect(unknown.stdout).toBe('');
  });

  it('an unknown flag exits 2 and names the flag', async () => {
    const cases = [['timeline', 'X', '--bogus'], ['search', '--actr', 'alice'], ['migrate', '--print', '--clustr', 'c']];
    const results = await Promise.all(cases.map((args) => runCli(args)));
    for (const [i, args] of cases.entries()) {
      const r = results[i];
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toContain(args.find((a) => a.startsWith('--') && a !== '--print')!);
      expect(r.stderr).toContain('Usage:');
      expect(r.stdout).toBe('');
    }
  });

  it('a flag missing its value exits 2', async () => {
    const r = await runCli(['search', '--actor']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--actor');
  });
});

describe('listings', () => {
  it('timeline: every event of the case, across traces, in time order; jsonl by default off a terminal', async () => {
    const r = await cli('timeline', 'CLI-CASE-A');
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    const events = jsonl(r.stdout);
    expect(events.map((e) => e.span_id)).toEqual([A_ROOT, A_MODEL, A_TOOL, B_APPROVAL]);
    expect(events.map((e) => e.event_type)).toEqual(['request', 'model_call', 'tool_call', 'approval']);
    expect(new Set(events.map((e) => e.trace_id))).toEqual(new Set([TA, TB]));
    expect(events.every((e) => e.correlation_id === 'CLI-CASE-A')).toBe(true);
  });

  it('timeline of a correlation id with characters that need escaping', async () => {
    const r = await cli('timeline', ODD_CASE, '--format', 'jsonl');
    expect(r.code, r.stderr).toBe(0);
    const events = jsonl(r.stdout);
    expect(events.map((e) => [e.span_id, e.event_type, e.correlation_id])).toEqual([[D_OUTCOME, 'outcome', ODD_CASE]]);
  });

  it('timeline as a table and as CSV', async () => {
    const table = await cli('timeline', 'CLI-CASE-A', '--format', 'table');
    expect(table.code).toBe(0);
    const lines = table.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^time\s+type\s+what\s+actor\s+status\s+trace_id\s+span_id$/);
    expect(lines[1]).toMatch(/^[- ]+$/);
    expect(lines).toHaveLength(2 + 4);
    expect(lines[4]).toContain('crm_update update crm/ACC-9');
    expect(lines[5]).toContain('approved by lead-7');

    const csv = await cli('timeline', 'CLI-CASE-A', '--format', 'csv');
    expect(csv.code).toBe(0);
    const rows = parseCsv(csv.stdout);
    const header = rows[0];
    // For people: plain column names, the ids among them.
    expect(header.slice(0, 5)).toEqual(['Time (UTC)', 'Event type', 'Name', 'Case', 'Actor']);
    expect(header).toEqual(expect.arrayContaining(['Event ID', 'Span ID', 'Trace ID', 'Seq', 'Hash', 'Sealed content']));
    expect(rows.slice(1).map((row) => row[header.indexOf('Span ID')])).toEqual([A_ROOT, A_MODEL, A_TOOL, B_APPROVAL]);
    const approval = rows[4];
    expect(approval[header.indexOf('Links')]).toBe(`${TA}/${A_TOOL}`);
    expect(approval[header.indexOf('Decision')]).toBe('approved');
    // Nulls are empty cells, booleans words, maps k=v.
    expect(rows[1][header.indexOf('Input tokens')]).toBe('');
    expect(rows[3][header.indexOf('Approval required')]).toBe('yes');
    expect(rows[1][header.indexOf('Attributes')]).toMatch(/(^|; )resource\.service\.name=e2e-app(;|$)/);
    expect(csv.stdout).not.toContain('\\N');

    const empty = await cli('timeline', 'NO-SUCH-CASE', '--format', 'table');
    expect(empty.code).toBe(0);
    expect(empty.stdout).toContain('no events for correlation id "NO-SUCH-CASE"');
    const emptyJsonl = await cli('timeline', 'NO-SUCH-CASE', '--format', 'jsonl');
    expect(emptyJsonl.stdout).toBe('');
  });

  it('trace: the audit events of one trace (any letter case)', async () => {
    const r = await cli('trace', TA.toUpperCase(), '--format', 'jsonl');
    expect(r.code).toBe(0);
    expect(spanIdsOf(jsonl(r.stdout))).toEqual([A_ROOT, A_MODEL, A_TOOL].sort());
    const other = await cli('trace', TB, '--format', 'jsonl');
    expect(spanIdsOf(jsonl(other.stdout))).toEqual([B_APPROVAL]);
  });

  it.concurrent.for([
    [['--actor', 'alice'], [A_ROOT, A_MODEL, A_TOOL]],
    [['--actor', 'alice', '--actor', 'bob'], [A_ROOT, A_MODEL, A_TOOL, C_ROOT, C_TOOL]],
    [['--reviewer', 'lead-7'], [B_APPROVAL]],
    [['--type', 'tool_call'], [A_TOOL, C_TOOL]],
    [['--type', 'approval,request'], [A_ROOT, B_APPROVAL, C_ROOT]],
    [['--tool', 'crm_update'], [A_TOOL]],
    [['--correlation-id', 'CLI-CASE-B'], [C_ROOT, C_TOOL]],
    [['--from', '1h'], [A_ROOT, A_MODEL, A_TOOL, B_APPROVAL]],
    [['--from', '25m'], [B_APPROVAL]],
    [['--to', '25m'], [A_ROOT, A_MODEL, A_TOOL, C_ROOT, C_TOOL, D_OUTCOME]],
    [['--correlation-id', ODD_CASE], [D_OUTCOME]],
    [['--from', '2025-06-01T00:00:00Z', '--to', '2025-06-02T00:00:00Z'], [C_ROOT, C_TOOL]],
    [['--from', '2025-06-01 12:00:00.5', '--to', '2025-06-01T14:00:00+01:00'], [C_TOOL]],
    [['--from', '2025-06-01', '--to', '2025-06-01T12:00:00.5Z'], [C_ROOT]],
    [['--type', 'tool_call', '--from', '2d'], [A_TOOL]],
    [['--actor', 'nobody'], []],
  ] as Array<[string[], string[]]>)('search %j', async ([args, expected], { expect }) => {
    const r = await cli('search', ...args, '--format', 'jsonl');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    expect(spanIdsOf(jsonl(r.stdout))).toEqual([...expected].sort());
  });

  it('search --limit and the table view', async () => {
    const r = await cli('search', '--limit', '2', '--format', 'jsonl');
    expect(jsonl(r.stdout)).toHaveLength(2);
    const t = await cli('search', '--type', 'tool_call', '--format', 'table');
    expect(t.code).toBe(0);
    const lines = t.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^correlation_id\s+time\s+type/);
    expect(lines).toHaveLength(4);
    const none = await cli('search', '--actor', 'nobody', '--format', 'table');
    expect(none.stdout).toBe('no matching events\n');
  });

  it('export --format csv: a header row and one row per event', async () => {
    for (const args of [['--format', 'csv'], []]) {
      const r = await cli('export', ...args);
      expect(r.code).toBe(0);
      expect(r.stderr).toBe('');
      const all = parseCsv(r.stdout);
      const header = all[0];
      expect(header.slice(0, 3)).toEqual(['Time (UTC)', 'Event type', 'Name']);
      expect(header).not.toContain('content_sealed');
      // Each export is itself recorded in the trail (an `access` event): those of earlier exports show up too.
      const rows = [header, ...all.slice(1).filter((row) => row[header.indexOf('Event type')] !== 'access')];
      expect(rows).toHaveLength(1 + SEED.length);
      for (const row of rows.slice(1)) expect(row).toHaveLength(header.length);
      const col = (name: string) => rows.slice(1).map((row) => row[header.indexOf(name)]);
      expect(col('Span ID').sort()).toEqual(SEED.map((s) => s.spanId).sort());
      expect(col('Tenant').every((t) => t === 'acme')).toBe(true);
      expect(col('Hash').every((h) => /^[0-9a-f]{64}$/.test(h))).toBe(true);
      expect(r.stdout.charCodeAt(0)).not.toBe(0xfeff);
    }
  });

  it('export --excel: a UTF-8 byte order mark, and cells a spreadsheet would run are neutralized', async () => {
    const r = await cli('export', '--format', 'csv', '--excel', '--correlation-id', ODD_CASE);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.charCodeAt(0)).toBe(0xfeff);
    const rows = parseCsv(r.stdout.slice(1));
    expect(rows).toHaveLength(2);
    expect(rows[1][rows[0].indexOf('Case')]).toBe(ODD_CASE);
    expect((await cli('export', '--format', 'jsonl', '--excel')).code).toBe(2);
  });

  it('event: one event whole, vertically on a terminal, JSON otherwise; with its integrity and links', async () => {
    const [tool] = jsonl((await cli('search', '--tool', 'crm_update', '--format', 'jsonl')).stdout);
    const json = await cli('event', String(tool.event_id), '--format', 'json');
    expect(json.code, json.stderr).toBe(0);
    const detail = JSON.parse(json.stdout);
    expect(detail.event).toMatchObject({ event_id: tool.event_id, span_id: A_TOOL, tool_name: 'crm_update' });
    expect(detail.event).not.toHaveProperty('content_sealed');
    expect(['verified', 'unanchored']).toContain(detail.integrity.status);
    expect(detail.links.approvals).toEqual([expect.objectContaining({ span_id: B_APPROVAL, decision: 'approved', reviewer_id: 'lead-7' })]);
    const table = await runCli(['event', String(tool.event_id), '--format', 'table', ...api()], { COLUMNS: '80' });
    expect(table.code).toBe(0);
    const lines = table.stdout.trimEnd().split('\n');
    expect(lines.every((l) => l.length <= 80)).toBe(true);
    expect(lines).toContainEqual(expect.stringMatching(/^tool_name\s+crm_update$/));
    expect(lines).toContainEqual(expect.stringMatching(/^approved by\s+approval/));
    expect(table.stdout.replace(/\s+/g, ' ')).toContain('"approval approved" approved by lead-7');
    expect(lines).toContainEqual(expect.stringMatching(/^integrity\s+(verified|unanchored)/));
    const missing = await cli('event', '0'.repeat(32));
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toContain('no stored event');
    expect((await cli('event', 'nope')).code).toBe(2);
  });

  it('a table wider than the terminal wraps its long cells instead of cutting them', async () => {
    const wide = await runCli(['timeline', 'CLI-CASE-A', '--format', 'table', ...api()], { COLUMNS: '130' });
    expect(wide.code).toBe(0);
    const lines = wide.stdout.trimEnd().split('\n');
    expect(lines.every((l) => l.length <= 130), lines.join('\n')).toBe(true);
    expect(lines.length).toBeGreaterThan(2 + 4);
    const text = lines.join('\n');
    expect(text).not.toContain('…');
    // Ids stay whole (the text columns wrap at spaces); the long summary is all there.
    expect(lines.filter((l) => l.includes(TA))).toHaveLength(3);
    // Narrower than the ids: they wrap too, and nothing is cut.
    const narrow = await runCli(['timeline', 'CLI-CASE-A', '--format', 'table', ...api()], { COLUMNS: '80' });
    const nl = narrow.stdout.trimEnd().split('\n');
    expect(nl.every((l) => l.length <= 80), narrow.stdout).toBe(true);
    expect(nl.some((l) => l.includes(TA))).toBe(false);
  });

  it.concurrent.for([
    [['--target', 'crm'], [A_TOOL]],
    [['--target', 'crm/ACC-9'], [A_TOOL]],
    [['--target', 'ACC-9'], [A_TOOL]],
    [['--status', 'ok', '--type', 'approval'], [B_APPROVAL]],
    [['--risk', 'medium', '--correlation-id', 'CLI-CASE-B'], [C_ROOT, C_TOOL]],
    [['--text', 'SEARCH_KB'], [C_TOOL]],
    [['--text', 'support/ANS'], [A_ROOT]],
  ] as Array<[string[], string[]]>)('search %j', async ([args, expected], { expect }) => {
    const r = await cli('search', ...args, '--format', 'jsonl');
    expect(r.code, r.stderr).toBe(0);
    expect(spanIdsOf(jsonl(r.stdout).filter((e) => e.event_type !== 'access'))).toEqual([...expected].sort());
  });

  it('export --format jsonl, with filters', async () => {
    const r = await cli('export', '--format', 'jsonl');
    expect(r.code).toBe(0);
    const events = jsonl(r.stdout);
    expect(spanIdsOf(events.filter((e) => e.event_type !== 'access'))).toEqual(SEED.map((s) => s.spanId).sort());
    // The earlier exports, recorded as access events by the local user.
    const access = events.filter((e) => e.event_type === 'access');
    expect(access.length).toBeGreaterThan(0);
    expect(access[0]).toMatchObject({ actor_id: 'local', ingest_principal: 'local', purpose: 'export', target_system: 'otel-audit' });
    const filtered = await cli('export', '--format', 'jsonl', '--correlation-id', 'CLI-CASE-B');
    expect(spanIdsOf(jsonl(filtered.stdout))).toEqual([C_ROOT, C_TOOL].sort());
  });
});

describe('sql', () => {
  const Q = "SELECT event_type, count() AS n FROM otel_audit.events WHERE event_type != 'access' GROUP BY event_type ORDER BY event_type";
  const EXPECTED = [
    ['approval', 1],
    ['model_call', 1],
    ['outcome', 1],
    ['request', 2],
    ['tool_call', 2],
  ];

  it('--format jsonl, csv and table', async () => {
    const j = await cli('sql', Q, '--format', 'jsonl');
    expect(j.code).toBe(0);
    expect(j.stderr).toBe('');
    expect(jsonl(j.stdout).map((r) => [r.event_type, Number(r.n)])).toEqual(EXPECTED);

    const c = await cli('sql', Q, '--format', 'csv');
    expect(c.code).toBe(0);
    const rows = parseCsv(c.stdout);
    expect(rows[0]).toEqual(['event_type', 'n']);
    expect(rows.slice(1).map(([t, n]) => [t, Number(n)])).toEqual(EXPECTED);

    const t = await cli('sql', Q, '--format', 'table');
    expect(t.code).toBe(0);
    const lines = t.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^event_type\s+n$/);
    expect(lines.slice(2).map((l) => l.split(/\s+/))).toEqual(EXPECTED.map(([a, b]) => [a, String(b)]));
  });

  it('reads the query from stdin and from --file; views are queryable', async () => {
    const stdin = await runCli(['sql', '-', '--format', 'jsonl', ...api()], {}, 'SELECT tool_name FROM otel_audit.tool_calls ORDER BY tool_name');
    expect(stdin.code).toBe(0);
    expect(jsonl(stdin.stdout).map((r) => r.tool_name)).toEqual(['crm_update', 'search_kb']);
    const file = join(tempDir(), 'q.sql');
    writeFileSync(file, "SELECT reviewer_id FROM otel_audit.approvals -- the approvals\n;\n");
    const f = await cli('sql', '--file', file, '--format', 'jsonl');
    expect(f.code, f.stderr).toBe(0);
    expect(jsonl(f.stdout).map((r) => r.reviewer_id)).toEqual(['lead-7']);
  });

  it.concurrent.for([
    ['INSERT INTO otel_audit.events (event_id) VALUES (\'x\')', /INSERT is not allowed/],
    ['DROP TABLE otel_audit.events', /DROP is not allowed/],
    ['ALTER TABLE otel_audit.events DELETE WHERE 1', /ALTER is not allowed/],
    ['CREATE TABLE otel_audit.x (a Int8) ENGINE = Memory', /CREATE is not allowed/],
    ['TRUNCATE TABLE otel_audit.events', /TRUNCATE is not allowed/],
    ["SELECT * FROM file('/etc/passwd', 'LineAsString')", /file\(\) is not allowed/],
    ["SELECT * FROM url('http://127.0.0.1:1/', 'LineAsString')", /url\(\) is not allowed/],
    // filesystem() reads any file of the bridge host, its keys included.
    ["SELECT content FROM filesystem('/etc') WHERE name = 'hostname'", /filesystem\(\) is not allowed/],
    ["SELECT 1 SETTINGS readonly = 0", /SETTINGS is not allowed/],
    ["SELECT 1 INTO OUTFILE '/tmp/x'", /INTO OUTFILE is not allowed/],
    ['SELECT 1; DROP TABLE otel_audit.events', /only one statement/],
  ] as Array<[string, RegExp]>)('refuses %s with exit 2', async ([query, message], { expect }) => {
    const r = await cli('sql', query, '--format', 'jsonl');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stdout).toBe('');
  });

  it('nothing was written by the refused statements', async () => {
    const r = await cli('sql', "SELECT count() AS n FROM otel_audit.events WHERE event_type != 'access'", '--format', 'jsonl');
    expect(Number(jsonl(r.stdout)[0].n)).toBe(SEED.length);
    const tables = await cli('sql', "SELECT name FROM system.tables WHERE database = 'otel_audit' AND name = 'x'", '--format', 'jsonl');
    expect(tables.stdout).toBe('');
  });

  it('a syntax error or an unknown column exits non-zero with ClickHouse\'s message', async () => {
    const syntax = await cli('sql', 'SELECT count( FROM otel_audit.events', '--format', 'jsonl');
    expect(syntax.code).not.toBe(0);
    expect(syntax.stderr).toMatch(/Syntax error/);
    expect(syntax.stdout).toBe('');
    const column = await cli('sql', 'SELECT no_such_column FROM otel_audit.events', '--format', 'csv');
    expect(column.code).not.toBe(0);
    expect(column.stderr).toContain('no_such_column');
    expect(column.stdout).toBe('');
  });
});

describe('pipes', () => {
  it('stops quietly when the reader goes away (otel-audit ... | head)', async () => {
    for (const args of [
      ['sql', 'SELECT number FROM numbers(2000000)', '--format', 'csv'],
      ['sql', 'SELECT number FROM numbers(50000)', '--format', 'table'],
    ]) {
      const child = spawn(process.execPath, [CLI, ...args, ...api()], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (d) => (stderr += d));
      const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
      // Read the first chunk, then close the pipe like `head` does.
      const first = await Promise.race([
        new Promise<string>((resolve) => child.stdout.once('data', (d: Buffer) => resolve(d.toString()))),
        exited.then((code) => `exited with ${code} before writing anything: ${stderr}`),
      ]);
      child.stdout.destroy();
      expect(first).toMatch(/^("number"|number)\n/);
      expect(await exited, stderr).toBe(0);
      expect(stderr).toBe('');
    }
  });
});

describe('bad input', () => {
  it.concurrent.for([
    [['sql', 'SELECT 1', '--format', 'xml'], /invalid --format "xml"/],
    [['timeline', 'CLI-CASE-A', '--format', 'json'], /invalid --format "json"/],
    [['search', '--risk', 'extreme'], /invalid risk "extreme"/],
    [['export', '--format', 'table'], /invalid --format "table"/],
    [['trace', 'not-a-trace-id'], /invalid trace id "not-a-trace-id"/],
    [['trace', TA.slice(0, 31)], /32 hex characters/],
    [['search', '--from', 'yesterday'], /--from: invalid time "yesterday"/],
    [['search', '--to', '2025-13-45'], /--to: invalid time/],
    [['search', '--type', 'chat'], /invalid event type "chat"/],
    [['search', '--limit', 'lots'], /invalid --limit "lots"/],
    [['search', 'alice'], /no positional arguments/],
    [['timeline'], /exactly one correlation id/],
    [['timeline', 'a', 'b'], /exactly one correlation id/],
    [['sql'], /one query/],
    [['sql', 'SELECT 1', '--api-url', 'not a url'], /invalid --api-url "not a url"/],
  ] as Array<[string[], RegExp]>)('%j exits 2 with a message', async ([args, message], { expect }) => {
    const r = args.includes('--api-url') ? await runCli(args) : await cli(...args);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stdout).toBe('');
  });

  it('an unreachable bridge exits 1 and says how to start one', async () => {
    for (const r of await Promise.all([
      runCli(['timeline', 'CLI-CASE-A', '--api-url', 'http://127.0.0.1:1']),
      runCli(['sql', 'SELECT 1'], { OTEL_AUDIT_API_URL: 'http://127.0.0.1:1' }),
      runCli(['export', '--format', 'csv', '--api-url', 'http://127.0.0.1:1']),
    ])) {
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('cannot reach the bridge at http://127.0.0.1:1');
      expect(r.stderr).toMatch(/npm start|otel-audit serve/);
      expect(r.stdout).toBe('');
    }
  });

  it('OTEL_AUDIT_API_URL points the CLI at the bridge', async () => {
    const r = await runCli(['timeline', 'CLI-CASE-B', '--format', 'jsonl'], { OTEL_AUDIT_API_URL: bridge.apiUrl });
    expect(r.code).toBe(0);
    expect(spanIdsOf(jsonl(r.stdout))).toEqual([C_ROOT, C_TOOL].sort());
  });
});

describe('migrate', () => {
  it('--print prints the single-node DDL, --cluster the replicated variant', async () => {
    const single = await runCli(['migrate', '--print']);
    expect(single.code).toBe(0);
    expect(single.stdout).toContain('CREATE TABLE IF NOT EXISTS otel_audit.events (');
    expect(single.stdout).toContain('ENGINE = MergeTree');
    expect(single.stdout).not.toContain('Replicated');
    expect(single.stdout).toContain('CREATE VIEW IF NOT EXISTS otel_audit.timeline');

    const cluster = await runCli(['migrate', '--print', '--cluster', 'c']);
    expect(cluster.code).toBe(0);
    expect(cluster.stdout).toContain("CREATE TABLE IF NOT EXISTS otel_audit.events_local ON CLUSTER 'c'");
    expect(cluster.stdout).toContain("ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/otel_audit/events', '{replica}')");
    expect(cluster.stdout).toContain("CREATE TABLE IF NOT EXISTS otel_audit.events ON CLUSTER 'c' AS otel_audit.events_local ENGINE = Distributed('c', otel_audit, events_local");
  });

  it('the checked-in deploy/clickhouse DDL is exactly what migrate --print generates', async () => {
    for (const file of ['schema.sql', 'schema-cluster.sql']) {
      const text = readFileSync(join(REPO_ROOT, 'deploy/clickhouse', file), 'utf8');
      const lines = text.split('\n');
      const header = lines.slice(0, lines.findIndex((l) => !l.startsWith('--')));
      expect(header.length, `${file}: comment header`).toBeGreaterThanOrEqual(1);
      expect(header.length).toBeLessThanOrEqual(2);
      // The header says how the file was generated: run exactly that.
      const command = /`otel-audit (migrate --print[^`]*)`/.exec(header[0])?.[1];
      expect(command, `${file}: header names its generating command`).toBeDefined();
      expect(command).toMatch(file === 'schema.sql' ? /^migrate --print$/ : /^migrate --print --cluster \S+$/);
      const r = await runCli(command!.split(' '));
      expect(r.code).toBe(0);
      expect(lines.slice(header.length).join('\n'), `deploy/clickhouse/${file} is out of date: regenerate it with otel-audit ${command}`).toBe(r.stdout);
    }
  });

  it('migrates a fresh embedded store, idempotently', async () => {
    const dir = tempDir();
    const first = await runCli(['migrate', '--data-dir', dir]);
    expect(first.code, first.stderr).toBe(0);
    const version = /^applied migrations 1, 2(?:, \d+)*; schema is at version (\d+)\n$/.exec(first.stdout)?.[1];
    expect(version, first.stdout).toBeDefined();
    const second = await runCli(['migrate', '--data-dir', dir]);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).toBe(`schema is up to date (version ${version})\n`);
  });
});
