/**
 * Crash soak: the real bridge killed with SIGKILL (and now and then stopped with SIGTERM) many
 * times at random moments, under sustained load from the official OTLP/HTTP exporter
 * (test/fixtures/crash-load.ts, which records the acknowledged spans), restarted each time on
 * the same data directory and port. At the end: every acknowledged span stored exactly once,
 * the chain gap-free, and `otel-audit verify` passes.
 *
 *   node bench/soak.ts [--kills 100] [--min-ms 300] [--max-ms 2000] [--concurrency 4] [--batch 20] [--term-every 10]
 *
 * Exit 0 when nothing acknowledged was lost or duplicated; 1 otherwise. Results also go to
 * bench/out/soak.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { flush, REPO_ROOT, runCli, sql, startBridge, tempDir } from '../test/helpers/bridge-process.ts';
import { startCrashLoad } from '../test/helpers/crash-load.ts';

const { values: o } = parseArgs({
  options: {
    kills: { type: 'string', default: '100' },
    'min-ms': { type: 'string', default: '300' },
    'max-ms': { type: 'string', default: '2000' },
    concurrency: { type: 'string', default: '4' },
    batch: { type: 'string', default: '20' },
    'term-every': { type: 'string', default: '10' },
  },
});
const say = (s: string) => process.stderr.write(`${s}\n`);
const kills = Number(o.kills);
const dataDir = tempDir('otel-audit-soak-');
let bridge = await startBridge({ dataDir });
const args = ['--otlp-http', `127.0.0.1:${new URL(bridge.otlpUrl).port}`];
say(`soak: data dir ${dataDir}, ${bridge.otlpUrl}, ${kills} restarts`);

const load = startCrashLoad(bridge.otlpUrl, o.concurrency!, o.batch!);
const acked = load.acked;

const t0 = Date.now();
let sigkills = 0;
let sigterms = 0;
const termExit: Array<number | null> = [];
for (let i = 1; i <= kills; i++) {
  await sleep(Number(o['min-ms']) + Math.random() * (Number(o['max-ms']) - Number(o['min-ms'])));
  if (Number(o['term-every']) > 0 && i % Number(o['term-every']) === 0) {
    termExit.push(await bridge.stop());
    sigterms++;
  } else {
    await bridge.kill();
    sigkills++;
  }
  bridge = await startBridge({ dataDir, args });
  if (i % 10 === 0) say(`  ${i}/${kills} restarts, ${acked.size} spans acknowledged`);
}
await sleep(1000);
await load.stop();
if (load.stderr()) process.stderr.write(load.stderr());
const summary = load.summary();
await flush(bridge.apiUrl);

const counts = new Map<string, number>();
for (const r of await sql<{ span_id: string; n: string }>(bridge.apiUrl, 'SELECT span_id, count() AS n FROM otel_audit.events GROUP BY span_id')) {
  counts.set(r.span_id, Number(r.n));
}
// One chain per risk level (main-low, main-medium, main-high): each must run 1..n without a gap.
const chains = await sql<{ chain_id: string; rows: string; mx: string; mn: string }>(
  bridge.apiUrl,
  "SELECT chain_id, count() AS rows, max(seq) AS mx, min(seq) AS mn FROM otel_audit.events WHERE startsWith(chain_id, 'main-') GROUP BY chain_id ORDER BY chain_id",
);
const storedRows = chains.reduce((n, c) => n + Number(c.rows), 0);
const gapFree = chains.every((c) => Number(c.mn) === 1 && Number(c.mx) === Number(c.rows));
const missing = [...acked].filter((id) => !counts.has(id)).length;
const duplicated = [...counts.values()].filter((n) => n > 1).length;
const verify = await runCli(['verify', '--api-url', bridge.apiUrl]);
const metrics = await (await fetch(`${bridge.apiUrl}/metrics`)).text();
const stopCode = await bridge.stop();

const result = {
  restarts: kills,
  sigkills,
  sigterms,
  sigterm_exit_codes: [...new Set(termExit)],
  seconds: Math.round((Date.now() - t0) / 1000),
  exporter: summary,
  acknowledged_spans: acked.size,
  stored_rows: storedRows,
  distinct_spans_stored: counts.size,
  acknowledged_missing: missing,
  duplicated_spans: duplicated,
  chain_seq: Object.fromEntries(chains.map((c) => [c.chain_id, [Number(c.mn), Number(c.mx)]])),
  verify_exit: verify.code,
  replayed_total_last_start: Number(/otel_audit_events_replayed_total (\d+)/.exec(metrics)?.[1] ?? 0),
  final_stop_exit: stopCode,
};
mkdirSync(join(REPO_ROOT, 'bench/out'), { recursive: true });
writeFileSync(join(REPO_ROOT, 'bench/out/soak.json'), JSON.stringify(result, null, 2) + '\n');
console.log(JSON.stringify(result, null, 2));
const ok =
  missing === 0 &&
  duplicated === 0 &&
  storedRows === counts.size &&
  gapFree &&
  verify.code === 0 &&
  stopCode === 0 &&
  termExit.every((c) => c === 0);
if (!ok) say(`FAILED; verify said:\n${verify.stdout}\n${verify.stderr}`);
process.exit(ok ? 0 : 1);
