// The "app already has an SDK" path, with a real third-party instrumentation: the app's own
// NodeSDK + auditSpanProcessors() + auditAwareSampler, @opentelemetry/instrumentation-openai
// patching the real `openai` client, which talks to a local fake of the OpenAI HTTP API.
import { createServer, type Server } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { OpenAIInstrumentation } from '@opentelemetry/instrumentation-openai';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { InMemorySpanExporter, SimpleSpanProcessor, TraceIdRatioBasedSampler } from '@opentelemetry/sdk-trace';
import { ATTR_AUDIT_ACTOR_ID, ATTR_AUDIT_CORRELATION_ID, ATTR_AUDIT_ON_BEHALF_OF } from '@otel-audit/semconv';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { auditAwareSampler, auditSpanProcessors, startAudit, traceToolCall, withAuditContext } from './index.ts';

let server: Server;
let baseURL: string;
const exporter = new InMemorySpanExporter();
const sdk = new NodeSDK({
  autoDetectResources: false,
  metricReaders: [],
  logRecordProcessors: [],
  spanProcessors: auditSpanProcessors(new SimpleSpanProcessor({ exporter })),
  // 0 %: only what the audit-aware sampler keeps gets exported.
  sampler: auditAwareSampler(new TraceIdRatioBasedSampler(0), { keepInAuditContext: false }),
  instrumentations: [new OpenAIInstrumentation()],
});

beforeAll(async () => {
  server = createServer((req, res) => {
    req.resume();
    req.on('end', () =>
      res.writeHead(200, { 'content-type': 'application/json' }).end(
        JSON.stringify({
          id: 'chatcmpl-1',
          object: 'chat.completion',
          created: 1,
          model: 'gpt-4o-2024-08-06',
          choices: [{ index: 0, message: { role: 'assistant', content: 'Refund approved.' }, finish_reason: 'stop' }],
          usage: { prompt_tokens: 12, completion_tokens: 3, total_tokens: 15 },
        }),
      ),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseURL = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
  sdk.start();
});

afterAll(async () => {
  await sdk.shutdown();
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

it('stamps the openai instrumentation’s spans and keeps them through a 0% sampler', async () => {
  // Loaded through require after sdk.start(), so the instrumentation's require hook patches it.
  const { OpenAI } = createRequire(import.meta.url)('openai') as typeof import('openai');
  const client = new OpenAI({ apiKey: 'test', baseURL });

  await withAuditContext({ correlationId: 'case-77', actor: { id: 'support-agent', type: 'agent' }, onBehalfOf: 'cust-1' }, async () => {
    const completion = await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'refund?' }] });
    expect(completion.choices[0].message.content).toBe('Refund approved.');
    traceToolCall({ name: 'issue_refund', action: 'update' }, () => true);
  });
  // The instrumentation ends its span after the response is consumed.
  await new Promise((r) => setTimeout(r, 50));

  const spans = exporter.getFinishedSpans();
  const chat = spans.find((s) => s.name === 'chat gpt-4o');
  expect(chat?.instrumentationScope.name).toBe('@opentelemetry/instrumentation-openai');
  expect(chat?.attributes).toMatchObject({
    'gen_ai.operation.name': 'chat',
    'gen_ai.usage.input_tokens': 12,
    [ATTR_AUDIT_CORRELATION_ID]: 'case-77',
    [ATTR_AUDIT_ACTOR_ID]: 'support-agent',
    [ATTR_AUDIT_ON_BEHALF_OF]: 'cust-1',
  });
  expect(spans.map((s) => s.name)).toContain('execute_tool issue_refund');
  // The fake server's HTTP spans are not audit-relevant: sampled out (no http instrumentation here anyway).
  expect(spans.every((s) => s.attributes['gen_ai.operation.name'] !== undefined)).toBe(true);
});

it('startAudit refuses to start a second SDK next to the app’s own', async () => {
  await expect(startAudit({ serviceName: 'dup' })).rejects.toMatchObject({ code: 'TRACER_PROVIDER_REGISTERED' });
});
