import { randomBytes } from 'node:crypto';
import type { AccessRecord } from '../model.ts';
import type { RawRequest } from '../otlp/index.ts';

// The type lives in model.ts (evidence/ uses it too); re-exported for the API's own imports.
export type { AccessRecord } from '../model.ts';

/**
 * The access record as an OTLP/JSON request with one span of `audit.event.type = access`, so it
 * takes the same path as every event: intake, privacy, the hash chain, the write-ahead log.
 */
export function accessRequest(r: AccessRecord, nowMs = Date.now()): RawRequest {
  const str = (key: string, v: string | undefined) => (v ? [{ key, value: { stringValue: v } }] : []);
  const nanos = `${BigInt(nowMs) * 1_000_000n}`;
  const body = {
    resourceSpans: [
      {
        resource: { attributes: [...str('service.name', 'otel-audit'), ...str('audit.tenant', r.tenant)] },
        scopeSpans: [
          {
            scope: { name: 'otel-audit' },
            spans: [
              {
                traceId: randomBytes(16).toString('hex'),
                spanId: randomBytes(8).toString('hex'),
                name: `access ${r.action}`,
                kind: 1,
                startTimeUnixNano: nanos,
                endTimeUnixNano: nanos,
                attributes: [
                  ...str('audit.event.type', 'access'),
                  ...str('audit.actor.id', r.principal),
                  ...str('audit.purpose', r.action),
                  ...str('audit.tool.action', r.action === 'erase' ? 'delete' : 'read'),
                  ...str('audit.target.system', 'otel-audit'),
                  ...str('audit.target.id', r.target),
                  ...str('audit.correlation_id', r.correlationId),
                  ...str('audit.risk', r.risk),
                ],
              },
            ],
          },
        ],
      },
    ],
  };
  return { signal: 'traces', encoding: 'json', body: Buffer.from(JSON.stringify(body)), tenant: r.tenant, principal: r.principal };
}
