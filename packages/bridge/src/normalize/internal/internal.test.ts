import { describe, expect, it } from 'vitest';
import { toMessages, toSystemInstructions } from './messages.ts';
import { normalizeProvider } from './provider.ts';
import { groupIndexed, parseJsonish } from './values.ts';

describe('parseJsonish', () => {
  it('parses JSON strings, unwraps double encoding, returns structured values as they are', () => {
    expect(parseJsonish('{"a":1}')).toEqual({ a: 1 });
    expect(parseJsonish(JSON.stringify(JSON.stringify({ a: 1 })))).toEqual({ a: 1 });
    expect(parseJsonish({ a: 1 })).toEqual({ a: 1 });
  });

  it('keeps the raw string when parsing fails, and leaves plain text alone', () => {
    expect(parseJsonish('{"a":')).toBe('{"a":');
    expect(parseJsonish('Paris')).toBe('Paris');
    expect(parseJsonish('42')).toBe('42');
  });
});

describe('groupIndexed', () => {
  it('orders numerically, tolerates gaps, ignores non-numeric indexes', () => {
    const { groups, keys } = groupIndexed(
      { 'p.10.role': 'user', 'p.2.role': 'user', 'p.0.role': 'system', 'p.x.role': 'odd', 'p.2.content': 'hi', 'q.1': 1 },
      'p.',
    );
    expect(groups.map(([i]) => i)).toEqual([0, 2, 10]);
    expect(groups[1]![1]).toEqual({ role: 'user', content: 'hi' });
    expect(keys).toHaveLength(4);
  });
});

describe('normalizeProvider', () => {
  it.each([
    ['openai', 'openai'],
    ['OpenAI', 'openai'],
    ['openai.chat', 'openai'],
    ['az.ai.openai', 'azure.ai.openai'],
    ['azure.ai.openai', 'azure.ai.openai'],
    ['aws.bedrock', 'aws.bedrock'],
    ['amazon-bedrock.chat', 'aws.bedrock'],
    ['Anthropic', 'anthropic'],
    ['google', 'google'],
    ['gcp.vertex_ai', 'gcp.vertex_ai'],
    ['Google.Generative-AI', 'google.generative-ai'],
    ['SomeNewVendor', 'somenewvendor'],
  ])('%s → %s', (raw, norm) => {
    expect(normalizeProvider(raw)).toBe(norm);
  });
});

describe('message shapes', () => {
  it('reads OpenAI chat messages with tool calls and tool results', () => {
    expect(
      toMessages([
        { role: 'assistant', content: null, tool_calls: [{ id: 'c1', type: 'function', function: { name: 'f', arguments: '{"x":1}' } }] },
        { role: 'tool', tool_call_id: 'c1', content: 'done' },
      ]),
    ).toEqual([
      { role: 'assistant', parts: [{ type: 'tool_call', id: 'c1', name: 'f', arguments: { x: 1 } }] },
      { role: 'tool', parts: [{ type: 'tool_call_response', id: 'c1', response: 'done' }] },
    ]);
  });

  it('reads system instructions as parts, as a string, or as messages', () => {
    const want = [{ role: 'system', parts: [{ type: 'text', content: 'S' }] }];
    expect(toSystemInstructions('[{"type":"text","content":"S"}]')).toEqual(want);
    expect(toSystemInstructions('S')).toEqual(want);
    expect(toSystemInstructions([{ role: 'system', content: 'S' }])).toEqual(want);
  });
});
