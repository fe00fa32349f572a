// not-executed over a real chDB store: a proposal with no effect within its window is raised,
// citing the proposal (and its decisions), once; each way an effect carries out a proposal keeps
// it quiet; the window comes from the policy file. And approval-bypass with `overridden`
// decisions: only an effect that is not the override's is a bypass. Rows are inserted as stored
// events, without the pipeline.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../internal/index.ts';
import { Store } from '../store/index.ts';
import { DetectConfigError, parseDetections, type DetectConfig } from './config.ts';
import { Detector, type Alert } from './detector.ts';
import * as n from './testdata/not-executed.ts';
import { BASE_MS, type Row } from './testdata/scenarios.ts';

let store: Store;
const NOW = Date.now();
const range = { from: new Date(BASE_MS - 86_400_000), to: new Date(BASE_MS + 10 * 86_400_000) };
let cases: Row[];

async function load(tenant: string, rows: Row[]): Promise<void> {
  const body = rows.map((r) => JSON.stringify({ ...r, tenant })).join('\n') + '\n';
  await store.insertJsonEachRow('events', body, `not-executed-test-${tenant}`);
}

async function raised(tenant: string | string[], config: DetectConfig = parseDetections(undefined), r = range, rule: 'not-executed' | 'approval-bypass' = 'not-executed'): Promise<Alert[]> {
  return (await new Detector(store, config, silentLogger).evaluate({ ...r, tenants: typeof tenant === 'string' ? [tenant] : tenant, rules: [rule] })).raised;
}

const caseIds = (alerts: Alert[]) => alerts.map((a) => a.correlation_id).sort();
const nameOf = (id: string) => cases.find((r) => r.event_id === id)?.name;

beforeAll(async () => {
  store = await Store.open({ dataDir: mkdtempSync(join(tmpdir(), 'not-executed-test-')), database: 'otel_audit' });
  await store.migrate();
  cases = n.notExecutedCases();
  await load('ne', cases);
  const t = n.tenantCases();
  await load('ne-a', t.proposals);
  await load('ne-b', t.effects);
  await load('ne-window', n.notExecutedCases());
  await load('ne-recent', n.recentCases(NOW));
  await load('overrides', n.overrideCases());
});
afterAll(async () => {
  await store?.close();
});

describe('not-executed', () => {
  let alerts: Alert[];
  beforeAll(async () => {
    alerts = await raised('ne');
  });
  const by = (c: string) => alerts.find((a) => a.correlation_id === c)!;

  it('raises exactly the proposals that no effect carried out within 24 h; quiet on every way an effect ties to one', () => {
    expect(caseIds(alerts)).toEqual(['FIRES_NE_APPROVED_NEVER_RUN', 'FIRES_NE_LATE_EFFECT', 'FIRES_NE_OTHER_CASE', 'FIRES_NE_REJECTED', 'FIRES_NE_SUPERSEDED', 'FIRES_NE_UNDECIDED']);
    expect(alerts.every((a) => a.rule === 'not-executed' && a.severity === 'low' && a.tenant === 'ne')).toBe(true);
  });

  it('cites the proposal, then its decisions, and marks it not_executed', () => {
    const rejected = by('FIRES_NE_REJECTED');
    expect(rejected.event_ids.map(nameOf)).toEqual(['execute_tool crm_update', 'approval rejected']);
    expect(JSON.parse(rejected.details)).toEqual({ status: 'not_executed', decision: 'rejected', decisions: 1, proposal: rejected.event_ids[0], window_ms: 86_400_000 });
    expect(rejected.explanation).toMatch(
      /^Proposed tool call "execute_tool crm_update" \(update on crm\/ACC-FIRES_NE_REJECTED\) at 2026-01-05 09:00:00\.000 by agent-1 in case FIRES_NE_REJECTED was not executed: no effect followed it within 24 h\. It was rejected by lead-7 at 2026-01-05 09:01:00\.000\.$/,
    );
    expect(rejected.first_event_time).toBe('2026-01-05 09:00:00.000000000');
    expect(rejected.last_event_time).toBe('2026-01-05 09:01:00.000000000');
    const undecided = by('FIRES_NE_UNDECIDED');
    expect(undecided.event_ids).toHaveLength(1);
    expect(undecided.explanation).toMatch(/ No decision on it is recorded either\.$/);
    expect(by('FIRES_NE_APPROVED_NEVER_RUN').explanation).toMatch(/ It was approved by lead-7 at .*, yet nothing carried it out\.$/);
  });

  it('an effect on a record carries out the latest proposal on it before the effect: the superseded one is raised', () => {
    const superseded = by('FIRES_NE_SUPERSEDED');
    expect(nameOf(superseded.event_ids[0])).toBe('execute_tool crm_update (first)');
  });

  it('an effect stored under another tenant does not count, even when both tenants are evaluated together', async () => {
    const both = await raised(['ne-a', 'ne-b']);
    expect(both.map((a) => [a.tenant, a.correlation_id])).toEqual([['ne-a', 'FIRES_NE_OTHER_TENANT']]);
  });

  it('is raised once: a second evaluation, and a new detector, find it stored', async () => {
    expect(await raised('ne')).toEqual([]);
    const [{ c }] = await store.rows<{ c: string }>("SELECT count() AS c FROM otel_audit.alerts WHERE tenant = 'ne' AND rule = 'not-executed'");
    expect(Number(c)).toBe(6);
  });

  it('takes its window and severity from the policy file: with 30 h the late effect counts', async () => {
    const config = parseDetections({ rules: { 'not-executed': { window: '30h', severity: 'medium' } } });
    expect(config.rules['not-executed']).toMatchObject({ enabled: true, severity: 'medium', windowMs: 30 * 3_600_000 });
    const alerts30 = await raised('ne-window', config);
    expect(caseIds(alerts30)).toEqual(['FIRES_NE_APPROVED_NEVER_RUN', 'FIRES_NE_OTHER_CASE', 'FIRES_NE_REJECTED', 'FIRES_NE_SUPERSEDED', 'FIRES_NE_UNDECIDED']);
    expect(alerts30.every((a) => a.severity === 'medium')).toBe(true);
    expect(alerts30[0].explanation).toContain('within 30 h');
    expect(() => parseDetections({ rules: { 'not-executed': { window: 'soon', grace: 1 } } })).toThrow(DetectConfigError);
    try {
      parseDetections({ rules: { 'not-executed': { window: 'soon', grace: 1 } } });
    } catch (err) {
      expect((err as DetectConfigError).problems).toEqual([
        'detections.rules.not-executed.grace: unknown field (expected one of enabled, severity, window)',
        'detections.rules.not-executed.window: expected a duration such as "30s", "15m", "24h" or "7d" of at least 60000 ms, got "soon"',
      ]);
    }
  });

  it("as the bridge's timer evaluates (the last 24 h): a proposal whose window ended in range is judged, an open one is not yet", async () => {
    const timer = { from: new Date(NOW - 86_400_000), to: new Date(NOW - 30_000) };
    expect(caseIds(await raised('ne-recent', parseDetections(undefined), timer))).toEqual(['FIRES_NE_TIMER']);
  });

  it('can be turned off', async () => {
    const off = parseDetections({ rules: { 'not-executed': { enabled: false } } });
    const r = await new Detector(store, off, silentLogger).evaluate({ ...range, tenants: ['ne-window'] });
    expect(r.rules).not.toContain('not-executed');
  });
});

describe('approval-bypass and overridden decisions', () => {
  it('an effect recorded under the override, or linked to it, carried out the person\'s replacement: no bypass; any other effect after an override is one', async () => {
    const alerts = await raised('overrides', parseDetections(undefined), range, 'approval-bypass');
    expect(caseIds(alerts)).toEqual(['FIRES_BYPASS_AFTER_OVERRIDDEN']);
    const [a] = alerts;
    expect(JSON.parse(a.details)).toMatchObject({ kind: 'after-overridden', tied_by: 'link', decision: 'overridden' });
    expect(a.explanation).toMatch(
      /which required approval, after it was overridden by lead-7 at .*, and the effect is neither recorded under the override nor linked to it: it carried out the AI's proposal, not the person's replacement\.$/,
    );
  });
});
