/**
 * Forwarding (`serve --forward`), end to end, over real sockets: the real bridge process, fed by
 * the official OTLP serializers and the OpenTelemetry JS SDK, sends what it accepted to an OTLP
 * receiver that records what it got (a plain node http server and a grpc-js server, decoding
 * with the bridge's own OTLP decoder).
 *
 * - what arrives is redacted exactly as stored, audit spans with the stored `audit.event_id`,
 *   spans with no audit meaning and log records too, gzip, with the --forward-header headers;
 * - the downstream down: ingest is answered 200 and stored all the same, and everything
 *   arrives once it is back; a 503 with Retry-After is honoured, a gRPC RetryInfo too;
 * - past --forward-queue-bytes the oldest forward data is dropped and counted, the audit trail
 *   keeps everything, and what is left (the newest) arrives;
 * - killed with -9 while forwarding, the bridge sends everything after its restart.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import { Metadata, Server as GrpcServer, ServerCredentials, status, type sendUnaryData, type ServerUnaryCall } from '@grpc/grpc-js';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TelemetryLog, TelemetrySpan } from '../packages/bridge/src/index.ts';
import { decodeLogsProtobuf, decodeTracesProtobuf } from '../packages/bridge/src/otlp/index.ts';
import { encodeStatusProtobuf } from '../packages/bridge/src/otlp/index.ts';
import { eventually, flush, sql, startBridge, tempDir, type BridgeProcess } from './helpers/bridge-process.ts';
import { encodeLogs, postOtlp, sendSpans, spanId, traceId, type SpanSpec } from './helpers/otlp.ts';

interface Arrival {
  path: string;
  headers: Record<string, string | string[] | undefined>;
  at: number;
  status: number;
}

/** An OTLP/HTTP receiver that records what it gets; `refuse` answers the next requests with an error. */
class HttpSink {
  readonly spans = new Map<string, TelemetrySpan>();
  readonly logs: TelemetryLog[] = [];
  readonly arrivals: Arrival[] = [];
  refuse: { count: number; status: number; retryAfter?: string } = { count: 0, status: 503 };
  private server: Server | null = null;
  port = 0;

  async listen(port = 0): Promise<void> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(port, '127.0.0.1', () => resolve());
    });
    this.port = (this.server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    const s = this.server;
    this.server = null;
    s?.closeAllConnections();
    await new Promise<void>((resolve) => (s ? s.close(() => resolve()) : resolve()));
  }

  private async handle(req: IncomingMessage, res: import('node:http').ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const arrival: Arrival = { path: req.url ?? '', headers: req.headers, at: Date.now(), status: 200 };
    this.arrivals.push(arrival);
    if (this.refuse.count > 0) {
      this.refuse.count--;
      arrival.status = this.refuse.status;
      res.writeHead(this.refuse.status, this.refuse.retryAfter ? { 'retry-after': this.refuse.retryAfter } : {});
      res.end();
      return;
    }
    let body = Buffer.concat(chunks);
    if (req.headers['content-encoding'] === 'gzip') body = gunzipSync(body);
    if (req.url === '/v1/traces') for (const s of decodeTracesProtobuf(body).items) this.spans.set(s.spanId, s);
    else if (req.url === '/v1/logs') this.logs.push(...decodeLogsProtobuf(body).items);
    res.writeHead(200, { 'content-type': 'application/x-protobuf' });
    res.end();
  }
}

async function metric(apiUrl: string, name: string): Promise<number> {
  const text = await (await fetch(`${apiUrl}/metrics`)).text();
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  if (!m) throw new Error(`no metric ${name}`);
  return Number(m[1]);
}

const toolSpan = (t: string, s: string, extra: SpanSpec['attributes'] = {}): SpanSpec => ({
  traceId: t,
  spanId: s,
  name: 'execute_tool refund',
  attributes: { 'gen_ai.operation.name': 'execute_tool', 'gen_ai.tool.name': 'refund', 'audit.correlation_id': `CASE-${t.slice(0, 6)}`, ...extra },
});

describe('forwarding over OTLP/HTTP', () => {
  const sink = new HttpSink();
  let bridge: BridgeProcess;
  const dataDir = tempDir('forward-http-');
  // A small forward budget (the least allowed), for the budget test; the others stay far below it.
  const args = () => [
    '--forward', `http://127.0.0.1:${sink.port}`,
    '--forward-header', 'authorization=Bearer fwd-secret-token',
    '--forward-header', 'X-Scope-OrgID=acme',
    '--forward-queue-bytes', '64KiB',
  ];

  beforeAll(async () => {
    await sink.listen();
    bridge = await startBridge({ dataDir, args: args() });
  }, 90_000);
  afterAll(async () => {
    if (bridge?.child.exitCode === null) expect(await bridge.stop()).toBe(0);
    await sink.close();
  });

  it('sends what it stored, redacted alike, audit spans with their audit.event_id, other spans and logs too, gzip, with the headers', async () => {
    const t = traceId();
    const [tool, plain] = [spanId(), spanId()];
    await sendSpans(bridge.otlpUrl, [
      toolSpan(t, tool, { note: 'refund for jane.doe@example.com', 'http.request.header.authorization': 'Bearer sk-live-abcdefghijklmnop' }),
      { traceId: t, spanId: plain, parentSpanId: tool, name: 'GET /inventory', attributes: { 'http.route': '/inventory' } },
    ]);
    const logs = encodeLogs([{ traceId: t, spanId: tool, eventName: 'gen_ai.tool.message', body: { content: 'call me at jane.doe@example.com' } }], 'json');
    expect((await postOtlp(bridge.otlpUrl, 'logs', logs)).status).toBe(200);

    await eventually(async () => sink.spans.has(tool) && sink.spans.has(plain) && sink.logs.some((l) => l.spanId === tool), 20_000, 'the forwarded spans and log');
    const sent = sink.arrivals.find((a) => a.path === '/v1/traces')!;
    expect(sent.headers.authorization).toBe('Bearer fwd-secret-token');
    expect(sent.headers['x-scope-orgid']).toBe('acme');
    expect(sent.headers['content-encoding']).toBe('gzip');
    expect(sent.headers['content-type']).toBe('application/x-protobuf');
    expect(sink.arrivals.some((a) => a.path === '/v1/logs')).toBe(true);

    await flush(bridge.apiUrl);
    const [row] = await sql<{ event_id: string; note: string; auth: string }>(
      bridge.apiUrl,
      `SELECT event_id, attributes['note'] AS note, attributes['http.request.header.authorization'] AS auth FROM otel_audit.events WHERE span_id = '${tool}'`,
    );
    const fwd = sink.spans.get(tool)!;
    expect(fwd.attributes['audit.event_id']).toBe(row.event_id);
    expect(row.note).toBe('refund for [email]');
    expect(fwd.attributes.note).toBe(row.note);
    expect(fwd.attributes['http.request.header.authorization']).toBe(row.auth);
    expect(String(fwd.attributes['http.request.header.authorization'])).not.toContain('sk-live');
    // A span with no audit meaning goes on too, without an event id.
    expect(sink.spans.get(plain)!.attributes['audit.event_id']).toBeUndefined();
    expect(sink.spans.get(plain)!.parentSpanId).toBe(tool);
    const log = sink.logs.find((l) => l.spanId === tool)!;
    expect(JSON.stringify(log.body)).toContain('[email]');
    expect(JSON.stringify(log.body)).not.toContain('jane.doe');
  });

  it('the downstream down: ingest is answered and stored all the same, and everything arrives once it is back', async () => {
    const port = sink.port;
    await sink.close();
    const t = traceId();
    const ids = Array.from({ length: 6 }, () => spanId());
    // Each request is acknowledged: forwarding never stands in the way of the audit trail.
    for (const id of ids) await sendSpans(bridge.otlpUrl, [toolSpan(t, id)]);
    await flush(bridge.apiUrl);
    const stored = await sql<{ n: string }>(bridge.apiUrl, `SELECT count() AS n FROM otel_audit.events WHERE trace_id = '${t}'`);
    expect(Number(stored[0].n)).toBe(ids.length);
    // The bridge did try, and failed.
    await eventually(async () => (await metric(bridge.apiUrl, 'otel_audit_forward_retries_total')) > 0, 20_000, 'a failed forward');
    expect(await metric(bridge.apiUrl, 'otel_audit_forward_queue_items')).toBeGreaterThanOrEqual(1);
    expect(ids.some((id) => sink.spans.has(id))).toBe(false);

    await sink.listen(port);
    await eventually(async () => ids.every((id) => sink.spans.has(id)), 40_000, 'every span after the outage');
    await eventually(async () => (await metric(bridge.apiUrl, 'otel_audit_forward_queue_items')) === 0, 10_000, 'an empty forward queue');
    expect(await metric(bridge.apiUrl, 'otel_audit_forward_dropped_total')).toBe(0);
  });

  it('waits at least the Retry-After of a 503 before it sends again', async () => {
    sink.refuse = { count: 1, status: 503, retryAfter: '1' };
    const from = sink.arrivals.length;
    const id = spanId();
    await sendSpans(bridge.otlpUrl, [toolSpan(traceId(), id)]);
    await eventually(async () => sink.spans.has(id), 20_000, 'the span after the 503');
    const tries = sink.arrivals.slice(from).filter((a) => a.path === '/v1/traces');
    expect(tries[0].status).toBe(503);
    expect(tries[1].status).toBe(200);
    // The backoff alone would come back within 0.5 s; the server asked for 1 s.
    expect(tries[1].at - tries[0].at).toBeGreaterThanOrEqual(990);
  });

  it('past the budget drops the oldest forward data and counts it; the audit trail keeps everything', async () => {
    // The previous tests' sends are all counted once the queue is empty.
    await eventually(async () => (await metric(bridge.apiUrl, 'otel_audit_forward_queue_items')) === 0, 10_000, 'an empty forward queue');
    sink.refuse = { count: 1_000_000, status: 503 };
    const [droppedBefore, sentBefore] = [await metric(bridge.apiUrl, 'otel_audit_forward_dropped_total'), await metric(bridge.apiUrl, 'otel_audit_forward_sent_total')];
    const t = traceId();
    const ids = Array.from({ length: 40 }, () => spanId());
    // About 3 KB of forward data each: 40 of them are about twice the budget.
    const filler = 'lorem ipsum dolor sit amet '.repeat(110);
    for (const id of ids) await sendSpans(bridge.otlpUrl, [toolSpan(t, id, { filler })]);
    const dropped = (await metric(bridge.apiUrl, 'otel_audit_forward_dropped_total')) - droppedBefore;
    expect(dropped).toBeGreaterThan(0);
    expect(await metric(bridge.apiUrl, 'otel_audit_forward_queue_bytes')).toBeLessThanOrEqual(64 * 1024);
    expect(bridge.log()).toContain('forward queue over its budget');
    await flush(bridge.apiUrl);
    const stored = await sql<{ n: string }>(bridge.apiUrl, `SELECT count() AS n FROM otel_audit.events WHERE trace_id = '${t}'`);
    expect(Number(stored[0].n)).toBe(ids.length);

    sink.refuse = { count: 0, status: 503 };
    await eventually(async () => (await metric(bridge.apiUrl, 'otel_audit_forward_queue_items')) === 0, 40_000, 'the queue sent');
    const arrived = ids.filter((id) => sink.spans.has(id));
    // Every span is either sent or counted as dropped; the dropped ones are the oldest.
    expect(arrived.length + dropped).toBe(ids.length);
    expect(arrived).toEqual(ids.slice(ids.length - arrived.length));
    expect((await metric(bridge.apiUrl, 'otel_audit_forward_sent_total')) - sentBefore).toBe(arrived.length);
  });

  it('killed with -9 while the downstream is down, it sends everything after its restart', async () => {
    sink.refuse = { count: 1_000_000, status: 503 };
    const t = traceId();
    const ids = Array.from({ length: 5 }, () => spanId());
    for (const id of ids) await sendSpans(bridge.otlpUrl, [toolSpan(t, id)]);
    await bridge.kill();
    expect(ids.some((id) => sink.spans.has(id))).toBe(false);
    sink.refuse = { count: 0, status: 503 };
    bridge = await startBridge({ dataDir, args: args() });
    await eventually(async () => ids.every((id) => sink.spans.has(id)), 30_000, 'every span after the restart');
  });
});

describe('forwarding over OTLP/gRPC', () => {
  const spans = new Map<string, TelemetrySpan>();
  const calls: Array<{ at: number; code: number; authorization: string }> = [];
  let refuseNext = 0;
  let server: GrpcServer;
  let bridge: BridgeProcess;

  beforeAll(async () => {
    server = new GrpcServer();
    const raw = (path: string) => ({ path, requestStream: false, responseStream: false, requestSerialize: (b: Buffer) => b, requestDeserialize: (b: Buffer) => b, responseSerialize: (b: Buffer) => b, responseDeserialize: (b: Buffer) => b });
    server.addService({ Export: raw('/opentelemetry.proto.collector.trace.v1.TraceService/Export') }, {
      Export: (call: ServerUnaryCall<Buffer, Buffer>, cb: sendUnaryData<Buffer>) => {
        const authorization = String(call.metadata.get('authorization')[0] ?? '');
        if (refuseNext > 0) {
          refuseNext--;
          calls.push({ at: Date.now(), code: status.UNAVAILABLE, authorization });
          const md = new Metadata();
          md.set('grpc-status-details-bin', Buffer.from(encodeStatusProtobuf(status.UNAVAILABLE, 'busy', 1)));
          cb({ code: status.UNAVAILABLE, details: 'busy', metadata: md });
          return;
        }
        calls.push({ at: Date.now(), code: status.OK, authorization });
        for (const s of decodeTracesProtobuf(call.request).items) spans.set(s.spanId, s);
        cb(null, Buffer.alloc(0));
      },
    });
    const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
    bridge = await startBridge({ args: ['--forward', `grpc://127.0.0.1:${port}`, '--forward-header', 'authorization=Bearer grpc-fwd-token'] });
  }, 90_000);
  afterAll(async () => {
    if (bridge) expect(await bridge.stop()).toBe(0);
    server?.forceShutdown();
  });

  it('takes the real SDK\'s spans over gRPC and sends them on with audit.event_id and the authorization metadata, waiting out a RetryInfo', async () => {
    refuseNext = 1;
    // The OpenTelemetry JS SDK and its OTLP/gRPC exporter, as an application runs them.
    const provider = new TracerProvider({
      resource: resourceFromAttributes({ 'service.name': 'forward-sdk-app' }),
      spanProcessors: [new BatchSpanProcessor({ exporter: new OTLPTraceExporter({ url: `http://${bridge.grpcAddress}` }) })],
    });
    const span = provider.getTracer('forward-test').startSpan('execute_tool refund', {
      attributes: { 'gen_ai.operation.name': 'execute_tool', 'gen_ai.tool.name': 'refund', 'audit.correlation_id': 'CASE-GRPC', note: 'for jane.doe@example.com' },
    });
    span.end();
    const id = span.spanContext().spanId;
    await provider.forceFlush();
    await provider.shutdown();
    await eventually(async () => spans.has(id), 20_000, 'the span over gRPC');
    expect(calls[0].code).toBe(status.UNAVAILABLE);
    expect(calls.at(-1)!.code).toBe(status.OK);
    expect(calls.every((c) => c.authorization === 'Bearer grpc-fwd-token')).toBe(true);
    // RetryInfo asked for 1 s; the backoff alone would come back within 0.5 s.
    expect(calls[1].at - calls[0].at).toBeGreaterThanOrEqual(990);
    await flush(bridge.apiUrl);
    const [row] = await sql<{ event_id: string }>(bridge.apiUrl, `SELECT event_id FROM otel_audit.events WHERE span_id = '${id}'`);
    expect(spans.get(id)!.attributes['audit.event_id']).toBe(row.event_id);
    expect(spans.get(id)!.attributes.note).toBe('for [email]');
    expect(spans.get(id)!.resource['service.name']).toBe('forward-sdk-app');
  });
});
