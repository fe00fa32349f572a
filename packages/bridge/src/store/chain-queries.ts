/**
 * What chain/ reads of the `events` and `checkpoints` tables: a chain's rows in seq order, its
 * stored head, the rows at given seqs, and the checkpoints table. Results come back typed; the
 * checkpoint rows as ClickHouse returns them (chain/checkpointer.ts turns them into the signed
 * shape, whose time format is the chain's business).
 */
import type { Store } from './store.ts';
import { streamRows } from './stream-rows.ts';

export interface ChainRowsQuery {
  chainId: string;
  /** First seq (inclusive); default 1. */
  from?: number;
  /** Last seq (inclusive); default: the head. */
  to?: number;
  /** Column list; default every column. */
  columns?: string;
  /** false: in the table's storage order (no sort; for verify's content pass). Default true. */
  ordered?: boolean;
}

/** Seqs per `IN` list: bounds the size of one query's parameters. */
const SEQ_BATCH = 10_000;

function chainRowsSql(store: Store, q: ChainRowsQuery): { sql: string; params: Record<string, unknown> } {
  const params: Record<string, unknown> = { chain: q.chainId, from: q.from ?? 1 };
  let where = 'chain_id = {chain:String} AND seq >= {from:UInt64}';
  if (q.to !== undefined) {
    where += ' AND seq <= {to:UInt64}';
    params.to = q.to;
  }
  // Ties (a duplicated seq) in a stable order, so that reruns report the same thing.
  const order = q.ordered === false ? '' : ' ORDER BY seq, hash, event_id';
  const sql = `SELECT ${q.columns ?? '*'} FROM ${store.database}.events WHERE ${where}${order}`;
  return { sql, params };
}

/** Rows of one chain, ascending by seq (duplicates of a seq adjacent), streamed (stream-rows.ts). */
export function chainRows<T = Record<string, unknown>>(store: Store, q: ChainRowsQuery): AsyncGenerator<T> {
  const { sql, params } = chainRowsSql(store, q);
  return streamRows<T>(store, sql, params);
}

/**
 * Inserts a row of the `checkpoints` table. `dedupToken` names the checkpoint (a retry of the
 * same insert is dropped by ClickHouse's deduplication; a deliberate re-insert gives another).
 */
export function insertCheckpoint(store: Store, row: Record<string, unknown>, dedupToken: string): Promise<void> {
  return store.insertJsonEachRow('checkpoints', JSON.stringify(row) + '\n', dedupToken);
}

/** The newest stored event of a chain, or null. */
export async function storedChainHead(store: Store, chainId: string): Promise<{ seq: number; hash: string } | null> {
  const rows = await store.rows<{ seq: string; hash: string }>(
    `SELECT seq, hash FROM ${store.database}.events WHERE chain_id = {chain:String} ORDER BY seq DESC LIMIT 1`,
    { chain: chainId },
  );
  return rows.length ? { seq: Number(rows[0].seq), hash: rows[0].hash } : null;
}

/** How many rows a chain has stored (duplicated seqs counted). */
export async function chainEventCount(store: Store, chainId: string): Promise<number> {
  const rows = await store.rows<{ n: string }>(`SELECT count() AS n FROM ${store.database}.events WHERE chain_id = {chain:String}`, { chain: chainId });
  return Number(rows[0]?.n ?? 0);
}

/** Ingest times (epoch ms) of the given seqs of a chain; the earliest where a seq is stored twice. */
export async function ingestTimes(store: Store, chainId: string, seqs: number[]): Promise<Map<number, number>> {
  const out = new Map<number, number>();
  for (let i = 0; i < seqs.length; i += SEQ_BATCH) {
    const rows = await store.rows<{ seq: string; t: string }>(
      `SELECT seq, toUnixTimestamp64Milli(ingest_time) AS t FROM ${store.database}.events ` +
        'WHERE chain_id = {chain:String} AND seq IN {seqs:Array(UInt64)}',
      { chain: chainId, seqs: seqs.slice(i, i + SEQ_BATCH) },
    );
    for (const r of rows) {
      const seq = Number(r.seq);
      out.set(seq, Math.min(out.get(seq) ?? Infinity, Number(r.t)));
    }
  }
  return out;
}

/** One stored row's place in its chain. */
export type ChainLink = { seq: number; prev_hash: string; hash: string };

/** The rows stored at the given seqs of a chain (several for a duplicated seq, none for a missing one), in no order. */
export async function chainLinksAt(store: Store, chainId: string, seqs: number[]): Promise<ChainLink[]> {
  const out: ChainLink[] = [];
  for (let i = 0; i < seqs.length; i += SEQ_BATCH) {
    const rows = await store.rows<{ seq: string; prev_hash: string; hash: string }>(
      `SELECT seq, prev_hash, hash FROM ${store.database}.events WHERE chain_id = {chain:String} AND seq IN {seqs:Array(UInt64)}`,
      { chain: chainId, seqs: seqs.slice(i, i + SEQ_BATCH) },
    );
    for (const r of rows) out.push({ seq: Number(r.seq), prev_hash: r.prev_hash, hash: r.hash });
  }
  return out;
}

/** A `checkpoints` row as read: UInt64 columns as decimal strings, `created_at` as ClickHouse text. */
export interface CheckpointRow {
  chain_id: string;
  tree_size: string;
  root_hash: string;
  head_seq: string;
  head_hash: string;
  created_at: string;
  prev_tree_size: string;
  prev_root_hash: string;
  key_id: string;
  signature: string;
}

/** The `checkpoints` rows of a chain, ascending by tree size. */
export async function checkpointRows(store: Store, chainId: string): Promise<CheckpointRow[]> {
  return store.rows<CheckpointRow>(`SELECT * FROM ${store.database}.checkpoints WHERE chain_id = {chain:String} ORDER BY tree_size`, { chain: chainId });
}

/** The largest tree size of a chain in the `checkpoints` table; 0 when it has none. */
export async function newestCheckpointSize(store: Store, chainId: string): Promise<number> {
  const rows = await store.rows<{ n: string }>(`SELECT max(tree_size) AS n FROM ${store.database}.checkpoints WHERE chain_id = {chain:String}`, {
    chain: chainId,
  });
  return Number(rows[0]?.n ?? 0);
}
