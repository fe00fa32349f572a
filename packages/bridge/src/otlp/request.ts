import type { TelemetryLog, TelemetrySpan } from '../model.ts';
import {
  decodeLogsJson,
  decodeLogsProtobuf,
  decodeTracesJson,
  decodeTracesProtobuf,
  type DecodeOptions,
  type RejectedItem,
} from './decode.ts';

export type Signal = 'traces' | 'logs';
export type Encoding = 'protobuf' | 'json';

/** An export request as it arrived (decompressed): what the write-ahead log keeps. */
export interface RawRequest {
  signal: Signal;
  encoding: Encoding;
  /** The sink takes it over: it may be moved to a worker thread (then empty here) once handed over. */
  body: RequestBody;
  /** Tenant every event of the request gets: the `x-otel-audit-tenant` header (among the token's tenants). */
  tenant?: string;
  /** Tenant of spans that name none (`audit.tenant`), when the token limits tenants: its first. */
  defaultTenant?: string;
  /** The tenants `audit.tenant` may choose among (auth/ ingestTenant); undefined: any. A span naming another is rejected. */
  allowedTenants?: readonly string[];
  /** Who sent it: the ingest token's name, or `local` without an auth file (column ingest_principal). */
  principal?: string;
}

/**
 * A request's body: whole, or the chunks it was read in, joined where it is decoded (`wholeBody`):
 * on an intake worker when there are some, so that the main thread does not copy it.
 */
export type RequestBody = Buffer | readonly Buffer[];

export function wholeBody(body: RequestBody): Buffer {
  if (Buffer.isBuffer(body)) return body;
  return body.length === 1 ? body[0]! : Buffer.concat(body);
}

/** What access control adds to a request: who sent it and the tenants it may go to. */
export type RequestAccess = Pick<RawRequest, 'tenant' | 'defaultTenant' | 'allowedTenants' | 'principal'>;

export type DecodedRequest =
  | { signal: 'traces'; spans: TelemetrySpan[]; logs?: undefined; rejected: RejectedItem[] }
  | { signal: 'logs'; logs: TelemetryLog[]; spans?: undefined; rejected: RejectedItem[] };

/** Decodes a request; throws OtlpDecodeError when the whole request is unusable. */
export function decodeRequest(raw: RawRequest, options?: DecodeOptions): DecodedRequest {
  const body = wholeBody(raw.body);
  if (raw.signal === 'traces') {
    const d = raw.encoding === 'json' ? decodeTracesJson(body, options) : decodeTracesProtobuf(body, options);
    return { signal: 'traces', spans: d.items, rejected: d.rejected };
  }
  const d = raw.encoding === 'json' ? decodeLogsJson(body, options) : decodeLogsProtobuf(body, options);
  return { signal: 'logs', logs: d.items, rejected: d.rejected };
}

/** The OTLP partial-success answer for rejected items, or undefined when none were. */
export function partialSuccess(rejected: RejectedItem[]): { rejected: number; errorMessage: string } | undefined {
  if (rejected.length === 0) return undefined;
  const shown = rejected.slice(0, 5).map((r) => `#${r.index}: ${r.reason}`);
  const more = rejected.length > 5 ? `; and ${rejected.length - 5} more` : '';
  return { rejected: rejected.length, errorMessage: `${shown.join('; ')}${more}` };
}

/** What a receiver hands requests to (the pipeline, in the bridge). */
export interface TelemetrySink {
  /**
   * Decodes a request (decodeRequest, with these limits) and resolves once its accepted items
   * are durable, with the items it rejected; rejects with OtlpDecodeError when the whole request
   * is unusable, or another error when it cannot be stored now.
   */
  ingest(raw: RawRequest, options?: DecodeOptions): Promise<{ rejected: RejectedItem[] }>;
  /** Non-null when the sink cannot take more now: receivers answer 503 / UNAVAILABLE with a retry hint. */
  overloaded?(): { reason: string; retryAfterSeconds: number } | null;
}
