/**
 * Realistic OTLP/protobuf export requests of GenAI traces, encoded once by the official
 * `@opentelemetry/otlp-transformer` ProtobufTraceSerializer, then re-used with fresh ids.
 *
 * One trace = 5 spans, like one request of a support assistant:
 *   - request    SERVER root: HTTP server attributes + audit.correlation_id/actor/risk  → request event
 *   - retrieval  gen_ai.operation.name=retrieval with gen_ai.retrieval.documents        → retrieval event
 *   - chat       gen_ai chat call to openai, token counts, ~1 KB of messages with an
 *                email address and a phone number to redact                             → model_call event
 *   - tool       execute_tool refund_order + audit.tool.action/target/permission        → tool_call event
 *   - http       HTTP client span of the tool (no audit meaning)                         → dropped
 * Children come before their root in the request (the bridge correlates within a request).
 *
 * The bridge drops re-sent span ids, so every request must carry new ids. Encoding is done
 * once (a template); `PayloadFactory.next()` copies the template and overwrites the id bytes
 * in place (the offsets are found once), which costs ~0.1 ms per request.
 */
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { randomBytes } from 'node:crypto';

export const SPANS_PER_TRACE = 5;
/** Spans per trace that the bridge turns into an audit event (all but the HTTP client span). */
export const EVENTS_PER_TRACE = 4;

type Attrs = Record<string, string | number | boolean | string[]>;

const SPAN_KIND = { INTERNAL: 0, SERVER: 1, CLIENT: 2 } as const;

const resource = resourceFromAttributes({
  'service.name': 'support-assistant',
  'service.version': '2.4.1',
  'service.instance.id': 'b0c8d5e4-pod-7',
  'deployment.environment.name': 'production',
  'telemetry.sdk.language': 'nodejs',
  'telemetry.sdk.name': 'opentelemetry',
  'telemetry.sdk.version': '2.1.0',
  'host.name': 'support-assistant-7d9f8-abcde',
  'process.runtime.name': 'nodejs',
  'process.runtime.version': '24.11.0',
  'audit.tenant': 'acme',
});

const SCOPE_APP = { name: 'support-assistant', version: '2.4.1' };
const SCOPE_OPENAI = { name: '@opentelemetry/instrumentation-openai', version: '0.22.0' };
const SCOPE_HTTP = { name: '@opentelemetry/instrumentation-undici', version: '0.14.0' };

const SYSTEM_PROMPT =
  'You are the support assistant of ACME Corp. Answer briefly and politely, cite the refund policy section you rely on, ' +
  'never reveal internal notes, and escalate to a human agent when the customer is upset or the amount exceeds 500 EUR.';

function inputMessages(i: number): string {
  return JSON.stringify([
    { role: 'system', parts: [{ type: 'text', content: SYSTEM_PROMPT }] },
    {
      role: 'user',
      parts: [
        {
          type: 'text',
          content:
            `Hello, my order 1000${i % 9973} arrived damaged: the screen is cracked and the box was open. ` +
            `Can I get a refund? You can reach me at jane.doe${i % 97}@example.com or +1 415 555 01${String(i % 100).padStart(2, '0')}. ` +
            'I already sent photos to your team yesterday but nobody answered.',
        },
      ],
    },
    {
      role: 'assistant',
      parts: [{ type: 'tool_call', id: `call_${i.toString(36)}`, name: 'lookup_order', arguments: { order_id: `1000${i % 9973}` } }],
    },
    {
      role: 'tool',
      parts: [{ type: 'tool_call_response', id: `call_${i.toString(36)}`, response: { status: 'delivered', amount_eur: 129.9, damaged: true } }],
    },
  ]);
}

function outputMessages(i: number): string {
  return JSON.stringify([
    {
      role: 'assistant',
      parts: [
        {
          type: 'text',
          content:
            `I am sorry about the damaged order 1000${i % 9973}. Damaged items are refundable within 30 days (policy 4.2), ` +
            'so I have opened a full refund of 129.90 EUR; you will get a confirmation email within the hour.',
        },
      ],
      finish_reason: 'stop',
    },
  ]);
}

function documents(i: number): string {
  return JSON.stringify([
    { id: 'policy-4.2', uri: 'kb://policies/refunds#4.2', version: '2026-03', sensitivity: 'internal', score: 0.91 - (i % 7) / 100 },
    { id: 'policy-4.5', uri: 'kb://policies/refunds#4.5', version: '2026-03', sensitivity: 'internal', score: 0.77 },
    { id: `faq-${i % 40}`, uri: `kb://faq/${i % 40}`, version: '12', sensitivity: 'public', score: 0.64 },
  ]);
}

interface SpanSpec {
  name: string;
  kind: number;
  scope: { name: string; version: string };
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  startMs: number;
  durMs: number;
  attributes: Attrs;
  statusCode?: number;
}

function toReadable(s: SpanSpec): ReadableSpan {
  const hr = (ms: number): [number, number] => [Math.floor(ms / 1000), Math.round((ms % 1000) * 1e6)];
  return {
    name: s.name,
    kind: s.kind,
    spanContext: () => ({ traceId: s.traceId, spanId: s.spanId, traceFlags: 1 }),
    parentSpanContext: s.parentSpanId ? { traceId: s.traceId, spanId: s.parentSpanId, traceFlags: 1, isRemote: false } : undefined,
    startTime: hr(s.startMs),
    endTime: hr(s.startMs + s.durMs),
    duration: hr(s.durMs),
    status: { code: s.statusCode ?? 1 },
    attributes: s.attributes,
    links: [],
    events: [],
    ended: true,
    resource,
    instrumentationScope: s.scope,
    droppedAttributesCount: 0,
    droppedEventsCount: 0,
    droppedLinksCount: 0,
  } as unknown as ReadableSpan;
}

/** The five spans of one trace, children first. */
function traceSpans(i: number, traceId: string, ids: string[], t0: number, risk: Risk): SpanSpec[] {
  const [rootId, retrievalId, chatId, toolId, httpId] = ids;
  const user = `user-${i % 500}`;
  const root: SpanSpec = {
    name: 'POST /api/support/chat',
    kind: SPAN_KIND.SERVER,
    scope: SCOPE_APP,
    traceId,
    spanId: rootId,
    startMs: t0,
    durMs: 2400,
    attributes: {
      'http.request.method': 'POST',
      'http.route': '/api/support/chat',
      'url.path': '/api/support/chat',
      'url.scheme': 'https',
      'server.address': 'support.acme.example',
      'server.port': 443,
      'client.address': `10.2.${i % 200}.${i % 250}`,
      'user_agent.original': 'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 Safari/605.1.15',
      'network.protocol.version': '1.1',
      'http.response.status_code': 200,
      'audit.correlation_id': `case-${100000 + (i % 50000)}`,
      'audit.actor.id': user,
      'audit.actor.type': 'human',
      'audit.actor.role': 'customer',
      'audit.initiation': 'human',
      'audit.purpose': 'answer',
      'audit.risk': risk,
      'session.id': `sess-${i % 1000}`,
      'app.request_id': `req-${i.toString(36)}-${traceId.slice(0, 8)}`,
    },
  };
  const retrieval: SpanSpec = {
    name: 'retrieval kb-policies',
    kind: SPAN_KIND.CLIENT,
    scope: SCOPE_APP,
    traceId,
    spanId: retrievalId,
    parentSpanId: rootId,
    startMs: t0 + 20,
    durMs: 85,
    attributes: {
      'gen_ai.operation.name': 'retrieval',
      'gen_ai.data_source.id': 'kb-policies',
      'gen_ai.provider.name': 'pgvector',
      'gen_ai.retrieval.query.text': 'refund damaged item policy',
      'gen_ai.retrieval.documents': documents(i),
      'gen_ai.request.top_k': 3,
      'gen_ai.embeddings.dimension.count': 1536,
      'gen_ai.request.model': 'text-embedding-3-small',
      'db.system.name': 'postgresql',
      'db.namespace': 'kb',
      'db.collection.name': 'policy_chunks',
      'db.operation.name': 'SELECT',
      'server.address': 'pg-kb.internal',
      'server.port': 5432,
      'network.peer.address': '10.0.4.17',
      'app.kb.index_version': '2026-03-01',
    },
  };
  const chat: SpanSpec = {
    name: 'chat gpt-4o',
    kind: SPAN_KIND.CLIENT,
    scope: SCOPE_OPENAI,
    traceId,
    spanId: chatId,
    parentSpanId: rootId,
    startMs: t0 + 120,
    durMs: 1800,
    attributes: {
      'gen_ai.operation.name': 'chat',
      'gen_ai.provider.name': 'openai',
      'gen_ai.request.model': 'gpt-4o',
      'gen_ai.response.model': 'gpt-4o-2024-08-06',
      'gen_ai.request.temperature': 0.2,
      'gen_ai.request.max_tokens': 1024,
      'gen_ai.request.top_p': 1,
      'gen_ai.usage.input_tokens': 412 + (i % 300),
      'gen_ai.usage.output_tokens': 88 + (i % 40),
      'gen_ai.response.id': `chatcmpl-${i.toString(36)}AbCdEfGhIjKlMnOp`,
      'gen_ai.response.finish_reasons': ['stop'],
      'gen_ai.conversation.id': `conv-${i % 5000}`,
      'gen_ai.output.type': 'text',
      'gen_ai.input.messages': inputMessages(i),
      'gen_ai.output.messages': outputMessages(i),
      'server.address': 'api.openai.com',
      'server.port': 443,
      'openai.response.service_tier': 'default',
      'openai.response.system_fingerprint': 'fp_50cad350e4',
    },
  };
  const tool: SpanSpec = {
    name: 'execute_tool refund_order',
    kind: SPAN_KIND.INTERNAL,
    scope: SCOPE_APP,
    traceId,
    spanId: toolId,
    parentSpanId: rootId,
    startMs: t0 + 1950,
    durMs: 300,
    attributes: {
      'gen_ai.operation.name': 'execute_tool',
      'gen_ai.tool.name': 'refund_order',
      'gen_ai.tool.type': 'function',
      'gen_ai.tool.call.id': `call_${(i * 7919).toString(36)}`,
      'gen_ai.tool.description': 'Refunds an order in the billing system',
      'gen_ai.tool.call.arguments': JSON.stringify({ order_id: `1000${i % 9973}`, amount_eur: 129.9, reason: 'damaged' }),
      'gen_ai.tool.call.result': JSON.stringify({ refund_id: `rf_${i.toString(36)}`, status: 'accepted' }),
      'audit.tool.action': 'write',
      'audit.target.system': 'billing',
      'audit.target.id': `order-1000${i % 9973}`,
      'audit.permission': 'granted',
      'app.tool.timeout_ms': 5000,
      'audit.approval.required': false,
      'app.tool.retry': 0,
      'app.tool.version': '3.1.0',
    },
  };
  const http: SpanSpec = {
    name: 'POST',
    kind: SPAN_KIND.CLIENT,
    scope: SCOPE_HTTP,
    traceId,
    spanId: httpId,
    parentSpanId: toolId,
    startMs: t0 + 1960,
    durMs: 250,
    attributes: {
      'http.request.method': 'POST',
      'url.full': `https://billing.internal/api/v2/orders/1000${i % 9973}/refunds`,
      'url.scheme': 'https',
      'url.path': `/api/v2/orders/1000${i % 9973}/refunds`,
      'server.address': 'billing.internal',
      'server.port': 443,
      'network.peer.address': '10.0.7.3',
      'network.peer.port': 443,
      'network.protocol.name': 'http',
      'network.protocol.version': '1.1',
      'http.response.status_code': 201,
      'http.request.header.content-type': ['application/json'],
      'http.request.body.size': 96,
      'http.response.body.size': 64,
      'user_agent.original': 'undici',
    },
  };
  return [retrieval, chat, http, tool, root];
}

function hex(n: number): string {
  return randomBytes(n).toString('hex');
}

export interface Template {
  bytes: Buffer;
  spans: number;
  traces: number;
  /** Offsets of the 16-byte trace ids (every occurrence). */
  traceIdOffsets: Uint32Array;
  /** Offsets of the 8-byte span ids (as span_id and as parent_span_id). */
  spanIdOffsets: Uint32Array;
}

export type Risk = 'low' | 'medium' | 'high';

/**
 * Encodes `traces` traces (5 spans each) into one ExportTraceServiceRequest. `risk` is the
 * root's `audit.risk`, inherited by the trace: high (the default) seals model-call content.
 */
export function buildTemplate(traces: number, t0Ms = Date.now(), risk: Risk = 'high'): Template {
  const spans: ReadableSpan[] = [];
  const traceIds: string[] = [];
  const spanIds: string[] = [];
  for (let t = 0; t < traces; t++) {
    const traceId = hex(16);
    const ids = Array.from({ length: SPANS_PER_TRACE }, () => hex(8));
    traceIds.push(traceId);
    spanIds.push(...ids);
    for (const s of traceSpans(t, traceId, ids, t0Ms + t, risk)) spans.push(toReadable(s));
  }
  const bytes = Buffer.from(ProtobufTraceSerializer.serializeRequest(spans)!);
  const find = (idHex: string, expected: number): number[] => {
    const needle = Buffer.from(idHex, 'hex');
    const out: number[] = [];
    for (let at = bytes.indexOf(needle); at >= 0; at = bytes.indexOf(needle, at + 1)) out.push(at);
    if (out.length !== expected) throw new Error(`template: id ${idHex} found ${out.length} times, expected ${expected}`);
    return out;
  };
  const traceIdOffsets: number[] = [];
  for (const id of traceIds) traceIdOffsets.push(...find(id, SPANS_PER_TRACE));
  const spanIdOffsets: number[] = [];
  for (let i = 0; i < spanIds.length; i++) {
    // root: itself + parent of retrieval, chat, tool; tool: itself + parent of http.
    const k = i % SPANS_PER_TRACE;
    spanIdOffsets.push(...find(spanIds[i], k === 0 ? 4 : k === 3 ? 2 : 1));
  }
  return {
    bytes,
    spans: spans.length,
    traces,
    traceIdOffsets: Uint32Array.from(traceIdOffsets),
    spanIdOffsets: Uint32Array.from(spanIdOffsets),
  };
}

/**
 * Fresh requests from a template: request number `seq` of generator `nonce` gets trace ids
 * starting with (nonce, seq) and span ids starting with seq; the rest of each id stays the
 * template's random bytes, distinct within a request.
 */
export class PayloadFactory {
  readonly template: Template;
  readonly nonce: number;
  private seq = 0;

  constructor(template: Template, nonce: number) {
    this.template = template;
    this.nonce = nonce >>> 0;
  }

  next(): Buffer {
    const t = this.template;
    const seq = ++this.seq;
    const buf = Buffer.allocUnsafe(t.bytes.length);
    t.bytes.copy(buf);
    for (const off of t.traceIdOffsets) {
      buf.writeUInt32BE(this.nonce, off);
      buf.writeUInt32BE(seq, off + 4);
    }
    for (const off of t.spanIdOffsets) buf.writeUInt32BE(seq, off);
    return buf;
  }
}
