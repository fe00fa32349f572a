/**
 * Bench: the evidence pack of one large case, through the real bridge and CLI.
 *
 *   node bench/evidence.ts [--events 50000] [--noise 50000] [--data-dir DIR]
 *
 * Sends `--events` spans of one case (tool calls of ~1.5 KB each) interleaved with `--noise`
 * spans of other cases (so the case's events are spread over a longer chain), over OTLP/HTTP
 * JSON; restarts the bridge on the same data directory (so its peak RSS is the pack's, not
 * the ingest's); then measures, each as one JSON line:
 *  - `evidence`: `otel-audit evidence CASE --out FILE` under /usr/bin/time -v (the CLI's peak
 *    RSS and wall time), the bridge's peak RSS (VmHWM) before and after, and the pack's size;
 *  - `verify-evidence`: `otel-audit verify-evidence FILE --public-key KEY` under /usr/bin/time -v.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { CLI, flush, startBridge, tempDir, type BridgeProcess } from '../test/helpers/bridge-process.ts';
import { sendSpans, spanId, traceId, type SpanSpec } from '../test/helpers/otlp.ts';

const { values } = parseArgs({ options: { events: { type: 'string', default: '50000' }, noise: { type: 'string', default: '50000' }, 'data-dir': { type: 'string' } } });
const EVENTS = Number(values.events);
const NOISE = Number(values.noise);
const CASE = 'CASE-BENCH-EVIDENCE';
const dataDir = values['data-dir'] ? resolve(values['data-dir']) : tempDir('bench-evidence-');
const PER_REQUEST = 1000;
const mb = (kb: number) => Math.round(kb / 1024);

function span(i: number, caseId: string): SpanSpec {
  return {
    traceId: traceId(),
    spanId: spanId(),
    name: 'execute_tool crm_update',
    startMs: Date.now() - 3_600_000 + i,
    attributes: {
      'gen_ai.operation.name': 'execute_tool',
      'gen_ai.tool.name': 'crm_update',
      'gen_ai.tool.call.id': `call_${i}`,
      'audit.correlation_id': caseId,
      'audit.actor.id': `agent-${i % 17}`,
      'audit.actor.type': 'agent',
      'audit.on_behalf_of': `user-${i % 101}`,
      'audit.tool.action': 'update',
      'audit.target.system': 'crm',
      'audit.target.id': `ACC-${i % 1000}`,
      'audit.permission': 'granted',
      'audit.purpose': 'update',
      'app.note': `step ${i}: ${'the assistant updated the customer record after checking the order history; '.repeat(8)}`,
    },
  };
}

function vmHwmKb(pid: number): number {
  return Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);
}

/** Runs the CLI under /usr/bin/time -v: its output, exit code, peak RSS (kB) and wall seconds. */
function timedWithStderr(args: string[]): { rssKb: number; seconds: number; stdout: string; stderr: string; code: number } {
  const r = spawnSync('/usr/bin/time', ['-v', process.execPath, CLI, ...args], { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  return { stdout: r.stdout, stderr: r.stderr, code: r.status ?? -1, ...timeFigures(r.stderr) };
}

function timeFigures(stderr: string): { rssKb: number; seconds: number } {
  const rss = Number(/Maximum resident set size \(kbytes\): (\d+)/.exec(stderr)?.[1] ?? NaN);
  const wall = /Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (?:(\d+):)?(\d+):([\d.]+)/.exec(stderr);
  const seconds = wall ? Number(wall[1] ?? 0) * 3600 + Number(wall[2]) * 60 + Number(wall[3]) : NaN;
  return { rssKb: rss, seconds };
}

let bridge: BridgeProcess = await startBridge({ dataDir, args: ['--checkpoint-every-events', '10000'] });
try {
  const t0 = Date.now();
  const total = EVENTS + NOISE;
  let batch: SpanSpec[] = [];
  for (let i = 0; i < total; i++) {
    // NOISE spans spread evenly among the case's.
    const noise = Math.floor(((i + 1) * NOISE) / total) > Math.floor((i * NOISE) / total);
    batch.push(span(i, noise ? `CASE-NOISE-${i % 977}` : CASE));
    if (batch.length === PER_REQUEST) {
      await sendSpans(bridge.otlpUrl, batch, { 'service.name': 'bench-evidence' });
      batch = [];
    }
  }
  if (batch.length) await sendSpans(bridge.otlpUrl, batch, { 'service.name': 'bench-evidence' });
  await flush(bridge.apiUrl);
  const counted = JSON.parse(execFileSync(process.execPath, [CLI, 'sql', `SELECT count() AS n, countIf(correlation_id = '${CASE}') AS c FROM otel_audit.events`, '--api-url', bridge.apiUrl, '--format', 'jsonl'], { encoding: 'utf8' }));
  process.stdout.write(JSON.stringify({ measure: 'ingest', events: Number(counted.n), case_events: Number(counted.c), seconds: (Date.now() - t0) / 1000 }) + '\n');
  expectEqual(Number(counted.c), EVENTS, 'case events stored');

  // A fresh bridge process: its peak RSS from here on is the pack's.
  await bridge.stop();
  bridge = await startBridge({ dataDir, args: ['--checkpoint-every-events', '10000'] });
  await new Promise((r) => setTimeout(r, 2000));
  const before = vmHwmKb(bridge.child.pid!);
  const rssBefore = Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${bridge.child.pid}/status`, 'utf8'))![1]);
  const file = join(dataDir, '..', `evidence-bench-${process.pid}.zip`);
  const ev = timedWithStderr(['evidence', CASE, '--out', file, '--api-url', bridge.apiUrl]);
  expectEqual(ev.code, 0, `evidence exit code (${ev.stderr.split('\n')[0]})`);
  const after = vmHwmKb(bridge.child.pid!);
  await new Promise((r) => setTimeout(r, 300)); // spawnSync held the event loop: let the bridge's log arrive
  process.stdout.write(
    JSON.stringify({
      measure: 'evidence',
      case_events: EVENTS,
      chain_events: EVENTS + NOISE,
      seconds: ev.seconds,
      pack_mib: Math.round((statSync(file).size / 1048576) * 10) / 10,
      cli_peak_rss_mb: mb(ev.rssKb),
      bridge_rss_before_mb: mb(rssBefore),
      bridge_peak_rss_before_mb: mb(before),
      bridge_peak_rss_after_mb: mb(after),
      bridge_gather_ms: JSON.parse(bridge.log().split('\n').find((l) => l.includes('"evidence pack gathered"')) ?? '{}').duration_ms,
    }) + '\n',
  );
  const keyFile = join(dataDir, '..', `evidence-bench-${process.pid}.pem`);
  writeFileSync(keyFile, execFileSync(process.execPath, [CLI, 'public-key', '--api-url', bridge.apiUrl], { encoding: 'utf8' }));
  await bridge.stop();
  const v = timedWithStderr(['verify-evidence', file, '--public-key', keyFile, '--format', 'json']);
  expectEqual(v.code, 0, 'verify-evidence exit code');
  process.stdout.write(JSON.stringify({ measure: 'verify-evidence', case_events: EVENTS, seconds: v.seconds, peak_rss_mb: mb(v.rssKb), ok: JSON.parse(v.stdout).ok }) + '\n');
} finally {
  if (bridge.child.exitCode === null) await bridge.stop();
}

function expectEqual(a: unknown, b: unknown, what: string): void {
  if (a !== b) throw new Error(`${what}: ${String(a)}, expected ${String(b)}`);
}
