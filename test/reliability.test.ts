/**
 * Nothing lost, nothing duplicated, with the real bridge process:
 *  - kill -9 at random moments under sustained load from the official OTLP exporter, restarted
 *    on the same data directory each time: every acknowledged span is stored exactly once;
 *  - a ClickHouse outage (the embedded store's staging directory replaced by a file, so every
 *    insert fails for real): requests are still acknowledged from the write-ahead log, /readyz
 *    and the metrics say so, a full spool budget answers 503 + Retry-After, and once the store
 *    works again everything acknowledged is stored once, in chain order, also after a kill -9;
 *  - a full disk under the write-ahead log (a tiny tmpfs; skipped where mounting is not allowed):
 *    503 and an error, never a silent drop, and the log stays readable.
 * The long version of the crash test is `node bench/soak.ts`.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { eventually, flush, runCli, sql, startBridge, tempDir, type BridgeProcess } from './helpers/bridge-process.ts';
import { startCrashLoad } from './helpers/crash-load.ts';
import { encodeTraces, postOtlp, spanId, traceId, type SpanSpec } from './helpers/otlp.ts';


async function metric(b: BridgeProcess, name: string): Promise<number> {
  const text = await (await fetch(`${b.apiUrl}/metrics`)).text();
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : NaN;
}

/** span_id → number of stored rows, and the chain's shape. */
async function storedState(b: BridgeProcess): Promise<{ counts: Map<string, number>; rows: number; distinctEvents: number; maxSeq: number; minSeq: number }> {
  const counts = new Map<string, number>();
  for (const r of await sql<{ span_id: string; n: string }>(b.apiUrl, 'SELECT span_id, count() AS n FROM otel_audit.events GROUP BY span_id')) {
    counts.set(r.span_id, Number(r.n));
  }
  const [s] = await sql<{ rows: string; ev: string; mx: string; mn: string }>(
    b.apiUrl,
    "SELECT count() AS rows, uniqExact(event_id) AS ev, max(seq) AS mx, min(seq) AS mn FROM otel_audit.events WHERE chain_id = 'main-medium'",
  );
  return { counts, rows: Number(s.rows), distinctEvents: Number(s.ev), maxSeq: Number(s.mx), minSeq: Number(s.mn) };
}

async function expectVerified(b: BridgeProcess): Promise<void> {
  const v = await runCli(['verify', '--api-url', b.apiUrl]);
  expect(v.code, `otel-audit verify: ${v.stdout}\n${v.stderr}`).toBe(0);
}

/** `n` root tool-call spans in one request: decided at once. */
function roots(n: number, tag: string): SpanSpec[] {
  return Array.from({ length: n }, (_, i) => ({
    traceId: traceId(),
    spanId: spanId(),
    name: `execute_tool ${tag}_${i}`,
    attributes: { 'gen_ai.operation.name': 'execute_tool', 'gen_ai.tool.name': tag, 'audit.correlation_id': `${tag}-${i}`, 'padding.text': 'x'.repeat(200) },
  }));
}

describe('kill -9 under load', () => {
  it('10 kills (and 2 SIGTERMs) during sustained export by the official OTLP exporter: every acknowledged span stored exactly once', async () => {
    const dataDir = tempDir();
    let bridge = await startBridge({ dataDir });
    const port = new URL(bridge.otlpUrl).port;
    // The exporter keeps its endpoint: each restart listens on the same port.
    const args = ['--otlp-http', `127.0.0.1:${port}`];
    const load = startCrashLoad(bridge.otlpUrl, '4', '20');
    const acked = load.acked;
    const KILLS = 10;
    const ackedAtKills: number[] = [];
    const termCodes: Array<number | null> = [];
    try {
      for (let i = 0; i < KILLS + 2; i++) {
        // Let load flow (at least one more acknowledged export since the restart: on a busy
        // machine the exporter's backoff can outlast a fixed pause), then kill at a random
        // moment; twice, a SIGTERM under load instead (it must stop taking requests, store what
        // it acknowledged and exit 0).
        const before = acked.size;
        await eventually(async () => acked.size > before, 20_000, 'an acknowledged export after the restart');
        await sleep(200 + Math.random() * 600);
        ackedAtKills.push(acked.size);
        if (i === 4 || i === 9) {
          termCodes.push(await bridge.stop());
        } else {
          await bridge.kill();
          expect(bridge.child.signalCode).toBe('SIGKILL');
        }
        bridge = await startBridge({ dataDir, args });
      }
      await sleep(500);
    } finally {
      await load.stop();
    }
    const loadErr = load.stderr();
    const summary = load.summary();
    expect(loadErr).toBe('');
    // Acks kept coming between kills: the load really was sustained across restarts.
    expect(new Set(ackedAtKills).size).toBe(KILLS + 2);
    expect(termCodes).toEqual([0, 0]);
    try {
      await flush(bridge.apiUrl);
      const state = await storedState(bridge);
      const missing = [...acked].filter((id) => state.counts.get(id) !== 1);
      const duplicated = [...state.counts].filter(([, n]) => n > 1);
      console.log(
        `crash test: ${KILLS} kills + 2 SIGTERMs, ${summary.spans_sent} spans sent, ${acked.size} acknowledged, ` +
          `${state.rows} rows stored (${state.counts.size} distinct spans), ${duplicated.length} duplicated, ` +
          `${missing.length} acknowledged but not stored once; exporter: ${JSON.stringify(summary)}`,
      );
      expect(acked.size).toBeGreaterThan(500);
      expect(missing).toEqual([]);
      expect(duplicated).toEqual([]);
      expect(summary.spans_acked).toBe(acked.size);
      // The chain: one row per seq, no gaps.
      expect(state.distinctEvents).toBe(state.rows);
      expect([state.minSeq, state.maxSeq]).toEqual([1, state.rows]);
      expect(await metric(bridge, 'otel_audit_events_replayed_total')).toBeGreaterThanOrEqual(0);
      await expectVerified(bridge);
    } finally {
      expect(await bridge.stop()).toBe(0);
    }
  });
});

describe('ClickHouse outage (embedded store: every insert fails for real)', () => {
  it('acknowledges from the spool, says so in /readyz and /metrics, refuses past the budget, then drains in order, also after a kill -9', async () => {
    const dataDir = tempDir();
    const staging = join(dataDir, 'staging');
    const args = ['--spool-budget', '256KiB', '--spool-memory', '16KiB'];
    let bridge = await startBridge({ dataDir, args });
    const acked: string[] = [];
    const send = async (tag: string) => {
      const spans = roots(20, tag);
      const r = await postOtlp(bridge.otlpUrl, 'traces', encodeTraces(spans, 'protobuf'), { format: 'protobuf' });
      if (r.status === 200) acked.push(...spans.map((s) => s.spanId));
      return r;
    };
    const breakStore = () => {
      rmSync(staging, { recursive: true, force: true });
      writeFileSync(staging, 'not a directory'); // the staging write fails with ENOTDIR
    };
    const repairStore = () => {
      if (existsSync(staging) && !statSync(staging).isDirectory()) rmSync(staging);
      mkdirSync(staging, { recursive: true, mode: 0o700 });
    };
    try {
      expect((await send('OUT-BEFORE')).status).toBe(200);
      await flush(bridge.apiUrl);

      // Outage 1, live: acknowledged from the write-ahead log while inserts fail.
      breakStore();
      for (let i = 0; i < 3; i++) expect((await send(`OUT-A${i}`)).status).toBe(200);
      await eventually(async () => (await metric(bridge, 'otel_audit_insert_errors_total')) > 0, 10_000, 'insert errors in /metrics');
      const ready = await fetch(`${bridge.apiUrl}/readyz`);
      expect(ready.status).toBe(503);
      expect(((await ready.json()) as { reason: string }).reason).toMatch(/ClickHouse inserts failing: .*ENOTDIR/);
      expect(await metric(bridge, 'otel_audit_spooled_events')).toBeGreaterThan(0);
      expect(await metric(bridge, 'otel_audit_spooled_bytes')).toBeGreaterThan(0);
      expect((await fetch(`${bridge.apiUrl}/healthz`)).status).toBe(200); // alive, not ready

      // Fill the budget: 503 with Retry-After and a google.rpc.Status, never a 200 past it. The
      // log holds each request twice for a while (raw, then in its sealed batch); compaction may
      // then reclaim the raw copies and make room again, so fill until the refusals hold for
      // longer than a compaction takes to start (1 s) and nothing is left to reclaim.
      let refused: Awaited<ReturnType<typeof send>> | null = null;
      let fills = 0;
      let refusedSince = 0;
      for (let i = 0; i < 200 && !(refused && Date.now() - refusedSince > 2000); i++) {
        const r = await send(`OUT-FILL${i}`);
        if (r.status === 200) {
          fills++;
          refused = null;
        } else if (!refused) {
          refused = r;
          refusedSince = Date.now();
        } else {
          await sleep(200);
        }
      }
      expect(refused?.status).toBe(503);
      expect(refused!.headers.get('retry-after')).toBe('10');
      expect(refused!.body.length).toBeGreaterThan(0); // protobuf google.rpc.Status
      expect(await metric(bridge, 'otel_audit_spool_full')).toBe(1);
      expect(await metric(bridge, 'otel_audit_wal_bytes')).toBeGreaterThanOrEqual(256 * 1024);
      expect((await send('OUT-STILL-FULL')).status).toBe(503);
      const during = {
        acked_spans: acked.length,
        fill_requests_acked: fills,
        wal_bytes: await metric(bridge, 'otel_audit_wal_bytes'),
        spooled_events: await metric(bridge, 'otel_audit_spooled_events'),
        insert_errors: await metric(bridge, 'otel_audit_insert_errors_total'),
      };
      const t0 = Date.now();

      // ClickHouse is back: the bridge drains on its own and takes requests again.
      repairStore();
      await eventually(async () => (await fetch(`${bridge.apiUrl}/readyz`)).status === 200, 30_000, '/readyz 200 after the outage');
      // Ready once an insert succeeds again; the batches behind it drain one at a time after.
      await eventually(async () => (await metric(bridge, 'otel_audit_spooled_events')) === 0, 30_000, 'the spool drained after the outage');
      const drainMs = Date.now() - t0;
      await eventually(async () => (await send('OUT-AFTER')).status === 200, 10_000, 'a 200 after the drain');
      console.log(`outage: during ${JSON.stringify(during)}; drained and ready ${drainMs} ms after the store came back`);

      // Outage 2, then kill -9 while the spool holds unstored batches; the restart drains them.
      // First the log sheds the stored batches (compaction), else it may still be over budget.
      await eventually(async () => (await metric(bridge, 'otel_audit_wal_bytes')) < 256 * 1024, 15_000, 'the log compacted below its budget');
      breakStore();
      // Near its budget, a 503 until the next compaction is right: retry as an exporter would.
      for (let i = 0; i < 3; i++) await eventually(async () => (await send(`OUT-B${i}`)).status === 200, 30_000, `OUT-B${i} acknowledged`);
      await eventually(async () => (await metric(bridge, 'otel_audit_spooled_events')) > 0, 10_000, 'spooled events');
      // Chained batches are framed on a worker and then logged: kill once they are in the log.
      await eventually(async () => (await metric(bridge, 'otel_audit_spool_unlogged_batches')) === 0, 10_000, 'chained batches in the log');
      await bridge.kill();
      repairStore();
      bridge = await startBridge({ dataDir, args });
      expect(bridge.log()).toMatch(/"unstored_batches":[1-9]/);
      await flush(bridge.apiUrl);

      const state = await storedState(bridge);
      console.log(`outage: ${acked.length} spans acknowledged in all, ${state.rows} rows stored, chain seq ${state.minSeq}..${state.maxSeq}`);
      expect([...acked].filter((id) => state.counts.get(id) !== 1)).toEqual([]);
      expect([...state.counts.values()].filter((n) => n > 1)).toEqual([]);
      expect(state.rows).toBe(state.counts.size);
      expect([state.minSeq, state.maxSeq]).toEqual([1, state.rows]);
      await expectVerified(bridge);
    } finally {
      repairStore();
      expect(await bridge.stop()).toBe(0);
    }
  });
});

/** Root may mount a tmpfs here; elsewhere the disk-full test is skipped. */
function canMount(): boolean {
  if (process.platform !== 'linux' || process.getuid?.() !== 0) return false;
  const dir = tempDir('otel-audit-mount-');
  const ok = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', dir]).status === 0;
  if (ok) spawnSync('umount', [dir]);
  return ok;
}

describe('disk full under the write-ahead log', () => {
  it.skipIf(!canMount())('ENOSPC answers 503 and logs an error, never a silent drop; once there is room, everything acknowledged is stored once', async () => {
    const dataDir = tempDir();
    const walDir = join(dataDir, 'wal');
    mkdirSync(walDir);
    expect(spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', walDir]).status).toBe(0);
    let bridge: BridgeProcess | null = null;
    try {
      bridge = await startBridge({ dataDir });
      const acked: string[] = [];
      const statuses: number[] = [];
      for (let i = 0; i < 80 && !statuses.includes(503); i++) {
        const spans = roots(20, `DISK-${i}`);
        const r = await postOtlp(bridge.otlpUrl, 'traces', encodeTraces(spans, 'json'));
        statuses.push(r.status);
        if (r.status === 200) acked.push(...spans.map((s) => s.spanId));
        else expect(JSON.parse(r.body.toString()).message).toMatch(/write-ahead log|ENOSPC|no space/i);
      }
      expect(statuses).toContain(503);
      expect(acked.length).toBeGreaterThan(0);
      expect(await metric(bridge, 'otel_audit_wal_write_errors_total')).toBeGreaterThan(0);
      expect(bridge.log()).toMatch(/"level":"error","msg":"write-ahead log write failed/);

      // Room again: requests are taken, and the log (cut back after the failed write) replays cleanly.
      expect(spawnSync('mount', ['-o', 'remount,size=16m', walDir]).status).toBe(0);
      await sleep(1100);
      const later = roots(20, 'DISK-LATER');
      const r = await postOtlp(bridge.otlpUrl, 'traces', encodeTraces(later, 'json'));
      expect(r.status).toBe(200);
      acked.push(...later.map((s) => s.spanId));
      await bridge.kill();
      bridge = await startBridge({ dataDir });
      await flush(bridge.apiUrl);
      const state = await storedState(bridge);
      expect(acked.filter((id) => state.counts.get(id) !== 1)).toEqual([]);
      expect([...state.counts.values()].filter((n) => n > 1)).toEqual([]);
      expect([state.minSeq, state.maxSeq]).toEqual([1, state.rows]);
      await expectVerified(bridge);
      expect(await bridge.stop()).toBe(0);
      bridge = null;
    } finally {
      if (bridge) await bridge.kill();
      spawnSync('umount', ['-l', walDir]);
    }
  });
});
