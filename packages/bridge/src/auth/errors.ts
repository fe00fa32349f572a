/**
 * Access errors carry a code; each transport maps the code to its status through ACCESS_STATUS,
 * the one table the HTTP receiver, the gRPC receiver and the API share.
 */
export type AccessErrorCode = 'UNAUTHENTICATED' | 'PERMISSION_DENIED';

/** HTTP status and gRPC status code (UNAUTHENTICATED 16, PERMISSION_DENIED 7) of each code. */
export const ACCESS_STATUS: Record<AccessErrorCode, { http: number; grpc: number }> = {
  UNAUTHENTICATED: { http: 401, grpc: 16 },
  PERMISSION_DENIED: { http: 403, grpc: 7 },
};

export class AccessError extends Error {
  readonly code: AccessErrorCode;
  constructor(code: AccessErrorCode, message: string) {
    super(message);
    this.code = code;
  }
  get httpStatus(): number {
    return ACCESS_STATUS[this.code].http;
  }
  get grpcStatus(): number {
    return ACCESS_STATUS[this.code].grpc;
  }
}
