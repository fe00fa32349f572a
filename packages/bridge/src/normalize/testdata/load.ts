/**
 * Test fixtures: compact JSON scenarios → TelemetrySpan / TelemetryLog with every default
 * filled. A scenario lists spans by `ref`; ids derive from the refs (stable across runs) and
 * `parent` names another ref (or is absent for a root).
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { AttrValue, Attributes, Scope, TelemetryLog, TelemetrySpan } from '../../model.ts';

export interface CompactSpan {
  ref: string;
  name: string;
  parent?: string;
  /** A parent outside the fixture (raw hex id), e.g. an HTTP span in another service. */
  parentSpanId?: string;
  kind?: number;
  status?: { code: number; message?: string };
  start?: string;
  end?: string;
  attributes?: Attributes;
  links?: Array<{ ref?: string; traceId?: string; spanId?: string; attributes?: Attributes }>;
}

export interface CompactLog {
  span?: string;
  eventName?: string;
  time?: string;
  body?: AttrValue;
  attributes?: Attributes;
}

export interface Fixture {
  description?: string;
  traceId?: string;
  resource?: Attributes;
  scope?: Scope;
  spans: CompactSpan[];
  logs?: CompactLog[];
}

export const DEFAULT_TRACE_ID = '0af7651916cd43dd8448eb211c80319c';
const BASE_TIME = 1_767_225_600_000_000_000n; // 2026-01-01T00:00:00Z

export function spanIdOf(ref: string): string {
  return createHash('sha256').update(ref).digest('hex').slice(0, 16);
}

/** A span with defaults for everything not given (attributes {}, root, internal, status unset). */
export function makeSpan(p: Partial<TelemetrySpan> & { name?: string } = {}): TelemetrySpan {
  const start = p.startTimeUnixNano ?? BASE_TIME.toString();
  return {
    traceId: p.traceId ?? DEFAULT_TRACE_ID,
    spanId: p.spanId ?? spanIdOf(p.name ?? 'span'),
    parentSpanId: p.parentSpanId ?? '',
    name: p.name ?? 'span',
    kind: p.kind ?? 1,
    startTimeUnixNano: start,
    endTimeUnixNano: p.endTimeUnixNano ?? (BigInt(start) + 1_000_000n).toString(),
    attributes: p.attributes ?? {},
    links: p.links ?? [],
    statusCode: p.statusCode ?? 0,
    statusMessage: p.statusMessage ?? '',
    resource: p.resource ?? { 'service.name': 'test-app' },
    scope: p.scope ?? { name: 'test', version: '0.0.0' },
  };
}

export function buildFixture(f: Fixture): {
  spans: TelemetrySpan[];
  span(ref: string): TelemetrySpan;
  logs: TelemetryLog[];
} {
  const traceId = f.traceId ?? DEFAULT_TRACE_ID;
  const resource = f.resource ?? { 'service.name': 'test-app' };
  const scope = f.scope ?? { name: 'test', version: '0.0.0' };
  const byRef = new Map<string, TelemetrySpan>();
  const spans = f.spans.map((s, i) => {
    const start = s.start ?? (BASE_TIME + BigInt(i) * 1_000_000n).toString();
    const span = makeSpan({
      traceId,
      spanId: spanIdOf(s.ref),
      parentSpanId: s.parent ? spanIdOf(s.parent) : (s.parentSpanId ?? ''),
      name: s.name,
      kind: s.kind ?? 1,
      startTimeUnixNano: start,
      endTimeUnixNano: s.end ?? (BigInt(start) + 500_000_000n).toString(),
      attributes: s.attributes ?? {},
      links: (s.links ?? []).map((l) => ({
        traceId: l.traceId ?? traceId,
        spanId: l.spanId ?? spanIdOf(l.ref ?? ''),
        attributes: l.attributes ?? {},
      })),
      statusCode: s.status?.code ?? 0,
      statusMessage: s.status?.message ?? '',
      resource,
      scope,
    });
    byRef.set(s.ref, span);
    return span;
  });
  const logs = (f.logs ?? []).map((l, i): TelemetryLog => {
    const time = l.time ?? (BASE_TIME + BigInt(i)).toString();
    return {
      traceId: l.span ? traceId : '',
      spanId: l.span ? spanIdOf(l.span) : '',
      timeUnixNano: time,
      observedTimeUnixNano: time,
      severityNumber: 9,
      severityText: '',
      eventName: l.eventName ?? '',
      body: l.body ?? null,
      attributes: l.attributes ?? {},
      resource,
      scope,
    };
  });
  return {
    spans,
    logs,
    span(ref: string): TelemetrySpan {
      const s = byRef.get(ref);
      if (!s) throw new Error(`fixture has no span '${ref}'`);
      return s;
    },
  };
}

/** Loads `testdata/<name>.json`. */
export function loadFixture(name: string): ReturnType<typeof buildFixture> {
  const url = new URL(`./${name}.json`, import.meta.url);
  return buildFixture(JSON.parse(readFileSync(url, 'utf8')) as Fixture);
}
