/**
 * What both receivers share around the sink: who may send a request (before its body is read),
 * and handing it over.
 */
import { ingestTenant, requireRole, type Access } from '../auth/index.ts';
import { partialSuccess, type DecodeOptions, type RawRequest, type RejectedItem, type RequestAccess, type TelemetrySink } from '../otlp/index.ts';

/**
 * Who may send a request, from its `Authorization` header (gRPC: `authorization` metadata) and its
 * `x-otel-audit-tenant` header; both receivers call it before they read the request's body.
 * Throws AccessError: UNAUTHENTICATED for no or an unknown token, PERMISSION_DENIED for a token
 * without the ingest role or a tenant header naming a tenant the token does not hold.
 */
export function requestAccess(access: Access, authorization: string | undefined, tenantHeader: string | undefined): RequestAccess {
  const principal = access.authenticate(authorization);
  requireRole(principal, 'ingest', 'send telemetry');
  const { tenant, defaultTenant, allowed } = ingestTenant(principal, tenantHeader || undefined);
  return { tenant, defaultTenant, allowedTenants: allowed, principal: principal.name };
}

/**
 * The part every receiver shares: hand the request to the sink, which decodes it and resolves
 * once its accepted items are durable, and say what was rejected. Throws OtlpDecodeError for an
 * unusable request.
 */
export async function ingestRequest(
  raw: RawRequest,
  sink: TelemetrySink,
  options?: DecodeOptions,
): Promise<{ rejected: RejectedItem[]; partial: ReturnType<typeof partialSuccess> }> {
  const { rejected } = await sink.ingest(raw, options);
  return { rejected, partial: partialSuccess(rejected) };
}

