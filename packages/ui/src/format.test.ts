import { describe, expect, it } from 'vitest';
import {
  approvalEdits,
  caseIntegrityView,
  casePath,
  checkpointsPhrase,
  describe as describeEvent,
  formatDuration,
  formatGap,
  formatInstant,
  formatTime,
  identityLine,
  integrityView,
  millisBetween,
  modelOutput,
  parseContent,
  rawContentNote,
  stepTitle,
  traceUrl,
} from './format.ts';
import type { IntegritySummary } from './model.ts';
import { event, supportCase } from './testdata/events.ts';

const byType = (type: string) => supportCase().find((e) => e.event_type === type)!;

describe('what an event did, in words', () => {
  it('describes each step of the demo case', () => {
    expect(describeEvent(byType('request'))).toBe('handle ticket · purpose: answer');
    expect(describeEvent(byType('retrieval'))).toBe('from support-kb · 2 sources: KB-101, KB-102');
    expect(describeEvent(byType('model_call'))).toBe('openai gpt-4o-mini-2024-07-18 · 185 → 72 tokens');
    expect(describeEvent(byType('tool_call'))).toBe('update_crm_case update crm/CASE-123 · needs approval');
    expect(describeEvent(byType('approval'))).toBe('approved by lead-7 (team lead)');
    expect(describeEvent(byType('system_effect'))).toBe('record updated crm/CASE-123');
    expect(describeEvent(byType('outcome'))).toBe('completed');
    expect(describeEvent(event({ event_type: 'access', purpose: 'erase', actor_id: 'dpo-1', target_id: 'subject:pii:0123456789abcdef' }))).toBe('dpo-1 erased subject:pii:0123456789abcdef');
  });

  it('titles steps: a proposal that needs approval, a decision, an outcome', () => {
    expect(stepTitle(byType('tool_call'))).toBe('Tool call proposed, needs approval');
    expect(stepTitle(byType('approval'))).toBe('Approval: approved');
    expect(stepTitle(byType('outcome'))).toBe('Outcome: completed');
    expect(stepTitle(event({ event_type: 'access', purpose: 'read_content' }))).toBe('Sealed content opened (a read of the trail)');
    expect(stepTitle(event({ event_type: 'access', purpose: 'erase' }))).toBe('Subject erased (its sealed content can no longer be read)');
  });

  it('says who acted, for whom, and how it started', () => {
    expect(identityLine(byType('model_call'))).toBe('support-assistant (agent) on behalf of cust-1042 · AI-assisted');
    expect(identityLine(byType('approval'))).toBe('lead-7 (human, team lead) · human');
    expect(identityLine(event({ actor_id: '', actor_type: '', initiation: '' }))).toBe('unknown actor');
  });
});

describe('content, as stored (redacted)', () => {
  it('reads the model output of GenAI messages: the text and the tool calls it asked for', () => {
    const out = modelOutput(byType('model_call'))!;
    expect(out.text).toMatch(/^Sorry about the double charge on order 1182/);
    expect(out.toolCalls).toEqual([{ name: 'update_crm_case', arguments: expect.stringContaining('"status": "refund_pending"') }]);
    const c = parseContent(byType('model_call'));
    expect(c?.kind).toBe('messages');
    // The bridge masked what the customer typed.
    expect(JSON.stringify(c)).toContain('[card …1111]');
  });

  it('reads a tool call as arguments and result, a retrieval as its query, anything else as text', () => {
    expect(parseContent(byType('tool_call'))).toMatchObject({ kind: 'tool', arguments: expect.stringContaining('refund_pending'), result: expect.stringContaining('pending_approval') });
    expect(parseContent(byType('retrieval'))).toMatchObject({ kind: 'query', query: expect.stringContaining('charged twice') });
    expect(parseContent(event({ content: 'plain words' }))).toEqual({ kind: 'text', text: 'plain words' });
    expect(parseContent(event({ content: '' }))).toBeNull();
    expect(modelOutput(event({ content: '{"output": "just text"}' }))).toEqual({ text: 'just text', toolCalls: [] });
  });

  it("shows a reviewer's edits when the app captured them", () => {
    expect(approvalEdits(event({ attributes: { 'audit.approval.edits': '{"amount":40}' } }))).toBe('{\n  "amount": 40\n}');
    expect(approvalEdits(event())).toBeNull();
  });

  it('says why an event has no raw content to open: erased before it was sealed, or not kept', () => {
    expect(rawContentNote(event({ has_sealed_content: false, attributes: { 'otel_audit.content_sealed': 'erased' } }))).toMatch(/^Raw content erased: its subject was erased/);
    expect(rawContentNote(event({ has_sealed_content: false, attributes: { 'otel_audit.content_sealed': 'unavailable' } }))).toMatch(/^Raw content not kept/);
    expect(rawContentNote(event({ has_sealed_content: true, attributes: { 'otel_audit.content_sealed': 'erased' } }))).toBeNull();
    expect(rawContentNote(event({ has_sealed_content: false }))).toBeNull();
  });
});

describe('integrity in words', () => {
  const cp = { chain_id: 'main-medium', tree_size: 7, created_at: '2026-12-02T08:17:32.613Z' };

  it('a verified event names the checkpoint that covers it', () => {
    expect(integrityView({ status: 'verified', hash_ok: true, link_ok: true, included: true, checkpoint: cp })).toEqual({
      tone: 'ok',
      label: 'Verified',
      detail: 'hash verifies; included in checkpoint 7 of chain main-medium, signed 2026-12-02 08:17:32 UTC',
    });
  });

  it('a modified event is never shown as fine', () => {
    const v = integrityView({ status: 'modified', hash_ok: false, link_ok: true, included: false, checkpoint: cp, reason: 'its stored columns no longer hash to its hash' });
    expect(v).toMatchObject({ tone: 'bad', label: 'Modified', detail: 'its stored columns no longer hash to its hash' });
    expect(integrityView({ status: 'unanchored', hash_ok: true, link_ok: true, included: null, checkpoint: null }).tone).toBe('info');
    expect(integrityView(undefined).label).toBe('Not checked');
  });

  it('names the checkpoints of a chain per risk level in one phrase', () => {
    const high = { chain_id: 'main-high', tree_size: 1, created_at: '2026-12-02T08:17:32.100Z' };
    expect(checkpointsPhrase([cp, high])).toBe('checkpoint 7 (main-medium) and checkpoint 1 (main-high), signed 2026-12-02 08:17:32 UTC');
    expect(checkpointsPhrase([cp, { ...high, created_at: '2026-12-02T09:00:00Z' }])).toBe(
      'checkpoint 7 (main-medium) at 2026-12-02 08:17:32 UTC and checkpoint 1 (main-high) at 2026-12-02 09:00:00 UTC',
    );
    expect(checkpointsPhrase([])).toBe('');
  });

  it('the case header: "verified up to checkpoint N at T", or what is broken', () => {
    const counts = { verified: 7, unanchored: 0, unchecked: 0, modified: 0, broken: 0 };
    const ok: IntegritySummary = { status: 'verified', summary: '', counts, checkpoints: [cp], problems: [] };
    expect(caseIntegrityView({ events: 7, integrity: ok }).headline).toBe('Verified up to checkpoint 7 at 2026-12-02 08:17:32 UTC');
    const broken: IntegritySummary = {
      status: 'broken',
      summary: '1 of 7 events fail their integrity check (1 modified, 0 broken)',
      counts: { ...counts, verified: 6, modified: 1 },
      checkpoints: [cp],
      problems: [{ event_id: 'e'.repeat(32), chain_id: 'main-medium', seq: 3, status: 'modified', reason: 'changed' }],
    };
    const v = caseIntegrityView({ events: 7, integrity: broken });
    expect(v).toMatchObject({ tone: 'bad', headline: 'Integrity broken: 1 of 7 events fails the check' });
    expect(v.details[0]).toBe('1 modified (the stored row is not what was sealed), 6 verified. "otel-audit verify" checks the whole chain and its anchors.');
    const fresh: IntegritySummary = { status: 'unanchored', summary: '', counts: { ...counts, verified: 0, unanchored: 2 }, checkpoints: [], problems: [] };
    expect(caseIntegrityView({ events: 2, integrity: fresh }).headline).toBe('Hash chain intact; not yet covered by a signed checkpoint');
  });
});

describe('times, links', () => {
  it('formats event times to the millisecond, checkpoint instants to the second, gaps and durations', () => {
    expect(formatTime('2026-12-02 08:17:28.175000000')).toBe('2026-12-02 08:17:28.175');
    expect(formatTime('2026-12-02 08:17:28')).toBe('2026-12-02 08:17:28.000');
    expect(formatInstant('2026-12-02T08:17:32.613Z')).toBe('2026-12-02 08:17:32 UTC');
    expect(millisBetween('2026-12-02 08:17:28.270000000', '2026-12-02 08:17:31.058000000')).toBe(2788);
    expect(formatGap(2788)).toBe('2.8 s later');
    expect(formatGap(3 * 3_600_000 + 5 * 60_000)).toBe('3 h 5 min later');
    expect(formatGap(-400)).toBe('400 ms earlier');
    expect(formatDuration('98690633')).toBe('99 ms');
    expect(formatDuration('0')).toBe('');
  });

  it('links a trace through the configured template, and only to http(s)', () => {
    expect(traceUrl('https://jaeger.example/trace/{trace_id}?uiFind={span_id}', 'abc', 'def')).toBe('https://jaeger.example/trace/abc?uiFind=def');
    expect(traceUrl(null, 'abc')).toBeNull();
    expect(traceUrl('javascript:alert({trace_id})', 'abc')).toBeNull();
  });

  it('gives a case a stable address', () => {
    expect(casePath('CASE-123')).toBe('/cases/CASE-123');
    expect(casePath('CASE 1/ü', 'e1')).toBe('/cases/CASE%201%2F%C3%BC?event=e1');
  });
});
