/**
 * Model Context Protocol spans: the OTel MCP conventions (`mcp.method.name`, `mcp.session.id`,
 * `mcp.resource.uri`, `jsonrpc.request.id`, `gen_ai.tool.name`), Sentry's MCP server
 * integration (@sentry/core 11: `mcp.tool.name`, `mcp.request.id`, `mcp.server.name`,
 * `mcp.request.argument.*`, `mcp.tool.result.*`), and @traceloop/instrumentation-mcp 0.27
 * (`<tool>.tool` / `<method>.mcp` spans with `traceloop.entity.input/output`).
 *
 * Before the 2026-07-28 protocol revision a call carries `mcp.session.id`; after it there are
 * no sessions and each request states its protocol version. Both shapes make the same event:
 * the session id, when present, stays in `attributes` (it is the transport's, not the case's).
 *
 * One action, one event: a server span that continues the client's trace (the client's
 * context came in the request's `_meta`) is the callee's half of a call the client's span
 * already records, and makes no event of its own. Both conventions take the server span's
 * parent from `_meta` and link the transport's span; so a server span with a parent and a
 * link, or with a parent over stdio (no transport span), is such a half. A server span that
 * starts the trace, or whose parent is only its own HTTP span (no context in `_meta`), is the
 * only record of the call and makes the event.
 */
import type { EventType, SourceRef, TelemetrySpan } from '../../model.ts';
import type { DraftBuilder, Mapper } from '../types.ts';
import { PRIORITY } from '../internal/priority.ts';
import { bool, consumeInto, groupIndexed, isRecord, parseJsonish, setField, str } from '../internal/values.ts';

/** Methods with audit meaning; every other method (initialize, tools/list, ping, the notifications, ...) is protocol housekeeping. */
const METHOD_TYPES: Readonly<Record<string, EventType>> = {
  'tools/call': 'tool_call',
  'resources/read': 'retrieval',
  'prompts/get': 'retrieval',
};

const SPAN_KIND_SERVER = 2;
const TRACELOOP_SCOPE = '@traceloop/instrumentation-mcp';

/** The method of a @traceloop/instrumentation-mcp span, from its name. */
function traceloopMethod(span: TelemetrySpan): string | undefined {
  if (span.name.endsWith('.mcp')) return span.name.slice(0, -4);
  if (span.name.endsWith('.tool') && str(span.attributes['traceloop.span.kind']) === 'tool') return 'tools/call';
  return undefined;
}

function isServerSide(span: TelemetrySpan): boolean {
  return span.kind === SPAN_KIND_SERVER || str(span.attributes['sentry.op']) === 'mcp.server';
}

/** The callee's half of a call whose client span carries the trace (see the file comment). */
function continuesClientTrace(span: TelemetrySpan): boolean {
  if (span.parentSpanId === '') return false;
  if (span.links.length > 0) return true;
  const a = span.attributes;
  return str(a['network.transport']) === 'pipe' || /stdio/i.test(str(a['mcp.transport']) ?? '');
}

function mapMcp(span: TelemetrySpan, draft: DraftBuilder): boolean {
  const a = span.attributes;
  const f = draft.fields;
  let method = str(a['mcp.method.name']);
  const traceloop = span.scope.name === TRACELOOP_SCOPE;
  if (method !== undefined) draft.consume('mcp.method.name');
  else if (traceloop) method = traceloopMethod(span);
  if (method === undefined) return false;

  setField(f, 'operation', method);
  const type = Object.hasOwn(METHOD_TYPES, method) ? METHOD_TYPES[method] : undefined;
  const server = isServerSide(span);
  if (!type) {
    draft.suppress(PRIORITY.CONVENTION, `MCP ${method}`);
  } else if (server && continuesClientTrace(span)) {
    // Vetoes the tool_call that gen_ai.operation.name=execute_tool would propose too.
    draft.suppress(PRIORITY.CONVENTION, 'MCP server half of a traced client call');
  } else {
    draft.proposeType(type, PRIORITY.CONVENTION);
  }

  // The MCP server is the target system: named by the server itself (server side, or the
  // client's record of the initialize result), else the address the client called.
  const serverName = str(a['mcp.server.name']) ?? (server ? str(span.resource['service.name']) : undefined) ?? str(a['server.address']);
  if (a['mcp.server.name'] !== undefined) draft.consume('mcp.server.name');
  setField(f, 'target_system', serverName ?? 'mcp');

  // jsonrpc.request.id (OTel) / mcp.request.id (Sentry): the call's id, the same on both sides.
  consumeInto(draft, a, 'tool_call_id', 'jsonrpc.request.id');
  consumeInto(draft, a, 'tool_call_id', 'mcp.request.id');

  const traceloopInput = traceloop ? parseJsonish(a['traceloop.entity.input']) : undefined;
  const traceloopOutput = traceloop ? parseJsonish(a['traceloop.entity.output']) : undefined;
  if (traceloop) draft.consume('traceloop.entity.input', 'traceloop.entity.output');

  if (method === 'tools/call') {
    consumeInto(draft, a, 'tool_name', 'gen_ai.tool.name');
    consumeInto(draft, a, 'tool_name', 'mcp.tool.name');
    if (isRecord(traceloopInput)) {
      setField(f, 'tool_name', str(traceloopInput.tool_name));
      if (traceloopInput.arguments !== undefined) draft.content.arguments ??= traceloopInput.arguments;
    }
    const args = requestArguments(a, draft);
    if (args) draft.content.arguments ??= args;
    const result = toolResult(a, draft);
    if (result !== undefined) draft.content.result ??= result;
    if (traceloopOutput !== undefined) draft.content.result ??= traceloopOutput;
    const isError = bool(a['mcp.tool.result.is_error']);
    if (isError !== undefined) draft.consume('mcp.tool.result.is_error');
    // A tool that answered with isError failed, whatever the transport's status said.
    if (isError === true) setField(f, 'status', 'error');
  } else if (method === 'resources/read') {
    const uri =
      str(a['mcp.resource.uri']) ??
      unquote(str(a['mcp.request.argument.uri'])) ??
      (isRecord(traceloopInput) ? str(traceloopInput.uri) : undefined);
    draft.consume('mcp.resource.uri', 'mcp.request.argument.uri');
    if (uri !== undefined) setField(f, 'sources', [source(uri, uri)]);
    if (traceloopOutput !== undefined) draft.content.result ??= traceloopOutput;
  } else if (method === 'prompts/get') {
    const name =
      str(a['gen_ai.prompt.name']) ??
      str(a['mcp.prompt.name']) ??
      unquote(str(a['mcp.request.argument.name'])) ??
      (isRecord(traceloopInput) ? str(traceloopInput.name) : undefined);
    draft.consume('gen_ai.prompt.name', 'mcp.prompt.name', 'mcp.request.argument.name');
    if (name !== undefined) setField(f, 'sources', [source(name, '')]);
    const args = requestArguments(a, draft);
    if (args) draft.content.arguments ??= args;
    if (isRecord(traceloopInput) && traceloopInput.arguments !== undefined) draft.content.arguments ??= traceloopInput.arguments;
    const prompt = promptResult(a, draft);
    if (prompt !== undefined) draft.content.result ??= prompt;
    if (traceloopOutput !== undefined) draft.content.result ??= traceloopOutput;
  }
  return true;
}

function source(id: string, uri: string): SourceRef {
  return { id, uri, version: '', sensitivity: '', score: null };
}

/** Sentry records argument values JSON-encoded (`"\"file:///a\""`). */
function unquote(v: string | undefined): string | undefined {
  if (v === undefined) return undefined;
  const p = parseJsonish(v);
  return typeof p === 'string' ? p : v;
}

/** Sentry's `mcp.request.argument.<name>` (JSON-encoded values, with recordInputs): content. */
function requestArguments(a: Record<string, unknown>, draft: DraftBuilder): Record<string, unknown> | undefined {
  const prefix = 'mcp.request.argument.';
  let out: Record<string, unknown> | undefined;
  for (const k in a) {
    if (!k.startsWith(prefix) || k === 'mcp.request.argument.uri' || k === 'mcp.request.argument.name') continue;
    draft.consume(k);
    (out ??= {})[k.slice(prefix.length)] = parseJsonish(a[k]);
  }
  return out;
}

/**
 * Sentry's tool result attributes (with recordOutputs): `mcp.tool.result.content` for a single
 * item, `mcp.tool.result.<i>.content` for several. The content is content; counts and types
 * stay in attributes.
 */
function toolResult(a: Record<string, unknown>, draft: DraftBuilder): unknown {
  const single = a['mcp.tool.result.content'];
  if (single !== undefined) {
    draft.consume('mcp.tool.result.content');
    return parseJsonish(single);
  }
  const { groups } = groupIndexed(a, 'mcp.tool.result.');
  const items: unknown[] = [];
  for (const [i, g] of groups) {
    if (g.content === undefined) continue;
    draft.consume(`mcp.tool.result.${i}.content`);
    items.push(parseJsonish(g.content));
  }
  return items.length > 0 ? items : undefined;
}

/** Sentry's prompt result attributes (with recordOutputs): message content is content. */
function promptResult(a: Record<string, unknown>, draft: DraftBuilder): unknown {
  const single = a['mcp.prompt.result.message_content'];
  if (single !== undefined) {
    draft.consume('mcp.prompt.result.message_content', 'mcp.prompt.result.description');
    return parseJsonish(single);
  }
  const { groups } = groupIndexed(a, 'mcp.prompt.result.');
  const items: unknown[] = [];
  for (const [i, g] of groups) {
    if (g.content === undefined) continue;
    draft.consume(`mcp.prompt.result.${i}.content`);
    items.push(parseJsonish(g.content));
  }
  if (a['mcp.prompt.result.description'] !== undefined) draft.consume('mcp.prompt.result.description');
  return items.length > 0 ? items : undefined;
}

function mcpFallback(span: TelemetrySpan): EventType | undefined {
  const method = str(span.attributes['mcp.method.name']);
  return method !== undefined && Object.hasOwn(METHOD_TYPES, method) ? METHOD_TYPES[method] : undefined;
}

export const mcpMapper: Mapper = {
  name: 'mcp',
  // traceloop.* only for @traceloop/instrumentation-mcp's spans (checked by scope name).
  triggers: ['mcp.', 'jsonrpc.', 'traceloop.span.kind', 'traceloop.entity.input'],
  map: mapMcp,
  fallbackType: mcpFallback,
};
