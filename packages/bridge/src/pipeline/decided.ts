import { sealContentNow, setSealedContent, type PendingEvent } from '../correlate/index.ts';
import type { SealJob } from '../intake/index.ts';
import type { PrivacyFilter } from '../policy/privacy.ts';

/** About how much content (UTF-16 units) one message to a worker carries to be sealed. */
const SEAL_MESSAGE_CHARS = 256 * 1024;

/** Where content is sealed off the main thread: the intake workers (`IntakePool`). */
export interface SealingWorkers {
  /** False once the workers cannot be used: content is then sealed here. */
  readonly usable: boolean;
  seal(jobs: SealJob[]): Promise<string[]>;
}

export interface DecidedEventsOptions {
  /** The policy's sealing: keys for the workers, and sealing here when they cannot. */
  privacy: PrivacyFilter;
  workers: SealingWorkers | null;
  /** Takes decided events whose content is sealed, in the order they were decided. */
  chain: (ready: PendingEvent[]) => void;
  onError: (err: Error) => void;
}

/**
 * Decided events on their way to the chain. They are held while an insert is in flight, so
 * that the next batch is as large as the insert's duration allows (fewer, larger inserts: less
 * per-insert work and fewer parts for ClickHouse to merge). Then their high-risk content
 * (`contentToSeal`) is sealed on the workers, a round at a time (rounds are sealed side by
 * side), and each round is chained when its content is back, in the order the rounds started.
 *
 * A decided event is in exactly one place until it is chained: held, or in a round.
 */
export class DecidedEvents {
  private readonly o: DecidedEventsOptions;
  private held: PendingEvent[] = [];
  private heldSince = 0;
  /** Rounds whose content is being sealed on the workers, oldest first. */
  private readonly rounds: PendingEvent[][] = [];
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
  get sealing(): boolean {
    return this.rounds.length > 0;
  }

  /** Every decided event not chained yet, in order (for a compaction's snapshot). */
  all(): PendingEvent[] {
    return [...this.rounds.flat(), ...this.held];
  }

  hold(ready: PendingEvent[]): void {
    if (ready.length === 0) return;
    if (this.held.length === 0) {
      this.heldSince = Date.now();
      this.held = ready;
    } else {
      for (const p of ready) this.held.push(p);
    }
  }

  /**
   * Chains what is held: with content to seal, as a round on the workers; else (or `here`, or
   * without usable workers) now, sealing on this thread. While rounds are on the workers, what
   * is held becomes a round too, so that the order holds.
   */
  chainHeld(here = false): void {
    if (this.held.length === 0) return;
    const ready = this.held;
    this.held = [];
    const toSeal = ready.filter((p) => p.contentToSeal !== undefined);
    if (!this.sealing && (here || toSeal.length === 0 || !this.o.workers?.usable)) {
      for (const p of toSeal) sealContentNow(p, this.o.privacy);
      this.o.chain(ready);
      return;
    }
    this.rounds.push(ready);
    // Sealed at once, alongside the rounds before it; chained after them.
    const sealed = this.sealOnWorkers(toSeal);
    sealed.catch(() => {}); // its failure is the round's, below
    const round = (this.last ?? Promise.resolve())
      .then(() => sealed)
      .then(() => this.o.chain(ready))
      .catch((err) => this.o.onError(err as Error))
      .finally(() => {
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
      sealed = jobs.length ? await this.o.workers!.seal(jobs) : [];
    } catch {
      for (const p of events) sealContentNow(p, privacy);
      return;
    }
    sealing.forEach((p, i) => setSealedContent(p, sealed[i]));
  }
}
