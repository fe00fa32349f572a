/**
 * A chain's rows in seq order, streamed with bounded memory, for verify, proofs and the
 * checkpointer's catch-up. The queries, and why they stream the way they do, are the store's
 * (store/chain-queries.ts, store/stream-rows.ts); this module keeps the names chain/'s callers
 * import (prove.ts, chain/index.ts, tests, bench).
 */
export { chainRows, storedChainHead, type ChainRowsQuery } from '../store/chain-queries.ts';
export { streamRows } from '../store/stream-rows.ts';
