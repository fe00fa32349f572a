/**
 * Bench: verifyChain over a clean embedded store of >= 1M events.
 *
 *   node --max-semi-space-size=64 bench/verify.ts [--events 1000000] [--data-dir DIR] [--no-optimize] [--one-pass]
 *
 * Builds the store directly (synthetic rows sealed with ChainWriter, inserted in 50k batches,
 * checkpoints every 10k events by the real Checkpointer), unless DIR already holds the chain;
 * merges the parts (OPTIMIZE FINAL: the worst case for seq order, as after months of background
 * merges); then times, each with its peak RSS:
 *  - verify of the whole chain as the API runs it (verify-store.ts: two passes), and with
 *    --one-pass verifyChain over full rows sorted by seq,
 *  - one inclusion proof for an event in the middle (O(n) hash stream),
 *  - a checkpointer start without anchors (recomputes the accumulator from ClickHouse),
 *  - one 50k-row seq page (`WHERE seq BETWEEN .. ORDER BY seq`), to compare with paging.
 * Prints one JSON object per measurement.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { DirectoryAnchorSink, ChainWriter, loadOrCreateSigningKey, Checkpointer, tableCheckpoints, buildInclusionBundle, chainRows, storedChainHead, verifyStoredChain, verifyChain, type VerifyReport } from '../packages/bridge/src/chain/index.ts';
import { syntheticEvent } from '../packages/bridge/src/chain/testdata/index.ts';
import { silentLogger } from '../packages/bridge/src/internal/index.ts';
import { Store } from '../packages/bridge/src/store/index.ts';

const { values } = parseArgs({
  options: {
    events: { type: 'string', default: '1000000' },
    'data-dir': { type: 'string' },
    'no-optimize': { type: 'boolean', default: false },
    'one-pass': { type: 'boolean', default: false },
  },
});
const TOTAL = Number(values.events);
const BATCH = 50_000;
const CHAIN = 'bench';
const dataDir = values['data-dir'] ? resolve(values['data-dir']) : mkdtempSync(join(tmpdir(), 'bench-verify-'));
const anchorDir = join(dataDir, 'anchors');

let peak = 0;
const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 50);
const mb = (n: number) => Math.round(n / 1024 / 1024);
async function measure<T>(name: string, fn: () => Promise<T>, extra: (r: T, ms: number) => Record<string, unknown> = () => ({})): Promise<T> {
  global.gc?.();
  peak = process.memoryUsage().rss;
  const t0 = performance.now();
  const r = await fn();
  const ms = performance.now() - t0;
  console.log(JSON.stringify({ bench: name, ms: Math.round(ms), peak_rss_mb: mb(peak), ...extra(r, ms) }));
  return r;
}

const store = await Store.open({ dataDir, database: 'otel_audit' });
await store.migrate();
const head = await storedChainHead(store, CHAIN);

if ((head?.seq ?? 0) < TOTAL) {
  if (head) throw new Error(`${dataDir} holds a partial bench chain (${head.seq} events): use a fresh --data-dir`);
  await measure(
    'build',
    async () => {
      const writer = new ChainWriter(CHAIN, null);
      const cp = await Checkpointer.start(store, { chainId: CHAIN, dataDir, anchorDir, everyEvents: 10_000, intervalMs: 0 }, silentLogger);
      let inflight: Promise<void> | null = null;
      for (let i = 0; i < TOTAL; i += BATCH) {
        const evs = Array.from({ length: Math.min(BATCH, TOTAL - i) }, (_, k) => syntheticEvent(i + k, 'bench'));
        writer.append(evs);
        const body = evs.map((e) => JSON.stringify(e)).join('\n') + '\n';
        await inflight; // insert batch i-1 while batch i was generated
        inflight = store.insertJsonEachRow('events', body, `${CHAIN}:${evs[0].seq}`).then(() => {
          cp.stored(evs[0].seq, evs[evs.length - 1].seq, evs.map((e) => e.hash));
        });
      }
      await inflight;
      await cp.close();
    },
    (_r, ms) => ({ events: TOTAL, rows_per_s: Math.round(TOTAL / (ms / 1000)) }),
  );
  if (!values['no-optimize']) {
    await measure('optimize_final', () => store.command(`OPTIMIZE TABLE ${store.database}.events FINAL`));
  }
}
const parts = await store.rows<{ parts: string; rows: string }>(
  `SELECT count() AS parts, sum(rows) AS rows FROM system.parts WHERE database = '${store.database}' AND table = 'events' AND active`,
);
console.log(JSON.stringify({ bench: 'store', data_dir: dataDir, active_parts: Number(parts[0].parts), rows: Number(parts[0].rows) }));

const key = loadOrCreateSigningKey({ dataDir }).publicKey;
const sink = new DirectoryAnchorSink(anchorDir);
const summary = (r: VerifyReport, ms: number) => ({
  ok: r.ok,
  events: r.events_checked,
  checkpoints_verified: r.checkpoints.verified,
  findings: r.findings_total,
  events_per_s: Math.round(r.events_checked / (ms / 1000)),
});
// What POST /api/v1/verify runs: hashes in storage order, then (seq, prev, hash, id) sorted by seq.
await measure('verify_two_pass', () => verifyStoredChain(store, sink, key, { chainId: CHAIN }), summary);
if (values['one-pass']) {
  // verifyChain over full rows sorted by seq in the engine: as fast, but the engine sorts wide rows (memory).
  await measure(
    'verify_one_pass',
    async () => {
      const { records, errors } = await sink.readAll(CHAIN);
      return verifyChain(chainRows(store, { chainId: CHAIN }), records, key, {
        chainId: CHAIN,
        tableCheckpoints: await tableCheckpoints(store, CHAIN),
        anchorErrors: errors,
      });
    },
    summary,
  );
}

await measure(
  'prove_one_event',
  async () => {
    const mid = Math.floor(TOTAL / 2);
    const [event] = await store.rows<Record<string, unknown>>(
      `SELECT * FROM ${store.database}.events WHERE chain_id = {c:String} AND seq = {s:UInt64}`,
      { c: CHAIN, s: mid },
    );
    return buildInclusionBundle(store, event, (await sink.latest(CHAIN))!.checkpoint, key);
  },
  (b) => ({ tree_size: b.tree_size, path_length: b.audit_path.length }),
);

await measure('checkpointer_cold_start', async () => {
  const tmpAnchors = join(dataDir, 'anchors-cold');
  if (existsSync(tmpAnchors)) rmSync(tmpAnchors, { recursive: true });
  const cp = await Checkpointer.start(store, { chainId: CHAIN, dataDir, anchorDir: tmpAnchors, everyEvents: 10_000_000, intervalMs: 0 }, silentLogger);
  const s = cp.status();
  rmSync(tmpAnchors, { recursive: true, force: true });
  return s;
}, (s) => ({ caught_up_events: s.stored_seq }));

await measure(
  'one_seq_page_50k',
  async () => {
    const lo = Math.floor(TOTAL / 2);
    const rows = await store.rows<{ seq: string }>(
      `SELECT * FROM ${store.database}.events WHERE chain_id = {c:String} AND seq BETWEEN {lo:UInt64} AND {hi:UInt64} ORDER BY seq`,
      { c: CHAIN, lo, hi: lo + BATCH - 1 },
    );
    return rows.length;
  },
  (n, ms) => ({ rows: n, pages_for_chain: Math.ceil(TOTAL / BATCH), est_paged_scan_s: Math.round((ms * Math.ceil(TOTAL / BATCH)) / 1000) }),
);

clearInterval(sampler);
await store.close();
