/**
 * `npm run bench`: end-to-end figures of the real bridge (the CLI, in its own process) fed by a
 * load generator in a second process, plus the raw insert rate of the same rows into the same
 * embedded ClickHouse engine. See bench/README.md.
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { PhaseResult, ReadyMessage } from './loadgen.ts';
import { EVENTS_PER_TRACE, type Risk } from './payload.ts';
import { formatProfile, summarizeProfile, type ProfileSummary } from './profile.ts';
import type { StagesResult } from './stages.ts';
import { flush, npmStartLaunch, sql, startBridge as startBridgeProcess } from '../test/helpers/bridge-process.ts';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const OUT = join(REPO, 'bench/out');

const TARGETS = { spansPerSecond: 30_000, p99Ms: 200, rssBytes: 1024 ** 3 };

const HELP = `npm run bench [-- OPTIONS]

Starts the real bridge (otel-audit serve, embedded chDB, fresh data dir) and a load generator
in a second process, then measures:
  a. throughput: closed loop, as fast as the bridge acknowledges; events stored and counted
  b. ack latency: open loop at a fraction of (a)'s rate
  c. peak RSS of the bridge (VmHWM; VmRSS sampled every 200 ms)
  d. raw insert rate of the same rows into the same engine (after the bridge stopped)
  e. scaling: a fresh bridge with --intake-workers 1, 2, 4 in turn, closed loop: spans/s,
     main-thread ceiling, CPU per span
  f. stage floor: bench/stages.ts (µs per span per stage, one thread, no sockets/log/ClickHouse)
Prints a table and writes bench/out/results.json.

Options:
  --duration S          seconds of phase (a) (default 15)
  --latency-duration S  seconds of phase (b) (default: --duration)
  --warmup S            closed-loop warm-up before (a), not measured (default 3)
  --concurrency N       connections of the closed loop (default 6)
  --rate-fraction F     rate of phase (b) as a fraction of (a)'s spans/s (default 0.5)
  --rate N              rate of phase (b) in spans/s (overrides --rate-fraction)
  --batch N             spans per request, rounded down to whole 5-span traces (default 512 → 510)
  --risk LEVEL          audit.risk of the traces: high (default; model-call content is also sealed),
                        medium (redacted content only) or low (digests only)
  --raw-rows N          rows read back for phase (d) (default 100000)
  --raw-batch N         rows per insert in phase (d) (default 10000, as the bridge)
  --profile             run the bridge with --cpu-prof (into bench/out/profiles/) and print its
                        top self-time functions
  --top N               hot spots to print with --profile (default 15)
  --keep                keep the bridge's data directory (printed) instead of deleting it
  --no-scaling          skip phase (e)
  --scaling-duration S  measured seconds of each run of phase (e) (default 8)
  --scaling-warmup S    closed-loop warm-up of each run of phase (e), not measured (default 2)
  --scaling-workers L   intake worker counts of phase (e), comma-separated (default 1,2,4)
  --no-stages           skip phase (f)
  --stages-rounds N     rounds of phase (f) (default 3; the median round is reported)
  --stages-requests N   requests of 510 spans per round of phase (f) (default 100)
  --help                this text
`;

interface Options {
  duration: number;
  latencyDuration: number;
  warmup: number;
  concurrency: number;
  rateFraction: number;
  rate: number | null;
  batch: number;
  risk: Risk;
  rawRows: number;
  rawBatch: number;
  profile: boolean;
  top: number;
  keep: boolean;
  scaling: boolean;
  scalingDuration: number;
  scalingWarmup: number;
  scalingWorkers: number[];
  stages: boolean;
  stagesRounds: number;
  stagesRequests: number;
}

function options(): Options {
  const { values } = parseArgs({
    options: {
      duration: { type: 'string' },
      'latency-duration': { type: 'string' },
      warmup: { type: 'string' },
      concurrency: { type: 'string' },
      'rate-fraction': { type: 'string' },
      rate: { type: 'string' },
      batch: { type: 'string' },
      risk: { type: 'string' },
      'raw-rows': { type: 'string' },
      'raw-batch': { type: 'string' },
      profile: { type: 'boolean' },
      top: { type: 'string' },
      keep: { type: 'boolean' },
      'no-scaling': { type: 'boolean' },
      'scaling-duration': { type: 'string' },
      'scaling-warmup': { type: 'string' },
      'scaling-workers': { type: 'string' },
      'no-stages': { type: 'boolean' },
      'stages-rounds': { type: 'string' },
      'stages-requests': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(HELP);
    process.exit(0);
  }
  const num = (name: string, v: string | undefined, def: number, min = 0): number => {
    if (v === undefined) return def;
    const n = Number(v);
    if (!Number.isFinite(n) || n < min) {
      process.stderr.write(`--${name}: expected a number ≥ ${min}, got "${v}"\n\n${HELP}`);
      process.exit(2);
    }
    return n;
  };
  const duration = num('duration', values.duration, 15, 1);
  const scalingWorkers = (values['scaling-workers'] ?? '1,2,4').split(',').map((w) => Math.floor(num('scaling-workers', w.trim(), 0, 0)));
  const risk = (values.risk ?? 'high') as Risk;
  if (!['low', 'medium', 'high'].includes(risk)) {
    console.error(`bench: --risk must be low, medium or high, got "${values.risk}"`);
    process.exit(2);
  }
  return {
    risk,
    duration,
    latencyDuration: num('latency-duration', values['latency-duration'], duration, 1),
    warmup: num('warmup', values.warmup, 3, 0),
    concurrency: Math.floor(num('concurrency', values.concurrency, 6, 1)),
    rateFraction: num('rate-fraction', values['rate-fraction'], 0.5, 0.01),
    rate: values.rate === undefined ? null : num('rate', values.rate, 0, 1),
    batch: Math.floor(num('batch', values.batch, 512, 5)),
    rawRows: Math.floor(num('raw-rows', values['raw-rows'], 100_000, 1)),
    rawBatch: Math.floor(num('raw-batch', values['raw-batch'], 10_000, 1)),
    profile: values.profile ?? false,
    top: Math.floor(num('top', values.top, 15, 1)),
    keep: values.keep ?? false,
    scaling: !(values['no-scaling'] ?? false),
    scalingDuration: num('scaling-duration', values['scaling-duration'], 8, 1),
    scalingWarmup: num('scaling-warmup', values['scaling-warmup'], 2, 0),
    scalingWorkers: scalingWorkers,
    stages: !(values['no-stages'] ?? false),
    stagesRounds: Math.floor(num('stages-rounds', values['stages-rounds'], 3, 1)),
    stagesRequests: Math.floor(num('stages-requests', values['stages-requests'], 100, 1)),
  };
}

// ---------------------------------------------------------------------------------------------
// The bridge process

interface BridgeProc {
  child: ChildProcess;
  pid: number;
  otlp: string;
  api: string;
  log: () => string;
  exited: Promise<number | null>;
}

async function startBridge(dataDir: string, profDir: string | null, args: string[] = []): Promise<BridgeProc> {
  const launch = npmStartLaunch();
  const b = await startBridgeProcess({
    dataDir,
    args,
    env: launch.env,
    nodeArgs: [...launch.nodeArgs, ...(profDir ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : [])],
  });
  return { child: b.child, pid: b.child.pid!, otlp: b.otlpUrl, api: b.apiUrl, log: b.log, exited: b.exited };
}

async function metrics(api: string): Promise<Record<string, number>> {
  const text = await (await fetch(`${api}/metrics`)).text();
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{[^}]*\})?\s+(\S+)/.exec(line);
    if (m) out[m[1]] = (out[m[1]] ?? 0) + Number(m[2]);
  }
  return out;
}


// ---------------------------------------------------------------------------------------------
// /proc sampling: memory and CPU of the bridge

const CLK_TCK = 100;

function procStatus(pid: number): { rss: number; hwm: number } {
  try {
    const s = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(s)?.[1] ?? 0) * 1024;
    return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
  } catch {
    return { rss: 0, hwm: 0 };
  }
}

/** CPU seconds of the whole process and of its main (JavaScript) thread. */
function procCpu(pid: number): { total: number; main: number } {
  const ticks = (path: string) => {
    try {
      const s = readFileSync(path, 'utf8');
      const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
      return (Number(f[11]) + Number(f[12])) / CLK_TCK; // utime, stime
    } catch {
      return 0;
    }
  };
  return { total: ticks(`/proc/${pid}/stat`), main: ticks(`/proc/${pid}/task/${pid}/stat`) };
}

/**
 * CPU seconds of the bridge's threads by name (`comm`): MainThread, WorkerThread (intake),
 * V8Worker (GC), MergeMutate and ThreadPool (chDB merges and inserts), libuv-worker (file I/O).
 */
function threadCpu(pid: number): Map<string, number> {
  const out = new Map<string, number>();
  let tasks: string[] = [];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tasks) {
    try {
      const name = readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim();
      const st = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
      out.set(name, (out.get(name) ?? 0) + (Number(f[11]) + Number(f[12])) / CLK_TCK);
    } catch {
      // The thread ended meanwhile.
    }
  }
  return out;
}

/** µs of CPU per acknowledged span, by thread name, between two threadCpu readings (largest first). */
function cpuByThread(before: Map<string, number>, after: Map<string, number>, spans: number): Array<{ thread: string; microsPerSpan: number }> {
  return [...after]
    .map(([thread, t]) => ({ thread, microsPerSpan: (1e6 * (t - (before.get(thread) ?? 0))) / spans }))
    .filter((x) => x.microsPerSpan >= 0.5)
    .sort((x, y) => y.microsPerSpan - x.microsPerSpan);
}

/** CPU seconds the whole machine spent busy (all cores), from /proc/stat. */
function systemBusySeconds(): number {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
    return (total - f[3] - f[4]) / CLK_TCK; // minus idle and iowait
  } catch {
    return 0;
  }
}

function selfCpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

class Sampler {
  peakRss = 0;
  private timer: NodeJS.Timeout;
  private phasePeak = 0;
  private readonly pid: number;
  constructor(pid: number) {
    this.pid = pid;
    this.timer = setInterval(() => this.sample(), 200);
    this.timer.unref();
  }
  sample(): number {
    const { rss } = procStatus(this.pid);
    this.peakRss = Math.max(this.peakRss, rss);
    this.phasePeak = Math.max(this.phasePeak, rss);
    return rss;
  }
  /** Peak RSS since the last call. */
  takePhasePeak(): number {
    this.sample();
    const p = this.phasePeak;
    this.phasePeak = 0;
    return p;
  }
  stop(): void {
    clearInterval(this.timer);
  }
}

// ---------------------------------------------------------------------------------------------
// The load generator process

class LoadGen {
  readonly child: ChildProcess;
  private waiting: ((m: unknown) => void) | null = null;
  private failed: ((e: Error) => void) | null = null;
  constructor() {
    this.child = fork(join(REPO, 'bench/loadgen.ts'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.child.on('message', (m: { type: string; message?: string }) => {
      if (m.type === 'error') this.failed?.(new Error(`load generator: ${m.message}`));
      else this.waiting?.(m);
    });
    this.child.once('exit', (code) => this.failed?.(new Error(`load generator exited with ${code}`)));
  }
  call<T>(msg: object): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.waiting = (m) => resolve(m as T);
      this.failed = reject;
      this.child.send(msg);
    });
  }
  stop(): void {
    if (this.child.connected) this.child.send({ type: 'exit' });
  }
}

// ---------------------------------------------------------------------------------------------
// Helpers

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

/** The slowest requests and when they were sent: stalls show up as clusters. */
function slowest(r: PhaseResult, n = 5): Array<{ sentAtS: number; latencyMs: number }> {
  return r.latencies
    .map((l, i) => ({ sentAtS: Math.round(r.sentAt[i] * 10) / 10, latencyMs: Math.round(l) }))
    .sort((x, y) => y.latencyMs - x.latencyMs)
    .slice(0, n)
    .sort((x, y) => x.sentAtS - y.sentAtS);
}

function latencySummary(lat: number[]) {
  const s = [...lat].sort((a, b) => a - b);
  return {
    p50: percentile(s, 50),
    p95: percentile(s, 95),
    p99: percentile(s, 99),
    max: s.length ? s[s.length - 1] : NaN,
    count: s.length,
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const fmt = (n: number, digits = 0) => (Number.isFinite(n) ? n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }) : 'n/a');
const mib = (b: number) => `${fmt(b / 1024 ** 2)} MiB`;
const say = (s: string) => process.stderr.write(`[bench] ${s}\n`);

/** Polls the stored counter until it reaches `expected`; returns when (epoch ms), or null on timeout. */
async function waitStored(api: string, expected: number, timeoutMs: number): Promise<{ at: number | null; stored: number }> {
  const deadline = Date.now() + timeoutMs;
  let stored = 0;
  for (;;) {
    stored = (await metrics(api)).otel_audit_events_stored_total ?? 0;
    if (stored >= expected) return { at: Date.now(), stored };
    if (Date.now() > deadline) return { at: null, stored };
    await sleep(50);
  }
}

async function countCheck(api: string, expected: number) {
  const [r] = await sql<{ n: string; u: string; leaked: string }>(
    api,
    `SELECT count() AS n, uniqExact(event_id) AS u, countIf(position(content, '@example.com') > 0) AS leaked FROM otel_audit.events`,
  );
  const byType = await sql<{ event_type: string; n: string }>(
    api,
    `SELECT event_type, count() AS n FROM otel_audit.events GROUP BY event_type ORDER BY event_type`,
  );
  return {
    expected,
    stored: Number(r.n),
    distinctIds: Number(r.u),
    emailsLeakedInContent: Number(r.leaked),
    byType: Object.fromEntries(byType.map((x) => [x.event_type, Number(x.n)])),
    ok: Number(r.n) === expected && Number(r.u) === expected,
  };
}

// ---------------------------------------------------------------------------------------------
// Phase (d): raw inserts into the same engine, same path as the bridge (RowBinary through
// Store.insertRowBinary), of the very rows the bridge stored

async function rawInsert(dataDir: string, rows: number, batchRows: number) {
  const { Store } = await import('../packages/bridge/src/store/index.ts');
  const { RowWriter, rowEncoder } = await import('../packages/bridge/src/store/index.ts');
  const { EVENT_COLUMNS } = await import('../packages/bridge/src/store/index.ts');
  const store = await Store.open({ dataDir, database: 'otel_audit' });
  try {
    const t0 = performance.now();
    const rs = await store.client.query({ query: `SELECT * FROM otel_audit.events LIMIT ${rows}`, format: 'JSONEachRow' });
    const text = await rs.text();
    const lines = text.split('\n').filter(Boolean);
    const readMs = performance.now() - t0;
    const bodies: string[] = [];
    for (let i = 0; i < lines.length; i += batchRows) bodies.push(lines.slice(i, i + batchRows).join('\n') + '\n');
    const writer = new RowWriter();
    const encode = rowEncoder(EVENT_COLUMNS);
    const binaries: Buffer[] = [];
    for (let i = 0; i < lines.length; i += batchRows) {
      for (const l of lines.slice(i, i + batchRows)) encode(writer, JSON.parse(l) as Record<string, unknown>);
      binaries.push(writer.take());
    }
    await store.command('DROP TABLE IF EXISTS otel_audit.events_raw');
    await store.command('CREATE TABLE otel_audit.events_raw AS otel_audit.events');
    const times: number[] = [];
    const start = performance.now();
    for (let i = 0; i < binaries.length; i++) {
      const b0 = performance.now();
      await store.insertRowBinary('events_raw', EVENT_COLUMNS, binaries[i], `bench-raw-${i}`);
      times.push(performance.now() - b0);
    }
    const ms = performance.now() - start;
    const [c] = await store.rows<{ n: string }>('SELECT count() AS n FROM otel_audit.events_raw');
    await store.command('DROP TABLE otel_audit.events_raw');
    // The same rows into a Null table: parsing only, no storage (what the engine cannot go below).
    await store.command('DROP TABLE IF EXISTS otel_audit.events_null');
    await store.command('CREATE TABLE otel_audit.events_null AS otel_audit.events ENGINE = Null');
    // RowBinary, as the bridge inserts and as the raw figure above: the same format on both sides.
    const nullBodies = binaries.slice(0, Math.max(1, Math.ceil(20_000 / batchRows)));
    const nullRows = Math.min(lines.length, nullBodies.length * batchRows);
    const n0 = performance.now();
    for (let i = 0; i < nullBodies.length; i++) await store.insertRowBinary('events_null', EVENT_COLUMNS, nullBodies[i], `bench-null-${i}`);
    const nullMs = performance.now() - n0;
    await store.command('DROP TABLE otel_audit.events_null');
    return {
      rows: lines.length,
      batches: bodies.length,
      batchRows,
      bytes: bodies.reduce((n, b) => n + Buffer.byteLength(b), 0),
      readMs,
      insertMs: ms,
      rowsPerSecond: lines.length / (ms / 1000),
      batchMsMedian: [...times].sort((a, b) => a - b)[times.length >> 1],
      rowsInserted: Number(c.n),
      nullEngineRowsPerSecond: nullRows / (nullMs / 1000),
    };
  } finally {
    await store.close();
  }
}

// ---------------------------------------------------------------------------------------------
// Phase (e): the same closed loop against a fresh bridge per intake worker count

/** SIGTERM, wait up to 60 s (then SIGKILL); returns how long it took, ms. */
async function stopBridge(bridge: BridgeProc): Promise<number> {
  const stopStart = Date.now();
  bridge.child.kill('SIGTERM');
  let killTimer: NodeJS.Timeout | undefined;
  const exit = await Promise.race([
    bridge.exited,
    new Promise<'timeout'>((r) => (killTimer = setTimeout(() => r('timeout'), 60_000))),
  ]);
  clearTimeout(killTimer);
  if (exit === 'timeout') {
    say('bridge did not stop within 60 s: SIGKILL');
    bridge.child.kill('SIGKILL');
    await bridge.exited;
  }
  return Date.now() - stopStart;
}

interface ScalingRun {
  intakeWorkers: number;
  seconds: number;
  requests: number;
  errors: Record<string, number>;
  spansAcked: number;
  spansPerSecond: number;
  mainThreadCeilingSpansPerSecond: number;
  bridgeCpuCores: number;
  bridgeMainThreadCpuCores: number;
  bridgeProcessCpuMicrosPerSpan: number;
  bridgeMainThreadCpuMicrosPerSpan: number;
  bridgeCpuByThread: Array<{ thread: string; microsPerSpan: number }>;
  loadgenCpuCores: number;
  otherProcessesCpuCores: number;
  /** Every event of the measured and warm-up loops counted as stored before the bridge stopped. */
  storedAll: boolean;
  shutdownMs: number;
}

async function scalingRun(o: Options, workers: number, gen: LoadGen, traces: number, nonce: number): Promise<ScalingRun> {
  const dataDir = mkdtempSync(join(tmpdir(), 'otel-audit-bench-'));
  const bridge = await startBridge(dataDir, null, ['--intake-workers', String(workers)]);
  try {
    const ready = await gen.call<ReadyMessage>({ type: 'init', url: bridge.otlp, traces, nonce, risk: o.risk });
    const eventsPerRequest = ready.tracesPerRequest * EVENTS_PER_TRACE;
    let expected = 0;
    if (o.scalingWarmup > 0) {
      const w = await gen.call<PhaseResult>({ type: 'closed', seconds: o.scalingWarmup, concurrency: o.concurrency });
      expected += w.okRequests * eventsPerRequest;
      await flush(bridge.api);
      await waitStored(bridge.api, expected, 60_000);
    }
    const cpu0 = procCpu(bridge.pid);
    const threads0 = threadCpu(bridge.pid);
    const sys0 = systemBusySeconds();
    const self0 = selfCpuSeconds();
    const r = await gen.call<PhaseResult>({ type: 'closed', seconds: o.scalingDuration, concurrency: o.concurrency });
    const cpu1 = procCpu(bridge.pid);
    const threads1 = threadCpu(bridge.pid);
    const sys1 = systemBusySeconds();
    const self1 = selfCpuSeconds();
    expected += r.okRequests * eventsPerRequest;
    await flush(bridge.api);
    const st = await waitStored(bridge.api, expected, 60_000);
    const seconds = (r.endedAt - r.startedAt) / 1000;
    const main = cpu1.main - cpu0.main;
    const total = cpu1.total - cpu0.total;
    const run: ScalingRun = {
      intakeWorkers: workers,
      seconds,
      requests: r.requests,
      errors: r.errors,
      spansAcked: r.okSpans,
      spansPerSecond: r.okSpans / seconds,
      mainThreadCeilingSpansPerSecond: main > 0 ? r.okSpans / main : NaN,
      bridgeCpuCores: total / seconds,
      bridgeMainThreadCpuCores: main / seconds,
      bridgeProcessCpuMicrosPerSpan: (1e6 * total) / r.okSpans,
      bridgeMainThreadCpuMicrosPerSpan: (1e6 * main) / r.okSpans,
      bridgeCpuByThread: cpuByThread(threads0, threads1, r.okSpans),
      loadgenCpuCores: r.cpuSeconds / seconds,
      otherProcessesCpuCores: (sys1 - sys0 - total - r.cpuSeconds - (self1 - self0)) / seconds,
      storedAll: st.at !== null,
      shutdownMs: 0,
    };
    run.shutdownMs = await stopBridge(bridge);
    return run;
  } finally {
    if (bridge.child.exitCode === null && bridge.child.signalCode === null) {
      bridge.child.kill('SIGKILL');
      await bridge.exited;
    }
    rmSync(dataDir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// Phase (f): bench/stages.ts in its own process, with the bridge's Node flags and environment

async function stageFloor(o: Options): Promise<StagesResult> {
  const launch = npmStartLaunch();
  const child = spawn(
    process.execPath,
    [...launch.nodeArgs, join(REPO, 'bench/stages.ts'), '--rounds', String(o.stagesRounds), '--requests', String(o.stagesRequests), '--json'],
    { env: { ...process.env, ...launch.env }, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let stdout = '';
  let json = '';
  child.stdout!.on('data', (d: Buffer) => {
    stdout += d.toString();
    for (let nl = stdout.indexOf('\n'); nl >= 0; nl = stdout.indexOf('\n')) {
      const line = stdout.slice(0, nl);
      stdout = stdout.slice(nl + 1);
      if (line.startsWith('{')) json = line;
      else if (line) say(`phase f: ${line}`);
    }
  });
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
  if (code !== 0 || !json) throw new Error(`bench/stages.ts exited with ${code}`);
  return JSON.parse(json) as StagesResult;
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<number> {
  const o = options();
  const t0 = Date.now();
  mkdirSync(OUT, { recursive: true });
  const dataDir = mkdtempSync(join(tmpdir(), 'otel-audit-bench-'));
  const profDir = o.profile ? join(OUT, 'profiles') : null;
  if (profDir) mkdirSync(profDir, { recursive: true });
  const traces = Math.floor(o.batch / 5);

  say(`starting the bridge (data dir ${dataDir}${profDir ? `, --cpu-prof into ${profDir}` : ''})`);
  const bridge = await startBridge(dataDir, profDir);
  const sampler = new Sampler(bridge.pid);
  const rssAtStart = procStatus(bridge.pid).rss;
  const gen = new LoadGen();
  let exitCode = 0;
  try {
    const ready = await gen.call<ReadyMessage>({ type: 'init', url: bridge.otlp, traces, nonce: (Date.now() / 1000) >>> 0, risk: o.risk });
    say(
      `payload: ${ready.spansPerRequest} spans (${ready.tracesPerRequest} traces) per request, ` +
        `${fmt(ready.bytesPerRequest / 1024)} KiB protobuf; encoded in ${fmt(ready.setupMs)} ms`,
    );
    const eventsPerRequest = ready.tracesPerRequest * EVENTS_PER_TRACE;
    let expected = 0;

    // Warm-up (JIT, chDB caches), then wait until everything is stored: (a) starts quiescent.
    if (o.warmup > 0) {
      say(`warm-up: ${o.warmup} s closed loop`);
      const w = await gen.call<PhaseResult>({ type: 'closed', seconds: o.warmup, concurrency: o.concurrency });
      expected += w.okRequests * eventsPerRequest;
      await flush(bridge.api);
      await waitStored(bridge.api, expected, 60_000);
    }
    const rssAfterWarmup = sampler.takePhasePeak();

    // (a) Throughput.
    say(`phase a: closed loop, ${o.concurrency} connections, ${o.duration} s`);
    const storedBefore = (await metrics(bridge.api)).otel_audit_events_stored_total ?? 0;
    const cpuA0 = procCpu(bridge.pid);
    const threadsA0 = threadCpu(bridge.pid);
    const sysA0 = systemBusySeconds();
    const selfA0 = selfCpuSeconds();
    const a = await gen.call<PhaseResult>({ type: 'closed', seconds: o.duration, concurrency: o.concurrency });
    const memA = await metrics(bridge.api);
    say(
      `phase a: memory at the end: rss ${mib(memA.process_resident_memory_bytes ?? 0)}, ` +
        `V8 heap ${mib(memA.nodejs_heap_size_used_bytes ?? 0)} used of ${mib(memA.nodejs_heap_size_total_bytes ?? 0)}, external ${mib(memA.nodejs_external_memory_bytes ?? 0)}, ` +
        `intake workers' heaps ${mib(memA.otel_audit_intake_heap_bytes ?? 0)}, embedded ClickHouse ${mib(memA.otel_audit_embedded_clickhouse_memory_bytes ?? 0)}, ` +
        `pending events ${memA.otel_audit_events_pending ?? 0}, unstored ${memA.otel_audit_events_unstored ?? 0}`,
    );
    const cpuA1 = procCpu(bridge.pid);
    const threadsA1 = threadCpu(bridge.pid);
    const sysA1 = systemBusySeconds();
    const selfA1 = selfCpuSeconds();
    expected += a.okRequests * eventsPerRequest;
    const stA = await waitStored(bridge.api, expected, 60_000);
    const storedAt = stA.at ?? Date.now();
    const ackSeconds = (a.endedAt - a.startedAt) / 1000;
    const spansPerSecond = a.okSpans / ackSeconds;
    const eventsPerSecond = (stA.stored - storedBefore) / ((storedAt - a.startedAt) / 1000);
    const storeLagMs = storedAt - a.endedAt;
    const mainCpuA = cpuA1.main - cpuA0.main;
    const otherCores = (sysA1 - sysA0 - (cpuA1.total - cpuA0.total) - a.cpuSeconds - (selfA1 - selfA0)) / ackSeconds;
    /** What one full core for the bridge's JavaScript thread would give: spans per main-thread CPU second. */
    const ceiling = mainCpuA > 0 ? a.okSpans / mainCpuA : NaN;
    await flush(bridge.api);
    const checkA = await countCheck(bridge.api, expected);
    const rssA = sampler.takePhasePeak();
    say(
      `phase a: ${fmt(spansPerSecond)} spans/s acked, ${fmt(eventsPerSecond)} events/s stored ` +
        `(stored ${fmt(storeLagMs)} ms after the last ack), count ${checkA.stored}/${checkA.expected}${checkA.ok ? '' : ' MISMATCH'}`,
    );

    // (b) Latency at a fixed rate.
    const rate = o.rate ?? Math.max(ready.spansPerRequest, spansPerSecond * o.rateFraction);
    say(`phase b: open loop at ${fmt(rate)} spans/s (${fmt(rate / ready.spansPerRequest, 1)} requests/s), ${o.latencyDuration} s`);
    const cpuB0 = procCpu(bridge.pid);
    const b = await gen.call<PhaseResult>({ type: 'open', seconds: o.latencyDuration, rate, maxSockets: 64 });
    const cpuB1 = procCpu(bridge.pid);
    expected += b.okRequests * eventsPerRequest;
    await waitStored(bridge.api, expected, 60_000);
    await flush(bridge.api);
    const checkB = await countCheck(bridge.api, expected);
    const rssB = sampler.takePhasePeak();
    const latB = latencySummary(b.latencies);
    say(`phase b: p50 ${fmt(latB.p50, 1)} ms, p95 ${fmt(latB.p95, 1)} ms, p99 ${fmt(latB.p99, 1)} ms; count ${checkB.stored}/${checkB.expected}`);

    // (c) Peak memory, before stopping (VmHWM is the kernel's high-water mark).
    const { hwm } = procStatus(bridge.pid);
    const peakRss = Math.max(hwm, sampler.peakRss);
    const finalMetrics = await metrics(bridge.api);
    sampler.stop();

    const stopMs = await stopBridge(bridge);
    gen.stop();

    let profile: ProfileSummary | null = null;
    if (profDir) {
      const files = readdirSync(profDir).filter((f) => f.endsWith('.cpuprofile'));
      const newest = files.map((f) => join(profDir, f)).sort((x, y) => statSync(y).mtimeMs - statSync(x).mtimeMs)[0];
      if (newest) {
        profile = summarizeProfile(newest, o.top);
        say(`profile: ${newest} (open in Chrome DevTools, or: node bench/profile.ts FILE)`);
      } else say(`no .cpuprofile in ${profDir} (did the bridge exit cleanly?)`);
    }

    // (d) Raw insert rate into the same engine.
    say(`phase d: raw insert of up to ${fmt(o.rawRows)} rows, ${fmt(o.rawBatch)} per INSERT`);
    const raw = await rawInsert(dataDir, o.rawRows, o.rawBatch);
    say(`phase d: ${fmt(raw.rowsPerSecond)} rows/s (${raw.rows} rows in ${fmt(raw.insertMs)} ms)`);

    // (e) Scaling: a fresh bridge per intake worker count, the same closed loop.
    const scaling: ScalingRun[] = [];
    if (o.scaling && o.scalingWorkers.length > 0) {
      const sgen = new LoadGen();
      try {
        for (const workers of o.scalingWorkers) {
          say(`phase e: --intake-workers ${workers}: fresh bridge, ${o.scalingWarmup} s warm-up, ${o.scalingDuration} s closed loop`);
          const r = await scalingRun(o, workers, sgen, traces, ((Date.now() / 1000) >>> 0) + workers);
          scaling.push(r);
          say(
            `phase e: --intake-workers ${workers}: ${fmt(r.spansPerSecond)} spans/s, main-thread ceiling ${fmt(r.mainThreadCeilingSpansPerSecond)}, ` +
              `${fmt(r.bridgeProcessCpuMicrosPerSpan)} µs CPU per span${r.storedAll ? '' : ' (NOT everything stored within 60 s)'}`,
          );
        }
      } finally {
        sgen.stop();
      }
    }

    // (f) The per-stage floor: one thread, no sockets, log or ClickHouse.
    let stages: StagesResult | null = null;
    if (o.stages) {
      say(`phase f: node bench/stages.ts --rounds ${o.stagesRounds} --requests ${o.stagesRequests}`);
      stages = await stageFloor(o);
    }

    const latA = latencySummary(a.latencies);
    const results = {
      date: new Date().toISOString(),
      node: process.version,
      cpus: (await import('node:os')).cpus().length,
      options: o,
      payload: { spansPerRequest: ready.spansPerRequest, tracesPerRequest: ready.tracesPerRequest, eventsPerRequest, bytesPerRequest: ready.bytesPerRequest },
      throughput: {
        seconds: ackSeconds,
        concurrency: o.concurrency,
        requests: a.requests,
        errors: a.errors,
        spansAcked: a.okSpans,
        spansPerSecond,
        eventsPerSecond,
        storedLagAfterLastAckMs: storeLagMs,
        storedWithinTimeout: stA.at !== null,
        ackLatencyMs: { p50: latA.p50, p95: latA.p95, p99: latA.p99, max: latA.max },
        bridgeCpuCores: (cpuA1.total - cpuA0.total) / ackSeconds,
        bridgeMainThreadCpuCores: mainCpuA / ackSeconds,
        bridgeMainThreadCpuMicrosPerSpan: (1e6 * mainCpuA) / a.okSpans,
        bridgeProcessCpuMicrosPerSpan: (1e6 * (cpuA1.total - cpuA0.total)) / a.okSpans,
        bridgeCpuByThread: cpuByThread(threadsA0, threadsA1, a.okSpans),
        mainThreadCeilingSpansPerSecond: ceiling,
        loadgenCpuCores: a.cpuSeconds / ackSeconds,
        otherProcessesCpuCores: otherCores,
        loadAverage: readFileSync('/proc/loadavg', 'utf8').trim(),
        check: checkA,
      },
      latency: {
        rateSpansPerSecond: rate,
        seconds: (b.endedAt - b.startedAt) / 1000,
        requests: b.requests,
        errors: b.errors,
        lateStarts: b.lateStarts,
        ackLatencyMs: latB,
        requestsOver200Ms: b.latencies.filter((l) => l > 200).length,
        slowest: slowest(b, 8),
        bridgeCpuCores: (cpuB1.total - cpuB0.total) / ((b.endedAt - b.startedAt) / 1000),
        check: checkB,
      },
      memory: { rssAtStartBytes: rssAtStart, peakRssBytes: peakRss, vmHwmBytes: hwm, peakRssWarmupBytes: rssAfterWarmup, peakRssThroughputBytes: rssA, peakRssLatencyBytes: rssB },
      shutdownMs: stopMs,
      raw,
      ratioBridgeToRaw: eventsPerSecond / raw.rowsPerSecond,
      bridgeMetrics: finalMetrics,
      profile,
      scaling,
      stages,
      targets: TARGETS,
      totalSeconds: (Date.now() - t0) / 1000,
    };
    writeFileSync(join(OUT, 'results.json'), JSON.stringify(results, null, 2) + '\n');

    const mark = (ok: boolean) => (ok ? 'ok' : 'MISSED');
    const rows: Array<[string, string, string, string]> = [
      ['spans/s acked end to end (closed loop)', fmt(spansPerSecond), `≥ ${fmt(TARGETS.spansPerSecond)}`, mark(spansPerSecond >= TARGETS.spansPerSecond)],
      ['events/s stored in ClickHouse', fmt(eventsPerSecond), '', ''],
      ['main-thread ceiling (spans per main-thread CPU s)', fmt(ceiling), '', ''],
      [`ack latency p50 @ ${fmt(rate)} spans/s`, `${fmt(latB.p50, 1)} ms`, '', ''],
      [`ack latency p95 @ ${fmt(rate)} spans/s`, `${fmt(latB.p95, 1)} ms`, '', ''],
      [`ack latency p99 @ ${fmt(rate)} spans/s`, `${fmt(latB.p99, 1)} ms`, `≤ ${TARGETS.p99Ms} ms`, mark(latB.p99 <= TARGETS.p99Ms)],
      ['peak RSS of the bridge', mib(peakRss), `≤ ${mib(TARGETS.rssBytes)}`, mark(peakRss <= TARGETS.rssBytes)],
      [`raw insert rows/s (RowBinary as the bridge, ${fmt(o.rawBatch)}/batch)`, fmt(raw.rowsPerSecond), '', ''],
      ['ratio bridge events/s : raw rows/s', `${fmt(100 * results.ratioBridgeToRaw)} %`, '', ''],
    ];
    const w = [Math.max(...rows.map((r) => r[0].length)), Math.max(...rows.map((r) => r[1].length)), 12];
    const line = (r: [string, string, string, string]) => `  ${r[0].padEnd(w[0])}  ${r[1].padStart(w[1])}  ${r[2].padEnd(w[2])}  ${r[3]}`;
    const out = [
      '',
      `otel-audit bench — ${results.cpus} CPUs, Node ${process.version}, ${ready.spansPerRequest} spans/request (risk ${o.risk}), ` +
        `${o.concurrency} connections, ${o.duration} s + ${o.latencyDuration} s`,
      '',
      line(['metric', 'value', 'target', '']),
      line(['-'.repeat(w[0]), '-'.repeat(w[1]), '-'.repeat(w[2]), '------']),
      ...rows.map(line),
      '',
      `  phase a: ${a.requests} requests, errors ${JSON.stringify(a.errors)}, ack p50/p99 under saturation ${fmt(latA.p50)}/${fmt(latA.p99)} ms; ` +
        `bridge CPU ${fmt(results.throughput.bridgeCpuCores, 2)} cores (main thread ${fmt(results.throughput.bridgeMainThreadCpuCores, 2)}), ` +
        `load generator ${fmt(results.throughput.loadgenCpuCores, 2)}, other processes ${fmt(otherCores, 2)}`,
      `  phase a: bridge CPU per span ${fmt(results.throughput.bridgeProcessCpuMicrosPerSpan, 0)} µs: ` +
        results.throughput.bridgeCpuByThread.map((x) => `${x.thread} ${fmt(x.microsPerSpan, 0)}`).join(', '),
      `  phase a: last event stored ${fmt(storeLagMs)} ms after the last ack; events ${checkA.stored}/${checkA.expected} ` +
        `(distinct ${checkA.distinctIds}) ${checkA.ok ? 'ok' : 'MISMATCH'}, ${JSON.stringify(checkA.byType)}; emails left in content: ${checkA.emailsLeakedInContent}`,
      `  phase b: ${b.requests} requests, errors ${JSON.stringify(b.errors)}, late starts ${b.lateStarts}, max ${fmt(latB.max)} ms; ` +
        `bridge CPU ${fmt(results.latency.bridgeCpuCores, 2)} cores; events ${checkB.stored}/${checkB.expected} ${checkB.ok ? 'ok' : 'MISMATCH'}`,
      `  phase b: ${results.latency.requestsOver200Ms} requests over 200 ms; slowest (sent at s: ms): ` +
        results.latency.slowest.map((x) => `${x.sentAtS}: ${fmt(x.latencyMs)}`).join(', '),
      `  phase c: RSS after start ${mib(rssAtStart)}; peak by phase: warm-up ${mib(rssAfterWarmup)}, a ${mib(rssA)}, b ${mib(rssB)}; VmHWM ${mib(hwm)}; shutdown ${fmt(stopMs)} ms`,
      `  phase d: ${raw.rows} rows (${mib(raw.bytes)} JSON, ${fmt(raw.bytes / raw.rows)} B/row) in ${raw.batches} inserts, ` +
        `median ${fmt(raw.batchMsMedian)} ms per insert; into a Null table (parse only) ${fmt(raw.nullEngineRowsPerSecond)} rows/s`,
      ...scalingLines(o, scaling),
      ...stageLines(o, stages),
      '',
      `  results: ${join('bench/out', 'results.json')}   total ${fmt(results.totalSeconds)} s`,
    ];
    if (otherCores > 0.25) {
      out.push(
        '',
        `  NOTE: other processes used ${fmt(otherCores, 2)} of ${results.cpus} cores during phase a (load average ${results.throughput.loadAverage}):`,
        '        the figures are lower than on an idle machine; the main-thread ceiling is the least affected one.',
      );
    }
    if (profile) out.push('', formatProfile(profile));
    console.log(out.join('\n'));
    if (scaling.some((r) => !r.storedAll)) say('phase e: not every event of a scaling run was stored within 60 s');
    if (!checkA.ok || !checkB.ok) {
      say('stored events do not match what was sent: the figures above are not trustworthy');
      exitCode = 1;
    }
    if (o.keep) say(`data directory kept: ${dataDir}`);
    return exitCode;
  } finally {
    sampler.stop();
    gen.stop();
    if (bridge.child.exitCode === null && bridge.child.signalCode === null) {
      bridge.child.kill('SIGKILL');
      await bridge.exited;
    }
    if (!o.keep) rmSync(dataDir, { recursive: true, force: true });
  }
}

/** Phase (e) as a table under the phase lines. */
function scalingLines(o: Options, runs: ScalingRun[]): string[] {
  if (runs.length === 0) return [];
  const head = ['intake workers', 'spans/s', 'main-thread ceiling', 'CPU µs/span, all threads', 'main thread', 'intake threads', 'bridge cores', 'other cores'];
  const rows = runs.map((r) => {
    const worker = r.bridgeCpuByThread.find((x) => x.thread === 'WorkerThread')?.microsPerSpan ?? 0;
    return [
      String(r.intakeWorkers),
      fmt(r.spansPerSecond),
      fmt(r.mainThreadCeilingSpansPerSecond),
      fmt(r.bridgeProcessCpuMicrosPerSpan),
      fmt(r.bridgeMainThreadCpuMicrosPerSpan),
      fmt(worker),
      fmt(r.bridgeCpuCores, 2),
      fmt(r.otherProcessesCpuCores, 2),
    ];
  });
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) => '    ' + r.map((c, i) => (i === 0 ? c.padEnd(w[i]) : c.padStart(w[i]))).join('  ');
  return [
    `  phase e: scaling — a fresh bridge per --intake-workers N, closed loop, ${o.concurrency} connections, ` +
      `${o.scalingDuration} s each after ${o.scalingWarmup} s warm-up (µs of CPU per span acked; cores of ${availableParallelism()})`,
    line(head),
    ...rows.map(line),
  ];
}

/** Phase (f) as one line: median µs per span per stage. */
function stageLines(o: Options, st: StagesResult | null): string[] {
  if (!st) return [];
  return [
    `  phase f: stage floor (bench/stages.ts, one thread, no sockets/log/ClickHouse, hash v${st.hashVersion}, ` +
      `median round of ${st.rounds.length} × ${fmt(st.rounds[0]?.spans ?? 0)} spans): ${fmt(st.medianMicrosPerSpan, 1)} µs/span — ` +
      Object.entries(st.medianStages)
        .map(([k, v]) => `${k} ${fmt(v, 1)}`)
        .join(' · '),
  ];
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    console.error(`[bench] failed: ${(err as Error).stack ?? err}`);
    process.exitCode = 1;
  },
);
