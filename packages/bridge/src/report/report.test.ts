// A compliance report over a fixed scenario on a real chDB store: it names the gaps the scenario
// holds (and only those), and every figure it prints is re-derived by the query in its appendix.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ev, linkTo, time } from '../detect/testdata/scenarios.ts';
import { Store } from '../store/index.ts';
import { FIGURES } from './figures.ts';
import { buildReport, renderHtml, renderMarkdown, type Report } from './report.ts';

let store: Store;
const period = { from: time(-3600), to: time(86_400) };
const anchors = [{ chain_id: 'main-high', anchors: ['file:///var/lib/otel-audit/anchors'], anchor_backlog: 0, halted: null }];
const retention = { low: 90, medium: 365, high: 2190 };

async function report(framework: 'eu-ai-act' | 'hipaa' | 'gdpr' | 'soc2', tenants: string[] | null = null): Promise<Report> {
  return buildReport({ framework, ...period, tenants, retention, anchors, run: (sql) => store.rows(sql) });
}

beforeAll(async () => {
  store = await Store.open({ dataDir: mkdtempSync(join(tmpdir(), 'report-test-')), database: 'otel_audit' });
  await store.migrate();
  const reviewedProposal = ev('tool_call', 10, { correlation_id: 'CASE-OK', risk: 'high', tool_name: 'crm_update', action: 'update', approval_required: true });
  const rows = [
    ev('model_call', 0, { correlation_id: 'CASE-OK', risk: 'high', purpose: 'answer' }),
    reviewedProposal,
    ev('approval', 20, { correlation_id: 'CASE-OK', decision: 'approved', reviewer_id: 'lead-7', links: linkTo(reviewedProposal) }),
    // The gaps: a model call with no actor, a high-risk case no one reviewed, a proposal never decided.
    ev('model_call', 0, { correlation_id: 'CASE-GAP', risk: 'high', actor_id: '', purpose: 'answer' }),
    ev('tool_call', 10, { correlation_id: 'CASE-GAP', risk: 'high', tool_name: 'refund', action: 'update', approval_required: true }),
    // Another tenant's events are not in a report for acme.
    ev('model_call', 0, { tenant: 'globex', correlation_id: 'CASE-G', actor_id: '' }),
  ];
  await store.insertJsonEachRow('events', rows.map((r) => JSON.stringify(r)).join('\n') + '\n', 'report-test');
  const alert = {
    alert_id: 'a'.repeat(32), tenant: 'acme', rule: 'approval-bypass', severity: 'high', correlation_id: 'CASE-GAP', subject: 'agent-1', event_ids: [rows[4].event_id],
    first_event_time: time(10), last_event_time: time(10), detected_at: '2026-01-05 10:00:00.000', explanation: 'x', details: '{}',
  };
  await store.insertJsonEachRow('alerts', JSON.stringify(alert) + '\n', 'report-test-alert');
});
afterAll(async () => {
  await store?.close();
});

describe('compliance report', () => {
  it('EU AI Act: names exactly the gaps of the scenario, requirement by requirement', async () => {
    const r = await report('eu-ai-act', ['acme']);
    const gaps = Object.fromEntries(r.requirements.map((q) => [q.ref, q.gaps]));
    expect(Object.keys(gaps)).toEqual(['Art. 12(1)', 'Art. 12(2)(a)', 'Art. 12(2)(b)', 'Art. 12(2)(c)', 'Art. 14', 'Art. 19(1), Art. 26(6)']);
    expect(gaps['Art. 12(1)']).toEqual([]);
    expect(gaps['Art. 12(2)(b)']).toEqual(['No outcome (audit.outcome) was recorded: whether results were kept, corrected or rolled back cannot be shown.']);
    expect(gaps['Art. 12(2)(c)']).toEqual(['1 of 2 model calls (50 %) name no actor: who or what they served cannot be shown.']);
    expect(gaps['Art. 14']).toEqual([
      '1 of 2 high-risk cases have no human decision recorded at all.',
      '1 of 2 proposals that required approval have no decision linked to them.',
      '1 approval bypass was detected: something acted without the approval it needed (otel-audit alerts --rule approval-bypass).',
    ]);
    expect(gaps['Art. 19(1), Art. 26(6)']).toEqual([
      'Events of low risk are kept 90 days, less than the 184 days Art. 19 and 26(6) require (retention_days.low in the policy file).',
      'No signed checkpoint was made in the period: none yet covers the events of the period against later change.',
      'Checkpoints are anchored only in local directories (file:///var/lib/otel-audit/anchors; chains main-high): an administrator of this host could rewrite both the store and the anchor. Add an S3 Object Lock or RFC 3161 anchor (--anchor).',
    ]);
    expect(r.figures.activity[0]).toMatchObject({ events: '5', cases: '2' });
  });

  it('every figure is re-derived by the query the appendix prints', async () => {
    const r = await report('eu-ai-act', ['acme']);
    const md = renderMarkdown(r);
    for (const [id, sql] of Object.entries(r.sql)) {
      expect(md, id).toContain(sql);
      expect(await store.rows(sql), id).toEqual(r.figures[id as keyof typeof r.figures]);
    }
    expect(md).toContain('## What this report does not claim');
    expect(md).toContain('| model_calls | with_actor | with_case |\n|---|---|---|\n| 2 | 1 | 2 |');
  });

  it('docs/compliance.md shows every figure\'s query, as the report runs it', () => {
    const doc = readFileSync(join(import.meta.dirname, '..', '..', '..', '..', 'docs', 'compliance.md'), 'utf8');
    for (const [id, f] of Object.entries(FIGURES)) expect(doc, id).toContain(`### \`${id}\`: ${f.title}\n\n${f.meaning[0].toUpperCase()}${f.meaning.slice(1)}.\n\n\`\`\`sql\n${f.sql}\n\`\`\``);
  });

  it('is scoped to the reader\'s tenants', async () => {
    const all = await report('eu-ai-act');
    expect(all.figures.activity[0].events).toBe('6');
    expect((await report('eu-ai-act', ['globex'])).figures.alerts).toEqual([]);
  });

  it('HIPAA and GDPR: six-year retention, erasures counted from the trail; HTML is a page with no script', async () => {
    const hipaa = await report('hipaa', ['acme']);
    expect(hipaa.requirements.find((q) => q.ref === '§164.316(b)(2)(i)')!.gaps).toEqual([
      'Events of low risk are kept 90 days, less than the 2192 days HIPAA\'s six-year retention requires (retention_days.low in the policy file).',
      'Events of medium risk are kept 365 days, less than the 2192 days HIPAA\'s six-year retention requires (retention_days.medium in the policy file).',
      // 2190 days (6 × 365) is two days short of the longest six years.
      'Events of high risk are kept 2190 days, less than the 2192 days HIPAA\'s six-year retention requires (retention_days.high in the policy file).',
    ]);
    const gdpr = await report('gdpr', ['acme']);
    const art17 = gdpr.requirements.find((q) => q.ref === 'Art. 17')!;
    expect(art17.gaps).toEqual([]);
    expect(art17.figures).toContain('access');
    const html = renderHtml(gdpr);
    expect(html).toMatch(/^<!doctype html>/);
    expect(html).not.toMatch(/<script|<link|src=/);
    expect(html).toContain('<h2>Art. 30: Records of processing activities</h2>');
  });

  it('states the retention regime of the policy and whether the retention meets it, with the acknowledgement', async () => {
    const none = renderMarkdown(await report('eu-ai-act', ['acme']));
    expect(none).toContain('- **Retention regime:** none chosen in the policy file (retention_regime), so the bridge enforces no minimum\n');
    const reason = 'Low-risk FAQ answers hold no personal data; DPO decision 2026-11-02';
    const short = await buildReport({ framework: 'eu-ai-act', ...period, tenants: ['acme'], retention: { low: 30, medium: 365, high: 2190 }, regime: { regimes: ['eu-ai-act', 'hipaa'], acknowledged: reason }, anchors, run: (sql) => store.rows(sql) });
    expect(renderMarkdown(short)).toContain(
      '- **Retention regime:** EU AI Act (at least 184 days; Art. 19(1) and 26(6): automatically generated logs kept at least six months): not met, kept shorter: low risk 30 days; ' +
        'HIPAA (at least 2192 days; §164.316(b)(2)(i): documentation retained six years): not met, kept shorter: low risk 30 days, medium risk 365 days, high risk 2190 days. ' +
        `Acknowledged in the policy file (acknowledge_short_retention): "${reason}"\n`,
    );
    expect(short.requirements.find((q) => q.ref === 'Art. 19(1), Art. 26(6)')!.gaps[0]).toBe(
      `Events of low risk are kept 30 days, less than the 184 days Art. 19 and 26(6) require (retention_days.low in the policy file). The policy file acknowledges it (acknowledge_short_retention): "${reason}".`,
    );
    expect(renderHtml(short)).toContain('<dt>Retention regime</dt><dd>EU AI Act (at least 184 days; ');
    expect(renderHtml(short)).toContain('Acknowledged in the policy file (acknowledge_short_retention): &quot;Low-risk FAQ');
    const met = await buildReport({ framework: 'hipaa', ...period, tenants: ['acme'], retention: { low: 2192, medium: 2192, high: 3650 }, regime: { regimes: ['hipaa'] }, anchors, run: (sql) => store.rows(sql) });
    expect(renderMarkdown(met)).toContain('- **Retention regime:** HIPAA (at least 2192 days; §164.316(b)(2)(i): documentation retained six years): met at every risk level\n');
    expect(met.requirements.find((q) => q.ref === '§164.316(b)(2)(i)')!.gaps).toEqual([]);
  });

  it('refuses a period that ends before it starts, with a coded error', async () => {
    await expect(buildReport({ framework: 'soc2', from: period.to, to: period.from, tenants: null, retention, anchors, run: (sql) => store.rows(sql) })).rejects.toMatchObject({ code: 'REPORT_BAD_RANGE' });
  });
});
