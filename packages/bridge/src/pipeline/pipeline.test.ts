/**
 * The pipeline against a real chDB store, real intake workers and a real write-ahead log:
 * content sealed on the workers (finalize leaves it in `contentToSeal`), and decided events
 * that a compaction's snapshot caught before they were chained are chained after a restart.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventHash, GENESIS_HASH } from '../chain/index.ts';
import { Correlator, type PendingEvent } from '../correlate/index.ts';
import { runIntake } from '../intake/index.ts';
import { Metrics, silentLogger } from '../internal/index.ts';
import { openPrivacy, openSealedContent, type PrivacyFilter, type SealedRow } from '../policy/index.ts';
import { encodeRecord, WriteAheadLog } from '../spool/index.ts';
import { Store } from '../store/index.ts';
import { AuditPipeline, DEFAULT_PIPELINE_CONFIG } from './index.ts';
import { chainBreaks, modelCalls } from './testdata/requests.ts';
import { openTempStore, type TempStore } from '../store/testdata/index.ts';

let temp: TempStore;
let dataDir: string;
let store: Store;
let privacy: PrivacyFilter;
beforeAll(async () => {
  temp = await openTempStore('pipeline-test-');
  ({ dataDir, store } = temp);
  privacy = await openPrivacy({ dataDir }, store, silentLogger);
});
afterAll(() => temp?.remove());

const attr = (key: string, value: string) => ({ key, value: { stringValue: value } });

/** An OTLP/JSON request with high-risk model calls (one by default) whose input holds an email address. */
const modelCall = (caseId: string, spans = 1, padding = ''): Buffer => modelCalls({ caseId, spans, padding });

/** The request's events, decided by a correlator that leaves sealing for later (as the pipeline's does). */
function decided(caseId: string): PendingEvent[] {
  const now = Date.now();
  const r = runIntake({ raw: { signal: 'traces', encoding: 'json', body: modelCall(caseId) }, defaultRisk: 'medium', now, ingestTime: '2026-12-07 00:00:00.000000000' }, privacy);
  if (r.signal !== 'traces') throw new Error('expected traces');
  const c = new Correlator<PendingEvent>({}, { finalizer: privacy, deferSealing: true });
  for (const ev of r.intake.events) c.addSpan(ev.node, ev, now);
  return c.drain(now);
}

async function storedRows(caseId: string): Promise<Array<SealedRow & { content: string; seq: string }>> {
  return store.rows(
    `SELECT event_id, tenant, risk, on_behalf_of, actor_id, correlation_id, content_sealed, content, seq FROM otel_audit.events WHERE correlation_id = {c:String}`,
    { c: caseId },
  );
}

/** A chain's high-risk rows in seq order. */
const highChain = (chainId: string) =>
  store.rows<Record<string, unknown>>(`SELECT * FROM otel_audit.events WHERE chain_id = {c:String} ORDER BY seq`, { c: `${chainId}-high` });

/**
 * A "crash" of a pipeline in this process: it is left as it is (nothing flushed, closed or
 * compacted), and only its intake workers are stopped; a new pipeline then opens its log.
 */
const crash = (p: AuditPipeline) => (p as unknown as { pool: { close(): Promise<void> } }).pool.close();

describe('AuditPipeline', () => {
  it('finalize with deferred sealing leaves the raw content to seal, and nothing sealed yet', () => {
    const [p] = decided('CASE-DEFER');
    expect(p.contentToSeal).toContain('jane.doe@example.com');
    expect(p.event.content).not.toContain('jane.doe@example.com');
    expect((p.event as { content_sealed?: string }).content_sealed).toBeUndefined();
  });

  it('intake leaves each event\'s attributes in key order (the row\'s order: the main thread need not sort them)', () => {
    const body = JSON.parse(modelCall('CASE-ORDER').toString());
    body.resourceSpans[0].resource.attributes.push(attr('zone', 'eu'), attr('app.build', '7'));
    body.resourceSpans[0].scopeSpans[0].spans[0].attributes.push(attr('zeta', 'z'), attr('alpha', 'a'), attr('mid.key', 'm'));
    const r = runIntake({ raw: { signal: 'traces', encoding: 'json', body: Buffer.from(JSON.stringify(body)) }, defaultRisk: 'medium', now: Date.now(), ingestTime: '2026-12-07 00:00:00.000000000' }, privacy);
    if (r.signal !== 'traces') throw new Error('expected traces');
    const keys = Object.keys(r.intake.events[0].event.attributes);
    expect(keys).toEqual(expect.arrayContaining(['alpha', 'mid.key', 'zeta', 'resource.zone', 'resource.app.build']));
    expect(keys).toEqual([...keys].sort());
  });

  for (const intakeWorkers of [1, 0]) {
    it(`chains the decided events of a snapshot after a restart, their content sealed (${intakeWorkers ? 'on a worker' : 'on the main thread'})`, async () => {
      const caseId = `CASE-SNAPSHOT-${intakeWorkers}`;
      const walKey = randomBytes(32);
      const dir = join(dataDir, `run-${intakeWorkers}`);
      // What a compaction writes while a round is being sealed: the round's events under `decided`.
      const { wal } = await WriteAheadLog.openForReplay({ dir: join(dir, 'wal'), segmentBytes: 1 << 20, fsync: true, key: walKey });
      await wal.append(encodeRecord({ t: 'snapshot', nodes: [], pending: [], content: [], decided: decided(caseId) }));
      await wal.close();

      const config = { ...DEFAULT_PIPELINE_CONFIG, dataDir: dir, chainId: `snap${intakeWorkers}`, walKey, intakeWorkers };
      const pipeline = await AuditPipeline.start(store, privacy, config, silentLogger, new Metrics());
      try {
        await pipeline.flush();
      } finally {
        await pipeline.close();
      }
      const rows = await storedRows(caseId);
      expect(rows).toHaveLength(1);
      expect(rows[0].seq).toBe('1');
      expect(rows[0].content).not.toContain('jane.doe@example.com');
      const opened = openSealedContent(privacy, rows[0]);
      expect(opened.status).toBe('ok');
      expect(JSON.stringify((opened as { content: unknown }).content)).toContain(`refund for jane.doe@example.com (${caseId})`);

      // A second restart finds nothing left to chain: the event is not stored twice.
      const again = await AuditPipeline.start(store, privacy, config, silentLogger, new Metrics());
      await again.flush();
      await again.close();
      expect(await storedRows(caseId)).toHaveLength(1);
    });
  }

  it('refuses requests (503 reason) while the write-ahead log has more than walQueueBytes waiting to be written, and takes them again once it is written', async () => {
    const caseId = 'CASE-WAL-QUEUE';
    const dir = join(dataDir, 'wal-queue');
    // Intake on this thread: ingest queues its log record before it returns.
    const config = { ...DEFAULT_PIPELINE_CONFIG, dataDir: dir, chainId: 'walqueue', walKey: randomBytes(32), intakeWorkers: 0, walQueueBytes: 1024 };
    const pipeline = await AuditPipeline.start(store, privacy, config, silentLogger, new Metrics());
    try {
      expect(pipeline.overloaded()).toBeNull();
      const durable = pipeline.ingest({ signal: 'traces', encoding: 'json', body: modelCall(caseId, 5) });
      const o = pipeline.overloaded();
      expect(o?.retryAfterSeconds).toBe(2);
      expect(o?.reason).toMatch(/^the write-ahead log is behind: [\d.]+ KiB wait to be written, more than 1\.0 KiB \(the disk is slower than the intake\); retry later$/);
      expect(pipeline.healthy.ok).toBe(false);
      await durable;
      expect(pipeline.overloaded()).toBeNull();
      await pipeline.flush();
    } finally {
      await pipeline.close();
    }
    expect(await storedRows(caseId)).toHaveLength(5);
  });

  it('a flush chains what it decides a batch at a time, each once the log has caught up: the log queue holds about one batch, not all of them', async () => {
    const chainId = 'slices';
    const dir = join(dataDir, 'slices');
    const metrics = new Metrics();
    // walQueueBytes 1: each batch waits until the log has written the ones before.
    const config = { ...DEFAULT_PIPELINE_CONFIG, dataDir: dir, chainId, walKey: randomBytes(32), intakeWorkers: 0, batchRows: 50, walQueueBytes: 1 };
    const pipeline = await AuditPipeline.start(store, privacy, config, silentLogger, metrics);
    let peak = 0;
    let sampling = true;
    try {
      // 600 events of about 3 KB that wait for their parents (the decision window is 10 s).
      for (let i = 0; i < 6; i++) await pipeline.ingest({ signal: 'traces', encoding: 'json', body: modelCalls({ caseId: (n) => `CASE-SLICE-${i}-${n}`, spans: 100, orphan: true, padding: ' lorem ipsum'.repeat(150) }) });
      const sampler = (async () => {
        while (sampling) {
          peak = Math.max(peak, metrics.snapshot().otel_audit_wal_queued_bytes);
          await new Promise((r) => setImmediate(r));
        }
      })();
      // A batch added while the spool's logging round was settling used to wait forever.
      let timer: NodeJS.Timeout | undefined;
      const flushed = await Promise.race([
        pipeline.flush().then(() => 'flushed'),
        new Promise<string>((resolve) => (timer = setTimeout(() => resolve('the flush did not finish in 20 s'), 20_000))),
      ]);
      clearTimeout(timer);
      expect(flushed).toBe('flushed');
      sampling = false;
      await sampler;
    } finally {
      sampling = false;
      await pipeline.close();
    }
    const rows = await highChain(chainId);
    expect(rows).toHaveLength(600);
    expect(chainBreaks(rows, GENESIS_HASH, eventHash)).toEqual([]);
    // One batch of rows is about 50 × 3 KB; all 600 at once would have been about 1.8 MB.
    expect(peak).toBeGreaterThan(50 * 2000);
    expect(peak).toBeLessThan(2 * 50 * 4000);
  });

  it('under compactions every few requests, stores every event once, chained in order, its content sealed', async () => {
    const chainId = 'compacting';
    const dir = join(dataDir, 'compacting');
    // A compaction is due each time 256 KiB were appended: about every second request here.
    const config = { ...DEFAULT_PIPELINE_CONFIG, dataDir: dir, chainId, walKey: randomBytes(32), intakeWorkers: 1, walSegmentBytes: 256 * 1024 };
    let pipeline = await AuditPipeline.start(store, privacy, config, silentLogger, new Metrics());
    try {
      for (let i = 0; i < 24; i++) {
        await pipeline.ingest({ signal: 'traces', encoding: 'json', body: modelCall(`CASE-COMPACT-${i}`, 40, ' lorem ipsum'.repeat(30)) });
        // Let ticks run (hold, rounds on the worker, compactions) between requests.
        if (i % 3 === 2) await new Promise((r) => setTimeout(r, 120));
      }
      await pipeline.flush();
    } finally {
      await pipeline.close();
    }
    const read = () =>
      highChain(chainId);
    const rows = await read();
    expect(rows).toHaveLength(960);
    expect(new Set(rows.map((r) => r.event_id)).size).toBe(960);
    expect(chainBreaks(rows, GENESIS_HASH, eventHash)).toEqual([]);
    for (const row of [rows[0], rows[479], rows[959]]) {
      const opened = openSealedContent(privacy, row as unknown as SealedRow);
      expect(opened.status).toBe('ok');
      expect(JSON.stringify((opened as { content: unknown }).content)).toContain(`refund for jane.doe@example.com (${String(row.correlation_id)})`);
    }
    // A restart replays the compacted log and finds nothing left to store.
    pipeline = await AuditPipeline.start(store, privacy, config, silentLogger, new Metrics());
    await pipeline.flush();
    await pipeline.close();
    expect(await read()).toHaveLength(960);
  });

  for (const intakeWorkers of [1, 0]) {
    it(`stores a batch whose rows span several row chunks, every hash the one its row has (${intakeWorkers ? 'shared chunks' : 'plain chunks'})`, async () => {
      const caseId = `CASE-CHUNKS-${intakeWorkers}`;
      const chainId = `chunks${intakeWorkers}`;
      const dir = join(dataDir, `chunks-${intakeWorkers}`);
      const config = { ...DEFAULT_PIPELINE_CONFIG, dataDir: dir, chainId, walKey: randomBytes(32), intakeWorkers };
      const pipeline = await AuditPipeline.start(store, privacy, config, silentLogger, new Metrics());
      try {
        // 300 events of about 5 KB: about 1.5 MB of rows in one batch, six 256 KiB chunks.
        await pipeline.ingest({ signal: 'traces', encoding: 'json', body: modelCall(caseId, 300, ' lorem ipsum'.repeat(250)) });
        await pipeline.flush();
      } finally {
        await pipeline.close();
      }
      const rows = await highChain(chainId);
      expect(rows).toHaveLength(300);
      expect(chainBreaks(rows, GENESIS_HASH, eventHash)).toEqual([]);
    });
  }

  it('events held on a worker that dies are made again from the write-ahead log and stored, their content sealed', async () => {
    const chainId = 'lost';
    const dir = join(dataDir, 'lost');
    const config = { ...DEFAULT_PIPELINE_CONFIG, dataDir: dir, chainId, walKey: randomBytes(32), intakeWorkers: 1 };
    const warned: Array<Record<string, unknown>> = [];
    const log = { ...silentLogger, warn: (_: string, f?: Record<string, unknown>) => void warned.push(f ?? {}) };
    const pipeline = await AuditPipeline.start(store, privacy, config, log, new Metrics());
    try {
      // 30 events that wait for their parents (the decision window is 10 s), held on the worker.
      await pipeline.ingest({ signal: 'traces', encoding: 'json', body: modelCalls({ caseId: (n) => `CASE-LOST-${n}`, spans: 30, orphan: true }) });
      // 20 that are decided at once, and 10 that arrive once the worker is gone.
      await pipeline.ingest({ signal: 'traces', encoding: 'json', body: modelCalls({ caseId: (n) => `CASE-LOST-B${n}`, spans: 20 }) });
      const pool = (pipeline as unknown as { pool: { slots: Array<{ worker: { terminate(): Promise<number> } }> } }).pool;
      await pool.slots[0].worker.terminate();
      await new Promise((r) => setTimeout(r, 50));
      await pipeline.ingest({ signal: 'traces', encoding: 'json', body: modelCalls({ caseId: (n) => `CASE-LOST-C${n}`, spans: 10 }) });
      await pipeline.flush();
    } finally {
      await pipeline.close();
    }
    const rows = await highChain(chainId);
    expect(rows).toHaveLength(60);
    expect(new Set(rows.map((r) => r.correlation_id)).size).toBe(60);
    // The waiting ones were made again here (the others may have been chained before the worker went).
    expect(warned.reduce((n, f) => n + Number(f.events ?? 0), 0)).toBeGreaterThanOrEqual(30);
    expect(warned.every((f) => f.missing === 0)).toBe(true);
    expect(chainBreaks(rows, GENESIS_HASH, eventHash)).toEqual([]);
    for (const row of rows) {
      expect(String(row.content)).not.toContain('jane.doe@example.com');
      const opened = openSealedContent(privacy, row as unknown as SealedRow);
      expect(opened.status).toBe('ok');
      expect(JSON.stringify((opened as { content: unknown }).content)).toContain(`refund for jane.doe@example.com (${String(row.correlation_id)})`);
    }
  });

  it('a compaction at the end of a replay keeps the events the replay decided at once: a crash right after it loses none', async () => {
    const chainId = 'replaycompact';
    const dir = join(dataDir, 'replay-compact');
    const walKey = randomBytes(32);
    // No tick: nothing is taken from the correlator or chained unless the code under test does it.
    const frozen = { ...DEFAULT_PIPELINE_CONFIG, dataDir: dir, chainId, walKey, intakeWorkers: 1, flushIntervalMs: 60_000 };
    // Run 1: three requests of model calls without parents, decided at once, acknowledged; then a "crash".
    const first = await AuditPipeline.start(store, privacy, frozen, silentLogger, new Metrics());
    for (let i = 0; i < 3; i++) await first.ingest({ signal: 'traces', encoding: 'json', body: modelCalls({ caseId: (n) => `CASE-RC-${i}-${n}`, spans: 10 }) });
    await crash(first);
    // Run 2 replays them, decides them at once and compacts the log (its requests go); "crash" again.
    const second = await AuditPipeline.start(store, privacy, frozen, silentLogger, new Metrics());
    await new Promise((r) => setTimeout(r, 500)); // the compaction's rotation
    await crash(second);
    // Run 3 must find them in the log.
    const third = await AuditPipeline.start(store, privacy, { ...frozen, flushIntervalMs: 100 }, silentLogger, new Metrics());
    try {
      await third.flush();
    } finally {
      await third.close();
    }
    const rows = await highChain(chainId);
    expect(rows).toHaveLength(30);
    expect(chainBreaks(rows, GENESIS_HASH, eventHash)).toEqual([]);
  });

  it('a replay skips events already stored: they are not decided again, nor carried by the next compaction', async () => {
    const chainId = 'replayskip';
    const dir = join(dataDir, 'replay-skip');
    const config = { ...DEFAULT_PIPELINE_CONFIG, dataDir: dir, chainId, walKey: randomBytes(32), intakeWorkers: 1 };
    const first = await AuditPipeline.start(store, privacy, config, silentLogger, new Metrics());
    await first.ingest({ signal: 'traces', encoding: 'json', body: modelCalls({ caseId: (n) => `CASE-SKIP-${n}`, spans: 20 }) });
    await first.flush();
    // A "crash" after they were stored: the log still holds their request.
    await crash(first);
    const metrics = new Metrics();
    const second = await AuditPipeline.start(store, privacy, config, silentLogger, metrics);
    try {
      expect(metrics.snapshot().otel_audit_events_replayed_total).toBe(0);
      expect(metrics.snapshot().otel_audit_events_pending).toBe(0);
      await second.flush();
    } finally {
      await second.close();
    }
    const rows = await highChain(chainId);
    expect(rows).toHaveLength(20);
  });
});
