/**
 * Decode throughput of a 1000-span OTLP/protobuf batch of GenAI spans (~20 attributes each).
 *
 *   node packages/bridge/src/otlp/bench.ts
 *
 * Also prints, for comparison, protobufjs reflection (decode + toObject) on the same bytes,
 * without the mapping to the model: the floor of the alternative design. And OTLP/JSON.
 */
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { JsonTraceSerializer, ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { decodeTracesJson, decodeTracesProtobuf } from './decode.ts';
import { ExportTraceServiceRequest } from './schema.ts';

const SPANS = 1000;

async function genAiBatch(): Promise<{ protobuf: Uint8Array; json: Uint8Array }> {
  const exporter = new InMemorySpanExporter();
  const provider = new TracerProvider({
    resource: resourceFromAttributes({
      'service.name': 'support-assistant',
      'service.version': '2.4.1',
      'deployment.environment.name': 'production',
      'telemetry.sdk.language': 'nodejs',
    }),
    spanProcessors: [new SimpleSpanProcessor({ exporter })],
  });
  const tracer = provider.getTracer('@opentelemetry/instrumentation-openai', '0.22.0');
  const input = JSON.stringify([
    { role: 'system', parts: [{ type: 'text', content: 'You are a support assistant for ACME. Answer briefly and cite the policy.' }] },
    { role: 'user', parts: [{ type: 'text', content: 'Can I get a refund for order 12345? It arrived damaged.' }] },
  ]);
  const output = JSON.stringify([
    {
      role: 'assistant',
      parts: [{ type: 'text', content: 'Yes: damaged items are refundable within 30 days (policy 4.2). I have opened a refund.' }],
      finish_reason: 'stop',
    },
  ]);
  for (let i = 0; i < SPANS; i++) {
    const span = tracer.startSpan(`chat gpt-4o-${i % 7}`, {
      kind: 2, // CLIENT
      startTime: [1_770_000_000 + i, 123_456_789],
      attributes: {
        'gen_ai.operation.name': 'chat',
        'gen_ai.provider.name': 'openai',
        'gen_ai.request.model': 'gpt-4o',
        'gen_ai.response.model': 'gpt-4o-2024-08-06',
        'gen_ai.request.temperature': 0.2,
        'gen_ai.request.max_tokens': 1024,
        'gen_ai.usage.input_tokens': 412 + i,
        'gen_ai.usage.output_tokens': 88,
        'gen_ai.response.id': `chatcmpl-${i.toString(36)}AbCdEfGhIjKlMnOp`,
        'gen_ai.response.finish_reasons': ['stop'],
        'gen_ai.conversation.id': `conv-${i % 50}`,
        'gen_ai.input.messages': input,
        'gen_ai.output.messages': output,
        'server.address': 'api.openai.com',
        'server.port': 443,
        'user.id': `user-${i % 100}`,
        'session.id': `sess-${i % 20}`,
        'audit.purpose': 'customer_support',
        'audit.risk': 'low',
        'http.response.status_code': 200,
      },
    });
    span.end([1_770_000_001 + i, 5]);
  }
  await provider.forceFlush();
  const spans = exporter.getFinishedSpans();
  return {
    protobuf: ProtobufTraceSerializer.serializeRequest(spans)!,
    json: JsonTraceSerializer.serializeRequest(spans)!,
  };
}

/** Median and best batch time: the median is the figure to quote, the best shows the noise of a shared machine. */
function measure(label: string, run: () => number, seconds = 3): void {
  for (let i = 0; i < 50; i++) run(); // warm up the JIT
  const times: number[] = [];
  let spans = 0;
  const until = performance.now() + seconds * 1000;
  while (performance.now() < until) {
    const t0 = performance.now();
    spans = run();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  const median = times[times.length >> 1];
  const rate = (ms: number) => Math.round((spans / ms) * 1000).toLocaleString('en-US');
  console.log(
    `${label.padEnd(44)} ${rate(median).padStart(9)} spans/s median, ${rate(times[0]).padStart(9)} best  (${median.toFixed(2)} ms per batch)`,
  );
}

const { protobuf, json } = await genAiBatch();
console.log(`batch: ${SPANS} spans, protobuf ${protobuf.length} bytes, JSON ${json.length} bytes`);

const check = decodeTracesProtobuf(protobuf);
if (check.items.length !== SPANS || check.rejected.length) throw new Error('bench batch did not decode cleanly');
if (Object.keys(check.items[0].attributes).length !== 20) throw new Error('expected 20 attributes');

measure('decodeTracesProtobuf (hand-written reader)', () => decodeTracesProtobuf(protobuf).items.length);
measure('protobufjs reflection decode+toObject only', () => {
  const message = ExportTraceServiceRequest.decode(protobuf);
  const obj = ExportTraceServiceRequest.toObject(message, { longs: String, bytes: Buffer });
  let n = 0;
  for (const rs of obj.resourceSpans) for (const ss of rs.scopeSpans) n += ss.spans.length;
  return n;
});
measure('decodeTracesJson', () => decodeTracesJson(json).items.length);
