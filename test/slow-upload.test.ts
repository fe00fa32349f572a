/**
 * Slow uploads against the real bridge (issue 11, item 6): clients that announce a body and send
 * a byte now and then must not shut out the others. A request takes a place among
 * --max-in-flight only once its body is complete; a body that comes slower than
 * --min-body-rate is cut with 408 once it has taken longer than --client-timeout + bytes sent /
 * rate, whatever size it announced; headers after --client-timeout; one address may hold --max-connections-per-client connections, the next
 * ones are answered 429 and closed. The attack comes from other loopback addresses
 * (127.0.0.2 …), which Linux routes to the bridge on 127.0.0.1.
 */
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { flush, runCli, sql, startBridge, tempDir, type BridgeProcess } from './helpers/bridge-process.ts';
import { encodeTraces, postOtlp, spanId, traceId } from './helpers/otlp.ts';

/** Short limits so that the test takes seconds (set by environment: the flags' variables). */
const CLIENT_TIMEOUT_MS = 4000;
const MIN_BODY_RATE = 64 * 1024;
const PER_CLIENT = 32;

let bridge: BridgeProcess;

beforeAll(async () => {
  bridge = await startBridge({
    env: {
      OTEL_AUDIT_CLIENT_TIMEOUT: `${CLIENT_TIMEOUT_MS}ms`,
      OTEL_AUDIT_MIN_BODY_RATE: String(MIN_BODY_RATE),
      OTEL_AUDIT_MAX_CONNECTIONS_PER_CLIENT: String(PER_CLIENT),
      OTEL_AUDIT_MAX_IN_FLIGHT: '64',
    },
  });
});
afterAll(async () => {
  expect(await bridge?.stop()).toBe(0);
});

interface SlowClient {
  socket: Socket;
  /** What the bridge answered (the start of it), and when (ms after the headers were sent). */
  answer: () => { text: string; ms: number } | null;
  closedAt: () => number | null;
  stop(): void;
}

/**
 * A client that sends `head` at once and then one byte of the body every `everyMs` (a slow
 * loris), from `localAddress`.
 */
async function slowClient(localAddress: string, head: string, everyMs = 1000, trickle = 'x'): Promise<SlowClient> {
  const url = new URL(bridge.otlpUrl);
  const socket = connect({ host: url.hostname, port: Number(url.port), localAddress });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  socket.on('error', () => {});
  const t0 = Date.now();
  let text = '';
  let answeredAt: number | null = null;
  let closedAt: number | null = null;
  socket.on('data', (d: Buffer) => {
    answeredAt ??= Date.now() - t0;
    text += d.toString('latin1');
  });
  socket.once('close', () => (closedAt = Date.now() - t0));
  socket.write(head);
  const timer = setInterval(() => {
    if (!socket.destroyed && socket.writable) socket.write(trickle);
  }, everyMs);
  socket.once('close', () => clearInterval(timer));
  return {
    socket,
    answer: () => (answeredAt === null ? null : { text, ms: answeredAt }),
    closedAt: () => closedAt,
    stop() {
      clearInterval(timer);
      socket.destroy();
    },
  };
}

const HEAD = 'POST /v1/traces HTTP/1.1\r\nHost: bridge\r\nContent-Type: application/x-protobuf\r\nContent-Length: 100000\r\n\r\n';
const statusOf = (c: SlowClient) => Number(/^HTTP\/1\.1 (\d{3})/.exec(c.answer()?.text ?? '')?.[1] ?? 0);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function legitimate(caseId: string, n: number): Promise<number[]> {
  return Promise.all(
    Array.from({ length: n }, async (_, i) => {
      const t = traceId();
      const spans = [{ traceId: t, spanId: spanId(), name: 'execute_tool refund', attributes: { 'audit.correlation_id': caseId, 'gen_ai.tool.name': `refund-${i}` } }];
      return (await postOtlp(bridge.otlpUrl, 'traces', encodeTraces(spans, 'protobuf'), { format: 'protobuf' })).status;
    }),
  );
}

async function gauge(name: string): Promise<number> {
  const text = await (await fetch(`${bridge.apiUrl}/metrics`)).text();
  return Number(new RegExp(`^${name} (\\d+)`, 'm').exec(text)?.[1]);
}

describe('slow uploads', () => {
  it('64 slow uploads from 8 addresses do not shut out other clients, and are cut with 408 in time', async () => {
    const attackers: SlowClient[] = [];
    const others: SlowClient[] = [];
    // Warm up (the intake workers' first request), so that the requests below are quick to answer.
    expect(await legitimate('SLOW-WARM-UP', 2)).toEqual([200, 200]);
    try {
      for (let a = 2; a <= 9; a++) {
        for (let i = 0; i < 8; i++) attackers.push(await slowClient(`127.0.0.${a}`, HEAD));
      }
      // A slow chunked body, one announcing 60 MB, and slow headers, beside them.
      const chunked = await slowClient('127.0.0.9', 'POST /v1/traces HTTP/1.1\r\nHost: bridge\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n', 1000, '1\r\n \r\n');
      const big = await slowClient('127.0.0.7', HEAD.replace('100000', '60000000'));
      const headers = await slowClient('127.0.0.8', 'POST /v1/traces HTTP/1.1\r\nHost: bridge\r\n', 1000, 'X-A: b\r\n');
      others.push(chunked, big, headers);
      await sleep(300);

      // While all of them are open, unanswered: every legitimate request is stored.
      const rounds: number[] = [];
      for (let round = 0; round < 3; round++) rounds.push(...(await legitimate('SLOW-LEGIT', 10)));
      expect(rounds).toEqual(Array(30).fill(200));
      expect(attackers.every((c) => c.answer() === null && c.closedAt() === null)).toBe(true);
      // Their bodies are not complete: they hold no place among the requests in flight.
      expect(await gauge('otel_audit_otlp_http_in_flight_requests')).toBe(0);

      // Each slow body is cut with 408 once client timeout + bytes sent / rate ≈ 4 s have
      // passed, and its connection closed; slow headers too (Node's check of header times runs
      // every second here).
      await sleep(CLIENT_TIMEOUT_MS + 1500);
      for (const c of [...attackers, chunked, big]) {
        expect(statusOf(c)).toBe(408);
        expect(c.answer()!.ms).toBeGreaterThanOrEqual(CLIENT_TIMEOUT_MS - 100);
        expect(c.answer()!.ms).toBeLessThan(CLIENT_TIMEOUT_MS + 1500);
        expect(c.closedAt()).not.toBeNull();
      }
      expect(attackers[0].answer()!.text).toMatch(/too slowly/);
      expect(statusOf(headers)).toBe(408);
      expect(headers.closedAt()).not.toBeNull();
      const metrics = await (await fetch(`${bridge.apiUrl}/metrics`)).text();
      expect(Number(/otel_audit_otlp_http_slow_bodies_total (\d+)/.exec(metrics)?.[1])).toBeGreaterThanOrEqual(66);

      await flush(bridge.apiUrl);
      const [{ n }] = await sql<{ n: string }>(bridge.apiUrl, `SELECT count() AS n FROM otel_audit.events WHERE correlation_id = 'SLOW-LEGIT'`);
      expect(Number(n)).toBe(30);
    } finally {
      for (const c of [...attackers, ...others]) c.stop();
    }
  });

  it('64 slow uploads from one address: past --max-connections-per-client they are answered 429 at once; others are served', async () => {
    const attackers: SlowClient[] = [];
    try {
      for (let i = 0; i < 64; i++) attackers.push(await slowClient('127.0.0.10', HEAD));
      await sleep(300);
      const refused = attackers.filter((c) => c.answer() !== null);
      expect(refused).toHaveLength(64 - PER_CLIENT);
      for (const c of refused) {
        expect(statusOf(c)).toBe(429);
        expect(c.answer()!.text).toMatch(/retry-after: 1\r\n/i);
        expect(c.answer()!.text).toMatch(/too many connections from 127\.0\.0\.10/);
      }
      // The first 32 are the ones held (and not answered yet).
      expect(attackers.slice(0, PER_CLIENT).every((c) => c.answer() === null)).toBe(true);
      expect(await legitimate('SLOW-LEGIT-2', 10)).toEqual(Array(10).fill(200));
      // The refused connections are closed by the bridge.
      await sleep(1200);
      expect(refused.every((c) => c.closedAt() !== null)).toBe(true);
    } finally {
      for (const c of attackers) c.stop();
    }
    // Once they are gone, that address may connect again.
    await sleep(200);
    const again = await slowClient('127.0.0.10', 'POST /v1/traces HTTP/1.1\r\nHost: bridge\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}');
    try {
      await sleep(500);
      expect(statusOf(again)).toBe(200);
    } finally {
      again.stop();
    }
  });

  it.each([
    ['--max-connections-per-client', '0', /invalid --max-connections-per-client "0": expected a positive integer/],
    ['--client-timeout', '5 s', /invalid --client-timeout "5 s"/],
    ['--client-timeout', '10ms', /invalid --client-timeout "10ms": at least 100ms/],
    ['--min-body-rate', 'fast', /invalid --min-body-rate "fast"/],
    ['--min-body-rate', '0', /invalid --min-body-rate "0": at least 1 byte per second/],
  ])('serve %s %s: exit 2, naming the flag', async (flag, value, message) => {
    const r = await runCli(['serve', '--data-dir', tempDir(), '--otlp-http', '127.0.0.1:0', '--otlp-grpc', 'off', '--api', '127.0.0.1:0', flag, value]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
  });
});
