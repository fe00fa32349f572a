// The rules over a real chDB store: each fires on exactly its cases (FIRES_*) and stays quiet on
// the near misses (QUIET_*); an incident found again, or by a new detector (a restart), is not
// raised twice. Rows are inserted as stored events, without the pipeline: the e2e test sends
// through the real OTel SDK.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Metrics, silentLogger } from '../internal/index.ts';
import { Store } from '../store/index.ts';
import { parseDetections, type RuleId } from './config.ts';
import { Detector, type Alert } from './detector.ts';
import * as s from './testdata/scenarios.ts';

let store: Store;
const config = parseDetections({ rules: { 'approval-bypass': { require_approval: [{ risk: ['high'], action: ['delete'] }] } } });
const range = { from: new Date(s.BASE_MS - 86_400_000), to: new Date(s.BASE_MS + 10 * 86_400_000) };

async function load(tenant: string, rows: s.Row[]): Promise<void> {
  const body = rows.map((r) => JSON.stringify({ ...r, tenant })).join('\n') + '\n';
  await store.insertJsonEachRow('events', body, `detect-test-${tenant}`);
}

/** The case (or subject) of each alert a rule raises over one tenant's scenario. */
async function fired(tenant: string, rule: RuleId, detector = new Detector(store, config, silentLogger)): Promise<Alert[]> {
  const r = await detector.evaluate({ ...range, tenants: [tenant], rules: [rule] });
  return r.raised;
}

const names = (alerts: Alert[], by: 'correlation_id' | 'subject' = 'correlation_id') => alerts.map((a) => a[by]).sort();

beforeAll(async () => {
  store = await Store.open({ dataDir: mkdtempSync(join(tmpdir(), 'detect-test-')), database: 'otel_audit' });
  await store.migrate();
  await load('approvals', s.approvalCases());
  await load('denied', s.deniedAndBlockedCases());
  await load('corrections', s.correctionCases());
  await load('volume', s.volumeCases());
  await load('sensitive', s.sensitiveCases());
  await load('coverage', s.coverageCases());
  const chains = s.chainCases();
  await load('chains', chains.events);
  await store.insertJsonEachRow('checkpoints', chains.checkpoints.map((c) => JSON.stringify(c)).join('\n') + '\n', 'detect-test-checkpoints');
});
afterAll(async () => {
  await store?.close();
});

describe('rules', () => {
  it('approval-bypass: no approval, effect before approval, after a rejection, a linked write, a policy rule; quiet on the near misses', async () => {
    const alerts = await fired('approvals', 'approval-bypass');
    expect(names(alerts)).toEqual(['FIRES_BYPASS_AFTER_REJECTED', 'FIRES_BYPASS_BEFORE_APPROVAL', 'FIRES_BYPASS_NO_APPROVAL', 'FIRES_BYPASS_POLICY_RULE', 'FIRES_BYPASS_TOOL_SEND']);
    const by = (c: string) => alerts.find((a) => a.correlation_id === c)!;
    expect(JSON.parse(by('FIRES_BYPASS_NO_APPROVAL').details)).toMatchObject({ kind: 'no-approval', tied_by: 'target' });
    expect(JSON.parse(by('FIRES_BYPASS_BEFORE_APPROVAL').details)).toMatchObject({ kind: 'before-approval' });
    expect(JSON.parse(by('FIRES_BYPASS_AFTER_REJECTED').details)).toMatchObject({ kind: 'after-rejected', tied_by: 'link' });
    expect(by('FIRES_BYPASS_AFTER_REJECTED').explanation).toMatch(/acted on proposal "execute_tool crm_update" in case FIRES_BYPASS_AFTER_REJECTED, which required approval, after it was rejected by lead-7/);
    expect(by('FIRES_BYPASS_POLICY_RULE').explanation).toContain('needs approval by the policy');
    // It cites the proposal, the effect and the decision.
    expect(by('FIRES_BYPASS_AFTER_REJECTED').event_ids).toHaveLength(3);
    expect(alerts.every((a) => a.severity === 'high' && a.tenant === 'approvals')).toBe(true);
  });

  it('permission-denied and blocked: counted per case, actor and tool', async () => {
    const denied = await fired('denied', 'permission-denied');
    expect(names(denied)).toEqual(['FIRES_DENIED']);
    expect(denied[0].event_ids).toHaveLength(3);
    expect(denied[0].explanation).toMatch(/^3 denied permission checks for actor bot-1 with tool crm_update in case FIRES_DENIED/);
    const blocked = await fired('denied', 'blocked');
    expect(names(blocked)).toEqual(['FIRES_BLOCKED_FILTER']);
    expect(blocked[0].explanation).toContain('content filter');
  });

  it('repeated-corrections: at both thresholds; quiet just under the count and just under the rate', async () => {
    const alerts = await fired('corrections', 'repeated-corrections');
    expect(names(alerts, 'subject')).toEqual(['prompt version FIRES_v1']);
    expect(alerts[0].event_ids).toHaveLength(3);
    expect(alerts[0].explanation).toMatch(/^3 outcomes of prompt version FIRES_v1 were corrected or rolled back out of 5 \(60 %\)/);
  });

  it('unusual-volume: far above its own baseline; quiet at exactly the factor', async () => {
    const alerts = await fired('volume', 'unusual-volume');
    expect(names(alerts, 'subject')).toEqual(['FIRES_busy-bot']);
    expect(alerts[0].explanation).toMatch(/^Actor FIRES_busy-bot had 150 events in the hour from .*, 150 times its own average of 1\.0 an hour/);
  });

  it('sensitive-source-in-low-risk-flow: a confidential source in a low-risk flow (labels in any case)', async () => {
    const alerts = await fired('sensitive', 'sensitive-source-in-low-risk-flow');
    expect(names(alerts)).toEqual(['FIRES_SENSITIVE']);
    expect(alerts[0].explanation).toContain('HR-9 (Confidential), more sensitive than a low-risk flow allows (at most internal)');
  });

  it('coverage: model calls without identity or content, an unreviewed high-risk case, a proposal with no result, unsigned events', async () => {
    const contentMode = (_tenant: string, risk: string) => (risk === 'low' ? 'digests' : 'redacted');
    const alerts = await fired('coverage', 'coverage', new Detector(store, config, silentLogger, undefined, contentMode));
    const checks = alerts.map((a) => `${JSON.parse(a.details).check} ${a.correlation_id || a.subject}`).sort();
    expect(checks).toEqual([
      'content-not-captured FIRES_no-content-svc',
      'high-risk-without-review FIRES_HIGH_RISK_UNREVIEWED',
      'model-call-identity FIRES_anonymous-svc',
      'proposal-without-result FIRES_OPEN_PROPOSAL',
    ]);
    // Chains span tenants: looked at when every tenant is evaluated, raised with no tenant.
    const all = await new Detector(store, config, silentLogger).evaluate({ ...range, tenants: null, rules: ['coverage'] });
    const unsigned = all.raised.filter((a) => JSON.parse(a.details).check === 'unsigned-events');
    expect(unsigned.map((a) => [a.tenant, a.subject, a.event_ids.length])).toEqual([['', 'FIRES_chain', 2]]);
    expect(unsigned[0].explanation).toMatch(/^2 events of chain FIRES_chain, from seq 2 \(stored .*\), are covered by no signed checkpoint \(the newest covers 1\)/);
    const identity = alerts.find((a) => a.subject === 'FIRES_anonymous-svc')!;
    expect(identity.explanation).toContain('1 with no actor, 1 with no correlation id of their own');
  });

  it('an incident is raised once: not by a re-evaluation, nor by a new detector over the same store (a restart)', async () => {
    const metrics = new Metrics();
    const first = new Detector(store, config, silentLogger, metrics);
    // The approvals tenant's alerts are stored by the first test already: none is new.
    const again = await first.evaluate({ ...range, tenants: ['approvals'] });
    expect(again.found).toBeGreaterThanOrEqual(5);
    expect(again.raised.filter((a) => a.rule === 'approval-bypass')).toEqual([]);
    expect(metrics.snapshot()['otel_audit_alerts_total{rule="approval-bypass",severity="high"}']).toBeUndefined();
    // A fresh incident is raised once, and counted.
    await load('later', s.approvalCases().filter((r) => r.correlation_id === 'FIRES_BYPASS_NO_APPROVAL'));
    expect((await first.evaluate({ ...range, tenants: ['later'], rules: ['approval-bypass'] })).raised).toHaveLength(1);
    expect(metrics.snapshot()['otel_audit_alerts_total{rule="approval-bypass",severity="high"}']).toBe(1);
    const restarted = new Detector(store, config, silentLogger, new Metrics());
    expect((await restarted.evaluate({ ...range, tenants: ['later'], rules: ['approval-bypass'] })).raised).toEqual([]);
    const [{ n }] = await store.rows<{ n: string }>("SELECT count() AS n FROM otel_audit.alerts WHERE tenant = 'later'");
    expect(Number(n)).toBe(1);
  });

  it('refuses an empty range with a coded error', async () => {
    await expect(new Detector(store, config, silentLogger).evaluate({ from: range.to, to: range.from })).rejects.toMatchObject({ code: 'DETECT_BAD_RANGE' });
  });
});
