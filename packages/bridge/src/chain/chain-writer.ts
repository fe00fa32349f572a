import type { AuditEvent } from '../model.ts';
import { RowWriter } from '../store/rowbinary.ts';
import { chainRowParts, encodeChainedRow, eventHashV1, GENESIS_HASH, HASH_VERSION } from './canonical.ts';

export interface ChainHead {
  seq: number;
  hash: string;
}

/** The risk levels that each get their own chain (and their own retention, policy/README.md). */
export const RISK_LEVELS = ['low', 'medium', 'high'] as const;

/**
 * The chain an event of this risk is appended to: `<instance chain id>-<risk>`. One chain per
 * risk level, so that retention by risk deletes whole chain prefixes. An unknown risk goes to
 * the high chain (the longest retention).
 */
export function riskChainId(instanceChainId: string, risk: string): string {
  return `${instanceChainId}-${(RISK_LEVELS as readonly string[]).includes(risk) ? risk : 'high'}`;
}

/** The three risk chains of an instance, low to high. */
export function riskChainIds(instanceChainId: string): string[] {
  return RISK_LEVELS.map((r) => `${instanceChainId}-${r}`);
}

/**
 * Assigns chain positions. One writer per chain: a bridge instance owns its chain id (see
 * README, "Several bridge instances"), so seq stays gap-free without coordination.
 */
export class ChainWriter {
  readonly chainId: string;
  private head: ChainHead;
  /** 1 only to make rows as releases before hash_version did (tests of stores with such rows). */
  private readonly hashVersion: 1 | 2;
  private scratch: RowWriter | null = null;

  constructor(chainId: string, head: ChainHead | null, o: { hashVersion?: 1 | 2 } = {}) {
    this.chainId = chainId;
    this.head = head ?? { seq: 0, hash: GENESIS_HASH };
    this.hashVersion = o.hashVersion ?? HASH_VERSION;
  }

  get current(): ChainHead {
    return { ...this.head };
  }

  /**
   * Sets chain_id, seq, prev_hash, hash_version and hash on each event, in order, and appends
   * each row's RowBinary bytes (the ones its hash covers) to `rows` when given.
   */
  append(events: AuditEvent[], rows?: RowWriter): void {
    for (const e of events) this.appendOne(e, rows);
  }

  /** `append` of one event. */
  appendOne(e: AuditEvent, rows?: RowWriter): void {
    const seq = this.head.seq + 1;
    e.chain_id = this.chainId;
    e.seq = seq;
    e.prev_hash = this.head.hash;
    if (this.hashVersion === 1) {
      e.hash = eventHashV1(e as unknown as Record<string, unknown>);
    } else {
      e.hash_version = HASH_VERSION;
      const w = rows ?? (this.scratch ??= new RowWriter(64 * 1024));
      if (!rows) w.pos = 0;
      e.hash = encodeChainedRow(w, e as unknown as Record<string, unknown>);
    }
    this.head = { seq, hash: e.hash };
  }

  /**
   * `appendOne` of a row encoded elsewhere without its chain columns (canonical.ts
   * `encodeRowParts`: `parts[start, bodyEnd)` its body, `[bodyEnd, end)` its tail): appends the
   * whole row to `rows` and returns its chain position.
   */
  appendParts(parts: Uint8Array, start: number, bodyEnd: number, end: number, rows: RowWriter): ChainHead {
    if (this.hashVersion !== HASH_VERSION) throw new Error(`ChainWriter.appendParts: rows encoded elsewhere are hash version ${HASH_VERSION}`);
    const seq = this.head.seq + 1;
    const hash = chainRowParts(rows, parts, start, bodyEnd, end, this.chainId, seq, this.head.hash);
    this.head = { seq, hash };
    return { seq, hash };
  }

  /** Moves the head forward to a position already chained elsewhere (WAL replay). */
  advanceTo(head: ChainHead): void {
    if (head.seq > this.head.seq) this.head = { ...head };
  }
}
