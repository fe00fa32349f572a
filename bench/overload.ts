/**
 * Overload: load ABOVE the bridge's capacity, to show that memory stays bounded and that the
 * bridge says "later" (429 / 503 with Retry-After) instead of growing or dropping.
 *
 *   node bench/overload.ts [--seconds 20] [--rate 150000] [--sockets 256] [--traces 102] [-- <serve flags>]
 *
 * The real CLI (`otel-audit serve`, embedded chDB, fresh data dir) and a separate load
 * generator process (bench/loadgen.ts, open loop: a request every interval, whatever the
 * answers) sending OTLP/HTTP protobuf (bench/payload.ts: 102 traces = 510 spans, ~500 KiB a
 * request). Reports the answers by status, spans acknowledged per second, the bridge's RSS
 * (sampled every 200 ms, and VmHWM), the pending/spooled gauges at their peak, the time to
 * drain after the load stops, and checks that every acknowledged span's event is stored once.
 * Results also go to bench/out/overload.json. Exit 1 if stored events do not match the acks.
 */
import { fork, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { PhaseResult, ReadyMessage } from './loadgen.ts';
import { EVENTS_PER_TRACE, SPANS_PER_TRACE } from './payload.ts';
import { npmStartLaunch } from '../test/helpers/bridge-process.ts';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const CLI = join(REPO, 'packages/bridge/bin/otel-audit.js');

const { values: o, positionals } = parseArgs({
  options: {
    seconds: { type: 'string', default: '20' },
    rate: { type: 'string', default: '150000' },
    sockets: { type: 'string', default: '256' },
    traces: { type: 'string', default: '102' },
    help: { type: 'boolean', default: false },
  },
  allowPositionals: true,
});
if (o.help) {
  console.log('node bench/overload.ts [--seconds 20] [--rate SPANS/S] [--sockets N] [--traces N] [-- <serve flags>]');
  process.exit(0);
}
const say = (s: string) => process.stderr.write(`${s}\n`);
const mib = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`;

function proc(pid: number): { rss: number; hwm: number } {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+) kB`).exec(s)?.[1] ?? 0) * 1024;
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
}

async function metrics(api: string): Promise<Record<string, number>> {
  const text = await (await fetch(`${api}/metrics`)).text();
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const m = /^(\w+) (\S+)$/.exec(line);
    if (m) out[m[1]] = Number(m[2]);
  }
  return out;
}

const dataDir = mkdtempSync(join(tmpdir(), 'otel-audit-overload-'));
const launch = npmStartLaunch();
const bridge = spawn(
  process.execPath,
  [...launch.nodeArgs, CLI, 'serve', '--data-dir', dataDir, '--otlp-http', '127.0.0.1:0', '--otlp-grpc', '127.0.0.1:0', '--api', '127.0.0.1:0', ...positionals],
  { stdio: ['ignore', 'inherit', 'pipe'], env: { ...process.env, ...launch.env } },
);
let log = '';
const started = await new Promise<{ otlp_http: string; api: string }>((resolve, reject) => {
  bridge.stderr!.on('data', (d: Buffer) => {
    log += d.toString();
    const line = log.split('\n').find((l) => l.includes('"otel-audit bridge started"'));
    if (line) resolve(JSON.parse(line));
  });
  bridge.once('exit', (code) => reject(new Error(`bridge exited with ${code}: ${log}`)));
});
// Keep the tail of the log for a report.
bridge.stderr!.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-20_000)));
const pid = bridge.pid!;
say(`bridge pid ${pid}, ${started.otlp_http}, flags: ${positionals.join(' ') || '(defaults)'}`);

const gen = fork(join(REPO, 'bench/loadgen.ts'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
const call = <T>(msg: unknown) =>
  new Promise<T>((resolve, reject) => {
    gen.once('message', (m: { type: string; message?: string }) => (m.type === 'error' ? reject(new Error(m.message)) : resolve(m as T)));
    gen.send(msg as object);
  });
const ready = await call<ReadyMessage>({ type: 'init', url: started.otlp_http, traces: Number(o.traces), nonce: process.pid });
say(`load: ${ready.spansPerRequest} spans, ${mib(ready.bytesPerRequest)} per request; open loop at ${o.rate} spans/s on up to ${o.sockets} sockets for ${o.seconds} s`);

const base = proc(pid);
let peakRss = base.rss;
/** The peak while the load runs; what the drain (a flush of everything held) adds comes after. */
let peakRssLoad = base.rss;
let loading = true;
const peaks = { pending: 0, spooled: 0, spooledBytes: 0, spoolMemory: 0, walBytes: 0, inFlightBytes: 0, heapUsed: 0, external: 0, walQueued: 0 };
let sampling = true;
const sampler = (async () => {
  while (sampling) {
    peakRss = Math.max(peakRss, proc(pid).rss);
    if (loading) peakRssLoad = peakRss;
    try {
      const m = await metrics(started.api);
      peaks.pending = Math.max(peaks.pending, m.otel_audit_events_pending ?? 0);
      peaks.spooled = Math.max(peaks.spooled, m.otel_audit_spooled_events ?? 0);
      peaks.spooledBytes = Math.max(peaks.spooledBytes, m.otel_audit_spooled_bytes ?? 0);
      peaks.walBytes = Math.max(peaks.walBytes, m.otel_audit_wal_bytes ?? 0);
      peaks.inFlightBytes = Math.max(peaks.inFlightBytes, m.otel_audit_otlp_http_in_flight_bytes ?? 0);
      peaks.spoolMemory = Math.max(peaks.spoolMemory, m.otel_audit_spool_memory_bytes ?? 0);
      peaks.heapUsed = Math.max(peaks.heapUsed, m.nodejs_heap_size_used_bytes ?? 0);
      peaks.external = Math.max(peaks.external, m.nodejs_external_memory_bytes ?? 0);
      peaks.walQueued = Math.max(peaks.walQueued, m.otel_audit_wal_queued_bytes ?? 0);
    } catch {
      /* the API may be slow under load: RSS is what matters */
    }
    await new Promise((r) => setTimeout(r, 200));
  }
})();

const phase = await call<PhaseResult>({ type: 'open', seconds: Number(o.seconds), rate: Number(o.rate), maxSockets: Number(o.sockets) });
const tEnd = Date.now();
loading = false;
const acked = phase.okRequests * Number(o.traces) * EVENTS_PER_TRACE;
// Drain: everything acknowledged reaches ClickHouse.
await fetch(`${started.api}/api/v1/flush`, { method: 'POST' });
const drainMs = Date.now() - tEnd;
sampling = false;
await sampler;
const end = proc(pid);
const countRes = await fetch(`${started.api}/api/v1/sql?format=jsonl`, { method: 'POST', body: 'SELECT count() AS n, uniqExact(event_id) AS u FROM otel_audit.events' });
const counted = JSON.parse((await countRes.text()).trim()) as { n: string; u: string };
const m = await metrics(started.api);
gen.send({ type: 'exit' });
bridge.kill('SIGTERM');
const code = await new Promise<number | null>((r) => bridge.once('exit', r));

const seconds = (phase.endedAt - phase.startedAt) / 1000;
const result = {
  flags: positionals,
  offered_spans_per_s: Number(o.rate),
  seconds,
  requests: phase.requests,
  answers: { '200': phase.okRequests, ...phase.errors },
  acked_spans_per_s: Math.round((phase.okRequests * ready.spansPerRequest) / seconds),
  late_starts: phase.lateStarts,
  rss_start: base.rss,
  rss_peak_sampled: peakRss,
  rss_peak_under_load: peakRssLoad,
  rss_hwm: end.hwm,
  peaks,
  drain_ms_after_load: drainMs,
  events_expected: acked,
  events_stored: Number(counted.n),
  events_distinct: Number(counted.u),
  refused_by_sink: m.otel_audit_overloaded_total ?? 0,
  throttled_http: m.otel_audit_otlp_http_throttled_total ?? 0,
  exit_code: code,
};
mkdirSync(join(REPO, 'bench/out'), { recursive: true });
writeFileSync(join(REPO, 'bench/out/overload.json'), JSON.stringify(result, null, 2) + '\n');
console.log(
  [
    `offered           ${o.rate} spans/s for ${seconds.toFixed(1)} s (${SPANS_PER_TRACE * Number(o.traces)} spans/request)`,
    `answers           ${JSON.stringify(result.answers)}   (0 = connection error)`,
    `acknowledged      ${result.acked_spans_per_s} spans/s`,
    `RSS               start ${mib(base.rss)}, peak ${mib(peakRss)} (VmHWM ${mib(end.hwm)}); under load ${mib(peakRssLoad)}, then the drain`,
    `refused           ${result.refused_by_sink} times by the write path (503: spool, log, pending events), ${result.throttled_http} by the HTTP in-flight limits (429)`,
    `peaks             pending ${peaks.pending} events, spooled ${peaks.spooled} events / ${mib(peaks.spooledBytes)} (in memory ${mib(peaks.spoolMemory)}), WAL ${mib(peaks.walBytes)}, HTTP in flight ${mib(peaks.inFlightBytes)}`,
    `                  V8 heap used ${mib(peaks.heapUsed)}, external (buffers) ${mib(peaks.external)}, WAL queue ${mib(peaks.walQueued)}`,
    `drain             ${drainMs} ms after the load stopped`,
    `stored            ${counted.n} events (${counted.u} distinct), expected ${acked} from the acks`,
    `bridge exit       ${code}`,
  ].join('\n'),
);
const ok = Number(counted.n) === acked && Number(counted.u) === acked && code === 0;
if (!ok) say(`MISMATCH or bad exit; bridge log tail:\n${log.slice(-4000)}`);
process.exit(ok ? 0 : 1);
