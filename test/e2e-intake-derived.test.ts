// What intake derives from what an app sends (intake/intake.ts, docs/conventions.md), end to end
// through one real bridge, sent by the real OTel SDK exporters (OTLP/HTTP protobuf):
//  a. a model call's `gen_ai.tool.definitions` is stored as its digest, count and names, never
//     as the raw definitions;
//  b. a `gen_ai.evaluation.result` log record, tied to a model call sent in another request, is
//     one `evaluation` event linked to that call, listed in the `evaluations` view; the same
//     record re-sent is not a second event, and the chain still verifies;
//  c. an OpenInference (@arizeai/phoenix-evals) EVALUATOR span's score and label are in the
//     `evaluations` view.
import { createHash } from 'node:crypto';
import { context, ROOT_CONTEXT, SpanKind, trace, type Span } from '@opentelemetry/api';
import { OTLPLogExporter } from '@opentelemetry/exporter-logs-otlp-proto';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { LoggerProvider, SimpleLogRecordProcessor, type LogRecordExporter } from '@opentelemetry/sdk-logs';
import { SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { flush, runCli, sql, startBridge, type BridgeProcess } from './helpers/bridge-process.ts';

const CASE = 'CASE-INTAKE-DERIVED';
const RESOURCE = resourceFromAttributes({ 'service.name': 'support-assistant', 'audit.tenant': 'acme' });

// As the OTel GenAI conventions define `gen_ai.tool.definitions`: a JSON array of tool
// definitions (type, name, description, parameters), sent as a string attribute.
const DESCRIPTION = 'Looks an order up in the warehouse system (internal: orders-db.corp.example, read replica 3)';
const TOOL_DEFINITIONS = JSON.stringify([
  { type: 'function', name: 'get_order', description: DESCRIPTION, parameters: { type: 'object', properties: { order_id: { type: 'string' } }, required: ['order_id'] } },
  { type: 'function', name: 'refund_order', description: 'Refunds an order to the original card', parameters: { type: 'object', properties: { order_id: { type: 'string' }, amount: { type: 'number' } } } },
]);
const EXPLANATION = 'The reply promises a refund the knowledge base article KB-101 does not allow.';
const EVALUATION_TIME = Date.UTC(2026, 11, 7, 9, 0, 0, 123);

type Row = Record<string, any>;

let bridge: BridgeProcess;
let tracerProvider: TracerProvider;
let loggerProvider: LoggerProvider;
let chat: Span;
let evaluator: Span;
let fairness: Span;

const q = (s: string) => `'${s.replace(/[\\']/g, (c) => `\\${c}`)}'`;
const exportSpans = async () => {
  await tracerProvider.forceFlush();
  await flush(bridge.apiUrl);
};

/**
 * Settles with the result of the next logs export. (SimpleLogRecordProcessor.forceFlush does not
 * wait for an export under way: this does, and says whether the bridge took the request.)
 */
let onExported: (r: { code: number; error?: Error }) => void = () => {};
const nextLogExport = () => new Promise<{ code: number; error?: Error }>((resolve) => (onExported = resolve));

/** The evaluation result of the chat call, as an evaluation library emits it (a log record in the call's context); resolves once exported. */
async function sendEvaluationResult(): Promise<void> {
  const exported = nextLogExport();
  loggerProvider.getLogger('e2e-intake-derived-evals').emit({
    eventName: 'gen_ai.evaluation.result',
    timestamp: EVALUATION_TIME,
    context: trace.setSpanContext(ROOT_CONTEXT, chat.spanContext()),
    attributes: {
      'gen_ai.evaluation.name': 'kb_consistency',
      'gen_ai.evaluation.score.value': 0.25,
      'gen_ai.evaluation.score.label': 'inconsistent',
      'gen_ai.evaluation.explanation': EXPLANATION,
    },
  });
  const r = await exported;
  expect(r.code, String(r.error)).toBe(0); // ExportResultCode.SUCCESS
  await flush(bridge.apiUrl);
}

const evaluationsOfChat = () =>
  sql<Row>(bridge.apiUrl, `SELECT event_id, span_id, parent_span_id, links, attributes, correlation_id FROM otel_audit.events WHERE event_type = 'evaluation' AND trace_id = ${q(chat.spanContext().traceId)} AND parent_span_id = ${q(chat.spanContext().spanId)} AND name = 'evaluation kb_consistency'`);

beforeAll(async () => {
  bridge = await startBridge();
  tracerProvider = new TracerProvider({ resource: RESOURCE, spanProcessors: [new SimpleSpanProcessor({ exporter: new OTLPTraceExporter({ url: `${bridge.otlpUrl}/v1/traces` }) })] });
  const logExporter = new OTLPLogExporter({ url: `${bridge.otlpUrl}/v1/logs` });
  const reporting: LogRecordExporter = {
    export: (records, done) => logExporter.export(records, (r) => (onExported(r), done(r))),
    forceFlush: () => logExporter.forceFlush(),
    shutdown: () => logExporter.shutdown(),
  };
  loggerProvider = new LoggerProvider({ resource: RESOURCE, processors: [new SimpleLogRecordProcessor({ exporter: reporting })] });
  const tracer = tracerProvider.getTracer('e2e-intake-derived');

  const request = tracer.startSpan('handle ticket', { kind: SpanKind.SERVER, root: true, attributes: { 'audit.correlation_id': CASE, 'audit.actor.id': 'support-assistant' } });
  const inRequest = trace.setSpan(context.active(), request);
  chat = tracer.startSpan(
    'chat gpt-5-mini',
    {
      kind: SpanKind.CLIENT,
      attributes: {
        'gen_ai.operation.name': 'chat',
        'gen_ai.provider.name': 'openai',
        'gen_ai.request.model': 'gpt-5-mini',
        'gen_ai.response.id': 'resp_derived_1',
        'gen_ai.usage.input_tokens': 120,
        'gen_ai.usage.output_tokens': 40,
        'gen_ai.tool.definitions': TOOL_DEFINITIONS,
      },
    },
    inRequest,
  );
  chat.end();
  // @arizeai/phoenix-evals: each evaluator wrapped in an EVALUATOR span (normalize/testdata/phoenix-evals.json);
  // this one runs in the request, under the call it evaluates; the other on its own.
  evaluator = tracer.startSpan(
    'correctness',
    {
      attributes: {
        'openinference.span.kind': 'EVALUATOR',
        'input.value': JSON.stringify({ input: 'Is flood damage covered?', output: 'Yes, fully.' }),
        'input.mime_type': 'application/json',
        'output.value': JSON.stringify({ score: 0, label: 'incorrect', explanation: 'The policy excludes flood damage.' }),
        'output.mime_type': 'application/json',
      },
    },
    trace.setSpan(inRequest, chat),
  );
  evaluator.end();
  fairness = tracer.startSpan('demographic_parity', {
    root: true,
    attributes: {
      'openinference.span.kind': 'EVALUATOR',
      'input.value': JSON.stringify({ group: 'age_band' }),
      'input.mime_type': 'application/json',
      'output.value': JSON.stringify({ score: 0.04, label: 'pass' }),
      'output.mime_type': 'application/json',
    },
  });
  fairness.end();
  request.end();
  await exportSpans();
}, 120_000);

afterAll(async () => {
  await tracerProvider?.shutdown();
  await loggerProvider?.shutdown();
  await bridge?.stop();
});

describe('intake derives attributes: real SDK → bridge → chDB', () => {
  it('a. stores a model call’s tool definitions as digest, count and names, without the raw definitions', async () => {
    const [row] = await sql<Row>(bridge.apiUrl, `SELECT * FROM otel_audit.events WHERE span_id = ${q(chat.spanContext().spanId)}`);
    expect(row).toMatchObject({ event_type: 'model_call', correlation_id: CASE, request_model: 'gpt-5-mini' });
    expect(row.attributes).toMatchObject({
      'gen_ai.tool.definitions.sha256': createHash('sha256').update(TOOL_DEFINITIONS).digest('hex'),
      'gen_ai.tool.definitions.count': '2',
      'gen_ai.tool.definitions.names': 'get_order,refund_order',
    });
    expect(Object.keys(row.attributes)).not.toContain('gen_ai.tool.definitions');
    // Nowhere in the stored row: not in attributes, content or any other column.
    expect(JSON.stringify(row)).not.toContain('orders-db.corp.example');
    expect(JSON.stringify(row)).not.toContain('Refunds an order');
  });

  it('b. makes a gen_ai.evaluation.result log record one evaluation event, linked to the evaluated call; a re-sent record is not a second one', async () => {
    // The model call is stored (another request, above); the record comes later, in a logs request.
    await sendEvaluationResult();
    const events = await evaluationsOfChat();
    expect(events).toHaveLength(1);
    const [ev] = events;
    expect(ev.links.map((l: Row) => l.span_id)).toEqual([chat.spanContext().spanId]);
    // The case of the call it evaluates (the record itself names none).
    expect(ev.correlation_id).toBe(CASE);
    expect(ev.attributes).toMatchObject({ 'gen_ai.evaluation.name': 'kb_consistency', 'gen_ai.evaluation.score.value': '0.25', 'gen_ai.evaluation.score.label': 'inconsistent' });
    // The judge's explanation is content, not an attribute.
    expect(JSON.stringify(ev.attributes)).not.toContain(EXPLANATION);
    const view = await sql<Row>(bridge.apiUrl, `SELECT evaluation_name, evaluation_score, evaluation_label, evaluated_span_id, response_id FROM otel_audit.evaluations WHERE event_id = ${q(ev.event_id)}`);
    expect(view).toEqual([{ evaluation_name: 'kb_consistency', evaluation_score: 0.25, evaluation_label: 'inconsistent', evaluated_span_id: chat.spanContext().spanId, response_id: '' }]);

    // The same record again (an exporter retry, a replayed batch): still one event.
    await sendEvaluationResult();
    const again = await evaluationsOfChat();
    expect(again.map((e) => e.event_id)).toEqual([ev.event_id]);

    const v = await runCli(['verify', '--api-url', bridge.apiUrl]);
    expect(v.code, v.stdout + v.stderr).toBe(0);
  });

  it('c. lists an OpenInference EVALUATOR span’s score and label in the evaluations view', async () => {
    const ids = [evaluator, fairness].map((s) => q(s.spanContext().spanId)).join(', ');
    const rows = await sql<Row>(bridge.apiUrl, `SELECT evaluation_name, evaluation_score, evaluation_label, evaluated_span_id FROM otel_audit.evaluations WHERE span_id IN (${ids}) ORDER BY evaluation_name`);
    expect(rows).toEqual([
      { evaluation_name: 'correctness', evaluation_score: 0, evaluation_label: 'incorrect', evaluated_span_id: chat.spanContext().spanId },
      { evaluation_name: 'demographic_parity', evaluation_score: 0.04, evaluation_label: 'pass', evaluated_span_id: '' },
    ]);
    const [attrs] = await sql<Row>(bridge.apiUrl, `SELECT attributes FROM otel_audit.events WHERE span_id = ${q(evaluator.spanContext().spanId)}`);
    // The explanation is in the evaluator's output: content, never an attribute.
    expect(JSON.stringify(attrs)).not.toContain('excludes flood damage');
  });
});
