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
import { Correlator, isHeld, type HeldEvent, type PendingEvent } from '../correlate/index.ts';
import { ChainWriter, chainRows, eventHash } from '../chain/index.ts';
import { EVENT_COLUMNS, RowWriter } from '../store/index.ts';
import { openTempStore } from '../store/testdata/index.ts';
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
  const c = new Correlator<PendingEvent>({}, { finalizer: pf, deferSealing: true });
  for (const ev of r.intake.events) c.addSpan(ev.node, ev, t);
  return c.drain(t);
}

const noMaterialize = (): Promise<void> => Promise.reject(new Error('no event is held on a worker here'));

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
    const d = new DecidedEvents({ privacy, workers: pool, chain: (r) => chained.push(r as PendingEvent[]), materialize: noMaterialize, onError: (e) => errors.push(e) });
    const a = decided('A', 40, 'high');
    const b = decided('B', 3, 'low');
    const c = decided('C', 25, 'high');
    d.hold(a);
    d.chainHeld();
    expect(d.roundsOut).toBe(true);
    // Nothing to seal, but a round is out: it waits its turn instead of overtaking it.
    d.hold(b);
    d.chainHeld();
    d.hold(c);
    expect(d.count).toBe(68);
    expect(ids(d.all() as PendingEvent[])).toEqual(ids([...a, ...b, ...c]));
    d.chainHeld();
    expect(chained).toEqual([]);
    await d.settled();
    expect(errors).toEqual([]);
    expect(d.roundsOut).toBe(false);
    expect(d.count).toBe(0);
    expect(chained.map(ids)).toEqual([ids(a), ids(b), ids(c)]);
    expectSealed(chained.flat());
  });

  it('seals here, at once, without workers, or when the workers cannot be used', async () => {
    const chained: PendingEvent[][] = [];
    const here = new DecidedEvents({ privacy, workers: null, chain: (r) => chained.push(r as PendingEvent[]), materialize: noMaterialize, onError: (e) => expect.fail(e.message) });
    const a = decided('H', 5, 'high');
    here.hold(a);
    expect(here.heldCount).toBe(5);
    here.chainHeld();
    expect(chained.map(ids)).toEqual([ids(a)]);
    expectSealed(a);

    const closed = new IntakePool(1, { policy: privacy.policy.policy, keepsRaw: privacy.keepsRaw });
    await closed.close();
    expect(closed.usable).toBe(false);
    const without = new DecidedEvents({ privacy, workers: closed, chain: (r) => chained.push(r as PendingEvent[]), materialize: noMaterialize, onError: (e) => expect.fail(e.message) });
    const b = decided('W', 4, 'high');
    without.hold(b);
    without.chainHeld();
    expect(chained.map(ids)).toEqual([ids(a), ids(b)]);
    expectSealed(b);
  });

  it('chainAll chains what is held while rounds were out, and waits for all of it', async () => {
    const chained: PendingEvent[] = [];
    const d = new DecidedEvents({ privacy, workers: pool, chain: (r) => chained.push(...(r as PendingEvent[])), materialize: noMaterialize, onError: (e) => expect.fail(e.message) });
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
      const d = new DecidedEvents({ privacy: own, workers, chain: (r) => chained.push(...(r as PendingEvent[])), materialize: noMaterialize, onError: (e) => expect.fail(e.message) });
      const alone = new DecidedEvents({ privacy: own, workers: null, chain: (r) => chained.push(...(r as PendingEvent[])), materialize: noMaterialize, onError: (e) => expect.fail(e.message) });
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
      alone.hold(here);
      alone.chainHeld();
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

  it('held events are finalized, sealed and encoded on the worker that holds them: the rows are those made here', async () => {
    const workers = new IntakePool(1, { policy: privacy.policy.policy, keepsRaw: privacy.keepsRaw, finalizer: privacy.finalizerSettings() });
    const temp = await openTempStore('decided-held-');
    try {
      for (const risk of ['low', 'high'] as const) {
        const body = modelCalls({ caseId: (i) => `held-${risk}-${i}`, spans: 6, risk });
        const job = { defaultRisk: 'medium', now: Date.now(), ingestTime: '2026-12-07 00:00:00.000000000' };
        // On the worker, which keeps the events: stubs come back.
        const r = await workers.run({ ...job, raw: { signal: 'traces', encoding: 'json', body: Buffer.from(body) }, hold: true });
        if (r.signal !== 'traces') throw new Error('expected traces');
        expect(r.worker).toBeGreaterThan(0);
        const stubs = r.intake.events as HeldEvent[];
        expect(stubs.every(isHeld)).toBe(true);
        expect(JSON.stringify(stubs)).not.toContain('jane.doe'); // no content crosses
        const c = new Correlator({}, {});
        for (const ev of stubs) {
          ev.held.worker = r.worker!;
          c.addSpan(ev.node, ev, job.now);
        }
        const chained: HeldEvent[] = [];
        const held = new RowWriter(1024);
        const wh = new ChainWriter(`held-${risk}`, null);
        // Rows are read as they are chained (their buffers go back to the worker after).
        const chain = (ready: HeldEvent[]) => {
          for (const h of ready) wh.appendParts(h.row!.parts, h.row!.start, h.row!.bodyEnd, h.row!.end, held);
          chained.push(...ready);
        };
        const d = new DecidedEvents({ privacy, workers, chain: (ready) => chain(ready as HeldEvent[]), materialize: noMaterialize, onError: (e) => expect.fail(e.message) });
        d.hold(c.drain(job.now));
        await d.chainAll();
        // Here, as without workers.
        const local = runIntake({ ...job, raw: { signal: 'traces', encoding: 'json', body: Buffer.from(body) } }, privacy);
        if (local.signal !== 'traces') throw new Error('expected traces');
        const lc = new Correlator<PendingEvent>({}, { finalizer: privacy });
        for (const ev of local.intake.events) lc.addSpan(ev.node, ev, job.now);
        const made = lc.drain(job.now) as PendingEvent[];
        expect(chained.map((h) => h.eventId)).toEqual(made.map((p) => p.event.event_id));

        const here = new RowWriter(1024);
        const wl = new ChainWriter(`here-${risk}`, null);
        for (const p of made) wl.appendOne(p.event, here);
        if (risk === 'low') {
          // Nothing sealed (no random nonce): byte for byte, but for the chain's name and hashes.
          expect(held.pos).toBe(here.pos + 6 * (wh.chainId.length - wl.chainId.length));
        }
        await temp.store.insertRowBinary('events', EVENT_COLUMNS, held.take(), `held-${risk}`);
        await temp.store.insertRowBinary('events', EVENT_COLUMNS, here.take(), `here-${risk}`);
        const back = async (chainId: string) => {
          const rows: Array<Record<string, unknown>> = [];
          for await (const row of chainRows(temp.store, { chainId })) rows.push(row);
          return rows;
        };
        const a = await back(`held-${risk}`);
        const b = await back(`here-${risk}`);
        expect(a).toHaveLength(6);
        for (let i = 0; i < 6; i++) {
          expect(eventHash(a[i])).toBe(a[i].hash);
          const { chain_id: _c, prev_hash: _p, hash: _h, content_sealed: sa, ...restA } = a[i];
          const { chain_id: _c2, prev_hash: _p2, hash: _h2, content_sealed: sb, ...restB } = b[i];
          expect(restA).toEqual(restB);
          expect(Boolean(sa)).toBe(risk === 'high');
          expect(Boolean(sb)).toBe(risk === 'high');
          if (risk === 'high') {
            const opened = openSealedContent(privacy, a[i] as never);
            expect(opened.status).toBe('ok');
            expect(JSON.stringify((opened as { content: unknown }).content)).toContain(`jane.doe@example.com (held-high-${i})`);
          }
        }
      }
    } finally {
      await workers.close();
      await temp.remove();
    }
  });
});
