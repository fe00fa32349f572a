import { describe, expect, it } from 'vitest';
import { buildStory, compareEvents, pairApprovals, StoryModel } from './story.ts';
import { event, supportCase } from './testdata/events.ts';

const t = (s: string) => `2026-11-22 10:00:${s}000000`;

describe('the story of a case', () => {
  it('tells the demo case in story order: system effect before outcome at the same instant, the approval under its proposal', () => {
    const events = supportCase();
    // The API's order (tenant, time, event id) puts the outcome before the effect it shares an instant with.
    expect(events.map((e) => e.event_type)).toEqual(['request', 'retrieval', 'model_call', 'tool_call', 'approval', 'outcome', 'system_effect']);
    const story = buildStory(events);
    expect(story.map((i) => [i.event.event_type, i.depth])).toEqual([
      ['request', 0],
      ['retrieval', 0],
      ['model_call', 0],
      ['tool_call', 0],
      ['approval', 1],
      ['system_effect', 0],
      ['outcome', 0],
    ]);
    const proposal = story[3];
    const approval = story[4];
    expect(approval.proposal).toBe(proposal.event);
    expect(proposal.approvals).toEqual([approval.event]);
    // In another trace, linked by trace and span id.
    expect(approval.event.trace_id).not.toBe(proposal.event.trace_id);
    expect(approval.event.links).toEqual([{ trace_id: proposal.event.trace_id, span_id: proposal.event.span_id }]);
  });

  it('draws an approval under its proposal even when other events came in between, hours later', () => {
    const proposal = event({ event_type: 'tool_call', event_time: '2026-11-22 09:00:00.000000000', approval_required: true });
    const other = event({ event_type: 'model_call', event_time: '2026-11-22 10:00:00.000000000' });
    const approval = event({ event_type: 'approval', event_time: '2026-11-22 13:00:00.000000000', trace_id: 'b'.repeat(32), links: [{ trace_id: proposal.trace_id, span_id: proposal.span_id }] });
    const effect = event({ event_type: 'system_effect', event_time: '2026-11-22 13:00:01.000000000', trace_id: 'b'.repeat(32) });
    const story = buildStory([effect, approval, other, proposal]);
    expect(story.map((i) => i.event)).toEqual([proposal, approval, other, effect]);
    expect(story.map((i) => i.depth)).toEqual([0, 1, 0, 0]);
  });

  it('draws an approval that seems to come first (clock skew between services) under its proposal', () => {
    const proposal = event({ event_type: 'tool_call', event_time: t('05.0') });
    const approval = event({ event_type: 'approval', event_time: t('04.9'), links: [{ trace_id: proposal.trace_id, span_id: proposal.span_id }] });
    expect(buildStory([approval, proposal]).map((i) => [i.event.event_type, i.depth])).toEqual([
      ['tool_call', 0],
      ['approval', 1],
    ]);
  });

  it('keeps several decisions on one proposal under it, in time order; a decision on a decision joins the same thread', () => {
    const proposal = event({ event_type: 'tool_call', event_time: t('01.0') });
    const escalated = event({ event_type: 'approval', decision: 'escalated', event_time: t('02.0'), links: [{ trace_id: proposal.trace_id, span_id: proposal.span_id }] });
    const approved = event({ event_type: 'approval', decision: 'approved', event_time: t('03.0'), links: [{ trace_id: escalated.trace_id, span_id: escalated.span_id }] });
    const story = buildStory([approved, proposal, escalated]);
    expect(story.map((i) => [i.event.decision || i.event.event_type, i.depth])).toEqual([
      ['tool_call', 0],
      ['escalated', 1],
      ['approved', 1],
    ]);
    expect(story[0].approvals).toEqual([escalated, approved]);
    expect(story[2].proposal).toBe(proposal);
  });

  it('leaves an approval whose proposal is not in the case at its place, marked unpaired', () => {
    const approval = event({ event_type: 'approval', links: [{ trace_id: 'c'.repeat(32), span_id: 'd'.repeat(16) }] });
    const [item] = buildStory([approval]);
    expect(item).toMatchObject({ depth: 0, proposal: null, unpaired: true });
  });

  it('pairs by the span link, never by position: an unlinked approval decides nothing', () => {
    const proposal = event({ event_type: 'tool_call', event_time: t('01.0') });
    const approval = event({ event_type: 'approval', event_time: t('02.0') });
    expect(pairApprovals([proposal, approval]).size).toBe(0);
    expect(buildStory([proposal, approval]).map((i) => i.depth)).toEqual([0, 0]);
  });

  it('orders by time, then by story order of types, then by event id', () => {
    const a = event({ event_type: 'outcome', event_time: t('01.0') });
    const b = event({ event_type: 'request', event_time: t('01.0') });
    const c = event({ event_type: 'request', event_time: t('00.5') });
    expect([a, b, c].sort(compareEvents)).toEqual([c, b, a]);
  });
});

describe('StoryModel: pages of a large case', () => {
  it('adds pages as they arrive, ignores events it already has, and moves an approval under a proposal from an earlier page', () => {
    const proposal = event({ event_type: 'tool_call', event_time: t('01.0') });
    const filler = Array.from({ length: 5 }, (_, i) => event({ event_type: 'model_call', event_time: t(`0${2 + i}.0`) }));
    const approval = event({ event_type: 'approval', event_time: t('09.0'), links: [{ trace_id: proposal.trace_id, span_id: proposal.span_id }] });
    const m = new StoryModel();
    m.add([proposal, ...filler.slice(0, 3)]);
    expect(m.items.map((i) => i.event)).toEqual([proposal, ...filler.slice(0, 3)]);
    m.add([...filler.slice(2), approval]);
    expect(m.size).toBe(7);
    expect(m.items.map((i) => i.event)).toEqual([proposal, approval, ...filler]);
    expect(m.indexOf(approval.event_id)).toBe(1);
    expect(m.indexOf('f'.repeat(32))).toBe(-1);
  });

  it('merges a page that overlaps in time (several tenants in one case)', () => {
    const m = new StoryModel();
    const first = [event({ tenant: 'a', event_time: t('01.0') }), event({ tenant: 'a', event_time: t('03.0') })];
    const second = [event({ tenant: 'b', event_time: t('02.0') })];
    m.add(first).add(second);
    expect(m.items.map((i) => i.event.event_time)).toEqual([t('01.0'), t('02.0'), t('03.0')]);
  });

  it('takes 50,000 events a page at a time, approvals included', () => {
    const m = new StoryModel();
    for (let p = 0; p < 50; p++) {
      const page = Array.from({ length: 1000 }, (_, i) => {
        const k = p * 1000 + i;
        const time = `2026-11-22 10:${String(Math.floor(k / 1000)).padStart(2, '0')}:00.${String(k % 1000).padStart(3, '0')}000000`;
        // Every 10th a proposal, decided by the event 5 later (so, at page ends, in the next page).
        if (k % 10 === 5) return event({ event_id: `a${k}`, event_type: 'approval', event_time: time, links: [{ trace_id: 'a'.repeat(32), span_id: `p${k - 5}`.padStart(16, '0') }] });
        return event({ event_id: `e${k}`, event_type: k % 10 === 0 ? 'tool_call' : 'model_call', event_time: time, span_id: k % 10 === 0 ? `p${k}`.padStart(16, '0') : `s${k}`.padStart(16, '0') });
      });
      m.add(page);
    }
    expect(m.size).toBe(50_000);
    expect(m.items).toHaveLength(50_000);
    expect(m.items.slice(0, 3).map((i) => [i.event.event_type, i.depth])).toEqual([
      ['tool_call', 0],
      ['approval', 1],
      ['model_call', 0],
    ]);
    expect(m.items.filter((i) => i.depth === 1)).toHaveLength(5000);
  });
});
