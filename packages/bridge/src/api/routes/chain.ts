/**
 * The chain's endpoints (chain/README.md); the work is the chain stage's (verify-store.ts,
 * prove.ts), this file is HTTP:
 *
 *   POST /api/v1/verify           body {chain?, from?, to?, public_key?, timestamp_tolerance_ms?}; answers JSON
 *                                 lines: {"type":"start"|"progress",...}* then {"type":"report",...}
 *                                 (or {"type":"error","error":...}). One verification at a time.
 *                                 Without `chain`: every chain of this instance (its three risk
 *                                 chains, and the legacy `<chain-id>` chain of older installs if
 *                                 it has rows), each as {"type":"chain_report",...}, then one
 *                                 combined {"type":"report",...,"chains":[...]} (combineReports).
 *   GET  /api/v1/proof/:eventId   ?chain=ID; an inclusion proof bundle (checkpointing first if the
 *                                 event is newer than the newest checkpoint of its chain); also
 *                                 GET /api/v1/events/:eventId/proof
 *   GET  /api/v1/public-key       {key_id, chain_id, chain_ids, public_key: PEM}
 *   GET  /api/v1/checkpoints/latest  the checkpointers' status, by chain id
 *
 * The embedded store belongs to the bridge process, so verification runs here, against the
 * anchors the bridge is configured with (`serve --anchor`). The caller chooses the public key it
 * trusts; it does not choose paths on this host (`anchor_dir` is refused: 400).
 */
import { PassThrough } from 'node:stream';
import type { KeyObject } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { tenantScope } from '../../auth/index.ts';
import { exportPublicKeyPem, loadPublicKey } from '../../chain/checkpoint.ts';
import type { Checkpointer } from '../../chain/checkpointer.ts';
import { NotCoveredError, proveStoredEvent, ProofUnavailableError } from '../../chain/prove.ts';
import { instanceChains, verifyStoredChain } from '../../chain/verify-store.ts';
import { combineReports, formatReport, type VerifyReport } from '../../chain/verify.ts';
import { storedEvent as readStoredEvent } from '../../store/index.ts';
import { errors } from '../schemas.ts';
import { ApiError, principalOf, type ApiContext } from '../server.ts';

const CHAIN_RE = /^[A-Za-z0-9._-]{1,64}$/;

export interface ChainRouteDeps {
  /** The instance's chain id; its chains are `<chainId>-low|medium|high`. */
  chainId: string;
  /** One checkpointer per chain (all with the same key and anchors). */
  checkpointers: Map<string, Checkpointer>;
}

function seqParam(v: unknown, name: string): number | undefined {
  if (v === undefined || v === null || v === '') return undefined;
  const n = typeof v === 'number' ? v : Number(v);
  if (!Number.isSafeInteger(n) || n < 1) throw new ApiError(400, `invalid ${name} ${JSON.stringify(v)}: expected a positive integer seq`);
  return n;
}

function chainParam(v: unknown): string {
  const chain = String(v);
  if (!CHAIN_RE.test(chain)) throw new ApiError(400, `invalid chain id ${JSON.stringify(chain.slice(0, 80))}`);
  return chain;
}

const EVENT_ID_PARAMS = {
  type: 'object',
  properties: { eventId: { type: 'string', maxLength: 256, description: 'the event id (32 hex characters)' } },
  required: ['eventId'],
} as const;

const PROOF_RESPONSE = {
  description: 'an inclusion proof bundle (otel-audit-inclusion-proof/v1); check it offline with otel-audit verify-proof',
  type: 'object',
  properties: {
    format: { const: 'otel-audit-inclusion-proof/v1' },
    event: { type: 'object', description: 'the stored row, every column (content_sealed included: its hash covers it)', additionalProperties: true },
    event_hash: { type: 'string' },
    leaf_index: { type: 'integer' },
    tree_size: { type: 'integer' },
    audit_path: { type: 'array', items: { type: 'string' } },
    checkpoint: { type: 'object', additionalProperties: true, description: 'the signed checkpoint' },
  },
  required: ['format', 'event', 'event_hash', 'leaf_index', 'tree_size', 'audit_path', 'checkpoint'],
};

export function registerChainRoutes(ctx: ApiContext, deps: ChainRouteDeps): void {
  const { api, store, log } = ctx;
  const { checkpointers } = deps;
  const instanceId = deps.chainId;
  // Key and anchors are configured alike for every chain's checkpointer.
  const checkpointer = [...checkpointers.values()][0];
  if (!checkpointer) throw new Error('registerChainRoutes: no checkpointer');
  let verifying = false;

  api.route({
    method: 'GET',
    url: '/api/v1/public-key',
    config: { access: 'reader', what: 'read the public key' },
    schema: {
      summary: 'The public key checkpoints are signed with',
      tags: ['chain'],
      response: {
        200: {
          type: 'object',
          properties: { key_id: { type: 'string' }, chain_id: { type: 'string' }, chain_ids: { type: 'array', items: { type: 'string' } }, public_key: { type: 'string', description: 'PEM (SPKI)' } },
          required: ['key_id', 'chain_id', 'chain_ids', 'public_key'],
          additionalProperties: false,
        },
        ...errors(),
      },
    },
    handler: async () => ({
      key_id: checkpointer.key.keyId,
      chain_id: instanceId,
      chain_ids: [...checkpointers.keys()],
      public_key: exportPublicKeyPem(checkpointer.key.publicKey),
    }),
  });

  api.route({
    method: 'GET',
    url: '/api/v1/checkpoints/latest',
    config: { access: 'reader', what: 'read checkpoints' },
    schema: {
      summary: "The checkpointers' status, by chain id",
      tags: ['chain'],
      response: { 200: { type: 'object', additionalProperties: { type: 'object', additionalProperties: true } }, ...errors() },
    },
    handler: async () => Object.fromEntries([...checkpointers].map(([id, cp]) => [id, cp.status()])),
  });

  api.route({
    method: 'POST',
    url: '/api/v1/verify',
    config: { access: 'reader', what: 'verify the trail', body: 'json' },
    bodyLimit: 1024 * 1024,
    schema: {
      summary: 'Verify the hash chain, the signed checkpoints and every configured anchor',
      description:
        'Streams JSON lines: {"type":"start"}, {"type":"progress"}..., per chain {"type":"chain_report"}, then {"type":"report"} (or {"type":"error"}). ' +
        'One verification at a time (503 while another runs). For a reader limited to tenants, event ids are removed from the findings.',
      tags: ['chain'],
      body: {
        type: 'object',
        properties: {
          chain: { type: ['string', 'null'], description: 'one chain id; default every chain of this instance' },
          from: { type: ['integer', 'string', 'null'], description: 'first seq' },
          to: { type: ['integer', 'string', 'null'], description: 'last seq' },
          public_key: { type: ['string', 'null'], description: 'PEM of the key you trust; default the bridge\'s own' },
          timestamp_tolerance_ms: { type: ['integer', 'null'], minimum: 0 },
          anchor_dir: { description: 'refused (400): verify checks the anchors this bridge is configured with' },
        },
        additionalProperties: false,
      },
      response: {
        200: { description: 'progress and report lines', content: { 'application/x-ndjson': { schema: { type: 'string' } } } },
        ...errors(400, 503),
      },
    },
    handler: async (request: FastifyRequest, reply: FastifyReply) => {
      const scope = tenantScope(principalOf(request));
      const body = request.body as Record<string, unknown>;
      const single = body.chain === undefined || body.chain === null || body.chain === '' ? null : chainParam(body.chain);
      const from = seqParam(body.from, 'from');
      const to = seqParam(body.to, 'to');
      if (from !== undefined && to !== undefined && to < from) throw new ApiError(400, `--to ${to} is below --from ${from}`);
      // The anchors are the bridge's own configuration: a caller does not get to point the bridge
      // at paths on its host (it probed them, and logged false alarms about what it found there).
      if ('anchor_dir' in body) {
        throw new ApiError(400, 'anchor_dir is not accepted: verify checks the anchors this bridge is configured with (serve --anchor URL); to check another copy, configure it there');
      }
      const anchors = checkpointer.anchors;
      const toleranceMs = body.timestamp_tolerance_ms === undefined || body.timestamp_tolerance_ms === null ? undefined : Number(body.timestamp_tolerance_ms);
      let key: KeyObject = checkpointer.key.publicKey;
      if (typeof body.public_key === 'string' && body.public_key.trim() !== '') {
        if (!body.public_key.includes('-----BEGIN')) throw new ApiError(400, 'public_key must be PEM text (the CLI reads --public-key FILE for you)');
        try {
          key = loadPublicKey(body.public_key);
        } catch (err) {
          throw new ApiError(400, (err as Error).message);
        }
      }
      if (verifying) throw new ApiError(503, 'a verification is already running on this bridge; try again when it is done');
      verifying = true;
      const out = new PassThrough();
      let closed = false;
      out.once('close', () => {
        closed = true;
      });
      const write = (obj: unknown) => {
        if (!closed) out.write(JSON.stringify(obj) + '\n');
      };
      void (async () => {
        try {
          const chainIds = single ? [single] : await instanceChains(store, instanceId, [...checkpointers.keys()]);
          const reports: VerifyReport[] = [];
          for (const chainId of chainIds) {
            write({ type: 'start', chain_id: chainId, anchors: anchors.sinks.map((s) => s.url) });
            const r = await verifyStoredChain(store, anchors, key, {
              chainId,
              from,
              to,
              timestampToleranceMs: toleranceMs,
              onProgress: (p) => write({ type: 'progress', chain_id: chainId, ...p }),
              aborted: () => closed,
            });
            if (!single) write({ type: 'chain_report', ...scopeReport(r, scope) });
            reports.push(r);
          }
          const report = single ? reports[0] : combineReports(instanceId, reports, { from, to });
          write({ type: 'report', ...scopeReport(report, scope) });
          log.info('verification done', {
            chain_id: single ?? chainIds.join(','),
            ok: report.ok,
            events: report.events_checked,
            findings: report.findings_total,
            duration_ms: report.duration_ms,
          });
          if (!report.ok) log.warn('verification found integrity problems', { summary: formatReport(report).split('\n')[0] });
        } catch (err) {
          write({ type: 'error', error: (err as Error).message });
          if (!closed) log.error('verification failed', { error: (err as Error).message });
        } finally {
          verifying = false;
          out.end();
        }
      })();
      return reply.header('content-type', 'application/x-ndjson').send(out);
    },
  });

  /** An event row (every column) in the caller's tenants, or 404. */
  async function storedEvent(request: FastifyRequest, eventId: string, chain: string | undefined): Promise<Record<string, unknown>> {
    const scope = tenantScope(principalOf(request));
    // Another tenant's event is answered as not found, as if it did not exist.
    const row = await readStoredEvent(store, { id: eventId, ownChainPrefix: `${instanceId}-`, chain: chain || undefined }, { tenants: scope, timeoutSeconds: ctx.config.queryTimeoutSeconds });
    if (!row) throw new ApiError(404, `no stored event with id ${JSON.stringify(eventId.slice(0, 80))}`);
    return row;
  }

  const proofHandler = async (request: FastifyRequest) => {
    const { eventId } = request.params as { eventId: string };
    const chain = (request.query as { chain?: string }).chain;
    const event = await storedEvent(request, eventId, chain === undefined ? undefined : chainParam(chain));
    try {
      return await proveStoredEvent(store, event, {
        anchors: checkpointer.anchors,
        publicKey: checkpointer.key.publicKey,
        // The event's own chain's checkpointer (none for a legacy chain: its anchors only).
        checkpointer: checkpointers.get(String(event.chain_id)) ?? null,
      });
    } catch (err) {
      if (err instanceof NotCoveredError) throw new ApiError(503, err.message);
      if (err instanceof ProofUnavailableError) throw new ApiError(500, err.message);
      throw err;
    }
  };
  for (const url of ['/api/v1/proof/:eventId', '/api/v1/events/:eventId/proof']) {
    api.route({
      method: 'GET',
      url,
      config: { access: 'reader', what: 'read proofs' },
      schema: {
        summary: url.startsWith('/api/v1/proof') ? "An event's inclusion proof bundle" : "An event's inclusion proof bundle (same as /api/v1/proof/{eventId})",
        description: 'Against the newest anchored checkpoint of its chain, checkpointing first if the event is newer. 503 when no checkpoint covers it yet.',
        tags: ['chain'],
        params: EVENT_ID_PARAMS,
        querystring: { type: 'object', properties: { chain: { type: 'string', maxLength: 64 } }, additionalProperties: false },
        response: { 200: PROOF_RESPONSE, ...errors(400, 404, 500, 503) },
      },
      handler: proofHandler,
    });
  }
}

/**
 * A report for a reader limited to some tenants: the chain's integrity is a fact about the
 * whole trail and is kept, but the ids of the events it names (any tenant's) are not.
 */
function scopeReport<T extends { findings: Array<{ event_id?: string; detail: string }> }>(report: T, scope: readonly string[] | null): T {
  if (!scope) return report;
  return {
    ...report,
    findings: report.findings.map(({ event_id: _id, ...f }) => ({ ...f, detail: f.detail.replace(/\bevents? [0-9a-f]{32}\b/g, 'an event') })),
  };
}
