/**
 * GET /api/v1/cases/:correlationId/evidence (role reader): the case's evidence pack, a zip
 * (evidence/README.md). The work is evidence/pack.ts's; this file is HTTP:
 *
 *  - the case is limited to the caller's tenants (another tenant's case is a 404, as if it did
 *    not exist);
 *  - before any byte is answered, one `access` event (action `evidence`) per tenant in the pack
 *    is stored durably (503 when it cannot be);
 *  - 200 `application/zip`, streamed with backpressure; a failure after the headers breaks the
 *    connection off, so the client never takes a truncated zip for a pack.
 *
 * Errors are {"error": "..."}: 400 a bad correlation id, 404 no such case, 413 more events than
 * one pack holds, 429 (Retry-After) packs already being gathered, 500 the store no longer
 * reproduces its checkpoints (run verify), 503 not covered by a checkpoint or not recordable.
 */
import { Readable } from 'node:stream';
import { tenantScope } from '../../auth/index.ts';
import { EvidenceError, evidenceZip, prepareEvidencePack, type EvidenceDeps } from '../../evidence/pack.ts';
import { errors } from '../schemas.ts';
import { ApiError, principalOf, type ApiContext } from '../server.ts';

export function registerEvidenceRoutes(ctx: ApiContext, deps: EvidenceDeps): void {
  ctx.api.route({
    method: 'GET',
    url: '/api/v1/cases/:correlationId/evidence',
    config: { access: 'reader', what: 'export evidence packs' },
    schema: {
      summary: "A case's evidence pack (zip): events, inclusion proofs, signed checkpoints, the public key, a README",
      tags: ['cases'],
      params: { type: 'object', properties: { correlationId: { type: 'string', minLength: 1, maxLength: 2048 } }, required: ['correlationId'] },
      response: {
        200: { description: 'the evidence pack', content: { 'application/zip': { schema: { type: 'string' } } } },
        ...errors(400, 404, 413, 429, 500, 503),
      },
    },
    handler: async (request, reply) => {
      const principal = principalOf(request);
      const { correlationId } = request.params as { correlationId: string };
      let pack;
      try {
        pack = await prepareEvidencePack(deps, { correlationId, tenants: tenantScope(principal), principal: principal.name });
      } catch (err) {
        if (!(err instanceof EvidenceError)) throw err;
        throw new ApiError(err.status, err.message, err.retryAfter !== undefined ? { 'retry-after': String(err.retryAfter) } : {});
      }
      // Pull-driven: the next chunk is made only when the client took the last one; a failure
      // after the headers breaks the connection off, so a truncated zip is never taken for a pack.
      return reply
        .headers({
          'content-type': 'application/zip',
          'content-disposition': `attachment; filename="${pack.filename}"`,
          'cache-control': 'no-store',
          'x-otel-audit-events': String(pack.events),
        })
        .send(Readable.from(evidenceZip(pack.input), { objectMode: false }));
    },
  });
}
