/**
 * The long fuzz run of the OTLP/HTTP receiver (the default test suite runs 3000 cases:
 * test/fuzz.test.ts): hostile requests from test/helpers/fuzz-payloads.ts through the real
 * bridge over keep-alive connections, with a good request every 100 that must be stored.
 *
 *   node bench/fuzz.ts [--count 50000] [--concurrency 8] [--seed N] [--big-every 150]
 *
 * Prints the answers by status and by kind of input, the bridge's peak RSS, and any
 * violation (an answer other than 200/400/413/415, a 4xx without a google.rpc.Status, a lost
 * good request, the bridge exiting). Exit 1 on any violation. Results also go to bench/out/fuzz.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { flush, REPO_ROOT, sql, startBridge } from '../test/helpers/bridge-process.ts';
import { rssBytes, runFuzz } from '../test/helpers/fuzz-payloads.ts';

const { values: o } = parseArgs({
  options: {
    count: { type: 'string', default: '50000' },
    concurrency: { type: 'string', default: '8' },
    seed: { type: 'string', default: String(Date.now() % 1_000_000) },
    'big-every': { type: 'string', default: '150' },
  },
});
const say = (s: string) => process.stderr.write(`${s}\n`);
const bridge = await startBridge({
  args: ['--max-body', '16MiB', '--max-in-flight-bytes', '512MiB', '--max-attributes', '200', '--max-attribute-length', '1000', '--max-depth', '8'],
});
const pid = bridge.child.pid!;
const rssStart = rssBytes(pid);
say(`fuzz: seed ${o.seed}, ${o.count} cases, ${o.concurrency} at a time, bridge pid ${pid}`);
const stats = await runFuzz({
  otlpUrl: bridge.otlpUrl,
  pid,
  count: Number(o.count),
  concurrency: Number(o.concurrency),
  seed: Number(o.seed),
  goodEvery: 100,
  bigEvery: Number(o['big-every']),
  onProgress: (n) => n % 5000 === 0 && say(`  ${n} sent, peak RSS ${Math.round(rssBytes(pid) / 2 ** 20)} MiB`),
});
const alive = bridge.child.exitCode === null && (await fetch(`${bridge.apiUrl}/healthz`)).ok;
await flush(bridge.apiUrl);
let storedGood = 0;
for (let i = 0; i < stats.goodSent.length; i += 500) {
  const ids = stats.goodSent.slice(i, i + 500).map((s) => `'${s}'`).join(',');
  const [r] = await sql<{ n: string }>(bridge.apiUrl, `SELECT count() AS n FROM otel_audit.events WHERE span_id IN (${ids})`);
  storedGood += Number(r.n);
}
const stopCode = await bridge.stop();
const result = {
  seed: Number(o.seed),
  sent: stats.sent,
  seconds: stats.ms / 1000,
  by_status: stats.byStatus,
  by_kind: stats.byKind,
  violations: stats.violations.slice(0, 50),
  violation_count: stats.violations.length,
  good_sent: stats.goodSent.length,
  good_refused: stats.goodFailed.length,
  good_stored: storedGood,
  rss_start: rssStart,
  rss_peak: stats.peakRssBytes,
  bridge_alive: alive,
  stop_exit: stopCode,
};
mkdirSync(join(REPO_ROOT, 'bench/out'), { recursive: true });
writeFileSync(join(REPO_ROOT, 'bench/out/fuzz.json'), JSON.stringify(result, null, 2) + '\n');
console.log(JSON.stringify({ ...result, by_kind: undefined }, null, 2));
const ok = stats.violations.length === 0 && stats.goodFailed.length === 0 && storedGood === stats.goodSent.length && alive && stopCode === 0;
process.exit(ok ? 0 : 1);
