import { ChainWriter, riskChainId, riskChainIds, type ChainHead } from '../chain/index.ts';
import type { HeldEvent } from '../correlate/index.ts';
import type { AuditEvent } from '../model.ts';
import type { ChainedHeader, Spool } from '../spool/index.ts';
import { RowWriter } from '../store/rowbinary.ts';
import type { RecentIds } from './recent-ids.ts';

export interface ChainStepOptions {
  /** The instance's chain id: events go to `<chainId>-<risk>` (chain/README.md). */
  chainId: string;
  /** Most events in one chained batch (one ClickHouse insert). */
  batchRows: number;
  /** The stored head of each chain (none: the chain starts at seq 1). */
  heads: Map<string, ChainHead>;
  /** Event ids chained lately: a re-sent span's event is not chained twice. */
  recent: RecentIds;
  spool: Spool;
  /** Told of each event not chained because it was chained before. */
  onDuplicate: () => void;
}

/**
 * The chain step: decided events, each to the chain of its risk (`seq`, `prev_hash`, and the
 * hash over the row's own RowBinary bytes, chain/chain-writer.ts), the rows moved into the
 * spool's chunks as they are written, handed to the spool in batches of at most `batchRows`.
 * It holds the chains' heads and the recent event ids.
 */
export class ChainStep {
  private readonly o: ChainStepOptions;
  /** One writer per chain id (the risk chains; a legacy chain only to finish a replay). */
  private readonly writers = new Map<string, ChainWriter>();
  private readonly rowWriter = new RowWriter();

  constructor(o: ChainStepOptions) {
    this.o = o;
    for (const id of riskChainIds(o.chainId)) this.writers.set(id, new ChainWriter(id, o.heads.get(id) ?? null));
  }

  /** The head of each chain, by chain id. */
  get heads(): Record<string, ChainHead> {
    const out: Record<string, ChainHead> = {};
    for (const [id, w] of this.writers) out[id] = w.current;
    return out;
  }

  /**
   * Chains events in the order given (grouped by chain, keeping their order in each): events
   * here, and events held on a worker, which sent their rows (`HeldEvent.row`).
   */
  append(events: ReadonlyArray<AuditEvent | HeldEvent>): void {
    const groups = new Map<string, Array<AuditEvent | HeldEvent>>();
    for (const e of events) {
      const held = isHeldEvent(e);
      if (held && !e.row) throw new Error(`held event ${e.eventId} has no row to chain`);
      const id = held ? e.eventId : e.event_id;
      if (this.o.recent.has(id)) {
        this.o.onDuplicate();
        continue;
      }
      this.o.recent.add(id);
      const chainId = riskChainId(this.o.chainId, held ? e.row!.risk : e.risk);
      let g = groups.get(chainId);
      if (!g) groups.set(chainId, (g = []));
      g.push(e);
    }
    for (const [chainId, fresh] of groups) this.appendTo(chainId, fresh);
  }

  /** Whether the event was chained lately (stored, or in a chained batch of the log): chaining it again would drop it. */
  chained(eventId: string): boolean {
    return this.o.recent.has(eventId);
  }

  /**
   * After a replay found chained batches in the log: their events are not chained again, and
   * each chain continues after the newest of them.
   */
  resumeAfter(chainedIds: Iterable<string>, heads: Map<string, ChainHead>): void {
    for (const id of chainedIds) this.o.recent.add(id);
    for (const [chainId, head] of heads) this.writer(chainId).advanceTo(head);
  }

  private writer(chainId: string): ChainWriter {
    let w = this.writers.get(chainId);
    if (!w) this.writers.set(chainId, (w = new ChainWriter(chainId, null)));
    return w;
  }

  private appendTo(chainId: string, fresh: Array<AuditEvent | HeldEvent>): void {
    const chain = this.writer(chainId);
    const spool = this.o.spool;
    for (let i = 0; i < fresh.length; i += this.o.batchRows) {
      const events = fresh.slice(i, i + this.o.batchRows);
      // One serialization: the row bytes its hash covers are the bytes inserted, moved into
      // the spool's chunks as they are written (a held event's were encoded on its worker).
      const rows: Buffer[] = [];
      const eventIds: string[] = [];
      const hashes: string[] = [];
      let firstSeq = 0;
      for (const e of events) {
        let at: ChainHead;
        if (isHeldEvent(e)) {
          const r = e.row!;
          at = chain.appendParts(r.parts, r.start, r.bodyEnd, r.end, this.rowWriter);
          eventIds.push(e.eventId);
          // The row's bytes are in the batch now: the message's buffer can go.
          delete e.row;
        } else {
          chain.appendOne(e, this.rowWriter);
          at = e;
          eventIds.push(e.event_id);
        }
        hashes.push(at.hash);
        firstSeq ||= at.seq;
        spool.moveRows(this.rowWriter, rows);
      }
      spool.moveRows(this.rowWriter, rows, true);
      const head = chain.current;
      const header: ChainedHeader = {
        t: 'sealed',
        token: `${chainId}:${firstSeq}-${head.seq}:${head.hash}`,
        chainId,
        firstSeq,
        lastSeq: head.seq,
        headHash: head.hash,
        eventIds,
        hashes,
      };
      spool.add(header, rows);
    }
  }
}

function isHeldEvent(e: AuditEvent | HeldEvent): e is HeldEvent {
  return (e as HeldEvent).held !== undefined;
}
