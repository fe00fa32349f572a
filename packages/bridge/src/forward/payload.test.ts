import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { runIntake, eventId } from '../intake/index.ts';
import { PrivacyFilter } from '../policy/index.ts';
import { decodeLogsProtobuf, decodeTracesProtobuf, ExportTraceServiceRequest } from '../otlp/index.ts';
import { EVENT_ID_ATTRIBUTE } from './index.ts';

const filter = new PrivacyFilter(randomBytes(32));
const privacy = { value: (v: unknown) => filter.value(v), policy: filter.policy, keepsRaw: false };

const TRACE = '5b8efff798038103d269b633813fc60c';
const str = (key: string, v: string) => ({ key, value: { stringValue: v } });

function tracesJson(spans: object[], resource = [str('service.name', 'fwd-test'), str('process.command_line', 'app --password hunter2')]) {
  return Buffer.from(JSON.stringify({ resourceSpans: [{ resource: { attributes: resource }, scopeSpans: [{ scope: { name: 'scope-a', version: '1.2' }, spans }] }] }));
}

function job(signal: 'traces' | 'logs', body: Buffer, extra: object = {}) {
  return { raw: { signal, encoding: 'json' as const, body, ...extra }, defaultRisk: 'medium', now: Date.now(), ingestTime: '2026-12-07 10:00:00.000000000', forward: true };
}

describe('the forward copy (runIntake with forward: true)', () => {
  const tool = {
    traceId: TRACE,
    spanId: 'eee19b7ec3c1b174',
    name: 'execute_tool refund',
    kind: 3,
    startTimeUnixNano: '1763800000123456789',
    endTimeUnixNano: '1763800000987654321',
    attributes: [
      str('gen_ai.operation.name', 'execute_tool'),
      str('gen_ai.tool.name', 'refund'),
      str('note', 'mail jane.doe@example.com'),
      str('http.request.header.authorization', 'Bearer abc.def.ghi'),
      { key: 'count', value: { intValue: '9007199254740993' } },
      { key: 'ratio', value: { doubleValue: 0.25 } },
      { key: 'list', value: { arrayValue: { values: [{ stringValue: 'a' }, { boolValue: true }] } } },
    ],
    links: [{ traceId: TRACE, spanId: '1111111111111111', attributes: [str('why', 'call +44 20 7946 0958')] }],
    status: { code: 2, message: 'failed for jane.doe@example.com' },
  };
  // Not an audit span, and it claims an event id of its own.
  const plain = {
    traceId: TRACE,
    spanId: '2222222222222222',
    parentSpanId: 'eee19b7ec3c1b174',
    name: 'GET /health',
    startTimeUnixNano: '1763800000200000000',
    endTimeUnixNano: '1763800000300000000',
    attributes: [str('audit.event_id', 'forged')],
  };

  it('holds every accepted span, redacted, times exact, and audit.event_id on audit spans only', () => {
    const r = runIntake(job('traces', tracesJson([{ ...tool, attributes: [...tool.attributes, str('audit.event_id', 'forged')] }, plain])), privacy);
    expect(r.forward?.signal).toBe('traces');
    expect(r.forward?.items).toBe(2);
    const body = Buffer.from(r.forward!.body);
    const spans = decodeTracesProtobuf(body).items;
    expect(spans.map((s) => s.spanId)).toEqual(['eee19b7ec3c1b174', '2222222222222222']);
    const [t, p] = spans;
    expect(t.attributes[EVENT_ID_ATTRIBUTE]).toBe(eventId(TRACE, 'eee19b7ec3c1b174'));
    expect(p.attributes[EVENT_ID_ATTRIBUTE]).toBeUndefined();
    expect(p.parentSpanId).toBe('eee19b7ec3c1b174');
    expect(t.attributes.note).toBe('mail [email]');
    expect(String(t.attributes['http.request.header.authorization'])).not.toContain('abc.def.ghi');
    expect(t.attributes.ratio).toBe(0.25);
    expect(t.attributes.list).toEqual(['a', true]);
    expect(t.statusCode).toBe(2);
    expect(t.statusMessage).toBe('failed for [email]');
    expect(t.links[0].attributes.why).not.toContain('7946');
    expect(t.kind).toBe(3);
    expect(t.scope).toEqual({ name: 'scope-a', version: '1.2' });
    // The command line never leaves, as it is never stored.
    expect(t.resource['process.command_line']).toBeUndefined();
    expect(t.resource['service.name']).toBe('fwd-test');
    // fixed64 nanoseconds beyond 2^53, exact (checked by the reference decoder too).
    expect([t.startTimeUnixNano, t.endTimeUnixNano]).toEqual(['1763800000123456789', '1763800000987654321']);
    const ref = ExportTraceServiceRequest.toObject(ExportTraceServiceRequest.decode(body), { longs: String }) as {
      resourceSpans: Array<{ scopeSpans: Array<{ spans: Array<{ startTimeUnixNano: string }> }> }>;
    };
    expect(ref.resourceSpans[0].scopeSpans[0].spans[0].startTimeUnixNano).toBe('1763800000123456789');
    // An int64 the decoder kept as a decimal string goes on as that string.
    expect(t.attributes.count).toBe('9007199254740993');
  });

  it('leaves out spans refused at intake (a tenant outside the ingest token\'s)', () => {
    const other = { ...plain, spanId: '3333333333333333', attributes: [str('audit.tenant', 'globex')] };
    const r = runIntake(job('traces', tracesJson([tool, other]), { allowedTenants: ['acme'], defaultTenant: 'acme' }), privacy);
    expect(r.rejected.length).toBe(1);
    expect(decodeTracesProtobuf(Buffer.from(r.forward!.body)).items.map((s) => s.spanId)).toEqual(['eee19b7ec3c1b174']);
  });

  it('holds every log record, with or without audit content, redacted', () => {
    const logs = Buffer.from(
      JSON.stringify({
        resourceLogs: [
          {
            resource: { attributes: [str('service.name', 'fwd-test')] },
            scopeLogs: [
              {
                logRecords: [
                  { timeUnixNano: '1763800000123456789', severityNumber: 9, body: { stringValue: 'user jane.doe@example.com logged in' }, attributes: [str('k', 'v')] },
                  { traceId: TRACE, spanId: 'eee19b7ec3c1b174', eventName: 'gen_ai.user.message', body: { kvlistValue: { values: [str('content', 'my card 4111 1111 1111 1111')] } } },
                ],
              },
            ],
          },
        ],
      }),
    );
    const r = runIntake(job('logs', logs), privacy);
    expect(r.forward?.items).toBe(2);
    const out = decodeLogsProtobuf(Buffer.from(r.forward!.body)).items;
    expect(out[0].body).toBe('user [email] logged in');
    expect(out[0].severityNumber).toBe(9);
    expect(out[0].timeUnixNano).toBe('1763800000123456789');
    expect(JSON.stringify(out[1].body)).not.toContain('4111 1111');
    expect(out[1].eventName).toBe('gen_ai.user.message');
    expect(out[1].spanId).toBe('eee19b7ec3c1b174');
  });

  it('is not made unless the job asks for it', () => {
    const r = runIntake({ ...job('traces', tracesJson([tool])), forward: false }, privacy);
    expect(r.forward).toBeUndefined();
  });
});
