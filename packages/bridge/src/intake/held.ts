/**
 * The events an intake worker keeps (pipeline/README.md, "Where an event lives"). Intake makes
 * them here; the main thread gets a stub of each (`HeldEvent`: ids, its node, whether it awaits
 * content) and correlates it. Once it has decided an event's context it sends the ancestors'
 * contexts here: the event is finalized here (`finalize`), its content sealed with the key the
 * main thread sends and its row encoded here (`encode`), and only the row's bytes go back.
 */
import type { AuditContext } from '../normalize/types.ts';
import { finalizeEvent, setSealedContent, type ContentPiece, type HeldEvent, type PendingEvent } from '../correlate/index.ts';
// The files, not chain/index.ts or policy/index.ts: a worker must not load the store with them.
import { encodeRowParts, HASH_VERSION } from '../chain/canonical.ts';
import { RowWriter } from '../store/rowbinary.ts';
import { subjectOf, type PrivacyFilter } from '../policy/privacy.ts';
import { sealWith, type SealingKey } from '../policy/vault.ts';

/** A decided held event, as the main thread sends it to be finalized. */
export interface FinalizeItem {
  handle: number;
  /** The ancestors' contexts, nearest first. */
  ancestors: AuditContext[];
  /** Content that arrived as log records and joined it on the main thread. */
  pieces: ContentPiece[];
}

/** What the main thread needs of a finalized event: the chain it goes to and, if its content is to be sealed, whose key. */
export interface Finalized {
  risk: string;
  tenant: string;
  /** The subject whose key seals its content; null when nothing is to be sealed. */
  subject: string | null;
}

/** Seal with `keys[key]`; NOT_SEALED: nothing to seal; ERASED: its subject was erased after it arrived. */
export interface EncodeItem {
  handle: number;
  key: number;
}
export const NOT_SEALED = -1;
export const ERASED = -2;

/** Rows without their chain columns, back to back; `ends` holds start, body end and end of each (chain/canonical.ts `encodeRowParts`). */
export interface EncodedRows {
  rows: Uint8Array;
  ends: Uint32Array;
}

/** Row buffers kept for reuse: about one per round in flight. */
const SPARE_BUFFERS = 4;

export class HeldEvents {
  private readonly events = new Map<number, PendingEvent>();
  private readonly finalizer: PrivacyFilter;
  private next = 0;
  /**
   * Row buffers the main thread gave back (`recycle`). Rows are written into memory already
   * touched: on this VM a page the process has not written yet costs a fault per 4 KiB, which
   * made encoding rows into a new buffer each round twice as slow.
   */
  private spare: ArrayBuffer[] = [];

  /** `finalizer` finalizes as the main thread's filter would (`PrivacyFilter.finalizerSettings`), but seals nothing. */
  constructor(finalizer: PrivacyFilter) {
    this.finalizer = finalizer;
  }

  /** Keeps the event; returns the stub that goes to the main thread (its `worker` set there). */
  hold(p: PendingEvent): HeldEvent {
    const handle = ++this.next;
    this.events.set(handle, p);
    return { held: { worker: 0, handle }, eventId: p.event.event_id, node: p.node, pieces: [], awaitsContent: p.awaitsContent, arrivedAt: p.arrivedAt };
  }

  finalize(items: readonly FinalizeItem[]): Finalized[] {
    return items.map((it) => {
      const p = this.get(it.handle);
      for (const piece of it.pieces) p.pieces.push(piece);
      finalizeEvent(p, it.ancestors, this.finalizer, true);
      const e = p.event;
      return { risk: e.risk, tenant: e.tenant, subject: p.contentToSeal === undefined ? null : subjectOf(e) };
    });
  }

  /** Seals and encodes finalized events, and forgets them. */
  encode(items: readonly EncodeItem[], keys: readonly SealingKey[]): EncodedRows {
    // Its own buffer (not Node's shared pool): it moves to the main thread, and comes back.
    const spare = this.spare.pop();
    const w = new RowWriter(spare ? Buffer.from(spare) : Math.max(64 * 1024, items.length * 4096));
    const ends = new Uint32Array(items.length * 3);
    items.forEach((it, i) => {
      const p = this.get(it.handle);
      if (p.contentToSeal !== undefined) {
        if (it.key === ERASED) setSealedContent(p, null);
        else if (it.key === NOT_SEALED) throw new Error(`held event ${it.handle}: content to seal, but no key was sent`);
        else setSealedContent(p, sealWith(keys[it.key], p.event.event_id, p.contentToSeal));
      }
      p.event.hash_version = HASH_VERSION;
      ends[3 * i] = w.pos;
      ends[3 * i + 1] = encodeRowParts(w, p.event as unknown as Record<string, unknown>);
      ends[3 * i + 2] = w.pos;
      this.events.delete(it.handle);
    });
    return { rows: new Uint8Array(w.buf.buffer, w.buf.byteOffset, w.pos), ends };
  }

  /** Takes back row buffers (`EncodedRows.rows`) the main thread is done with. */
  recycle(buffers: readonly ArrayBuffer[]): void {
    for (const b of buffers) this.spare.push(b);
    // The largest last (taken first); the smallest go.
    this.spare.sort((a, b) => a.byteLength - b.byteLength);
    if (this.spare.length > SPARE_BUFFERS) this.spare.splice(0, this.spare.length - SPARE_BUFFERS);
  }

  /** Forgets events the main thread will not chain (a re-sent span's). */
  drop(handles: readonly number[]): void {
    for (const h of handles) this.events.delete(h);
  }

  private get(handle: number): PendingEvent {
    const p = this.events.get(handle);
    if (!p) throw new Error(`no held event ${handle} on this intake worker`);
    return p;
  }
}
