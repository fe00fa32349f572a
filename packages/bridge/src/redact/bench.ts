/**
 * Micro-benchmark of the redaction stage (not a test): strings per second for typical attribute
 * values and for prompts. Run: node packages/bridge/src/redact/bench.ts
 */
import { Redactor } from './redactor.ts';

const redactor = new Redactor();

// What span attributes usually hold: model names, ids, enums, short text; a few carry a datum.
const attributes = [
  'gpt-4o-mini-2024-07-18',
  'chat.completions',
  'tool_call:lookup_order#0001',
  'https://api.openai.com/v1/chat/completions',
  'user-7f3a9c21 in tenant acme-eu',
  '550e8400-e29b-41d4-a716-446655440000',
  'How do I reset my router password?',
  'Order ORD-2024-118842 shipped 2024-11-05',
  'stop',
  'Contact me at jane.doe@example.com please',
  '{"order_id":"ORD-2024-118842","limit":10}',
  'call +1 415 555 0134 after 5pm today',
];

const prose =
  'Hello, I ordered a pair of headphones last week (order #48213) and the left ear cup stopped ' +
  'working after two days. I already tried resetting them as described in the manual, version 3.14.2 ' +
  'of the firmware, and charging them overnight. The tracking number was 1Z999AA10123456784. Could ' +
  'you tell me whether this is covered by the warranty, and how long a replacement takes? I would ' +
  'prefer a replacement over a refund. The receipt is dated 2024-11-05 and the total was $129.99. ';
const promptPlain = prose.repeat(Math.ceil(2048 / prose.length)).slice(0, 2048);
const promptWithData = `${promptPlain.slice(0, 1900)} My email is jane.doe@example.com, card 4111 1111 1111 1111, api_key=abc123def456.`;

function bench(name: string, inputs: string[], minMs = 1500): void {
  let n = 0;
  let sink = 0;
  const t0 = performance.now();
  let elapsed = 0;
  do {
    for (const s of inputs) sink += redactor.redactString(s).findings;
    n += inputs.length;
    elapsed = performance.now() - t0;
  } while (elapsed < minMs);
  const rate = (n / elapsed) * 1000;
  const avg = inputs.reduce((a, s) => a + s.length, 0) / inputs.length;
  console.log(
    `${name.padEnd(34)} ${Math.round(rate).toLocaleString('en-US').padStart(12)} strings/s` +
      `  (${((rate * avg) / 1e6).toFixed(1)} MB/s, avg ${Math.round(avg)} chars, findings ${sink > 0 ? 'yes' : 'no'})`,
  );
}

// Warm up the JIT so the first row is not penalised.
for (let i = 0; i < 20000; i++) redactor.redactString(attributes[i % attributes.length]!);

bench('40-char attributes (mixed)', attributes);
bench('40-char attributes (no datum)', attributes.slice(0, 9));
bench('2 KB prompt, nothing to mask', [promptPlain]);
bench('2 KB prompt with 3 data', [promptWithData]);
// Repeated short strings above are answered by the cache; distinct ones (ids, timestamps) are not.
const distinct = Array.from({ length: 50_000 }, (_, i) => `${attributes[i % attributes.length]} ${i}`);
bench('40-char attributes, all distinct', distinct);
// Percent-encoding and JSON escapes are decoded and scanned a second time.
bench('URL with %-encoding, no datum', [
  'https://help.acme.example/search?q=password%20reset%20not%20working&lang=en&ref=nav%2Fheader%2Fsearch-box&page=2',
]);
bench('JSON in JSON with \\n escapes', [
  JSON.stringify({ body: JSON.stringify({ role: 'user', content: `${prose.slice(0, 200)}\nThanks,\nJane` }) }),
]);
function benchSpans(name: string, span: Record<string, unknown>, minMs = 1500): void {
  let n = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < minMs) {
    redactor.redactValue(span);
    n++;
  }
  const rate = Math.round((n / (performance.now() - t0)) * 1000);
  console.log(`${name.padEnd(34)} ${rate.toLocaleString('en-US').padStart(12)} spans/s`);
}

// The attributes of a typical OTel GenAI client span (instrumentation-openai plus audit.*).
const genAiSpan = {
  'gen_ai.operation.name': 'chat',
  'gen_ai.system': 'openai',
  'gen_ai.request.model': 'gpt-4o-mini',
  'gen_ai.response.model': 'gpt-4o-mini-2024-07-18',
  'gen_ai.response.id': 'chatcmpl-AQx2nDv8C9Qk2eS1o0zFhTtB7c0Wn',
  'gen_ai.response.finish_reasons': ['stop'],
  'gen_ai.request.temperature': 0.2,
  'gen_ai.request.max_tokens': 1024,
  'gen_ai.usage.input_tokens': 1532,
  'gen_ai.usage.output_tokens': 211,
  'server.address': 'api.openai.com',
  'server.port': 443,
  'audit.correlation_id': 'TCK-2024-118842',
  'audit.actor.id': 'user-7f3a9c21',
  'audit.actor.type': 'agent',
  'audit.purpose': 'answer',
  'session.id': 'sess_01HF3Z9X8K2M4N6P8R0T2V4X6Z',
  'gen_ai.tool.name': 'lookup_order',
  'gen_ai.tool.call.id': 'call_Xo9mT2k4LqP8zR1vB6nW3yHs',
  'gen_ai.tool.call.arguments': '{"order_id":"ORD-2024-118842","email":"jane.doe@example.com"}',
};
benchSpans('redactValue, GenAI span (20 attrs)', genAiSpan);
benchSpans('redactValue, same + 2 KB prompt', { ...genAiSpan, 'gen_ai.prompt': promptWithData });
