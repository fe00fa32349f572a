import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { logs, trace } from '@opentelemetry/api';
import { TracerProvider } from '@opentelemetry/sdk-trace';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AuditSetupError, isTracerProviderRegistered, startAudit, traceToolCall, withAuditContext, type AuditHandle } from './index.ts';

interface Received {
  method: string;
  url: string;
  contentType: string | undefined;
  body: Buffer;
}

let server: Server;
let endpoint: string;
const received: Received[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const contentType = req.headers['content-type'];
      received.push({ method: req.method ?? '', url: req.url ?? '', contentType, body: Buffer.concat(chunks) });
      // An empty Export*ServiceResponse: full success.
      if (contentType === 'application/json') res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      else res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

let handle: AuditHandle | undefined;
beforeEach(() => {
  received.length = 0;
});
afterEach(async () => {
  await handle?.shutdown();
  handle = undefined;
});

function emitWork(): void {
  withAuditContext({ correlationId: 'case-start-1', actor: { id: 'agent-1', type: 'agent' } }, () => {
    traceToolCall({ name: 'lookup', action: 'read' }, () => 'ok');
    trace.getTracer('plain').startSpan('plain span').end();
    logs.getLogger('app').emit({ eventName: 'gen_ai.user.message', body: 'hello' });
  });
}

describe('startAudit', () => {
  it('exports traces and logs as OTLP/HTTP protobuf to the endpoint', async () => {
    handle = await startAudit({ serviceName: 'support-bot', endpoint, tenant: 'acme' });
    expect(isTracerProviderRegistered()).toBe(true);
    emitWork();
    await handle.shutdown();
    expect(isTracerProviderRegistered()).toBe(false);

    const traces = received.filter((r) => r.url === '/v1/traces');
    expect(traces.length).toBeGreaterThanOrEqual(1);
    for (const r of traces) {
      expect(r.method).toBe('POST');
      expect(r.contentType).toBe('application/x-protobuf');
    }
    const body = Buffer.concat(traces.map((r) => r.body));
    // Protobuf keeps strings as raw UTF-8: enough to see what was sent without a decoder.
    for (const s of ['support-bot', 'audit.tenant', 'acme', 'execute_tool lookup', 'plain span', 'audit.correlation_id', 'case-start-1']) {
      expect(body.includes(s), s).toBe(true);
    }
    const logsReq = received.filter((r) => r.url === '/v1/logs');
    expect(logsReq.length).toBeGreaterThanOrEqual(1);
    expect(logsReq[0].contentType).toBe('application/x-protobuf');
    expect(Buffer.concat(logsReq.map((r) => r.body)).includes('gen_ai.user.message')).toBe(true);
  });

  it('speaks http/json too, and can start again after shutdown', async () => {
    handle = await startAudit({ serviceName: 'svc-json', endpoint: `${endpoint}/`, protocol: 'http/json', logs: false });
    emitWork();
    await handle.forceFlush();
    const traces = received.filter((r) => r.url === '/v1/traces');
    expect(traces.length).toBeGreaterThanOrEqual(1);
    expect(traces[0].contentType).toBe('application/json');
    const spans = traces.flatMap((r) => JSON.parse(r.body.toString()).resourceSpans.flatMap((rs: any) => rs.scopeSpans.flatMap((ss: any) => ss.spans)));
    // The helper's tracer follows the new SDK, not the one shut down in the previous test.
    expect(spans.map((s: any) => s.name)).toContain('execute_tool lookup');
    const plain = spans.find((s: any) => s.name === 'plain span');
    // AuditSpanProcessor stamped a span from another tracer.
    expect(plain.attributes).toContainEqual({ key: 'audit.correlation_id', value: { stringValue: 'case-start-1' } });
    expect(received.some((r) => r.url === '/v1/logs')).toBe(false);
  });

  it('refuses to start a second SDK, and when another provider is registered', async () => {
    handle = await startAudit({ serviceName: 'one', endpoint });
    await expect(startAudit({ serviceName: 'two', endpoint })).rejects.toMatchObject({ name: 'AuditSetupError', code: 'TRACER_PROVIDER_REGISTERED' });
    await handle.shutdown();
    handle = undefined;

    trace.setGlobalTracerProvider(new TracerProvider());
    try {
      const err = await startAudit({ serviceName: 'three', endpoint }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(AuditSetupError);
      expect((err as Error).message).toMatch(/auditSpanProcessors/);
    } finally {
      trace.disable();
    }
  });

  it('rejects bad options clearly', async () => {
    await expect(startAudit({ serviceName: '' })).rejects.toMatchObject({ code: 'BAD_OPTIONS', message: expect.stringMatching(/serviceName/) });
    await expect(startAudit({ serviceName: 's', endpoint: 'not a url' })).rejects.toMatchObject({ code: 'BAD_OPTIONS' });
    await expect(startAudit({ serviceName: 's', protocol: 'grpc' as never })).rejects.toMatchObject({ code: 'BAD_OPTIONS' });
    expect(isTracerProviderRegistered()).toBe(false);
  });
});
