import { describe, expect, it } from 'vitest';
import { normalizeSpan } from '../normalize.ts';
import { loadFixture } from '../testdata/load.ts';

const mcp = loadFixture('mcp');
const traceloop = loadFixture('traceloop-mcp');

describe('mcp: client spans (OTel MCP conventions)', () => {
  it('maps tools/call to a tool call on the MCP server, the JSON-RPC id as call id, the session kept in attributes', () => {
    const d = normalizeSpan(mcp.span('client-call'))!;
    expect(d.eventType).toBe('tool_call');
    // gen_ai.operation.name (execute_tool) outranks the MCP method for the operation column.
    expect(d.fields).toMatchObject({ operation: 'execute_tool', tool_name: 'get_weather', tool_call_id: '42', target_system: 'weather.mcp.example' });
    expect(d.content.arguments).toEqual({ location: 'Paris' });
    expect(d.consumedKeys.has('mcp.session.id')).toBe(false);
    expect(d.conventions).toContain('mcp');
  });

  it('maps resources/read (2026-07-28, no session) to a retrieval with the URI as its source', () => {
    const d = normalizeSpan(mcp.span('client-read-2026'))!;
    expect(d.eventType).toBe('retrieval');
    expect(d.fields.sources).toEqual([{ id: 'file:///policies/water-damage.md', uri: 'file:///policies/water-damage.md', version: '', sensitivity: '', score: null }]);
    expect(d.fields.target_system).toBe('policies.mcp.example');
  });
});

describe('mcp: server spans (@sentry/core 11.17 MCP server integration)', () => {
  it('makes no second event for a server span that continues the client call (parent from _meta, link to the HTTP span)', () => {
    expect(normalizeSpan(mcp.span('server-call'))).toBeNull();
    // Over stdio there is no transport span to link: a parent alone is the client's.
    expect(normalizeSpan(mcp.span('server-stdio-traced'))).toBeNull();
  });

  it('keeps a server span that is the only record of the call: a trace root (after the revision), or under its own HTTP span', () => {
    const root = normalizeSpan(mcp.span('server-root-2026'))!;
    expect(root.eventType).toBe('tool_call');
    expect(root.fields).toMatchObject({ tool_name: 'get_weather', tool_call_id: '3', target_system: 'weather-mcp', status: 'error' });
    const underHttp = normalizeSpan(mcp.span('server-http-parent'))!;
    expect(underHttp.eventType).toBe('tool_call');
  });

  it('maps prompts/get to a retrieval of the prompt; arguments and the prompt text are content', () => {
    const d = normalizeSpan(mcp.span('server-prompt'))!;
    expect(d.eventType).toBe('retrieval');
    expect(d.fields.sources![0]).toMatchObject({ id: 'claim_summary' });
    expect(d.fields.target_system).toBe('claims-prompts');
    expect(d.content.arguments).toEqual({ claim_id: 'C-981' });
    expect(d.content.result).toBe('Summarize claim C-981 for an adjuster.');
    expect(d.consumedKeys.has('mcp.prompt.result.message_content')).toBe(true);
  });

  it('drops protocol housekeeping (tools/list)', () => {
    expect(normalizeSpan(mcp.span('server-list'))).toBeNull();
  });

  it('the server span of a traced call carries the same call id as the client span (one action)', () => {
    const client = normalizeSpan(mcp.span('client-call'))!;
    expect(mcp.span('server-call').parentSpanId).toBe(mcp.span('client-call').spanId);
    expect(client.fields.tool_call_id).toBe(String(mcp.span('server-call').attributes['mcp.request.id']));
  });
});

describe('mcp: @traceloop/instrumentation-mcp 0.27', () => {
  it('maps <tool>.tool to a tool call with its arguments and result as content', () => {
    const d = normalizeSpan(traceloop.span('tl-tool'))!;
    expect(d.eventType).toBe('tool_call');
    expect(d.fields).toMatchObject({ tool_name: 'get_weather', operation: 'tools/call' });
    expect(d.content.arguments).toEqual({ location: 'Paris' });
    expect(d.content.result).toEqual({ content: [{ type: 'text', text: 'rainy' }] });
  });

  it('maps resources/read.mcp to a retrieval of the URI; the session span and listings make no event', () => {
    const d = normalizeSpan(traceloop.span('tl-read'))!;
    expect(d.eventType).toBe('retrieval');
    expect(d.fields.sources![0]!.uri).toBe('file:///policies/water-damage.md');
    expect(normalizeSpan(traceloop.span('tl-session'))).toBeNull();
    expect(normalizeSpan(traceloop.span('tl-list'))).toBeNull();
  });
});
