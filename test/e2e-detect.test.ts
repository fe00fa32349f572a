// Detections end to end, as a user runs them: a bridge with a policy file, the README's example
// app (real @opentelemetry/sdk-node) and a planted approval bypass sent through the real OTel
// SDK; the running bridge raises the bypass on its own, and `otel-audit alerts` shows exactly
// it, explained, with the events it cites; /metrics counts it; `detect` and a restart do not
// raise it again. Then, with an auth file: each tenant's readers see their tenant's alerts only.
import { execFile } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { SpanKind, type Attributes, type Link } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RULE_IDS } from '../packages/bridge/src/detect/index.ts';
import { eventually, flush, REPO_ROOT, runCli, sql, startBridge, tempDir, writeAuthFile, type BridgeProcess, type TestToken } from './helpers/bridge-process.ts';

const exec = promisify(execFile);
const tok = (name: string) => `${name}-${'0123456789abcdef'.repeat(2)}`;
const TOKENS: TestToken[] = [
  { name: 'ingest-acme', token: tok('ingest-acme'), roles: ['ingest'], tenants: ['acme'] },
  { name: 'ingest-globex', token: tok('ingest-globex'), roles: ['ingest'], tenants: ['globex'] },
  { name: 'reader-acme', token: tok('reader-acme'), roles: ['reader'], tenants: ['acme'] },
  { name: 'reader-globex', token: tok('reader-globex'), roles: ['reader'], tenants: ['globex'] },
  { name: 'admin', token: tok('admin'), roles: ['admin'], tenants: ['*'] },
];
const T = Object.fromEntries(TOKENS.map((t) => [t.name, t.token]));

let work: string;
let args: string[];
let bridge: BridgeProcess;

/** A webhook receiver: answers the first request 500 (so the bridge retries), then 200. */
const SECRET = 'webhook-secret-0123456789';
const hooks: Array<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> = [];
let receiver: Server;

/** A proposal that required approval and, in another trace, the effect on its record with no approval: through the real SDK. */
async function plantBypass(b: BridgeProcess, token: string | undefined, tenant: string, caseId: string): Promise<void> {
  const provider = new TracerProvider({
    resource: resourceFromAttributes({ 'service.name': 'support-assistant', 'audit.tenant': tenant }),
    spanProcessors: [new SimpleSpanProcessor({ exporter: new OTLPTraceExporter({ url: `${b.otlpUrl}/v1/traces`, headers: token ? { authorization: `Bearer ${token}` } : {} }) })],
  });
  const tracer = provider.getTracer('e2e-detect');
  const common: Attributes = { 'audit.correlation_id': caseId, 'audit.actor.id': 'agent-42', 'audit.risk': 'medium' };
  const proposal = tracer.startSpan('execute_tool crm_update', {
    attributes: {
      ...common,
      'gen_ai.operation.name': 'execute_tool',
      'gen_ai.tool.name': 'crm_update',
      'audit.tool.action': 'update',
      'audit.target.system': 'crm',
      'audit.target.id': 'ACC-66',
      'audit.approval.required': true,
    },
  });
  proposal.end();
  const link: Link = { context: proposal.spanContext() };
  tracer.startSpan('crm.update ACC-66', { kind: SpanKind.CLIENT, root: true, links: [link], attributes: { ...common, 'audit.actor.id': 'crm-connector', 'audit.effect': 'record_updated', 'audit.target.system': 'crm', 'audit.target.id': 'ACC-66', 'audit.tool.action': 'update' } }).end();
  await provider.forceFlush();
  await provider.shutdown();
}

/**
 * The same through the real SDK, with the approval in time order around the effect: `approvalAt`
 * seconds after the proposal (the effect is at 10 s). 5: approved first, 20: after the effect.
 */
async function sendApprovalCase(b: BridgeProcess, token: string, caseId: string, approvalAt: number): Promise<void> {
  const provider = new TracerProvider({
    resource: resourceFromAttributes({ 'service.name': 'support-assistant' }),
    spanProcessors: [new SimpleSpanProcessor({ exporter: new OTLPTraceExporter({ url: `${b.otlpUrl}/v1/traces`, headers: { authorization: `Bearer ${token}` } }) })],
  });
  const tracer = provider.getTracer('e2e-detect');
  const t0 = Date.now() - 60_000;
  const common: Attributes = { 'audit.correlation_id': caseId, 'audit.actor.id': 'agent-42' };
  const proposal = tracer.startSpan('execute_tool refund', {
    startTime: t0,
    attributes: { ...common, 'gen_ai.operation.name': 'execute_tool', 'gen_ai.tool.name': 'refund', 'audit.tool.action': 'write', 'audit.target.system': 'billing', 'audit.target.id': 'INV-7', 'audit.approval.required': true },
  });
  proposal.end(t0 + 100);
  const link: Link = { context: proposal.spanContext() };
  const approval = tracer.startSpan('approval approved', { root: true, startTime: t0 + approvalAt * 1000, links: [link], attributes: { ...common, 'audit.approval.decision': 'approved', 'audit.approval.reviewer.id': 'lead-7' } });
  approval.end(t0 + approvalAt * 1000 + 10);
  tracer.startSpan('billing.refund INV-7', { root: true, startTime: t0 + 10_000, links: [link], attributes: { ...common, 'audit.effect': 'record_updated', 'audit.target.system': 'billing', 'audit.target.id': 'INV-7' } }).end(t0 + 10_100);
  await provider.forceFlush();
  await provider.shutdown();
}

interface AlertLine {
  rule: string;
  severity: string;
  tenant: string;
  correlation_id: string;
  event_ids: string[];
  detected_at: string;
  explanation: string;
}

const alertsOf = async (extra: string[] = [], b = bridge) => {
  const r = await runCli(['alerts', '--api-url', b.apiUrl, '--format', 'jsonl', ...extra]);
  if (r.code !== 0) throw new Error(`alerts exited ${r.code}: ${r.stderr}`);
  return r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as AlertLine);
};

beforeAll(async () => {
  work = tempDir('e2e-detect-');
  const policy = join(work, 'policy.json');
  // Evaluated every second with no settling delay, so that the test sees the running bridge raise it.
  writeFileSync(policy, JSON.stringify({ detections: { interval: '1s', settle: '0s', lookback: '1h' } }));
  writeFileSync(join(work, 'hook-secret'), `${SECRET}\n`);
  receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      const status = hooks.length === 0 ? 500 : 200;
      hooks.push({ status, headers: req.headers, body });
      res.writeHead(status).end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  const hookUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks/otel-audit`;
  args = ['--policy', policy, '--alert-webhook', hookUrl, '--alert-webhook-secret-file', join(work, 'hook-secret')];
  bridge = await startBridge({ dataDir: join(work, 'data'), args });
  // The README's example: approved before the effect, so nothing to raise.
  await exec(process.execPath, [join(REPO_ROOT, 'test/fixtures/sdk-app.ts'), bridge.otlpUrl, 'http/protobuf', 'CASE-123'], { cwd: REPO_ROOT, timeout: 60_000 });
  await plantBypass(bridge, undefined, 'acme', 'CASE-BYPASS');
  await flush(bridge.apiUrl);
}, 120_000);

afterAll(async () => {
  if (bridge) expect(await bridge.stop()).toBe(0);
  receiver?.close();
});

describe('the running bridge raises the planted bypass, and only it', () => {
  let alerts: AlertLine[];
  beforeAll(async () => {
    alerts = await eventually(async () => {
      const a = await alertsOf();
      return a.length ? a : undefined;
    }, 30_000, 'the bridge to raise an alert');
  });

  it('otel-audit alerts shows exactly that bypass, explained, with the events it cites', async () => {
    expect(alerts.map((a) => [a.rule, a.severity, a.tenant, a.correlation_id])).toEqual([['approval-bypass', 'high', 'acme', 'CASE-BYPASS']]);
    const [a] = alerts;
    expect(a.explanation).toMatch(
      /^System effect "crm\.update ACC-66" on crm\/ACC-66 at .* by crm-connector acted on proposal "execute_tool crm_update" in case CASE-BYPASS, which required approval, with no approving decision linked to that proposal\.$/,
    );
    expect(a.detected_at).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d/);
    const cited = await sql<{ event_type: string; name: string }>(
      bridge.apiUrl,
      `SELECT event_type, name FROM otel_audit.events WHERE event_id IN (${a.event_ids.map((i) => `'${i}'`).join(',')}) ORDER BY event_type`,
    );
    expect(cited).toEqual([
      { event_type: 'system_effect', name: 'crm.update ACC-66' },
      { event_type: 'tool_call', name: 'execute_tool crm_update' },
    ]);
    // The example's case is there, approved before its effect: it raised nothing.
    const example = await sql<{ n: string }>(bridge.apiUrl, "SELECT count() AS n FROM otel_audit.events WHERE correlation_id = 'CASE-123' AND event_type IN ('approval', 'system_effect')");
    expect(Number(example[0].n)).toBe(2);
    // The alert_events view joins alerts to the events they cite.
    const joined = await sql<{ n: string }>(bridge.apiUrl, 'SELECT count() AS n FROM otel_audit.alert_events AS a INNER JOIN otel_audit.events AS e ON e.event_id = a.event_id');
    expect(Number(joined[0].n)).toBe(2);
  });

  it('is sent to the webhook, signed with the shared secret, retried after a failure', async () => {
    const delivered = await eventually(async () => hooks.find((h) => h.status === 200), 30_000, 'the webhook to be delivered');
    expect(hooks[0].status).toBe(500);
    expect(delivered.body).toBe(hooks[0].body);
    const ts = String(delivered.headers['x-otel-audit-timestamp']);
    expect(delivered.headers['x-otel-audit-signature']).toBe(`sha256=${createHmac('sha256', SECRET).update(`${ts}.${delivered.body}`).digest('hex')}`);
    expect(delivered.headers['content-type']).toBe('application/json');
    const alert = JSON.parse(delivered.body) as AlertLine & { alert_id: string; details: { kind: string } };
    expect([alert.rule, alert.correlation_id, alert.details.kind]).toEqual(['approval-bypass', 'CASE-BYPASS', 'no-approval']);
    expect(delivered.headers['x-otel-audit-alert-id']).toBe(alert.alert_id);
  });

  it('Prometheus sees the counter', async () => {
    const text = await (await fetch(`${bridge.apiUrl}/metrics`)).text();
    expect(text).toContain('# TYPE otel_audit_alerts_total counter');
    expect(text).toMatch(/^otel_audit_alerts_total\{rule="approval-bypass",severity="high"\} 1$/m);
    expect(text).toMatch(/^otel_audit_alert_webhook_deliveries_total 1$/m);
  });

  it('csv and table formats; filters; clear errors on bad input', async () => {
    const csv = await runCli(['alerts', '--api-url', bridge.apiUrl, '--format', 'csv']);
    expect(csv.code).toBe(0);
    const lines = csv.stdout.trim().split('\r\n');
    expect(lines[0]).toBe('alert_id,tenant,rule,severity,correlation_id,subject,event_ids,first_event_time,last_event_time,detected_at,explanation,details');
    expect(lines).toHaveLength(2);
    expect(lines[1]).toContain(',acme,approval-bypass,high,CASE-BYPASS,');
    const table = await runCli(['alerts', '--api-url', bridge.apiUrl, '--format', 'table']);
    expect(table.stdout).toMatch(/^when\s+rule\s+severity\s+tenant\s+case\s+explanation\s+events/);
    expect(table.stdout).toContain('approval-bypass');
    const api = async (q: string) => (await (await fetch(`${bridge.apiUrl}/api/v1/alerts?format=json&${q}`)).json()) as { alerts?: AlertLine[]; error?: string };
    expect((await api('rule=coverage')).alerts).toEqual([]);
    expect((await api('to=2020-01-01')).alerts).toEqual([]);
    expect((await api('from=1h&rule=approval-bypass,coverage&severity=high')).alerts).toHaveLength(1);
    expect((await api('severity=urgent')).error).toBe('invalid severity "urgent": expected low, medium or high');
    const bad = await runCli(['alerts', '--api-url', bridge.apiUrl, '--rule', 'nope']);
    expect([bad.code, bad.stderr.trim()]).toEqual([
      2,
      `otel-audit alerts: invalid rule "nope": expected one of ${RULE_IDS.join(', ')}`,
    ]);
    const badTime = await runCli(['alerts', '--api-url', bridge.apiUrl, '--from', 'yesterday']);
    expect(badTime.code).toBe(2);
    expect(badTime.stderr).toContain('invalid query parameter "from": invalid time "yesterday"');
  });

  it('otel-audit report names the bypass among the gaps, as a file a person can open', async () => {
    const out = join(work, 'eu-ai-act.html');
    const r = await runCli(['report', '--api-url', bridge.apiUrl, '--framework', 'eu-ai-act', '--from', '1h', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/^report: EU AI Act .*, written to .*eu-ai-act\.html; \d+ gaps:\n/);
    expect(r.stderr).toContain('Art. 14: 1 approval bypass was detected');
    const html = readFileSync(out, 'utf8');
    expect(html).toMatch(/^<!doctype html>/);
    expect(html).toContain('<h2>Art. 14: Human oversight</h2>');
    const bad = await runCli(['report', '--api-url', bridge.apiUrl, '--framework', 'iso9001', '--from', '1h', '--out', out]);
    expect([bad.code, bad.stderr.split('\n')[0]]).toEqual([2, 'otel-audit report: invalid --framework "iso9001": expected one of eu-ai-act, soc2, hipaa, gdpr']);
  });

  it('detect re-runs a range without raising the incident again', async () => {
    const r = await runCli(['detect', '--api-url', bridge.apiUrl, '--from', '1h', '--format', 'jsonl']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^detect: 1 incident from .* to .*; 0 new alerts\n$/);
    const noFrom = await runCli(['detect', '--api-url', bridge.apiUrl]);
    expect([noFrom.code, noFrom.stderr.split('\n')[0]]).toEqual([2, 'otel-audit detect: detect needs --from (a time or a duration ago, such as 24h)']);
    const backwards = await runCli(['detect', '--api-url', bridge.apiUrl, '--from', '1h', '--to', '2h']);
    expect(backwards.code).toBe(2);
    expect(backwards.stderr).toMatch(/invalid range: --from .* must be before --to/);
  });

  it('a restart does not raise old alerts again', async () => {
    expect(await bridge.stop()).toBe(0);
    bridge = await startBridge({ dataDir: join(work, 'data'), args });
    const r = await runCli(['detect', '--api-url', bridge.apiUrl, '--from', '1h', '--format', 'jsonl']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/; 0 new alerts\n$/);
    expect((await alertsOf()).map((a) => a.correlation_id)).toEqual(['CASE-BYPASS']);
    const text = await (await fetch(`${bridge.apiUrl}/metrics`)).text();
    expect(text).not.toMatch(/^otel_audit_alerts_total\{/m);
    // Nor sends it again.
    expect(hooks.map((h) => h.status)).toEqual([500, 200]);
  }, 90_000);
});

describe('with an auth file', () => {
  let secured: BridgeProcess;
  beforeAll(async () => {
    const dir = tempDir('e2e-detect-auth-');
    secured = await startBridge({ args: ['--auth-file', writeAuthFile(dir, TOKENS)] });
    await plantBypass(secured, T['ingest-acme'], 'acme', 'CASE-ACME');
    await plantBypass(secured, T['ingest-globex'], 'globex', 'CASE-GLOBEX');
    // The near miss: approved late (5 s after the proposal) but before the effect (10 s). And the effect before its approval (20 s).
    await sendApprovalCase(secured, T['ingest-acme'], 'CASE-LATE-APPROVAL', 5);
    await sendApprovalCase(secured, T['ingest-acme'], 'CASE-EFFECT-FIRST', 20);
    await flush(secured.apiUrl, T.admin);
  }, 90_000);
  afterAll(async () => {
    if (secured) expect(await secured.stop()).toBe(0);
  });

  it('detect needs the admin role and covers the caller\'s tenants; each reader sees its own tenants\' alerts, in the API and in sql', async () => {
    const denied = await runCli(['detect', '--api-url', secured.apiUrl, '--token', T['reader-acme'], '--from', '1h']);
    expect(denied.code).toBe(1);
    expect(denied.stderr).toContain('may not run detections');
    const r = await runCli(['detect', '--api-url', secured.apiUrl, '--token', T.admin, '--from', '1h', '--rule', 'approval-bypass', '--format', 'jsonl']);
    expect(r.code, r.stderr).toBe(0);
    const raised = r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as AlertLine & { details: { kind: string } });
    expect(raised.map((a) => a.correlation_id).sort()).toEqual(['CASE-ACME', 'CASE-EFFECT-FIRST', 'CASE-GLOBEX']);
    expect(raised.find((a) => a.correlation_id === 'CASE-EFFECT-FIRST')!.details.kind).toBe('before-approval');
    expect(raised.find((a) => a.correlation_id === 'CASE-EFFECT-FIRST')!.explanation).toMatch(/, before its approval \(approved by lead-7 at .*\)\.$/);
    expect((await alertsOf(['--token', T['reader-acme']], secured)).map((a) => a.correlation_id).sort()).toEqual(['CASE-ACME', 'CASE-EFFECT-FIRST']);
    expect((await alertsOf(['--token', T['reader-globex']], secured)).map((a) => a.correlation_id)).toEqual(['CASE-GLOBEX']);
    const rows = await sql<{ correlation_id: string }>(secured.apiUrl, 'SELECT correlation_id FROM otel_audit.alerts', T['reader-globex']);
    expect(rows.map((x) => x.correlation_id)).toEqual(['CASE-GLOBEX']);
    const viaView = await sql<{ n: string }>(secured.apiUrl, 'SELECT count() AS n FROM otel_audit.alert_events', T['reader-acme']);
    expect(Number(viaView[0].n)).toBe(2 + 3);
    const ingest = await fetch(`${secured.apiUrl}/api/v1/alerts?format=json`, { headers: { authorization: `Bearer ${T['ingest-acme']}` } });
    expect(ingest.status).toBe(403);
    const none = await fetch(`${secured.apiUrl}/api/v1/alerts?format=json`);
    expect(none.status).toBe(401);
  });
});
