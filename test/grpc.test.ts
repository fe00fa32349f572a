/**
 * The OTLP/gRPC receiver of the real bridge process: the official gRPC exporters of
 * @opentelemetry/sdk-node store their audit events; partial success and INVALID_ARGUMENT as over
 * HTTP; an OK means durable (a kill -9 right after loses nothing); UNAVAILABLE with a
 * google.rpc.RetryInfo once the spool budget is full; SIGTERM exits 0.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Client, credentials, Metadata, status as GrpcStatus, type ServiceError } from '@grpc/grpc-js';
import { ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RpcStatus } from '../packages/bridge/src/otlp/index.ts';
import { eventually, flush, REPO_ROOT, sql, startBridge, tempDir, type BridgeProcess } from './helpers/bridge-process.ts';
import { encodeTraces, postOtlp, spanId, traceId, type SpanSpec } from './helpers/otlp.ts';

const exec = promisify(execFile);
const APP = join(REPO_ROOT, 'test/fixtures/sdk-app.ts');
const PATHS = {
  traces: '/opentelemetry.proto.collector.trace.v1.TraceService/Export',
  logs: '/opentelemetry.proto.collector.logs.v1.LogsService/Export',
};

interface CallResult {
  error?: ServiceError;
  response?: Buffer;
}

/** One unary Export call with raw bytes, as any OTLP/gRPC client sends it. */
function exportCall(address: string, signal: 'traces' | 'logs', body: Uint8Array): Promise<CallResult> {
  const client = new Client(address, credentials.createInsecure());
  const id = (b: Buffer) => b;
  return new Promise<CallResult>((resolve) => {
    client.makeUnaryRequest(PATHS[signal], id, id, Buffer.from(body), new Metadata(), { deadline: Date.now() + 20_000 }, (error, response) => {
      client.close();
      resolve({ error: error ?? undefined, response });
    });
  });
}

function activity(caseId: string): SpanSpec[] {
  const t = traceId();
  const root = spanId();
  return [
    { traceId: t, spanId: spanId(), parentSpanId: root, name: 'execute_tool refund', attributes: { 'gen_ai.operation.name': 'execute_tool', 'gen_ai.tool.name': 'refund' } },
    { traceId: t, spanId: root, name: 'POST /support', kind: 1, attributes: { 'audit.correlation_id': caseId, 'audit.actor.id': 'agent-1' } },
  ];
}

const count = async (b: BridgeProcess, where: string) =>
  Number((await sql<{ n: string }>(b.apiUrl, `SELECT count() AS n FROM otel_audit.events WHERE ${where}`))[0].n);

let bridge: BridgeProcess;

beforeAll(async () => {
  bridge = await startBridge();
});
afterAll(async () => {
  expect(await bridge?.stop()).toBe(0);
  expect(bridge.log()).toContain('otel-audit bridge stopped');
});

describe('OTLP/gRPC', () => {
  it('the bridge announces its gRPC address', () => {
    expect(bridge.grpcAddress).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(bridge.grpcAddress).not.toBe('127.0.0.1:0');
  });

  it('real @opentelemetry/sdk-node with the official gRPC trace and log exporters → stored, content joined', async () => {
    const caseId = 'CASE-GRPC-1';
    const { stdout } = await exec(process.execPath, [APP, `http://${bridge.grpcAddress}`, 'grpc', caseId], { cwd: REPO_ROOT, timeout: 60_000 });
    const ids = JSON.parse(stdout.trim().split('\n').at(-1)!) as Record<string, string>;
    const rows = await eventually(
      async () => {
        const r = await sql<{ event_type: string; span_id: string; content: string; correlation_id: string }>(
          bridge.apiUrl,
          `SELECT event_type, span_id, content, correlation_id FROM otel_audit.events WHERE correlation_id = '${caseId}'`,
        );
        return r.length >= 6 ? r : undefined;
      },
      30_000,
      `six events under ${caseId}`,
    );
    expect(rows.map((r) => r.event_type).sort()).toEqual(['approval', 'model_call', 'request', 'retrieval', 'system_effect', 'tool_call']);
    const model = rows.find((r) => r.event_type === 'model_call')!;
    expect(model.span_id).toBe(ids.model_span_id);
    expect(model.content).toContain('refund request'); // from the gen_ai.choice log record, sent over gRPC
    const metrics = await (await fetch(`${bridge.apiUrl}/metrics`)).text();
    expect(Number(/otel_audit_otlp_grpc_calls_total (\d+)/.exec(metrics)?.[1])).toBeGreaterThanOrEqual(2);
  });

  it('partial success: invalid spans are counted in the response, the others stored', async () => {
    const caseId = 'CASE-GRPC-PARTIAL';
    const spans = activity(caseId);
    const bad: SpanSpec = { ...spans[0], spanId: '0000000000000000', name: 'zero id' };
    const r = await exportCall(bridge.grpcAddress, 'traces', encodeTraces([...spans, bad], 'protobuf'));
    expect(r.error).toBeUndefined();
    const res = ProtobufTraceSerializer.deserializeResponse(r.response!);
    expect(Number(res.partialSuccess?.rejectedSpans)).toBe(1);
    expect(res.partialSuccess?.errorMessage).toMatch(/#2: span_id is all zeros/);
    await flush(bridge.apiUrl);
    expect(await count(bridge, `correlation_id = '${caseId}'`)).toBe(2);
  });

  it('INVALID_ARGUMENT for garbage, and the receiver keeps serving', async () => {
    for (const body of [Buffer.from([0x0a, 0x7f, 0x01]), Buffer.from([0xff, 0xff, 0xff, 0xff]), Buffer.from('{"resourceSpans": []}')]) {
      for (const signal of ['traces', 'logs'] as const) {
        const r = await exportCall(bridge.grpcAddress, signal, body);
        expect(r.error?.code, `${signal} ${body.toString('hex')}`).toBe(GrpcStatus.INVALID_ARGUMENT);
        expect(r.error?.details).toMatch(/invalid protobuf/);
      }
    }
    const ok = await exportCall(bridge.grpcAddress, 'traces', encodeTraces(activity('CASE-GRPC-AFTER-GARBAGE'), 'protobuf'));
    expect(ok.error).toBeUndefined();
  });
});

describe('OTLP/gRPC durability and backpressure', () => {
  it('an OK is durable: kill -9 right after it loses nothing', async () => {
    const dataDir = tempDir();
    // A long decision wait: the spans are only in the write-ahead log when the bridge dies.
    let b = await startBridge({ dataDir, args: ['--decision-wait', '60s'] });
    const t = traceId();
    const orphans: SpanSpec[] = Array.from({ length: 5 }, (_, i) => ({
      traceId: t,
      spanId: spanId(),
      parentSpanId: spanId(),
      name: `execute_tool step_${i}`,
      attributes: { 'gen_ai.operation.name': 'execute_tool', 'gen_ai.tool.name': `step_${i}` },
    }));
    try {
      const r = await exportCall(b.grpcAddress, 'traces', encodeTraces(orphans, 'protobuf'));
      expect(r.error).toBeUndefined();
    } finally {
      await b.kill();
    }
    b = await startBridge({ dataDir });
    try {
      await flush(b.apiUrl);
      const rows = await sql<{ span_id: string }>(b.apiUrl, `SELECT span_id FROM otel_audit.events WHERE trace_id = '${t}'`);
      expect(rows.map((r) => r.span_id).sort()).toEqual(orphans.map((s) => s.spanId).sort());
    } finally {
      expect(await b.stop()).toBe(0);
    }
  });

  it('UNAVAILABLE with a RetryInfo once the spool budget is full (and HTTP 503 + Retry-After, /readyz 503)', async () => {
    // A budget of 1 byte: the first request fills it.
    const b = await startBridge({ args: ['--spool-budget', '1'] });
    try {
      const first = await exportCall(b.grpcAddress, 'traces', encodeTraces(activity('CASE-GRPC-BUDGET-1'), 'protobuf'));
      expect(first.error).toBeUndefined();
      const r = await exportCall(b.grpcAddress, 'traces', encodeTraces(activity('CASE-GRPC-BUDGET-2'), 'protobuf'));
      expect(r.error?.code).toBe(GrpcStatus.UNAVAILABLE);
      expect(r.error?.details).toMatch(/spool full/);
      expect(r.error?.metadata.get('retry-after')).toEqual(['10']);
      const [details] = r.error!.metadata.get('grpc-status-details-bin') as Buffer[];
      const st = RpcStatus.toObject(RpcStatus.decode(details), { bytes: Buffer }) as { code: number; details: Array<{ type_url: string; value: Buffer }> };
      expect(st.code).toBe(GrpcStatus.UNAVAILABLE);
      expect(st.details[0].type_url).toBe('type.googleapis.com/google.rpc.RetryInfo');
      // RetryInfo { retry_delay: Duration { seconds: 10 } }
      expect([...st.details[0].value]).toEqual([0x0a, 0x02, 0x08, 10]);

      const h = await postOtlp(b.otlpUrl, 'traces', encodeTraces(activity('CASE-GRPC-BUDGET-3'), 'json'));
      expect(h.status).toBe(503);
      expect(h.headers.get('retry-after')).toBe('10');
      expect(JSON.parse(h.body.toString()).message).toMatch(/spool full/);
      const ready = await fetch(`${b.apiUrl}/readyz`);
      expect(ready.status).toBe(503);
      expect(((await ready.json()) as { reason: string }).reason).toMatch(/spool full/);

      // The official exporter sees the failure (never a success for a refused request).
      const { stdout } = await exec(process.execPath, ['--input-type=module', '-e', exporterScript(b.grpcAddress)], { cwd: REPO_ROOT, timeout: 30_000 });
      expect(JSON.parse(stdout)).toMatchObject({ code: 1 }); // ExportResultCode.FAILED
      expect(JSON.parse(stdout).error).toMatch(/UNAVAILABLE|spool full/);

      await flush(b.apiUrl);
      expect(await count(b, `correlation_id LIKE 'CASE-GRPC-BUDGET-%'`)).toBe(2); // only the first request
    } finally {
      expect(await b.stop()).toBe(0);
    }
  });
});

/** A one-off script: the official OTLPTraceExporter (gRPC) exports one span and prints the result. */
function exporterScript(address: string): string {
  return `
    const { OTLPTraceExporter } = await import('@opentelemetry/exporter-trace-otlp-grpc');
    const { TracerProvider, InMemorySpanExporter, SimpleSpanProcessor } = await import('@opentelemetry/sdk-trace');
    const mem = new InMemorySpanExporter();
    const provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor(mem)] });
    provider.getTracer('t').startSpan('execute_tool x', { attributes: { 'gen_ai.tool.name': 'x' } }).end();
    const exporter = new OTLPTraceExporter({ url: 'http://${address}', timeoutMillis: 10000 });
    exporter.export(mem.getFinishedSpans(), (r) => {
      process.stdout.write(JSON.stringify({ code: r.code, error: String(r.error?.message ?? '') }));
      exporter.shutdown();
    });
  `;
}
