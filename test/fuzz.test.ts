/**
 * Hostile input through the real OTLP/HTTP receiver (keep-alive, 8 at a time): a few thousand
 * malformed requests (test/helpers/fuzz-payloads.ts). Every answer is 200, 400, 413 or 415,
 * with a google.rpc.Status for the 4xx; the bridge stays up with bounded memory; good requests
 * sent in between are stored; truncation by the configured limits shows in the stored row's
 * `truncated` column. The longer run is `node bench/fuzz.ts`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { flush, sql, startBridge, type BridgeProcess } from './helpers/bridge-process.ts';
import { runFuzz, type FuzzStats } from './helpers/fuzz-payloads.ts';
import { encodeTraces, postOtlp, spanId, traceId } from './helpers/otlp.ts';

// Two intake workers: hostile input is decoded off the main thread, dealt across workers.
const LIMITS = ['--max-body', '16MiB', '--max-in-flight-bytes', '512MiB', '--max-attributes', '200', '--max-attribute-length', '1000', '--max-depth', '8', '--intake-workers', '2'];

let bridge: BridgeProcess;
let stats: FuzzStats;

beforeAll(async () => {
  bridge = await startBridge({ args: LIMITS });
});
afterAll(async () => {
  expect(await bridge?.stop()).toBe(0);
});

describe('fuzzing the OTLP/HTTP receiver', () => {
  it('3000 malformed requests: only 200/400/413/415 with a google.rpc.Status, bridge up, RSS bounded, good requests stored', async () => {
    const rssStart = (await (await fetch(`${bridge.apiUrl}/metrics`)).text()).match(/process_resident_memory_bytes (\d+)/)?.[1];
    stats = await runFuzz({ otlpUrl: bridge.otlpUrl, pid: bridge.child.pid!, count: 3000, concurrency: 8, seed: 20260501, goodEvery: 100, bigEvery: 200 });
    console.log(
      `fuzz: ${stats.sent} requests in ${stats.ms} ms, statuses ${JSON.stringify(stats.byStatus)}, ` +
        `peak RSS ${Math.round(stats.peakRssBytes / 2 ** 20)} MiB (start ${Math.round(Number(rssStart ?? 0) / 2 ** 20)} MiB), ` +
        `kinds ${JSON.stringify(stats.byKind)}`,
    );
    expect(stats.violations).toEqual([]);
    expect(stats.goodFailed).toEqual([]);
    expect(bridge.child.exitCode).toBeNull();
    expect((await fetch(`${bridge.apiUrl}/healthz`)).status).toBe(200);
    // Every kind of input answered something other than 200 at least once (the fuzzer reaches the error paths)...
    expect(stats.byStatus['400']).toBeGreaterThan(300);
    expect(stats.byStatus['415']).toBeGreaterThan(50);
    expect(stats.byStatus['413']).toBeGreaterThanOrEqual(2);
    // ... and many mutated requests were still accepted (partial success or full).
    expect(stats.byStatus['200']).toBeGreaterThan(300);
    // Memory: 10 MiB strings and 100k-attribute requests, 8 at a time, stay far from a leak.
    expect(stats.peakRssBytes).toBeLessThan(1024 * 1024 * 1024);
    expect(bridge.log()).not.toContain('unexpected error in the OTLP/HTTP receiver');

    await flush(bridge.apiUrl);
    const ids = stats.goodSent.map((s) => `'${s}'`).join(',');
    const rows = await sql<{ span_id: string; n: string }>(bridge.apiUrl, `SELECT span_id, count() AS n FROM otel_audit.events WHERE span_id IN (${ids}) GROUP BY span_id`);
    expect(rows.length).toBe(stats.goodSent.length);
    expect(rows.every((r) => r.n === '1')).toBe(true);
  });

  it('attributes cut by --max-attribute-length / --max-attributes are named in the stored row\'s truncated column', async () => {
    const t = traceId();
    const s = spanId();
    const many: Record<string, string> = {};
    for (let i = 0; i < 300; i++) many[`extra.${String(i).padStart(3, '0')}`] = 'v';
    const body = encodeTraces(
      [
        {
          traceId: t,
          spanId: s,
          name: 'execute_tool long',
          attributes: { 'gen_ai.tool.name': 'long', 'audit.correlation_id': 'FUZZ-TRUNC', 'long.value': 'q'.repeat(5000), ...many },
        },
      ],
      'protobuf',
    );
    const r = await postOtlp(bridge.otlpUrl, 'traces', body, { format: 'protobuf' });
    expect(r.status).toBe(200);
    await flush(bridge.apiUrl);
    const [row] = await sql<{ truncated: string[]; attributes: Record<string, string> }>(
      bridge.apiUrl,
      `SELECT truncated, attributes FROM otel_audit.events WHERE span_id = '${s}'`,
    );
    expect(row.truncated).toContain('long.value');
    expect(row.truncated.some((x) => /^attributes\(\+\d+ dropped\)$/.test(x))).toBe(true);
    const kept = row.attributes['long.value'];
    if (kept !== undefined) expect(kept.length).toBeLessThanOrEqual(1000);
  });
});
