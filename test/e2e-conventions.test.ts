// The conventions of late 2026 end to end (issue 16): spans shaped as the real instrumentations
// emit them (Strands agents and memory, the OTel MCP conventions and Sentry's MCP server spans,
// GenAI evaluations, guardrails) and otel-audit's own oversight and lineage attributes, sent by
// the real OTel SDK over OTLP/HTTP to a real bridge, read back through the API's SQL, the
// derived columns, the new views and `otel-audit timeline`.
import { createHash } from 'node:crypto';
import { context, SpanKind, trace, type Attributes, type Span } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configureAudit, proposalRef, recordEvaluation, recordOverride } from '../packages/instrumentation/src/index.ts';
import { flush, runCli, sql, startBridge, type BridgeProcess } from './helpers/bridge-process.ts';

const CASE = 'CLAIM-2026-E2E';
const PNG_BASE64 = Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex').toString('base64');
const ORIGINAL = 'Your claim is approved: 1,200 EUR.';
const FINAL = 'Your claim is declined: flood damage is excluded by your policy.';
const FINAL_2 = 'Your claim needs an inspection first.';
const SEALED_CASE = 'CLAIM-2026-E2E-SEALED';
const SEALED_ORIGINAL = 'Approved: write to jane.doe@example.com for the payout.';

let bridge: BridgeProcess;
const ids: Record<string, string> = {};

type Row = Record<string, any>;
let rows: Row[];
const byName = (name: string) => rows.filter((r) => r.name === name);
const one = (name: string) => {
  const found = byName(name);
  expect(found, `one event named ${name}`).toHaveLength(1);
  return found[0]!;
};

async function emit(b: BridgeProcess): Promise<void> {
  const provider = new TracerProvider({
    resource: resourceFromAttributes({ 'service.name': 'claims-agent', 'audit.tenant': 'acme' }),
    spanProcessors: [new SimpleSpanProcessor({ exporter: new OTLPTraceExporter({ url: `${b.otlpUrl}/v1/traces` }) })],
  });
  const tracer = provider.getTracer('e2e-conventions');
  const common: Attributes = { 'audit.correlation_id': CASE, 'audit.risk': 'medium' };
  const child = (parent: Span, name: string, kind: SpanKind, attributes: Attributes, links: Span[] = []): Span =>
    tracer.startSpan(name, { kind, attributes, links: links.map((l) => ({ context: l.spanContext() })) }, trace.setSpan(context.active(), parent));

  // @strands-agents/sdk: the agent span carries the accumulated usage of its calls.
  const agent = tracer.startSpan('invoke_agent Claims Agent', {
    attributes: { ...common, 'gen_ai.operation.name': 'invoke_agent', 'gen_ai.provider.name': 'strands-agents', 'gen_ai.agent.name': 'Claims Agent', 'gen_ai.usage.input_tokens': 900, 'gen_ai.usage.output_tokens': 100, 'gen_ai.usage.cache_read.input_tokens': 700 },
  });
  ids.agent = agent.spanContext().spanId;

  const chat = child(agent, 'chat gpt-5', SpanKind.CLIENT, {
    'gen_ai.operation.name': 'chat',
    'gen_ai.provider.name': 'openai',
    'gen_ai.request.model': 'claims-triage',
    'gen_ai.response.id': 'resp_e2e_1',
    'gen_ai.usage.input_tokens': 120,
    'gen_ai.usage.output_tokens': 30,
    'gen_ai.usage.cache_read.input_tokens': 64,
    'gen_ai.usage.cache_creation.input_tokens': 16,
    'gen_ai.usage.reasoning.output_tokens': 8,
    'audit.model.registry': 'mlflow',
    'audit.model.name': 'claims-triage',
    'audit.model.version': '7',
    'audit.model.run_id': '5f2c9a0e8b7d4e61',
    'gen_ai.input.messages': JSON.stringify([{ role: 'user', parts: [{ type: 'text', content: 'Is this receipt covered?' }, { type: 'blob', modality: 'image', mime_type: 'image/png', content: PNG_BASE64 }] }]),
    'gen_ai.output.messages': JSON.stringify([{ role: 'assistant', parts: [{ type: 'reasoning', content: 'Receipt shows water damage.' }, { type: 'text', content: ORIGINAL }], finish_reason: 'stop' }]),
  });
  ids.chat = chat.spanContext().spanId;
  chat.end();

  child(agent, 'memory.add', SpanKind.INTERNAL, { 'gen_ai.operation.name': 'memory.add', 'gen_ai.provider.name': 'strands-agents', 'memory.store.names': '["customer-prefs"]', content: 'Prefers email' }).end();
  child(agent, 'search_memory customer-prefs', SpanKind.INTERNAL, { 'gen_ai.operation.name': 'search_memory', 'gen_ai.memory.store.id': 'customer-prefs', 'gen_ai.memory.query.text': 'contact preference' }).end();

  // MCP before the 2026-07-28 revision: the client's call and the server's half of it (Sentry's
  // span, parent from the request's _meta, linked to its HTTP span).
  const mcpCall = child(agent, 'tools/call get_weather', SpanKind.CLIENT, {
    'mcp.method.name': 'tools/call', 'gen_ai.operation.name': 'execute_tool', 'gen_ai.tool.name': 'get_weather', 'jsonrpc.request.id': '42',
    'mcp.session.id': '191c4850af6c49e0', 'mcp.protocol.version': '2025-06-18', 'server.address': 'weather.mcp.example',
  });
  const http = child(mcpCall, 'POST /mcp', SpanKind.SERVER, { 'http.request.method': 'POST' });
  child(mcpCall, 'tools/call get_weather', SpanKind.INTERNAL, {
    'mcp.method.name': 'tools/call', 'mcp.request.id': '42', 'mcp.tool.name': 'get_weather', 'mcp.session.id': '191c4850af6c49e0', 'mcp.server.name': 'weather',
    'sentry.op': 'mcp.server', 'mcp.transport': 'StreamableHTTPServerTransport', 'network.transport': 'tcp',
  }, [http]).end();
  http.end();
  mcpCall.end();
  // After the revision: no session.
  child(agent, 'resources/read file:///policies/flood.md', SpanKind.CLIENT, { 'mcp.method.name': 'resources/read', 'mcp.resource.uri': 'file:///policies/flood.md', 'jsonrpc.request.id': '7', 'mcp.protocol.version': '2026-07-28', 'server.address': 'policies.mcp.example' }).end();

  // Content uploaded elsewhere by the source: only references on the span.
  child(agent, 'chat gpt-5-mini', SpanKind.CLIENT, { 'gen_ai.operation.name': 'chat', 'gen_ai.provider.name': 'openai', 'gen_ai.request.model': 'gpt-5-mini', 'gen_ai.input.messages_ref': 'gs://genai-content/in-1.json', 'gen_ai.output.messages_ref': 'gs://genai-content/out-1.json' }).end();
  child(agent, 'chat anthropic.claude', SpanKind.CLIENT, { 'gen_ai.operation.name': 'chat', 'gen_ai.provider.name': 'aws.bedrock', 'gen_ai.request.model': 'anthropic.claude', 'aws.bedrock.guardrail.id': 'gr-pii-01', 'gen_ai.response.finish_reasons': ['guardrail_intervened'] }).end();
  agent.end();

  // An evaluation of the chat call, a person overriding its answer, and the deployment of the model version.
  tracer.startSpan('evaluation Relevance', { root: true, links: [{ context: chat.spanContext() }], attributes: { ...common, 'gen_ai.evaluation.name': 'Relevance', 'gen_ai.evaluation.score.value': 0.82, 'gen_ai.evaluation.score.label': 'relevant', 'gen_ai.response.id': 'resp_e2e_1' } }).end();
  tracer.startSpan('override reply', { root: true, links: [{ context: chat.spanContext() }], attributes: { ...common, 'audit.approval.decision': 'overridden', 'audit.approval.reviewer.id': 'adjuster-17', 'audit.approval.rationale': 'Policy excludes flood', 'audit.override.original_output': ORIGINAL, 'audit.override.final_output': FINAL } }).end();
  // A high-risk override (another case): its content is sealed, the listings carry the redacted copy only.
  tracer.startSpan('override reply', { root: true, attributes: { 'audit.correlation_id': SEALED_CASE, 'audit.risk': 'high', 'audit.approval.decision': 'overridden', 'audit.approval.reviewer.id': 'adjuster-19', 'audit.override.original_output': SEALED_ORIGINAL, 'audit.override.final_output': FINAL_2 } }).end();
  tracer.startSpan('promote claims-triage v7', { root: true, attributes: { ...common, 'audit.actor.id': 'ml-engineer-3', 'audit.actor.type': 'human', 'audit.model.registry': 'mlflow', 'audit.model.name': 'claims-triage', 'audit.model.version': '7', 'audit.model.run_id': '5f2c9a0e8b7d4e61', 'audit.deployment.environment': 'prod', 'audit.deployment.platform': 'sagemaker', 'audit.approval.reviewer.id': 'model-risk-officer-1' } }).end();

  // The same through @otel-audit/instrumentation's helpers.
  configureAudit({ tracerProvider: provider, captureContent: true });
  try {
    recordOverride({ proposal: proposalRef(chat, { correlationId: CASE }), reviewer: { id: 'adjuster-18' }, originalOutput: ORIGINAL, finalOutput: FINAL_2, reviewDurationMs: 42000 });
    recordEvaluation({ name: 'Groundedness', score: 0.4, label: 'ungrounded', target: chat.spanContext(), responseId: 'resp_e2e_1', correlationId: CASE });
  } finally {
    configureAudit({ tracerProvider: undefined, captureContent: false });
  }

  await provider.forceFlush();
  await provider.shutdown();
}

beforeAll(async () => {
  bridge = await startBridge();
  await emit(bridge);
  // The SDK's exports were acknowledged (durable); flush stores every pending event now.
  await flush(bridge.apiUrl);
  rows = await sql<Row>(bridge.apiUrl, `SELECT * FROM otel_audit.events WHERE correlation_id = '${CASE}' ORDER BY event_time, seq`);
});
afterAll(async () => {
  const code = await bridge?.stop();
  expect(code).toBe(0);
});

describe('late-2026 conventions: real SDK → bridge → chDB', () => {
  it('stores one event per action: the MCP server half and the HTTP span make none', () => {
    expect(rows.map((r) => `${r.event_type} ${r.name}`).sort()).toEqual(
      [
        'request invoke_agent Claims Agent',
        'model_call chat gpt-5',
        'system_effect memory.add',
        'retrieval search_memory customer-prefs',
        'tool_call tools/call get_weather',
        'retrieval resources/read file:///policies/flood.md',
        'model_call chat anthropic.claude',
        'model_call chat gpt-5-mini',
        'evaluation evaluation Relevance',
        'approval override reply',
        'deployment promote claims-triage v7',
        'approval approval overridden',
        'evaluation evaluation Groundedness',
      ].sort(),
    );
  });

  it('fills the derived token and lineage columns on model calls only', async () => {
    const calls = await sql<Row>(bridge.apiUrl, `SELECT span_id, cache_read_input_tokens, cache_write_input_tokens, reasoning_output_tokens, model_registry, model_version, model_run_id, response_id FROM otel_audit.model_calls WHERE correlation_id = '${CASE}' AND request_model = 'claims-triage'`);
    expect(calls).toEqual([{ span_id: ids.chat, cache_read_input_tokens: '64', cache_write_input_tokens: '16', reasoning_output_tokens: '8', model_registry: 'mlflow', model_version: '7', model_run_id: '5f2c9a0e8b7d4e61', response_id: 'resp_e2e_1' }]);
    // The agent's aggregate (700 cached) is not a second count.
    const agg = await sql<Row>(bridge.apiUrl, `SELECT sum(cache_read_input_tokens) AS cached FROM otel_audit.events WHERE correlation_id = '${CASE}'`);
    expect(agg).toEqual([{ cached: '64' }]);
  });

  it('keeps a blob as digest, size and media type, never its bytes', () => {
    const chat = one('chat gpt-5');
    expect(chat.content).not.toContain(PNG_BASE64);
    const blob = JSON.parse(chat.content).input[0].parts[1];
    expect(blob).toEqual({ type: 'blob', size: 16, sha256: createHash('sha256').update(Buffer.from(PNG_BASE64, 'base64')).digest('hex'), mime_type: 'image/png', modality: 'image' });
  });

  it('keeps content references as they are and says the content is stored externally', () => {
    const r = one('chat gpt-5-mini');
    expect(r.attributes).toMatchObject({ 'gen_ai.input.messages_ref': 'gs://genai-content/in-1.json', 'gen_ai.output.messages_ref': 'gs://genai-content/out-1.json', 'otel_audit.content': 'stored_externally' });
    expect(JSON.parse(one('chat gpt-5').content).output[0].parts[0]).toEqual({ type: 'reasoning', content: 'Receipt shows water damage.' });
  });

  it('records memory writes as system effects and searches as retrievals of the store', () => {
    expect(one('memory.add')).toMatchObject({ effect: 'memory_written', action: 'write', target_system: 'customer-prefs' });
    expect(one('search_memory customer-prefs')).toMatchObject({ action: 'search', target_system: 'customer-prefs' });
  });

  it('maps MCP: the tool call targets the MCP server; the resource read cites its URI', () => {
    expect(one('tools/call get_weather')).toMatchObject({ tool_name: 'get_weather', tool_call_id: '42', target_system: 'weather.mcp.example' });
    expect(one('tools/call get_weather').attributes['mcp.session.id']).toBe('191c4850af6c49e0');
    expect(one('resources/read file:///policies/flood.md').sources).toEqual([{ id: 'file:///policies/flood.md', uri: 'file:///policies/flood.md', version: '', sensitivity: '', score: null }]);
  });

  it('stores a guardrail intervention as blocked, the guardrail kept', () => {
    const g = one('chat anthropic.claude');
    expect(g).toMatchObject({ status: 'blocked', error_type: 'guardrail_intervened' });
    expect(g.attributes['aws.bedrock.guardrail.id']).toBe('gr-pii-01');
  });

  it('lists the evaluation in the evaluations view, tied to the evaluated call', async () => {
    const e = await sql<Row>(bridge.apiUrl, `SELECT evaluation_name, evaluation_score, evaluation_label, evaluated_span_id, response_id FROM otel_audit.evaluations WHERE correlation_id = '${CASE}' ORDER BY evaluation_name`);
    expect(e).toEqual([
      { evaluation_name: 'Groundedness', evaluation_score: 0.4, evaluation_label: 'ungrounded', evaluated_span_id: ids.chat, response_id: 'resp_e2e_1' },
      { evaluation_name: 'Relevance', evaluation_score: 0.82, evaluation_label: 'relevant', evaluated_span_id: ids.chat, response_id: 'resp_e2e_1' },
    ]);
  });

  it('keeps the AI original beside the human final of an override', () => {
    const o = one('override reply');
    expect(o).toMatchObject({ decision: 'overridden', edited: true, reviewer_id: 'adjuster-17' });
    const digest = (msg: unknown) => createHash('sha256').update(createHash('sha256').update(JSON.stringify(msg)).digest('hex')).digest('hex');
    expect(o.input_digest).toBe(digest({ role: 'assistant', parts: [{ type: 'text', content: ORIGINAL }] }));
    expect(o.output_digest).toBe(digest({ role: 'human', parts: [{ type: 'text', content: FINAL }] }));
    const c = JSON.parse(o.content);
    expect(c.input[0].parts[0].content).toBe(ORIGINAL);
    expect(c.output[0].parts[0].content).toBe(FINAL);
    // recordOverride: the same shape, linked to the AI output, the original's digest equal.
    const h = one('approval overridden');
    expect(h).toMatchObject({ decision: 'overridden', reviewer_id: 'adjuster-18', input_digest: o.input_digest });
    expect(h.output_digest).toBe(digest({ role: 'human', parts: [{ type: 'text', content: FINAL_2 }] }));
    expect(h.links.map((l: Row) => l.span_id)).toEqual([ids.chat]);
    expect(h.attributes['audit.approval.review.duration_ms']).toBe('42000');
  });

  it('lists the deployment: who promoted which version where, approved by whom', async () => {
    const d = await sql<Row>(bridge.apiUrl, `SELECT actor_id, model_registry, model_name, model_version, deployment_environment, deployment_platform, approved_by FROM otel_audit.deployments WHERE correlation_id = '${CASE}'`);
    expect(d).toEqual([{ actor_id: 'ml-engineer-3', model_registry: 'mlflow', model_name: 'claims-triage', model_version: '7', deployment_environment: 'prod', deployment_platform: 'sagemaker', approved_by: 'model-risk-officer-1' }]);
  });

  it('leaves the hash chain intact: derived columns are not hashed, the attributes they read are', async () => {
    const v = await runCli(['verify', '--api-url', bridge.apiUrl]);
    expect(v.code, v.stdout + v.stderr).toBe(0);
  });

  it('shows the new types in `otel-audit timeline` and filters them with --type', async () => {
    // Wide enough that no summary wraps.
    const t = await runCli(['timeline', CASE, '--api-url', bridge.apiUrl, '--format', 'table'], { COLUMNS: '1000' });
    expect(t.code, t.stderr).toBe(0);
    expect(t.stdout).toMatch(/evaluation\s.*Relevance score 0\.82 relevant/);
    expect(t.stdout).toMatch(/deployment\s.*claims-triage v7 → prod on sagemaker approved by model-risk-officer-1/);
    // An override shows the AI's original beside the person's final, each cut to 60 characters.
    expect(t.stdout).toMatch(/approval\s.*overridden by adjuster-17 \(edited\): "Your claim is approved: 1,200 EUR\." → "Your claim is declined: flood damage is excluded by your po…"/);
    // High risk: the raw texts are sealed; the table shows what the API lists, the redacted copy.
    const [sealed] = await sql<Row>(bridge.apiUrl, `SELECT content_sealed != '' AS sealed FROM otel_audit.events WHERE correlation_id = '${SEALED_CASE}'`);
    expect(sealed).toEqual({ sealed: 1 });
    const h = await runCli(['timeline', SEALED_CASE, '--api-url', bridge.apiUrl, '--format', 'table'], { COLUMNS: '1000' });
    expect(h.code, h.stderr).toBe(0);
    expect(h.stdout).toContain('overridden by adjuster-19 (edited): "Approved: write to [email] for the payout." → "Your claim needs an inspection first."');
    expect(h.stdout).not.toContain('jane.doe');
    const s = await runCli(['search', '--type', 'evaluation,deployment', '--correlation-id', CASE, '--api-url', bridge.apiUrl, '--format', 'jsonl']);
    expect(s.code, s.stderr).toBe(0);
    const types = s.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l).event_type).sort();
    expect(types).toEqual(['deployment', 'evaluation', 'evaluation']);
  });
});
