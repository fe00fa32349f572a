/**
 * OTLP export responses and google.rpc.Status error bodies, in protobuf and in OTLP/JSON.
 */
import { ExportLogsServiceResponse, ExportTraceServiceResponse, RpcStatus } from './schema.ts';

export type SignalKind = 'traces' | 'logs';

export interface PartialSuccess {
  /** Spans / log records the server did not accept. */
  rejected: number;
  errorMessage: string;
}

function partialSuccessObject(kind: SignalKind, partial: PartialSuccess, int64: (n: number) => number | string) {
  const rejected = int64(partial.rejected);
  return kind === 'traces'
    ? { rejectedSpans: rejected, errorMessage: partial.errorMessage }
    : { rejectedLogRecords: rejected, errorMessage: partial.errorMessage };
}

/** ExportTraceServiceResponse / ExportLogsServiceResponse; empty (full success) without `partial`. */
export function encodeExportResponseProtobuf(kind: SignalKind, partial?: PartialSuccess): Uint8Array {
  const type = kind === 'traces' ? ExportTraceServiceResponse : ExportLogsServiceResponse;
  const message = partial ? { partialSuccess: partialSuccessObject(kind, partial, (n) => n) } : {};
  return type.encode(type.fromObject(message)).finish();
}

/** The same in OTLP/JSON: int64 as a decimal string, `{}` for full success. */
export function encodeExportResponseJson(kind: SignalKind, partial?: PartialSuccess): string {
  if (!partial) return '{}';
  return JSON.stringify({ partialSuccess: partialSuccessObject(kind, partial, (n) => String(Math.trunc(n))) });
}

export const RETRY_INFO_TYPE = 'type.googleapis.com/google.rpc.RetryInfo';

/** google.rpc.RetryInfo { google.protobuf.Duration retry_delay = 1 }, whole seconds. */
export function encodeRetryInfo(seconds: number): Uint8Array {
  const varint: number[] = [];
  let n = Math.max(0, Math.trunc(seconds));
  do {
    let b = n & 0x7f;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    varint.push(b);
  } while (n > 0);
  const duration = [0x08, ...varint];
  return Uint8Array.from([0x0a, duration.length, ...duration]);
}

/**
 * google.rpc.Status, the body of an OTLP/HTTP error response (and the gRPC status details).
 * With a retry delay it carries a google.rpc.RetryInfo, as the OTLP spec asks of servers that
 * want a throttled client to come back.
 */
export function encodeStatusProtobuf(code: number, message: string, retryAfterSeconds?: number): Uint8Array {
  const details = retryAfterSeconds ? [{ type_url: RETRY_INFO_TYPE, value: encodeRetryInfo(retryAfterSeconds) }] : [];
  return RpcStatus.encode(RpcStatus.fromObject({ code, message, details })).finish();
}

export function encodeStatusJson(code: number, message: string, retryAfterSeconds?: number): string {
  if (!retryAfterSeconds) return JSON.stringify({ code, message });
  return JSON.stringify({ code, message, details: [{ '@type': RETRY_INFO_TYPE, retryDelay: `${Math.trunc(retryAfterSeconds)}s` }] });
}
