/**
 * DecidedEvents with a real privacy filter (subject vault on disk) and real intake workers:
 * rounds are chained in the order they started, content is sealed on the workers or here, and
 * every decided event is in exactly one place until it is chained.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Correlator, type PendingEvent } from '../correlate/index.ts';
import { IntakePool, runIntake } from '../intake/index.ts';
import { deriveSubjectIdKey, openSealedContent, PrivacyFilter, subjectOf, SubjectVault } from '../policy/index.ts';
import { DecidedEvents } from './decided.ts';
import { modelCalls } from './testdata/requests.ts';

let dir: string;
let privacy: PrivacyFilter;
let pool: IntakePool;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'decided-test-'));
  const master = randomBytes(32);
  privacy = new PrivacyFilter(master, { vault: new SubjectVault(join(dir, 'subjects'), deriveSubjectIdKey(master)) });
  pool = new IntakePool(1, { policy: privacy.policy.policy, keepsRaw: privacy.keepsRaw });
});
afterAll(async () => {
  await pool.close();
  rmSync(dir, { recursive: true, force: true });
});

/** `n` decided events of one request; high risk ones carry raw content to seal. */
function decided(tag: string, n: number, risk: 'high' | 'low', pf = privacy): PendingEvent[] {
  const body = modelCalls({ caseId: (i) => `${tag}-${i}`, spans: n, risk, input: (c) => `secret of ${c}` });
  const t = Date.now();
  const r = runIntake({ raw: { signal: 'traces', encoding: 'json', body }, defaultRisk: 'medium', now: t, ingestTime: '2026-12-07 00:00:00.000000000' }, pf);
  if (r.signal !== 'traces') throw new Error('expected traces');
  const c = new Correlator({}, { finalizer: pf, deferSealing: true });
  for (const ev of r.intake.events) c.addSpan(ev.node, ev, t);
  return c.drain(t);
}

const ids = (events: PendingEvent[]) => events.map((p) => p.event.correlation_id);

/** Every high-risk event's sealed content opens to its own raw content; nothing is left to seal. */
function expectSealed(events: PendingEvent[], pf = privacy): void {
  for (const p of events) {
    expect(p.contentToSeal).toBeUndefined();
    const row = p.event as PendingEvent['event'] & { content_sealed?: string };
    if (row.risk !== 'high') {
      expect(row.content_sealed).toBeUndefined();
      continue;
    }
    const opened = openSealedContent(pf, { ...row, content_sealed: row.content_sealed ?? '' });
    expect(opened.status).toBe('ok');
    expect(JSON.stringify((opened as { content: unknown }).content)).toContain(`secret of ${row.correlation_id}`);
  }
}

describe('DecidedEvents', () => {
  it('chains rounds in the order they started, their content sealed on the workers', async () => {
    const chained: PendingEvent[][] = [];
    const errors: Error[] = [];
    const d = new DecidedEvents({ privacy, workers: pool, chain: (r) => chained.push(r), onError: (e) => errors.push(e) });
    const a = decided('A', 40, 'high');
    const b = decided('B', 3, 'low');
    const c = decided('C', 25, 'high');
    d.hold(a);
    d.chainHeld();
    expect(d.sealing).toBe(true);
    // Nothing to seal, but a round is out: it waits its turn instead of overtaking it.
    d.hold(b);
    d.chainHeld();
    d.hold(c);
    expect(d.count).toBe(68);
    expect(ids(d.all())).toEqual(ids([...a, ...b, ...c]));
    d.chainHeld();
    expect(chained).toEqual([]);
    await d.settled();
    expect(errors).toEqual([]);
    expect(d.sealing).toBe(false);
    expect(d.count).toBe(0);
    expect(chained.map(ids)).toEqual([ids(a), ids(b), ids(c)]);
    expectSealed(chained.flat());
  });

  it('seals here, at once, when asked to, when nothing is out, or when the workers cannot be used', async () => {
    const chained: PendingEvent[][] = [];
    const here = new DecidedEvents({ privacy, workers: pool, chain: (r) => chained.push(r), onError: (e) => expect.fail(e.message) });
    const a = decided('H', 5, 'high');
    here.hold(a);
    expect(here.heldCount).toBe(5);
    here.chainHeld(true);
    expect(chained.map(ids)).toEqual([ids(a)]);
    expectSealed(a);

    const closed = new IntakePool(1, { policy: privacy.policy.policy, keepsRaw: privacy.keepsRaw });
    await closed.close();
    expect(closed.usable).toBe(false);
    const without = new DecidedEvents({ privacy, workers: closed, chain: (r) => chained.push(r), onError: (e) => expect.fail(e.message) });
    const b = decided('W', 4, 'high');
    without.hold(b);
    without.chainHeld();
    expect(chained.map(ids)).toEqual([ids(a), ids(b)]);
    expectSealed(b);
  });

  it('chainAll chains what is held while rounds were out, and waits for all of it', async () => {
    const chained: PendingEvent[] = [];
    const d = new DecidedEvents({ privacy, workers: pool, chain: (r) => chained.push(...r), onError: (e) => expect.fail(e.message) });
    const a = decided('X', 30, 'high');
    const b = decided('Y', 30, 'high');
    d.hold(a);
    d.chainHeld();
    d.hold(b);
    await d.chainAll();
    expect(ids(chained)).toEqual(ids([...a, ...b]));
    expect(d.count).toBe(0);
    expectSealed(chained);
  });

  it('content of events that arrived before their subject was erased is not sealed (on the workers or here), and says so', async () => {
    const master = randomBytes(32);
    const own = new PrivacyFilter(master, { vault: new SubjectVault(join(dir, 'erasure-subjects'), deriveSubjectIdKey(master)) });
    const workers = new IntakePool(1, { policy: own.policy.policy, keepsRaw: own.keepsRaw });
    try {
      const chained: PendingEvent[] = [];
      const d = new DecidedEvents({ privacy: own, workers, chain: (r) => chained.push(...r), onError: (e) => expect.fail(e.message) });
      // Sealed once already: the subject has a key, which the erasure deletes.
      const first = decided('E0', 2, 'high', own);
      d.hold(first);
      await d.chainAll();
      expectSealed(first, own);
      const onWorkers = decided('E1', 6, 'high', own);
      const here = decided('E2', 3, 'high', own);
      const e = onWorkers[0].event;
      own.vault!.erase(e.tenant, subjectOf(e));
      d.hold(onWorkers);
      d.chainHeld();
      await d.settled();
      d.hold(here);
      d.chainHeld(true);
      for (const p of [...onWorkers, ...here]) {
        expect(p.contentToSeal).toBeUndefined();
        expect((p.event as { content_sealed?: string }).content_sealed).toBeUndefined();
        expect(p.event.attributes['otel_audit.content_sealed']).toBe('erased');
      }
      expect(own.vault!.has(e.tenant, subjectOf(e))).toBe(false);
      // Content that arrives after the erasure is sealed again, under a new key.
      await new Promise((r) => setTimeout(r, 5));
      const later = decided('E3', 2, 'high', own);
      d.hold(later);
      await d.chainAll();
      expectSealed(later, own);
      expect(ids(chained)).toEqual(ids([...first, ...onWorkers, ...here, ...later]));
    } finally {
      await workers.close();
    }
  });
});
