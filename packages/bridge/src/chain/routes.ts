/**
 * The chain's query API endpoints (registered on ApiServer by the bridge):
 *
 *   POST /api/v1/verify           body {chain?, from?, to?, public_key?, timestamp_tolerance_ms?}; answers JSON
 *                                 lines: {"type":"progress",...}* then {"type":"report",...}
 *                                 (or {"type":"error","error":...}). One verification at a time.
 *                                 Without `chain`: every chain of this instance (its three risk
 *                                 chains, and the legacy `<chain-id>` chain of older installs if
 *                                 it has rows), each as {"type":"chain_report",...}, then one
 *                                 combined {"type":"report",...,"chains":[...]} (combineReports).
 *   GET  /api/v1/proof/:eventId   ?chain=ID; an inclusion proof bundle (checkpointing first if the
 *                                 event is newer than the newest checkpoint of its chain)
 *   GET  /api/v1/public-key       {key_id, chain_id, chain_ids, public_key: PEM}
 *   GET  /api/v1/checkpoints/latest  the checkpointers' status, by chain id
 *
 * The embedded store belongs to the bridge process, so verification runs here, against the
 * anchors the bridge is configured with (`serve --anchor`). The caller chooses the public key it
 * trusts; it does not choose paths on this host (`anchor_dir` is refused: 400).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { KeyObject } from 'node:crypto';
import { ApiError, sendJson, type ApiServer } from '../api/server.ts';
import { tenantScope } from '../auth/index.ts';
import type { Logger } from '../internal/logger.ts';
import type { Store } from '../store/store.ts';
import { anchorRecordErrors, type AnchorRecord } from './anchor.ts';
import { exportPublicKeyPem, loadPublicKey, verifyCheckpointSignature } from './checkpoint.ts';
import type { Checkpointer } from './checkpointer.ts';
import { buildInclusionBundle, ProofUnavailableError } from './prove.ts';
import { verifyStoredChain } from './verify-store.ts';
import { combineReports, formatReport, type VerifyReport } from './verify.ts';

const CHAIN_RE = /^[A-Za-z0-9._-]{1,64}$/;

export interface ChainRouteDeps {
  store: Store;
  /** The instance's chain id; its chains are `<chainId>-low|medium|high`. */
  chainId: string;
  /** One checkpointer per chain (all with the same key and anchors). */
  checkpointers: Map<string, Checkpointer>;
  log: Logger;
}

async function readJsonBody(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    size += c.length;
    if (size > 1024 * 1024) throw new ApiError(413, 'request body over 1 MiB');
    chunks.push(c);
  }
  const text = Buffer.concat(chunks).toString('utf8').trim();
  if (!text) return {};
  try {
    const v = JSON.parse(text) as unknown;
    if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Error('not an object');
    return v as Record<string, unknown>;
  } catch {
    throw new ApiError(400, 'request body is not a JSON object: expected {"chain": "...", "from": N, "to": N, "public_key": "PEM"}');
  }
}

function seqParam(v: unknown, name: string): number | undefined {
  if (v === undefined || v === null || v === '') return undefined;
  const n = typeof v === 'number' ? v : Number(v);
  if (!Number.isSafeInteger(n) || n < 1) throw new ApiError(400, `invalid ${name} ${JSON.stringify(v)}: expected a positive integer seq`);
  return n;
}

function chainParam(v: unknown, fallback: string): string {
  const chain = v === undefined || v === null || v === '' ? fallback : String(v);
  if (!CHAIN_RE.test(chain)) throw new ApiError(400, `invalid chain id ${JSON.stringify(chain)}`);
  return chain;
}

export function registerChainRoutes(api: ApiServer, deps: ChainRouteDeps): void {
  const { store, checkpointers, log } = deps;
  const instanceId = deps.chainId;
  // Key and anchors are configured alike for every chain's checkpointer.
  const checkpointer = [...checkpointers.values()][0];
  if (!checkpointer) throw new Error('registerChainRoutes: no checkpointer');
  let verifying = false;

  /** The chains `verify` checks by default: the risk chains, plus the legacy one if it has rows. */
  async function instanceChains(): Promise<string[]> {
    const ids = [...checkpointers.keys()];
    const legacy = await store.rows<{ n: string }>(`SELECT count() AS n FROM ${store.database}.events WHERE chain_id = {chain:String}`, { chain: instanceId });
    if (Number(legacy[0]?.n ?? 0) > 0 && !ids.includes(instanceId)) ids.push(instanceId);
    return ids;
  }

  api.route('GET', /^\/api\/v1\/public-key$/, 'reader', 'read the public key', async (_req, res) => {
    sendJson(res, 200, {
      key_id: checkpointer.key.keyId,
      chain_id: instanceId,
      chain_ids: [...checkpointers.keys()],
      public_key: exportPublicKeyPem(checkpointer.key.publicKey),
    });
  });

  api.route('GET', /^\/api\/v1\/checkpoints\/latest$/, 'reader', 'read checkpoints', async (_req, res) => {
    sendJson(res, 200, Object.fromEntries([...checkpointers].map(([id, cp]) => [id, cp.status()])));
  });

  api.route('POST', /^\/api\/v1\/verify$/, 'reader', 'verify the trail', async (req: IncomingMessage, res: ServerResponse, _url, _m, principal) => {
    const scope = tenantScope(principal);
    const body = await readJsonBody(req);
    const single = body.chain === undefined || body.chain === null || body.chain === '' ? null : chainParam(body.chain, '');
    const from = seqParam(body.from, 'from');
    const to = seqParam(body.to, 'to');
    if (from !== undefined && to !== undefined && to < from) throw new ApiError(400, `--to ${to} is below --from ${from}`);
    // The anchors are the bridge's own configuration: a caller does not get to point the bridge
    // at paths on its host (it probed them, and logged false alarms about what it found there).
    if ('anchor_dir' in body) {
      throw new ApiError(400, 'anchor_dir is not accepted: verify checks the anchors this bridge is configured with (serve --anchor URL); to check another copy, configure it there');
    }
    const anchors = checkpointer.anchors;
    let toleranceMs: number | undefined;
    if (body.timestamp_tolerance_ms !== undefined && body.timestamp_tolerance_ms !== null) {
      toleranceMs = Number(body.timestamp_tolerance_ms);
      if (!Number.isSafeInteger(toleranceMs) || toleranceMs < 0) throw new ApiError(400, `invalid timestamp_tolerance_ms ${JSON.stringify(body.timestamp_tolerance_ms)}: expected milliseconds`);
    }
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
    let closed = false;
    res.once('close', () => {
      closed = true;
    });
    try {
      res.writeHead(200, { 'content-type': 'application/x-ndjson' });
      const write = (obj: unknown) => {
        if (!closed) res.write(JSON.stringify(obj) + '\n');
      };
      try {
        const chainIds = single ? [single] : await instanceChains();
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
      }
      res.end();
    } finally {
      verifying = false;
    }
  });

  api.route('GET', /^\/api\/v1\/proof\/([^/]+)$/, 'reader', 'read proofs', async (_req, res, url, m, principal) => {
    const scope = tenantScope(principal);
    const eventId = decodeURIComponent(m[1]);
    const chainFilter = url.searchParams.get('chain');
    const rows = await store.rows<Record<string, unknown>>(
      `SELECT * FROM ${store.database}.events WHERE event_id = {id:String}` +
        // Another tenant's event is answered as not found, as if it did not exist.
        (scope ? ' AND tenant IN {tenants:Array(String)}' : '') +
        (chainFilter ? ' AND chain_id = {chain:String}' : '') +
        ' ORDER BY startsWith(chain_id, {own:String}) DESC, chain_id, seq LIMIT 1',
      { id: eventId, chain: chainFilter ? chainParam(chainFilter, '') : '', own: `${instanceId}-`, tenants: scope ?? [] },
    );
    if (rows.length === 0) throw new ApiError(404, `no stored event with id ${JSON.stringify(eventId)}`);
    const event = rows[0];
    const chainId = String(event.chain_id);
    const seq = Number(event.seq);
    // The event's own chain's checkpointer (none for a legacy chain: its anchors only).
    const own = checkpointers.get(chainId) ?? null;
    const sink = checkpointer.anchors;
    let sizes = await sink.sizes(chainId);
    if ((sizes.at(-1) ?? 0) < seq && own) {
      await own.checkpointNow();
      sizes = await sink.sizes(chainId);
    }
    const newest = sizes.at(-1) ?? 0;
    if (newest < seq) {
      const halted = own ? own.status().halted : null;
      throw new ApiError(503, `event ${eventId} (chain ${chainId}, seq ${seq}) is not covered by a checkpoint yet${halted ? `: the checkpointer is halted (${halted})` : ''}`);
    }
    let record: AnchorRecord;
    try {
      record = await sink.read(chainId, newest);
    } catch (err) {
      throw new ApiError(500, `cannot read the newest anchor of chain ${chainId}: ${(err as Error).message}`);
    }
    if (anchorRecordErrors(record).length || !verifyCheckpointSignature(record.checkpoint, checkpointer.key.publicKey)) {
      throw new ApiError(500, `the newest anchored checkpoint of chain ${chainId} (${newest}) is not valid for this bridge's key: run "otel-audit verify"`);
    }
    try {
      sendJson(res, 200, await buildInclusionBundle(store, event, record.checkpoint, checkpointer.key.publicKey));
    } catch (err) {
      if (err instanceof ProofUnavailableError) throw new ApiError(500, err.message);
      throw err;
    }
  });
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
