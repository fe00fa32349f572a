import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { FinalizerSettings, PrivacyPolicy, SealingKey } from '../policy/index.ts';
import type { PendingEvent, WaitingEvent } from '../correlate/index.ts';
import { OtlpDecodeError, type DecodeOptions, type RejectedItem, decodeRequest, wholeBody, type RawRequest } from '../otlp/index.ts';
import { intakeLogs, intakeSpans, type IntakePrivacy, type LogIntake, type SpanIntake } from './intake.ts';
import { forwardLogs, forwardSpans, type ForwardPayload } from '../forward/payload.ts';
import { frame, recordParts } from '../spool/index.ts';
// The file, not chain/index.ts: a worker must not load the store (and chDB) with the chain.
import type { AppendedLeaves } from '../chain/leaves.ts';
import type { MerkleAccumulatorState } from '../chain/merkle.ts';
import type { EncodedRows, EncodeItem, Finalized, FinalizeItem, HeldEvents } from './held.ts';

/**
 * Decode + intake (normalize, redact, digest) of one request: pure, per request, and about a
 * third of the bridge's main-thread time per span, so it can run on worker threads while the
 * main thread correlates, seals and stores (see IntakePool).
 */
export interface IntakeJob {
  raw: RawRequest;
  decode?: DecodeOptions;
  defaultRisk: string;
  /** Epoch ms of arrival and the ingest_time it gives its events. */
  now: number;
  ingestTime: string;
  /** Also make the request's redacted forward copy (`serve --forward`, forward/payload.ts). */
  forward?: boolean;
  /**
   * The request's write-ahead log record header: the request is also framed (encoded and
   * encrypted with the log key) here, so that the main thread only appends the bytes.
   */
  walHeader?: object;
  /**
   * The worker keeps the events (held.ts) and sends stubs (`HeldEvent`): only for a job run on
   * a worker of an `IntakePool` made with `finalizer` settings.
   */
  hold?: boolean;
}

/** A request's intake; its events are stubs (`HeldEvent`) when a worker holds them. */
export type IntakeResult<E extends WaitingEvent = WaitingEvent> = (
  | { signal: 'traces'; received: number; rejected: RejectedItem[]; intake: SpanIntake<E> }
  | { signal: 'logs'; received: number; rejected: RejectedItem[]; intake: LogIntake<E> }
) & {
  /** The pool's number of the worker that holds the events (a `hold` job); 0: they are in the result. */
  worker?: number;
  /** The redacted forward copy, when the job asked for one and the request had items. */
  forward?: ForwardPayload;
  /** The request's framed log record, when the job gave its header and the request had items. */
  walFrame?: Uint8Array;
};

/**
 * Runs one job here, on the calling thread (also what each worker runs); `walKey` frames its
 * log record; `held` keeps the events of a `hold` job (on a worker).
 */
export function runIntake(job: IntakeJob, privacy: IntakePrivacy, walKey?: Buffer): IntakeResult<PendingEvent>;
export function runIntake(job: IntakeJob, privacy: IntakePrivacy, walKey: Buffer | undefined, held: HeldEvents | undefined): IntakeResult;
export function runIntake(job: IntakeJob, privacy: IntakePrivacy, walKey?: Buffer, held?: HeldEvents): IntakeResult {
  const body = wholeBody(job.raw.body);
  if (body !== job.raw.body) job = { ...job, raw: { ...job.raw, body } };
  const made = intakeOf(job, privacy);
  let result: IntakeResult = made;
  if (job.hold && held) {
    const spans = made.signal === 'traces' ? made.intake : made.intake.spans;
    const stubs = spans?.events.map((p) => held.hold(p));
    result = made.signal === 'traces' ? { ...made, intake: { ...made.intake, events: stubs! } } : { ...made, intake: { ...made.intake, spans: spans && { ...spans, events: stubs! } } };
    result.worker = 0; // the pool's number for this worker, set when the result reaches it
  }
  // Framed from its parts: the body is not copied into a joined record first.
  if (job.walHeader && result.received > 0) result.walFrame = frame(recordParts(job.walHeader, [body]), walKey);
  return result;
}

function intakeOf(job: IntakeJob, privacy: IntakePrivacy): IntakeResult<PendingEvent> {
  const decoded = decodeRequest(job.raw, job.decode);
  const o = {
    tenant: job.raw.tenant,
    defaultTenant: job.raw.defaultTenant,
    allowedTenants: job.raw.allowedTenants,
    principal: job.raw.principal,
    defaultRisk: job.defaultRisk,
    now: job.now,
    ingestTime: job.ingestTime,
  };
  if (decoded.signal === 'traces') {
    const intake = intakeSpans(decoded.spans, privacy, o);
    const rejected = intake.rejected.length ? [...decoded.rejected, ...intake.rejected].sort((a, b) => a.index - b.index) : decoded.rejected;
    return { signal: 'traces', received: decoded.spans.length, rejected, intake, forward: job.forward ? forwardSpans(decoded.spans, intake, privacy) : undefined };
  }
  return { signal: 'logs', received: decoded.logs.length, rejected: decoded.rejected, intake: intakeLogs(decoded.logs, privacy, o), forward: job.forward ? forwardLogs(decoded.logs, privacy) : undefined };
}

/** What a worker needs to build its own intake privacy filter (the redactor and the policy). */
export interface IntakeWorkerData {
  policy: PrivacyPolicy;
  keepsRaw: boolean;
  /** To finalize the events it holds (`hold` jobs) as the main thread's filter would. */
  finalizer?: FinalizerSettings;
  /** The write-ahead log's key (requests are framed on the workers). */
  walKey?: Uint8Array;
}

const YOUNG_GENERATION_MB = 48;
/**
 * A worker's old-generation limit. Under 2 GiB, V8 grows an old generation by at most 1.3–2×
 * its live size between full collections (1.6× at 1 GiB) instead of up to 4×: a worker's events
 * all die old, and without it its heap reached ~290 MiB for 50–100 live (docs/operations.md). A
 * worker that reaches it dies alone (ERR_WORKER_OUT_OF_MEMORY) and is replaced.
 */
const OLD_GENERATION_MB = 1024;
/**
 * The memory of a request's body that can move to a worker instead of being copied: a large body
 * that owns its memory, or chunks that each own theirs (as Node's HTTP parser gives them; they
 * are joined on the worker). Other chunks are joined here first (`raw.body` becomes one Buffer):
 * a view into a shared buffer would be copied whole.
 */
function transferable(raw: RawRequest): ArrayBuffer[] {
  const owns = (b: Buffer): boolean => b.byteOffset === 0 && b.byteLength === b.buffer.byteLength && b.buffer instanceof ArrayBuffer;
  if (!Buffer.isBuffer(raw.body)) {
    const chunks = raw.body as readonly Buffer[];
    if (chunks.every(owns)) return chunks.map((c) => c.buffer as ArrayBuffer);
    raw.body = wholeBody(chunks);
  }
  const body = raw.body as Buffer;
  return body.byteLength >= TRANSFER_MIN_BYTES && owns(body) ? [body.buffer as ArrayBuffer] : [];
}

/** Requests sent to one worker at a time; more wait in the pool (`pump`). */
const JOBS_PER_WORKER = 2;
/** Bodies from this size move to the worker (smaller ones live in Node's shared buffer pool). */
const TRANSFER_MIN_BYTES = 64 * 1024;

/** One event's raw content to seal under its subject's key (policy/vault.ts sealWith). */
export interface SealJob {
  eventId: string;
  key: SealingKey;
  plaintext: string;
}

/** A data key as sent to a worker: as text (kid hex, key base64). */
export interface SealKeyText {
  keyId: string;
  kid: string;
  key: string;
}

/**
 * SealJobs as sent to a worker: each distinct key once (subjects repeat within a message), and
 * each job with the index of its key.
 */
export interface SealMessage {
  keys: SealKeyText[];
  jobs: Array<{ eventId: string; plaintext: string; k: number }>;
}

/** Event hashes to append to a Merkle accumulator (`IntakePool.appendLeaves`). */
export interface LeavesMessage {
  state: MerkleAccumulatorState;
  hashes: string[];
  keepLeaves: boolean;
}

/** Leaves since a checkpoint, for its consistency proof (`IntakePool.consistencyProof`). */
export interface ProofMessage {
  old: MerkleAccumulatorState;
  leaves: Uint8Array;
}

/**
 * What the main thread sends a worker: a request's intake, a log record to frame
 * (`IntakePool.frame`), events' content to seal (`IntakePool.seal`), event hashes to append
 * to a Merkle accumulator (`IntakePool.appendLeaves`), or a checkpoint's consistency proof
 * (`IntakePool.consistencyProof`).
 */
export type WorkerMessage =
  | { id: number; job: IntakeJob }
  | { id: number; finalize: FinalizeItem[] }
  | { id: number; encode: { keys: SealKeyText[]; items: EncodeItem[] } }
  | { id: number; drop: number[] }
  | { id: number; recycle: ArrayBuffer[] }
  | { id: number; frame: readonly Uint8Array[] }
  | { id: number; seal: SealMessage }
  | { id: number; leaves: LeavesMessage }
  | { id: number; proof: ProofMessage };

type Reply =
  | { id: number; result: IntakeResult }
  | { id: number; finalized: Finalized[] }
  | { id: number; encoded: EncodedRows }
  | { id: number; dropped: true }
  | { id: number; framed: Uint8Array }
  | { id: number; sealed: string[] }
  | { id: number; appended: AppendedLeaves }
  | { id: number; consistency: string[] }
  | { id: number; error: { name: string; message: string } };

interface Slot {
  /** The pool's number for it: events it holds name it (`HeldEvent.held.worker`). */
  id: number;
  worker: Worker;
  pending: Map<number, { resolve: (r: never) => void; reject: (e: Error) => void }>;
  /** Set by the worker's first message ('ready'): it loaded. */
  started: boolean;
  /** Requests (`run`) sent to it and not answered yet. */
  jobs: number;
}

/** A data key as sent to a worker. */
function keyText(k: SealingKey): SealKeyText {
  return { keyId: k.keyId, kid: Buffer.from(k.kid).toString('hex'), key: Buffer.from(k.key).toString('base64') };
}

/** Workers that fail before they start, in a row, after which the pool stops replacing them. */
const MAX_START_FAILURES = 3;

/** Worker threads by default: one per core but one (the main thread needs its own), at most 4. */
export function defaultIntakeWorkers(): number {
  return Math.max(0, Math.min(4, availableParallelism() - 1));
}

/**
 * A fixed set of worker threads running decode + intake, jobs dealt to the least busy. With
 * `hold`, a worker keeps the events it made (held.ts) and sends stubs; what it holds is then
 * finalized and encoded there (`finalizeHeld`, `encodeHeld`), by the worker's number
 * (`IntakeResult.worker`). Order across requests does not matter: the pipeline logs and applies
 * each request when its result is back. A worker that dies fails its jobs (the requests get an
 * error and are re-sent by the exporter; the events it held are made again by the pipeline from
 * the log) and is replaced under a new number.
 */
export class IntakePool {
  private readonly slots: Slot[] = [];
  private readonly data: IntakeWorkerData;
  private nextId = 0;
  private closed = false;
  private startFailures = 0;
  /**
   * Set when workers keep failing before they start (they cannot load): the pool is given up,
   * and the pipeline does the intake on the main thread (see `usable`).
   */
  private brokenReason = '';
  private readonly onWorkerError: (err: Error) => void;
  private readonly script: URL;
  private readonly oldGenerationMb: number;
  private nextSlotId = 0;
  /** Requests waiting for a worker with room (`pump`). */
  private readonly waiting: Array<{ job: IntakeJob; resolve: (r: IntakeResult) => void; reject: (e: Error) => void }> = [];

  /** `script` is the worker's module and `oldGenerationMb` its heap limit (tests give others). */
  constructor(
    size: number,
    data: IntakeWorkerData,
    onWorkerError: (err: Error) => void = () => {},
    { script = new URL(`./intake-worker${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url), oldGenerationMb = OLD_GENERATION_MB }: { script?: URL; oldGenerationMb?: number } = {},
  ) {
    if (size < 1) throw new Error('IntakePool: size must be at least 1 (use runIntake for none)');
    this.data = data;
    this.script = script;
    this.oldGenerationMb = oldGenerationMb;
    this.onWorkerError = onWorkerError;
    for (let i = 0; i < size; i++) this.slots.push(this.spawn());
  }

  /** False once the workers could not be started; the caller then does the work itself. */
  get usable(): boolean {
    return !this.brokenReason && !this.closed;
  }

  /** Jobs sent to the workers and not answered yet, and requests waiting to be sent. */
  get inFlight(): number {
    let n = this.waiting.length;
    for (const s of this.slots) n += s.pending.size;
    return n;
  }

  /**
   * Runs a job on a worker. A body that owns its memory moves there (transferred, not copied:
   * `job.raw.body` is empty afterwards, as RawRequest allows; `transferable`).
   */
  run(job: IntakeJob): Promise<IntakeResult> {
    const unusable = this.unusable();
    if (unusable) return Promise.reject(unusable);
    return new Promise<IntakeResult>((resolve, reject) => {
      this.waiting.push({ job, resolve, reject });
      this.pump();
    });
  }

  /**
   * Sends waiting jobs to workers with fewer than JOBS_PER_WORKER in flight. The rest wait here:
   * a worker takes its messages in order, and a round of held events (`finalizeHeld`,
   * `encodeHeld`) queued behind many requests kept those events, and their memory, waiting.
   */
  private pump(): void {
    while (this.waiting.length > 0) {
      if (this.brokenReason || this.slots.length === 0) {
        for (const w of this.waiting.splice(0)) w.reject(new Error(`the intake workers could not be started: ${this.brokenReason}`));
        return;
      }
      let slot = this.slots[0]!;
      for (const s of this.slots) if (s.jobs < slot.jobs) slot = s;
      if (slot.jobs >= JOBS_PER_WORKER) return;
      const { job, resolve, reject } = this.waiting.shift()!;
      slot.jobs++;
      this.post<IntakeResult>(slot, (id) => ({ id, job }), transferable(job.raw))
        .then(resolve, reject)
        .finally(() => {
          slot.jobs--;
          this.pump();
        });
    }
  }

  /**
   * Frames a log record (wal.ts frame: encoded parts, encrypted with the log key) on a worker.
   * Parts on a SharedArrayBuffer (a chained batch's rows) are read there without a copy; the
   * frame comes back transferred.
   */
  async frame(parts: readonly Uint8Array[]): Promise<Buffer> {
    const f = await this.send<Uint8Array>((id) => ({ id, frame: parts }));
    return Buffer.from(f.buffer, f.byteOffset, f.byteLength);
  }

  /** `content_sealed` of each job, in order, made on a worker (the keys travel without their KeyObject). */
  seal(jobs: SealJob[]): Promise<string[]> {
    // Keys as text: a small Buffer is a view of Node's 8 KiB pool, which a message copies whole.
    const keys: SealKeyText[] = [];
    // By the key's bytes: the vault hands out the same buffer for a subject's cached key.
    const index = new Map<Uint8Array, number>();
    const plain = jobs.map((j) => {
      let k = index.get(j.key.key);
      if (k === undefined) {
        index.set(j.key.key, (k = keys.length));
        keys.push(keyText(j.key));
      }
      return { eventId: j.eventId, plaintext: j.plaintext, k };
    });
    return this.send<string[]>((id) => ({ id, seal: { keys, jobs: plain } }));
  }

  /**
   * Finalizes events that worker `worker` holds (held.ts), now that their context is decided.
   * Rejects if that worker is gone (its events with it).
   */
  finalizeHeld(worker: number, items: FinalizeItem[]): Promise<Finalized[]> {
    return this.sendTo<Finalized[]>(worker, (id) => ({ id, finalize: items }));
  }

  /** Seals (with these keys) and encodes finalized events that `worker` holds, which it then forgets. */
  encodeHeld(worker: number, items: EncodeItem[], keys: SealingKey[]): Promise<EncodedRows> {
    return this.sendTo<EncodedRows>(worker, (id) => ({ id, encode: { keys: keys.map(keyText), items } }));
  }

  /** Tells `worker` to forget events that will not be chained. */
  dropHeld(worker: number, handles: number[]): void {
    if (handles.length > 0) this.sendTo(worker, (id) => ({ id, drop: handles })).catch(() => {});
  }

  /** Gives row buffers (`EncodedRows.rows`, read and done with) back to `worker` for reuse: moved, not copied. */
  recycleRows(worker: number, buffers: ArrayBuffer[]): void {
    if (buffers.length > 0) this.sendTo(worker, (id) => ({ id, recycle: buffers }), buffers).catch(() => {});
  }

  /** `appendEventHashes` (chain/leaves.ts) on a worker: the checkpointer's Merkle hashing. */
  appendLeaves(state: MerkleAccumulatorState, hashes: string[], keepLeaves: boolean): Promise<AppendedLeaves> {
    return this.send<AppendedLeaves>((id) => ({ id, leaves: { state, hashes, keepLeaves } }));
  }

  /** `consistencyProofHex` (chain/leaves.ts) on a worker: a checkpoint's consistency proof. */
  consistencyProof(old: MerkleAccumulatorState, leaves: Uint8Array): Promise<string[]> {
    return this.send<string[]>((id) => ({ id, proof: { old, leaves } }));
  }

  private send<T>(message: (id: number) => WorkerMessage, transfer: ArrayBuffer[] = []): Promise<T> {
    const unusable = this.unusable();
    if (unusable) return Promise.reject(unusable);
    let slot = this.slots[0]!;
    for (const s of this.slots) if (s.pending.size < slot.pending.size) slot = s;
    return this.post(slot, message, transfer);
  }

  /** Why no job can be sent now, or null. */
  private unusable(): Error | null {
    if (this.closed) return new Error('the intake workers are stopped');
    if (this.brokenReason) return new Error(`the intake workers could not be started: ${this.brokenReason}`);
    return null;
  }

  /** To the worker with this number; rejects when it is gone. */
  private sendTo<T>(worker: number, message: (id: number) => WorkerMessage, transfer: ArrayBuffer[] = []): Promise<T> {
    const slot = this.slots.find((s) => s.id === worker);
    if (!slot) return Promise.reject(new Error(`intake worker ${worker} is gone, and the events it held with it`));
    return this.post(slot, message, transfer);
  }

  private post<T>(slot: Slot, message: (id: number) => WorkerMessage, transfer: ArrayBuffer[]): Promise<T> {
    const id = ++this.nextId;
    return new Promise<T>((resolve, reject) => {
      slot.pending.set(id, { resolve: resolve as (r: never) => void, reject });
      slot.worker.postMessage(message(id), transfer);
    });
  }

  /**
   * The V8 heap the workers have reserved, in bytes (each worker answers between its jobs);
   * null without workers or on Node versions without `Worker#getHeapStatistics` (before 22.16).
   */
  heapBytes(): Promise<number> | null {
    if (this.slots.length === 0 || typeof this.slots[0]!.worker.getHeapStatistics !== 'function') return null;
    return Promise.all(this.slots.map((s) => s.worker.getHeapStatistics())).then((hs) => hs.reduce((sum, h) => sum + h.total_heap_size, 0));
  }

  /** Waits until no job is in flight (the caller sends no new ones). */
  async settled(): Promise<void> {
    while (this.inFlight > 0) await new Promise((r) => setTimeout(r, 5));
  }

  /** Waits for the jobs in flight, then stops the workers (and the events they hold). */
  async close(): Promise<void> {
    this.closed = true;
    await this.settled();
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }

  private spawn(): Slot {
    const worker = new Worker(this.script, {
      workerData: this.data,
      // Most of a worker's objects die young (decoded spans, its results leave by copy; only the
      // events it holds stay): a smaller young generation than the main thread's keeps its
      // memory down at little cost. The old generation's limit: OLD_GENERATION_MB.
      resourceLimits: { maxYoungGenerationSizeMb: YOUNG_GENERATION_MB, maxOldGenerationSizeMb: this.oldGenerationMb },
    });
    // Idle workers must not keep the process alive (the CLI exits when the bridge stops).
    worker.unref();
    const slot: Slot = { id: ++this.nextSlotId, worker, pending: new Map(), started: false, jobs: 0 };
    worker.on('message', (reply: Reply | 'ready') => {
      if (reply === 'ready') {
        slot.started = true;
        this.startFailures = 0;
        return;
      }
      const p = slot.pending.get(reply.id);
      if (!p) return;
      slot.pending.delete(reply.id);
      if ('result' in reply) {
        const r = reply.result;
        if (r.worker !== undefined) r.worker = slot.id;
        p.resolve(r as never);
      } else if ('finalized' in reply) p.resolve(reply.finalized as never);
      else if ('encoded' in reply) p.resolve(reply.encoded as never);
      else if ('dropped' in reply) p.resolve(undefined as never);
      else if ('framed' in reply) p.resolve(reply.framed as never);
      else if ('sealed' in reply) p.resolve(reply.sealed as never);
      else if ('appended' in reply) p.resolve(reply.appended as never);
      else if ('consistency' in reply) p.resolve(reply.consistency as never);
      else p.reject(reply.error.name === 'OtlpDecodeError' ? new OtlpDecodeError(reply.error.message) : new Error(reply.error.message));
    });
    const fail = (err: Error): void => {
      for (const p of slot.pending.values()) p.reject(new Error(`intake worker failed: ${err.message}`));
      slot.pending.clear();
      const i = this.slots.indexOf(slot);
      if (i < 0) return;
      if (this.closed) return;
      this.onWorkerError(err);
      if (!slot.started && ++this.startFailures >= MAX_START_FAILURES) {
        this.brokenReason = err.message;
        this.slots.splice(i, 1);
        for (const s of this.slots) void s.worker.terminate();
        this.slots.length = 0;
        return;
      }
      this.slots[i] = this.spawn();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => {
      if (!this.closed) fail(new Error(`exited with code ${code}`));
    });
    return slot;
  }
}
