// deploy/prometheus/: the alert rules are valid (Debian's `promtool check rules`), behave as their
// unit tests say on synthetic series (`promtool test rules`), read only metrics a real bridge
// serves, and a real Prometheus scraping a real bridge fires the ClickHouse-outage alerts once the
// bridge's inserts fail for real (the embedded store's staging directory replaced by a file, as in
// test/reliability.test.ts). Skipped where Debian's `prometheus` package is not installed
// (.ci/run installs it).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { REPO_ROOT, eventually, flush, startBridge, tempDir } from './helpers/bridge-process.ts';
import { encodeTraces, postOtlp, spanId, traceId, type SpanSpec } from './helpers/otlp.ts';
import { bridgeMetricNames, havePrometheus, promqlMetricNames } from './helpers/prometheus.ts';

const DIR = join(REPO_ROOT, 'deploy/prometheus');
const RULES = join(DIR, 'otel-audit.rules.yml');
interface Rule {
  alert: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
}
interface RuleFile {
  groups: Array<{ name: string; rules: Rule[] }>;
}
const ruleFile = parse(readFileSync(RULES, 'utf8')) as RuleFile;
const rules = ruleFile.groups.flatMap((g) => g.rules);
/** Names Prometheus itself adds to every scrape. */
const SCRAPE_SERIES = new Set(['up']);

function roots(n: number, tag: string): SpanSpec[] {
  return Array.from({ length: n }, (_, i) => ({
    traceId: traceId(),
    spanId: spanId(),
    name: `execute_tool ${tag}_${i}`,
    attributes: { 'gen_ai.operation.name': 'execute_tool', 'gen_ai.tool.name': tag, 'audit.correlation_id': `${tag}-${i}` },
  }));
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

interface PromAlert {
  labels: Record<string, string>;
  state: 'pending' | 'firing';
}

describe.skipIf(!havePrometheus())('deploy/prometheus (Debian prometheus + promtool)', () => {
  it('promtool check rules accepts the rules file, and promtool test rules passes its unit tests', () => {
    const check = spawnSync('promtool', ['check', 'rules', RULES], { encoding: 'utf8' });
    expect(check.status, check.stdout + check.stderr).toBe(0);
    expect(check.stdout).toContain(`SUCCESS: ${rules.length} rules found`);
    const unit = spawnSync('promtool', ['test', 'rules', 'otel-audit.rules.test.yml'], { cwd: DIR, encoding: 'utf8' });
    expect(unit.status, unit.stdout + unit.stderr).toBe(0);
    expect(unit.stdout).toContain('SUCCESS');
    // Every alert has a unit test.
    const tested = new Set([...readFileSync(join(DIR, 'otel-audit.rules.test.yml'), 'utf8').matchAll(/alertname: (\w+)/g)].map((m) => m[1]));
    for (const r of rules) expect(tested.has(r.alert), `${r.alert} has a case in otel-audit.rules.test.yml`).toBe(true);
  });

  it('covers every metric docs/operations.md says to alert on', () => {
    const ops = readFileSync(join(REPO_ROOT, 'docs/operations.md'), 'utf8');
    const alertsSection = ops.slice(ops.indexOf('\n## Alerts to set\n'), ops.indexOf('\n## Forwarding\n'));
    const forwardSection = ops.slice(ops.indexOf('\n## Forwarding\n'), ops.indexOf('\n## Limits for hostile input\n'));
    const advised = new Set([...(alertsSection + forwardSection.slice(forwardSection.indexOf('Alert on'))).matchAll(/\botel_audit_[a-z_]+/g)].map((m) => m[0]));
    expect(advised.size).toBeGreaterThan(10);
    const used = new Set(rules.flatMap((r) => promqlMetricNames(r.expr)));
    for (const name of advised) expect(used.has(name), `${name} (docs/operations.md) has an alert rule`).toBe(true);
  });

  it('reads only metrics a real bridge serves', async () => {
    const served = await bridgeMetricNames();
    expect(served.has('otel_audit_insert_errors_total')).toBe(true);
    for (const r of rules) {
      const names = promqlMetricNames(r.expr);
      expect(names.length, `${r.alert}: ${r.expr}`).toBeGreaterThan(0);
      for (const n of names) expect(served.has(n) || SCRAPE_SERIES.has(n), `${r.alert} reads ${n}, which the bridge does not serve`).toBe(true);
    }
  });

  it('a real Prometheus scraping a real bridge fires OtelAuditInsertsFailing and OtelAuditNotReady when ClickHouse inserts fail', async () => {
    const dir = tempDir('otel-audit-prometheus-');
    const dataDir = join(dir, 'bridge');
    const bridge = await startBridge({ dataDir });
    let prometheus: ChildProcess | undefined;
    let promLog = '';
    try {
      // The shipped rules with every `for` cut to 0 s (their `for` is covered by the unit tests),
      // scraped and evaluated every second.
      const fast: RuleFile = { groups: ruleFile.groups.map((g) => ({ ...g, rules: g.rules.map((r) => ({ ...r, for: '0s' })) })) };
      writeFileSync(join(dir, 'rules.yml'), stringify(fast));
      const target = new URL(bridge.apiUrl).host;
      writeFileSync(
        join(dir, 'prometheus.yml'),
        stringify({
          global: { scrape_interval: '1s', scrape_timeout: '1s', evaluation_interval: '1s' },
          rule_files: [join(dir, 'rules.yml')],
          scrape_configs: [{ job_name: 'otel-audit', metrics_path: '/metrics', static_configs: [{ targets: [target] }] }],
        }),
      );
      mkdirSync(join(dir, 'tsdb'));
      // A free port, then Prometheus on it and its readiness; another port if it lost the port
      // to another process in between.
      let promUrl = '';
      for (let attempt = 0; !promUrl; attempt++) {
        const port = await freePort();
        const child = spawn(
          'prometheus',
          [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'tsdb')}`, `--web.listen-address=127.0.0.1:${port}`],
          { stdio: ['ignore', 'ignore', 'pipe'] },
        );
        prometheus = child;
        child.stderr!.on('data', (d: Buffer) => (promLog += d.toString()));
        const ready = await eventually(
          async () => {
            if (child.exitCode !== null) return 'exited';
            return (await fetch(`http://127.0.0.1:${port}/-/ready`)).ok ? 'ready' : undefined;
          },
          30_000,
          `Prometheus to be ready; its log:\n${promLog}`,
        );
        if (ready === 'ready') promUrl = `http://127.0.0.1:${port}`;
        else if (attempt === 2 || !/address already in use/.test(promLog)) throw new Error(`prometheus exited with ${child.exitCode}:\n${promLog}`);
      }
      const alerts = async (): Promise<PromAlert[]> => {
        const res = (await (await fetch(`${promUrl}/api/v1/alerts`)).json()) as { data: { alerts: PromAlert[] } };
        return res.data.alerts;
      };
      const query = async (q: string): Promise<Array<{ value: [number, string] }>> => {
        const res = (await (await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(q)}`)).json()) as { data: { result: Array<{ value: [number, string] }> } };
        return res.data.result;
      };

      // A healthy bridge: scraped, ready, no insert errors, and neither alert.
      const ok = await postOtlp(bridge.otlpUrl, 'traces', encodeTraces(roots(5, 'PROM-OK'), 'protobuf'), { format: 'protobuf' });
      expect(ok.status).toBe(200);
      await flush(bridge.apiUrl);
      await eventually(async () => (await query('otel_audit_events_stored_total{job="otel-audit"} >= 5')).length === 1, 30_000, `Prometheus to scrape the bridge; its log:\n${promLog}`);
      expect((await query('otel_audit_insert_errors_total{job="otel-audit"}'))[0].value[1]).toBe('0');
      expect((await query('otel_audit_ready{job="otel-audit"}'))[0].value[1]).toBe('1');
      expect((await alerts()).map((a) => a.labels.alertname)).not.toContain('OtelAuditInsertsFailing');
      expect((await alerts()).map((a) => a.labels.alertname)).not.toContain('OtelAuditNotReady');

      // ClickHouse fails: every insert of the embedded store fails with ENOTDIR; requests are still
      // acknowledged from the write-ahead log.
      const staging = join(dataDir, 'staging');
      rmSync(staging, { recursive: true, force: true });
      writeFileSync(staging, 'not a directory');
      const failing = await postOtlp(bridge.otlpUrl, 'traces', encodeTraces(roots(5, 'PROM-OUT'), 'protobuf'), { format: 'protobuf' });
      expect(failing.status).toBe(200);

      const fired = await eventually(
        async () => {
          const firing = (await alerts()).filter((a) => a.state === 'firing');
          const names = new Set(firing.map((a) => a.labels.alertname));
          return names.has('OtelAuditInsertsFailing') && names.has('OtelAuditNotReady') ? firing : undefined;
        },
        60_000,
        `OtelAuditInsertsFailing and OtelAuditNotReady firing; bridge log:\n${bridge.log().slice(-2000)}\nprometheus log:\n${promLog.slice(-2000)}`,
      );
      const insertAlert = fired.find((a) => a.labels.alertname === 'OtelAuditInsertsFailing')!;
      expect(insertAlert.labels).toMatchObject({ instance: target, job: 'otel-audit', severity: 'page' });
      expect(Number((await query('otel_audit_spooled_events{job="otel-audit"}'))[0].value[1])).toBeGreaterThan(0);
      expect((await fetch(`${bridge.apiUrl}/readyz`)).status).toBe(503);
      // Alerts of states this bridge is not in did not fire. (OtelAuditNotStoring may: with its
      // `for` cut, spans received while the stored count stands still is what it looks for.)
      const firing = new Set(fired.map((a) => a.labels.alertname));
      for (const quiet of ['OtelAuditDown', 'OtelAuditSpoolFull', 'OtelAuditWalWriteErrors', 'OtelAuditForwardDropping', 'OtelAuditRejectedInput']) expect(firing.has(quiet), quiet).toBe(false);
    } finally {
      if (prometheus && prometheus.exitCode === null) {
        const exited = new Promise((resolve) => prometheus!.once('exit', resolve));
        prometheus.kill('SIGTERM');
        await exited;
      }
      rmSync(join(dataDir, 'staging'), { force: true });
      await bridge.kill();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
