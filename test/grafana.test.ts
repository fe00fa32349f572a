// deploy/grafana/otel-audit.json: a Grafana dashboard whose Prometheus panels read only metrics a
// real bridge serves, and whose ClickHouse panels (grafana-clickhouse-datasource) name only
// tables and views of the schema's migrations and run, as Grafana's plugin would send them, on a
// real bridge's store through its read-only SQL endpoint (the engine refuses any unknown table or
// column), with answers that hold the events sent for them (an approval, a denied permission).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EVENT_COLUMNS, MIGRATIONS } from '../packages/bridge/src/store/index.ts';
import { REPO_ROOT, flush, startBridge, type BridgeProcess } from './helpers/bridge-process.ts';
import { sendSpans, spanId, traceId, type SpanSpec } from './helpers/otlp.ts';
import { exposedNames, promqlMetricNames } from './helpers/prometheus.ts';

const FILE = join(REPO_ROOT, 'deploy/grafana/otel-audit.json');
const PROM_DS = { type: 'prometheus', uid: '${prometheus}' };
const CH_DS = { type: 'grafana-clickhouse-datasource', uid: '${clickhouse}' };

interface Target {
  datasource: { type: string; uid: string };
  expr?: string;
  rawSql?: string;
  refId: string;
}
interface Panel {
  id: number;
  type: string;
  title: string;
  datasource?: { type: string; uid: string };
  gridPos: { h: number; w: number; x: number; y: number };
  targets?: Target[];
}
interface Variable {
  name: string;
  type: string;
  query: string | { query: string };
  datasource?: { type: string; uid: string };
}
const dashboard = JSON.parse(readFileSync(FILE, 'utf8')) as { uid: string; title: string; panels: Panel[]; templating: { list: Variable[] } };
const panels = dashboard.panels.filter((p) => p.type !== 'row');
const variables = dashboard.templating.list;
const variableQuery = (name: string) => {
  const v = variables.find((x) => x.name === name)!;
  return typeof v.query === 'string' ? v.query : v.query.query;
};
const promQueries = panels.flatMap((p) => (p.targets ?? []).filter((t) => t.datasource.type === PROM_DS.type).map((t) => ({ panel: p.title, expr: t.expr! })));
const sqlQueries = [
  ...panels.flatMap((p) => (p.targets ?? []).filter((t) => t.datasource.type === CH_DS.type).map((t) => ({ panel: p.title, sql: t.rawSql! }))),
  { panel: 'variable tenant', sql: variableQuery('tenant') },
];

/** Tables and views the migrations create (single node), with the columns of `events`. */
function schemaObjects(): Set<string> {
  const ddl = MIGRATIONS.flatMap((m) => m.statements({ database: 'otel_audit' }));
  return new Set(ddl.flatMap((s) => [...s.matchAll(/^CREATE (?:OR REPLACE )?(?:TABLE|VIEW) (?:IF NOT EXISTS )?otel_audit\.(\w+)/g)].map((m) => m[1])));
}

/**
 * The SQL as grafana-clickhouse-datasource (v4) sends it for a time range: its macros expanded
 * the way the plugin expands them, the tenant variable as Grafana formats `${tenant:singlequote}`.
 */
function expand(sql: string, fromS: number, toS: number, tenants: string[]): string {
  return sql
    .replace(/\$__timeFilter\(([^)]+)\)/g, (_, col: string) => `${col} >= toDateTime(${fromS}) AND ${col} <= toDateTime(${toS})`)
    .replace(/\$__timeInterval\(([^)]+)\)/g, (_, col: string) => `toStartOfInterval(toDateTime(${col}), INTERVAL 60 second)`)
    .replace(/\$__fromTime/g, `toDateTime(${fromS})`)
    .replace(/\$__toTime/g, `toDateTime(${toS})`)
    .replace(/\$\{tenant:singlequote\}/g, tenants.map((t) => `'${t}'`).join(','));
}

const TOOL = `grafana_refund_${spanId()}`;
function trail(): SpanSpec[] {
  const proposalTrace = traceId();
  const proposal = spanId();
  return [
    { traceId: traceId(), spanId: spanId(), name: `execute_tool ${TOOL}`, attributes: { 'gen_ai.operation.name': 'execute_tool', 'gen_ai.tool.name': TOOL, 'audit.correlation_id': 'GRAFANA-1', 'audit.actor.id': 'agent-1', 'audit.permission': 'denied', 'audit.target.system': 'billing', 'audit.risk': 'high' } },
    { traceId: proposalTrace, spanId: proposal, name: `execute_tool ${TOOL}`, attributes: { 'gen_ai.operation.name': 'execute_tool', 'gen_ai.tool.name': TOOL, 'audit.correlation_id': 'GRAFANA-1', 'audit.permission': 'granted', 'audit.approval.required': true } },
    { traceId: traceId(), spanId: spanId(), name: 'approval approved', links: [{ traceId: proposalTrace, spanId: proposal }], attributes: { 'audit.correlation_id': 'GRAFANA-1', 'audit.approval.decision': 'approved', 'audit.approval.reviewer.id': 'lead-7' } },
    { traceId: traceId(), spanId: spanId(), name: 'chat gpt-4o', attributes: { 'gen_ai.operation.name': 'chat', 'gen_ai.request.model': 'gpt-4o', 'audit.correlation_id': 'GRAFANA-1', 'audit.risk': 'low' } },
  ];
}

describe('deploy/grafana/otel-audit.json', () => {
  let bridge: BridgeProcess;
  beforeAll(async () => {
    bridge = await startBridge({ args: ['--forward', 'http://127.0.0.1:9/'] });
    await sendSpans(bridge.otlpUrl, trail());
    await flush(bridge.apiUrl);
  }, 60_000);
  afterAll(async () => {
    await bridge?.stop();
  });

  it('is a dashboard of Prometheus and ClickHouse panels on its two data-source variables, laid out without overlaps', () => {
    expect(dashboard.uid).toBe('otel-audit');
    const vars = new Map(variables.map((v) => [v.name, v]));
    expect(vars.get('prometheus')).toMatchObject({ type: 'datasource', query: 'prometheus' });
    expect(vars.get('clickhouse')).toMatchObject({ type: 'datasource', query: 'grafana-clickhouse-datasource' });
    expect(vars.get('instance')?.datasource).toEqual(PROM_DS);
    expect(vars.get('tenant')?.datasource).toEqual(CH_DS);
    const ids = dashboard.panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    const cells = new Set<string>();
    for (const p of dashboard.panels) {
      const g = p.gridPos;
      expect(g.x + g.w, `${p.title} fits 24 columns`).toBeLessThanOrEqual(24);
      for (let x = g.x; x < g.x + g.w; x++)
        for (let y = g.y; y < g.y + g.h; y++) {
          expect(cells.has(`${x},${y}`), `${p.title} overlaps another panel at ${x},${y}`).toBe(false);
          cells.add(`${x},${y}`);
        }
    }
    for (const p of panels) {
      expect([PROM_DS, CH_DS], p.title).toContainEqual(p.datasource);
      expect(p.targets?.length, p.title).toBeGreaterThan(0);
      for (const t of p.targets!) {
        expect(t.datasource, p.title).toEqual(p.datasource);
        expect(t.datasource.type === PROM_DS.type ? t.expr : t.rawSql, p.title).toBeTruthy();
      }
    }
    // The trail panels the issue asks for.
    const titles = panels.map((p) => p.title);
    for (const t of ['Events per type', 'Events per type and risk', 'Approvals by decision', 'Denied permissions', 'Hash chains: seq gaps and checkpoint coverage']) expect(titles).toContain(t);
  });

  it('every PromQL query reads only metrics the bridge serves', async () => {
    const served = exposedNames(await (await fetch(`${bridge.apiUrl}/metrics`)).text());
    expect(promQueries.length).toBeGreaterThan(10);
    for (const q of promQueries) {
      const names = promqlMetricNames(q.expr);
      expect(names.length, `${q.panel}: ${q.expr}`).toBeGreaterThan(0);
      for (const n of names) expect(served.has(n), `${q.panel} reads ${n}, which the bridge does not serve`).toBe(true);
    }
    const lv = /^label_values\((\w+), *(\w+)\)$/.exec(variableQuery('instance'));
    expect(lv, 'the instance variable is label_values(metric, label)').not.toBeNull();
    expect(served.has(lv![1])).toBe(true);
  });

  it('every SQL query names only tables and views of the schema, and runs on a real store', async () => {
    const objects = schemaObjects();
    for (const t of ['events', 'checkpoints', 'alerts', 'approvals', 'tool_calls']) expect(objects, t).toContain(t);
    expect(EVENT_COLUMNS.map(([n]) => n)).toEqual(expect.arrayContaining(['event_type', 'risk', 'decision', 'permission', 'chain_id', 'seq']));
    const now = Math.floor(Date.now() / 1000);
    for (const q of sqlQueries) {
      const tables = [...q.sql.matchAll(/\b(?:FROM|JOIN)\s+([\w.]+)/gi)].map((m) => m[1]);
      expect(tables.length, q.panel).toBeGreaterThan(0);
      for (const t of tables) {
        expect(t, `${q.panel}: tables are named otel_audit.<name>`).toMatch(/^otel_audit\.\w+$/);
        expect(objects.has(t.slice('otel_audit.'.length)), `${q.panel} reads ${t}, which no migration creates`).toBe(true);
      }
      const res = await fetch(`${bridge.apiUrl}/api/v1/sql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: expand(q.sql, now - 3600, now + 60, ['acme', 'default']), format: 'jsonl' }) });
      expect(res.status, `${q.panel}: ${await res.clone().text()}`).toBe(200);
    }
  });

  it('the trail panels answer with the events sent: a denied permission, an approval by decision, types and risks, gap-free chains', async () => {
    const now = Math.floor(Date.now() / 1000);
    const run = async (title: string) => {
      const q = sqlQueries.find((x) => x.panel === title)!;
      const res = await fetch(`${bridge.apiUrl}/api/v1/sql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: expand(q.sql, now - 3600, now + 60, ['acme']), format: 'jsonl' }) });
      const text = await res.text();
      expect(res.status, text).toBe(200);
      return text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
    };
    const denied = await run('Denied permissions');
    expect(denied).toHaveLength(1);
    expect(denied[0]).toMatchObject({ tool_name: TOOL, target_system: 'billing' });
    expect(Number(denied[0].denied)).toBe(1);
    const approvals = await run('Approvals by decision');
    expect(approvals.map((r) => [r.decision, Number(r.approvals)])).toEqual([['approved', 1]]);
    const byTypeRisk = (await run('Events per type and risk')).map((r) => `${r.event_type}/${r.risk}/${r.events}`);
    expect(byTypeRisk).toEqual(expect.arrayContaining(['tool_call/high/1', 'model_call/low/1', 'approval/medium/1']));
    const needed = (await run('Actions that needed approval, by decision')).map((r) => r.decision);
    expect(needed).toEqual(expect.arrayContaining(['approved', 'no decision on the span']));
    const chains = await run('Hash chains: seq gaps and checkpoint coverage');
    expect(chains.length).toBeGreaterThan(0);
    for (const c of chains) expect(Number(c.seq_gaps), String(c.chain)).toBe(0);
    // Another tenant's reader would see none of it.
    const other = sqlQueries.find((x) => x.panel === 'Denied permissions')!;
    const res = await fetch(`${bridge.apiUrl}/api/v1/sql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: expand(other.sql, now - 3600, now + 60, ['globex']), format: 'jsonl' }) });
    expect((await res.text()).trim()).toBe('');
  });
});
