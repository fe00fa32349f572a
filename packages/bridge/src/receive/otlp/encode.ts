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

/** google.rpc.Status, the body of an OTLP/HTTP error response. */
export function encodeStatusProtobuf(code: number, message: string): Uint8Array {
  return RpcStatus.encode(RpcStatus.fromObject({ code, message })).finish();
}

export function encodeStatusJson(code: number, message: string): string {
  return JSON.stringify({ code, message });
}
