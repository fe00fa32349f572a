/**
 * The forward copy of a decoded request, made where the request is decoded (runIntake, on the
 * intake worker threads): its spans or log records through the same privacy floor as intake,
 * re-encoded as OTLP protobuf. Audit spans carry `audit.event_id`.
 */
import type { TelemetryLog, TelemetrySpan } from '../model.ts';
import type { ForwardPayload } from './forwarder.ts';
import { encodeForwardLogs, encodeForwardSpans, type ForwardPrivacy } from './internal/encode.ts';

/** What forwarding needs of a request's intake: its events' ids, and the spans it refused. */
export interface ForwardIntake {
  events: ReadonlyArray<{ event: { trace_id: string; span_id: string; event_id: string } }>;
  rejected: ReadonlyArray<{ index: number }>;
}

/** The accepted spans of a request (not those refused at intake), redacted; undefined when none. */
export function forwardSpans(spans: TelemetrySpan[], intake: ForwardIntake, privacy: ForwardPrivacy): ForwardPayload | undefined {
  const eventIds = new Map<string, string>();
  for (const p of intake.events) eventIds.set(p.event.trace_id + p.event.span_id, p.event.event_id);
  const refused = new Set(intake.rejected.map((r) => r.index));
  const { body, items } = encodeForwardSpans({ spans, refused, eventIds }, privacy);
  return items > 0 ? { signal: 'traces', items, body } : undefined;
}

/** Every log record of a request, redacted (also those with no audit content); undefined when none. */
export function forwardLogs(logs: TelemetryLog[], privacy: ForwardPrivacy): ForwardPayload | undefined {
  const { body, items } = encodeForwardLogs(logs, privacy);
  return items > 0 ? { signal: 'logs', items, body } : undefined;
}
export type { ForwardPayload } from './forwarder.ts';
