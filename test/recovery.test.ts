/**
 * Durability basics with the real bridge process: what was acknowledged survives a kill -9
 * (from the write-ahead log) and a SIGTERM (drained at shutdown), exactly once, and the hash
 * chain continues across restarts.
 */
import { describe, expect, it } from 'vitest';
import { eventually, flush, sql, startBridge, tempDir, type BridgeProcess } from './helpers/bridge-process.ts';
import { sendSpans, spanId, traceId, type SpanSpec } from './helpers/otlp.ts';
import { Store } from '../packages/bridge/src/store/index.ts';

const ARGS = ['--decision-wait', '60s'];

interface Row {
  event_id: string;
  span_id: string;
  trace_id: string;
  correlation_id: string;
  event_type: string;
  seq: string;
  prev_hash: string;
  hash: string;
  chain_id: string;
}

const all = (b: BridgeProcess) => sql<Row>(b.apiUrl, 'SELECT event_id, span_id, trace_id, correlation_id, event_type, seq, prev_hash, hash, chain_id FROM otel_audit.events ORDER BY seq');

/** Tool calls whose parent (the trace root) never arrives: they wait for the decision window. */
function orphans(n: number): SpanSpec[] {
  const t = traceId();
  const root = spanId();
  return Array.from({ length: n }, (_, i) => ({
    traceId: t,
    spanId: spanId(),
    parentSpanId: root,
    name: `execute_tool step_${i}`,
    attributes: { 'gen_ai.operation.name': 'execute_tool', 'gen_ai.tool.name': `step_${i}` },
  }));
}

/** A complete activity (root included): decided and stored at once. */
function complete(caseId: string): SpanSpec[] {
  const t = traceId();
  const root = spanId();
  return [
    { traceId: t, spanId: spanId(), parentSpanId: root, name: 'execute_tool refund', attributes: { 'gen_ai.tool.name': 'refund', 'gen_ai.operation.name': 'execute_tool' } },
    { traceId: t, spanId: root, name: 'POST /support', kind: 1, attributes: { 'audit.correlation_id': caseId, 'audit.actor.id': 'agent-1' } },
  ];
}

function expectExactly(rows: Row[], spans: SpanSpec[]): void {
  const ids = rows.map((r) => r.span_id).sort();
  expect(ids).toEqual(spans.map((s) => s.spanId).sort());
  expect(new Set(rows.map((r) => r.event_id)).size).toBe(rows.length);
}

/** Every event links to the one before it: seq 1..n without gaps, prev_hash = previous hash. */
function expectUnbrokenChain(rows: Row[]): void {
  rows.forEach((r, i) => {
    expect(Number(r.seq)).toBe(i + 1);
    expect(r.hash).toMatch(/^[0-9a-f]{64}$/);
    if (i > 0) expect(r.prev_hash, `prev_hash of seq ${r.seq}`).toBe(rows[i - 1].hash);
  });
}

describe('recovery', () => {
  it('kill -9 after the ack: events that were only in the write-ahead log are stored once after a restart', async () => {
    const dataDir = tempDir();
    let bridge = await startBridge({ dataDir, args: ARGS });
    const stored = complete('REC-KILL');
    const waiting = orphans(3);
    try {
      await sendSpans(bridge.otlpUrl, stored);
      // The complete activity reaches ClickHouse on its own...
      await eventually(async () => (await all(bridge)).length === 2, 10_000, 'the complete activity to be stored');
      await sendSpans(bridge.otlpUrl, waiting);
      // ...the orphans wait for their root (60 s): acknowledged, in the log, not yet stored.
      const info = (await (await fetch(`${bridge.apiUrl}/api/v1/info`)).json()) as { pending_events: number };
      expect(info.pending_events).toBe(3);
      expect(await all(bridge)).toHaveLength(2);
    } finally {
      await bridge.kill();
    }
    expect(bridge.child.signalCode).toBe('SIGKILL');

    bridge = await startBridge({ dataDir, args: ARGS });
    try {
      expect(bridge.log()).toContain('recovered from the write-ahead log');
      await flush(bridge.apiUrl);
      const rows = await all(bridge);
      expectExactly(rows, [...stored, ...waiting]);
      const orphanRows = rows.filter((r) => waiting.some((s) => s.spanId === r.span_id));
      // No ancestor ever said otherwise: the trace id is the correlation id.
      for (const r of orphanRows) expect(r.correlation_id).toBe(waiting[0].traceId);
      expectUnbrokenChain(rows);
      const metrics = await (await fetch(`${bridge.apiUrl}/metrics`)).text();
      expect(Number(/otel_audit_events_replayed_total (\d+)/.exec(metrics)?.[1])).toBeGreaterThanOrEqual(3);
    } finally {
      // Killed again: the next start must not replay what is already stored.
      await bridge.kill();
    }

    bridge = await startBridge({ dataDir, args: ARGS });
    try {
      await flush(bridge.apiUrl);
      expectExactly(await all(bridge), [...stored, ...waiting]);
    } finally {
      expect(await bridge.stop()).toBe(0);
    }
  });

  it('kill -9 right after a flush, repeatedly: a replayed batch ClickHouse already has is not stored twice', async () => {
    // The "stored" mark follows the insert asynchronously: a kill may lose it, and the restart
    // then re-inserts the batch with its original token, which ClickHouse must recognize.
    const dataDir = tempDir();
    const sent: SpanSpec[] = [];
    for (let i = 0; i < 3; i++) {
      const bridge = await startBridge({ dataDir });
      try {
        expectExactly(await all(bridge), sent);
        const spans = complete(`REC-REPLAY-${i}`);
        await sendSpans(bridge.otlpUrl, spans);
        sent.push(...spans);
        await flush(bridge.apiUrl);
      } finally {
        await bridge.kill();
      }
    }
    const bridge = await startBridge({ dataDir });
    try {
      await flush(bridge.apiUrl);
      const rows = await all(bridge);
      expectExactly(rows, sent);
      expectUnbrokenChain(rows);
    } finally {
      expect(await bridge.stop()).toBe(0);
    }
  });

  it('SIGTERM exits 0 and stores everything acknowledged, pending events included', async () => {
    const dataDir = tempDir();
    let bridge = await startBridge({ dataDir, args: ARGS });
    const spans = [...complete('REC-TERM'), ...orphans(4), ...orphans(2)];
    // Several concurrent requests, then SIGTERM right after the last ack.
    await Promise.all([spans.slice(0, 2), spans.slice(2, 6), spans.slice(6)].map((part) => sendSpans(bridge.otlpUrl, part)));
    const code = await bridge.stop();
    expect(code).toBe(0);
    expect(bridge.log()).toContain('otel-audit bridge stopped');

    bridge = await startBridge({ dataDir, args: ARGS });
    try {
      // Stored at shutdown, before any flush of the new process.
      expectExactly(await all(bridge), spans);
      await flush(bridge.apiUrl);
      const rows = await all(bridge);
      expectExactly(rows, spans);
      expectUnbrokenChain(rows);
    } finally {
      expect(await bridge.stop()).toBe(0);
    }
  });

  it('new events on the seqs of deleted rows are stored, not dropped as a replay of the deleted batch', async () => {
    // The insert dedup token identifies a batch by its content (its last hash), not by its seq
    // range: otherwise ClickHouse drops the new batch, and the bridge counts it as stored.
    const dataDir = tempDir();
    let bridge = await startBridge({ dataDir });
    const kept = complete('REC-DELETED-1');
    const deleted = complete('REC-DELETED-2');
    try {
      for (const spans of [kept, deleted]) {
        await sendSpans(bridge.otlpUrl, spans);
        await flush(bridge.apiUrl);
      }
      expect((await all(bridge)).map((r) => Number(r.seq))).toEqual([1, 2, 3, 4]);
    } finally {
      expect(await bridge.stop()).toBe(0);
    }
    // A restart compacts the write-ahead log: the requests are no longer there to be replayed.
    bridge = await startBridge({ dataDir });
    expect(await bridge.stop()).toBe(0);

    // Someone with access to the disk deletes the newest rows while the bridge is down.
    const store = await Store.open({ dataDir, database: 'otel_audit' });
    try {
      await store.command('ALTER TABLE otel_audit.events DELETE WHERE seq > 2 SETTINGS mutations_sync = 1');
      expect(await store.rows('SELECT seq FROM otel_audit.events ORDER BY seq')).toEqual([{ seq: '1' }, { seq: '2' }]);
    } finally {
      await store.close();
    }

    bridge = await startBridge({ dataDir });
    try {
      const fresh = complete('REC-DELETED-3');
      await sendSpans(bridge.otlpUrl, fresh);
      await flush(bridge.apiUrl);
      const rows = await all(bridge);
      // The same seqs (3, 4) as the deleted batch, other events: stored.
      expectExactly(rows, [...kept, ...fresh]);
      expectUnbrokenChain(rows);
    } finally {
      expect(await bridge.stop()).toBe(0);
    }
  });

  it('after a clean restart the chain continues from the stored head', async () => {
    const dataDir = tempDir();
    let bridge = await startBridge({ dataDir });
    const first = [...complete('REC-CHAIN-1'), ...complete('REC-CHAIN-2')];
    await sendSpans(bridge.otlpUrl, first);
    await flush(bridge.apiUrl);
    const before = await all(bridge);
    expect(before).toHaveLength(4);
    expect(await bridge.stop()).toBe(0);

    bridge = await startBridge({ dataDir });
    try {
      const info = (await (await fetch(`${bridge.apiUrl}/api/v1/info`)).json()) as { chain: Record<string, { seq: number; hash: string }> };
      // No audit.risk on these spans: default risk medium, so everything is in the medium chain.
      expect(info.chain['main-medium']).toEqual({ seq: 4, hash: before[3].hash });
      expect(info.chain['main-low'].seq).toBe(0);
      expect(info.chain['main-high'].seq).toBe(0);
      const second = complete('REC-CHAIN-3');
      await sendSpans(bridge.otlpUrl, second);
      await flush(bridge.apiUrl);
      const after = await all(bridge);
      expect(after).toHaveLength(6);
      expect(after.slice(0, 4)).toEqual(before);
      const fresh = after.slice(4);
      expect(fresh.map((r) => r.span_id).sort()).toEqual(second.map((s) => s.spanId).sort());
      expect(Number(fresh[0].seq)).toBe(Number(before[3].seq) + 1);
      expect(fresh[0].prev_hash).toBe(before[3].hash);
      expect(new Set(after.map((r) => r.chain_id))).toEqual(new Set(['main-medium']));
      expectUnbrokenChain(after);
    } finally {
      expect(await bridge.stop()).toBe(0);
    }
  });
});
