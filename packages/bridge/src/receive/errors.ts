import { ACCESS_STATUS, AccessError } from '../auth/index.ts';
import { OtlpDecodeError } from '../otlp/index.ts';

/**
 * Why a receiver refuses a request. Errors carry a code, and INGEST_STATUS, the one table both
 * receivers use, gives each code its HTTP status and its gRPC status code (the one put in an
 * OTLP/HTTP google.rpc.Status body too). The access codes and their statuses are auth/'s
 * (ACCESS_STATUS), not repeated here.
 */
export const INGEST_STATUS = {
  ...ACCESS_STATUS,
  /** An unreadable request: bad protobuf or JSON, a body that is not what Content-Encoding says. */
  INVALID_ARGUMENT: { http: 400, grpc: 3 },
  /** A Content-Type or Content-Encoding the receiver does not speak. */
  UNSUPPORTED_MEDIA_TYPE: { http: 415, grpc: 3 },
  /** A body or message over the size limit (gRPC RESOURCE_EXHAUSTED, as grpc-js answers itself). */
  PAYLOAD_TOO_LARGE: { http: 413, grpc: 8 },
  NOT_FOUND: { http: 404, grpc: 5 },
  /** UNIMPLEMENTED. */
  METHOD_NOT_ALLOWED: { http: 405, grpc: 12 },
  /** A body that did not arrive in time (too slow an upload). gRPC DEADLINE_EXCEEDED. */
  REQUEST_TIMEOUT: { http: 408, grpc: 4 },
  /** Over the in-flight limits (requests, bytes, connections per client): retry later. */
  RESOURCE_EXHAUSTED: { http: 429, grpc: 8 },
  /** The bridge cannot take or store more now (spool budget, shutting down): retry later. */
  UNAVAILABLE: { http: 503, grpc: 14 },
  INTERNAL: { http: 500, grpc: 13 },
} as const satisfies Record<string, { http: number; grpc: number }>;

export type IngestErrorCode = keyof typeof INGEST_STATUS;

export class IngestError extends Error {
  readonly code: IngestErrorCode;
  /** A retry hint: HTTP Retry-After, gRPC google.rpc.RetryInfo and a `retry-after` trailer. */
  readonly retryAfterSeconds?: number;
  constructor(code: IngestErrorCode, message: string, retryAfterSeconds?: number) {
    super(message);
    this.code = code;
    this.retryAfterSeconds = retryAfterSeconds;
  }
  get httpStatus(): number {
    return INGEST_STATUS[this.code].http;
  }
  get grpcStatus(): number {
    return INGEST_STATUS[this.code].grpc;
  }
}

/**
 * Any error a receiver meets, as an IngestError: access errors keep their code, an unusable
 * request is INVALID_ARGUMENT, and anything else means the request cannot be stored now
 * (UNAVAILABLE, retry in 5 s).
 */
export function ingestErrorOf(err: unknown): IngestError {
  if (err instanceof IngestError) return err;
  if (err instanceof AccessError) return new IngestError(err.code, err.message);
  if (err instanceof OtlpDecodeError) return new IngestError('INVALID_ARGUMENT', err.message);
  return new IngestError('UNAVAILABLE', `the bridge cannot store this request now: ${(err as Error)?.message ?? String(err)}`, 5);
}
