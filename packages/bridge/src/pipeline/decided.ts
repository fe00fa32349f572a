import { isHeld, sealContentNow, setSealedContent, type HeldEvent, type PendingEvent, type WaitingEvent } from '../correlate/index.ts';
import type { EncodeItem, EncodedRows, Finalized, FinalizeItem, SealJob } from '../intake/index.ts';
import { ERASED, NOT_SEALED } from '../intake/index.ts';
import type { PrivacyFilter, SealingKey } from '../policy/index.ts';

/** About how much content (UTF-16 units) one message to a worker carries to be sealed. */
const SEAL_MESSAGE_CHARS = 256 * 1024;

/** The intake workers (`IntakePool`): where content is sealed, and where held events are finalized and encoded. */
export interface DecidingWorkers {
  /** False once the workers cannot be used: content is then sealed here. */
  readonly usable: boolean;
  seal(jobs: SealJob[]): Promise<string[]>;
  finalizeHeld(worker: number, items: FinalizeItem[]): Promise<Finalized[]>;
  encodeHeld(worker: number, items: EncodeItem[], keys: SealingKey[]): Promise<EncodedRows>;
  dropHeld(worker: number, handles: number[]): void;
  recycleRows(worker: number, buffers: ArrayBuffer[]): void;
}

export interface DecidedEventsOptions {
  /** The policy's sealing: keys for the workers, and sealing here when they cannot. */
  privacy: PrivacyFilter;
  workers: DecidingWorkers | null;
  /**
   * Takes decided events ready to be chained, in the order they were decided: content sealed,
   * and each held event with its row (`HeldEvent.row`).
   */
  chain: (ready: WaitingEvent[]) => void;
  /**
   * Makes held events whose worker failed them local again (`PendingEvent`s made anew from
   * their logged requests, finalized with their decided context); resolves once they are.
   */
  materialize: (events: HeldEvent[]) => Promise<void>;
  onError: (err: Error) => void;
}

/**
 * Decided events on their way to the chain. They are held while an insert is in flight, so
 * that the next batch is as large as the insert's duration allows (fewer, larger inserts: less
 * per-insert work and fewer parts for ClickHouse to merge). Then they go in rounds (rounds run
 * side by side): an event held on an intake worker is finalized there, its content sealed with
 * the key sent from here and its row encoded there (pipeline/README.md, "Where an event
 * lives"); an event here has its high-risk content (`contentToSeal`) sealed on the workers.
 * Each round is chained when it is done, in the order the rounds started.
 *
 * A decided event is in exactly one place until it is chained: held, or in a round.
 */
export class DecidedEvents {
  private readonly o: DecidedEventsOptions;
  private held: WaitingEvent[] = [];
  private heldSince = 0;
  /** Rounds on the workers, oldest first. */
  private readonly rounds: WaitingEvent[][] = [];
  private last: Promise<void> | null = null;

  constructor(o: DecidedEventsOptions) {
    this.o = o;
  }

  /** Decided events not chained yet (held, or in a round). */
  get count(): number {
    let n = this.held.length;
    for (const r of this.rounds) n += r.length;
    return n;
  }

  get heldCount(): number {
    return this.held.length;
  }

  /** How long the oldest held event has waited (ms; 0 when none is held). */
  heldFor(now: number): number {
    return this.held.length === 0 ? 0 : now - this.heldSince;
  }

  /** True while a round is on the workers. */
  get roundsOut(): boolean {
    return this.rounds.length > 0;
  }

  /** Every decided event not chained yet, in order (for a compaction's snapshot). */
  all(): WaitingEvent[] {
    return [...this.rounds.flat(), ...this.held];
  }

  hold(ready: WaitingEvent[]): void {
    if (ready.length === 0) return;
    if (this.held.length === 0) {
      this.heldSince = Date.now();
      this.held = ready;
    } else {
      for (const p of ready) this.held.push(p);
    }
  }

  /**
   * Chains what is held: as a round on the workers when it holds held events or content to
   * seal (and the workers are usable); else now, sealing on this thread. While rounds are on
   * the workers, what is held becomes a round too, so that the order holds.
   */
  chainHeld(): void {
    if (this.held.length === 0) return;
    const ready = this.held;
    this.held = [];
    let anyHeld = false;
    let anyToSeal = false;
    for (const p of ready) {
      if (isHeld(p)) anyHeld = true;
      else if (p.contentToSeal !== undefined) anyToSeal = true;
    }
    if (!this.roundsOut && !anyHeld && (!anyToSeal || !this.o.workers?.usable)) {
      for (const p of ready) sealContentNow(p as PendingEvent, this.o.privacy);
      this.o.chain(ready);
      return;
    }
    this.rounds.push(ready);
    // Done at once, alongside the rounds before it; chained after them.
    const buffers = new Map<number, ArrayBuffer>();
    const done = this.prepare(ready, buffers);
    done.catch(() => {}); // its failure is the round's, below
    const round = (this.last ?? Promise.resolve())
      .then(() => done)
      .then(() => this.o.chain(chainable(ready, this.o.onError)))
      .catch((err) => this.o.onError(err as Error))
      .finally(() => {
        // The rows are in the chained batches now (copied): their buffers go back for reuse.
        for (const [worker, b] of buffers) this.o.workers?.recycleRows(worker, [b]);
        this.rounds.splice(this.rounds.indexOf(ready), 1);
        if (this.last === round) this.last = null;
      });
    this.last = round;
  }

  /** Waits until every round started so far is chained. */
  async settled(): Promise<void> {
    while (this.last) await this.last;
  }

  /** Chains everything held, and waits for the rounds. */
  async chainAll(): Promise<void> {
    do {
      this.chainHeld();
      await this.settled();
    } while (this.held.length > 0);
  }

  /** A round's work: held events finalized and encoded on their workers, content of the others sealed. */
  private async prepare(ready: WaitingEvent[], buffers: Map<number, ArrayBuffer>): Promise<void> {
    const byWorker = new Map<number, HeldEvent[]>();
    const toSeal: PendingEvent[] = [];
    for (const p of ready) {
      if (isHeld(p)) {
        let g = byWorker.get(p.held.worker);
        if (!g) byWorker.set(p.held.worker, (g = []));
        g.push(p);
      } else if (p.contentToSeal !== undefined) toSeal.push(p);
    }
    const work: Array<Promise<void>> = [...byWorker].map(([worker, events]) => this.prepareHeld(worker, events, buffers));
    if (toSeal.length > 0) work.push(this.sealOnWorkers(toSeal));
    await Promise.all(work);
  }

  /**
   * Held events of one worker: finalized there, keys for the content it says is to be sealed
   * (their subjects are known only once finalized), then sealed and encoded there. If the
   * worker fails them (it died), they are made here again from their logged requests.
   */
  private async prepareHeld(worker: number, events: HeldEvent[], buffers: Map<number, ArrayBuffer>): Promise<void> {
    const workers = this.o.workers;
    const privacy = this.o.privacy;
    try {
      if (!workers?.usable) throw new Error('the intake workers cannot be used');
      const finalized = await workers.finalizeHeld(
        worker,
        events.map((h) => ({ handle: h.held.handle, ancestors: h.ancestors ?? [], pieces: h.pieces })),
      );
      const subjects: Array<[string, string, number]> = [];
      finalized.forEach((f, i) => {
        if (f.subject !== null) subjects.push([f.tenant, f.subject, events[i].arrivedAt]);
      });
      // New subjects' keys are created off the event loop first (two fsyncs each).
      const prepared = privacy.prepareSubjectKeys(subjects);
      if (prepared) await prepared;
      const keys: SealingKey[] = [];
      // By the key's bytes: the vault hands out the same buffer for a subject's cached key.
      const index = new Map<Uint8Array, number>();
      const items = finalized.map((f, i): EncodeItem => {
        const handle = events[i].held.handle;
        if (f.subject === null) return { handle, key: NOT_SEALED };
        const key = privacy.subjectKey(f.tenant, f.subject, events[i].arrivedAt);
        // Its subject was erased after it arrived: never sealed, not even under a new key.
        if (!key) return { handle, key: ERASED };
        let k = index.get(key.key);
        if (k === undefined) {
          index.set(key.key, (k = keys.length));
          keys.push(key);
        }
        return { handle, key: k };
      });
      const { rows, ends } = await workers.encodeHeld(worker, items, keys);
      buffers.set(worker, rows.buffer as ArrayBuffer);
      events.forEach((h, i) => {
        h.row = { risk: finalized[i].risk, parts: rows, start: ends[3 * i], bodyEnd: ends[3 * i + 1], end: ends[3 * i + 2] };
      });
    } catch {
      // The worker keeps none of them now (lost with it, or forgotten here).
      workers?.dropHeld(worker, events.map((h) => h.held.handle));
      for (const h of events) delete h.row;
      await this.o.materialize(events);
      for (const p of events as unknown as PendingEvent[]) sealContentNow(p, privacy);
    }
  }

  /**
   * Seals on the workers, in messages of about SEAL_MESSAGE_CHARS of content: one message per
   * round held the content of thousands of events at once, in both threads' old generations
   * (~140 MiB more peak RSS under the bench's load than sealing here).
   */
  private async sealOnWorkers(events: PendingEvent[]): Promise<void> {
    const groups: PendingEvent[][] = [];
    let group: PendingEvent[] = [];
    let size = 0;
    for (const p of events) {
      group.push(p);
      size += p.contentToSeal!.length;
      if (size >= SEAL_MESSAGE_CHARS) {
        groups.push(group);
        group = [];
        size = 0;
      }
    }
    if (group.length > 0) groups.push(group);
    await Promise.all(groups.map((g) => this.sealGroup(g)));
  }

  /** One message's worth; if the workers fail it, sealed here. */
  private async sealGroup(events: PendingEvent[]): Promise<void> {
    const privacy = this.o.privacy;
    let sealed: string[];
    const sealing: PendingEvent[] = [];
    try {
      if (!this.o.workers?.usable) throw new Error('the intake workers cannot be used');
      // New subjects' keys are created off the event loop first (two fsyncs each).
      const keys = privacy.prepareSealingKeys(events);
      if (keys) await keys;
      const jobs: SealJob[] = [];
      for (const p of events) {
        const key = privacy.sealingKey(p.event, p.arrivedAt);
        // Its subject was erased after it arrived: never sealed, not even under a new key.
        if (!key) {
          setSealedContent(p, null);
          continue;
        }
        jobs.push({ eventId: p.event.event_id, key, plaintext: p.contentToSeal! });
        sealing.push(p);
      }
      sealed = jobs.length ? await this.o.workers.seal(jobs) : [];
    } catch {
      for (const p of events) sealContentNow(p, privacy);
      return;
    }
    sealing.forEach((p, i) => setSealedContent(p, sealed[i]));
  }
}

/** The round's events but those held ones that have no row: their worker was lost, and they could not be made again (materialize said why). */
function chainable(ready: WaitingEvent[], onError: (err: Error) => void): WaitingEvent[] {
  const out = ready.filter((p) => !isHeld(p) || p.row !== undefined);
  if (out.length < ready.length) onError(new Error(`${ready.length - out.length} decided events are not chained: their intake worker was lost`));
  return out;
}
