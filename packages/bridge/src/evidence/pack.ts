/**
 * Writing evidence packs (README.md in this folder: the layout and the invariants).
 *
 *  - `evidenceZip(input)` writes a pack from its parts, as a stream of zip chunks. It knows
 *    nothing of the store: the testdata generator feeds it synthetic events.
 *  - `prepareEvidencePack(deps, request)` gathers the parts of a case from the store: the case's
 *    rows (each re-hashed), the newest anchored checkpoint of each chain they are in (signing one
 *    first when needed, as the proof endpoint does), every event's audit path from one pass over
 *    each chain, and the `access` events that record the reading, before anything is answered.
 */
import type { KeyObject } from 'node:crypto';
import { sign } from 'node:crypto';
import { packageVersion } from '../internal/version.ts';
import { anchorRecordErrors, type AnchorRecord } from '../chain/anchor.ts';
import { eventHash } from '../chain/canonical.ts';
import { checkpointSigningPayload, eventLeafHash, exportPublicKeyPem, verifyCheckpointSignature, type SigningKey } from '../chain/checkpoint.ts';
import type { Checkpointer } from '../chain/checkpointer.ts';
import { verifyInclusion } from '../chain/merkle.ts';
import type { Logger } from '../internal/logger.ts';
import type { AccessRecord } from '../model.ts';
import { chainRows } from '../store/chain-queries.ts';
import { caseRows } from '../store/evidence-queries.ts';
import type { Store } from '../store/store.ts';
import { AuditPaths } from './audit-paths.ts';
import {
  checkpointBase,
  CSV_BOM,
  csvCell,
  csvRecord,
  EVIDENCE_FORMAT,
  FILES,
  publicKeySha256,
  schemaJson,
  timestampFile,
  type EvidenceManifest,
  type ManifestFile,
  type ProofLine,
} from './format.ts';
import { packReadme } from './pack-readme.ts';
import { ZipWriter } from './zip.ts';

/** One event's proof, with its path as shared node buffers (rendered to hex as it is written). */
export interface ProofEntry {
  event_id: string;
  chain_id: string;
  seq: number;
  event_hash: string;
  tree_size: number;
  path: Buffer[];
}

export interface PackInput {
  correlationId: string;
  createdAt: Date;
  createdBy: string;
  bridgeVersion: string;
  /** The tenants whose events are in the pack. */
  tenants: string[];
  /** Signs the manifest; its public half is the pack's public-key.pem. */
  key: Pick<SigningKey, 'privateKey' | 'publicKey' | 'keyId'>;
  /** The checkpoint of each chain that the proofs lead to, with the chain's event count. */
  chains: Array<{ record: AnchorRecord; events: number }>;
  /** In the order of the events. */
  proofs: ProofEntry[];
  /** The stored rows, in the order of `proofs` (checked as they are written). */
  events(): AsyncIterable<Record<string, unknown>>;
  /** DEFLATE level (default 6). */
  level?: number;
}

/** Rows are gathered into pieces of about this size before they are compressed. */
const PIECE = 64 * 1024;

/** The store changed between gathering a case and writing it out: the pack is abandoned. */
export class EvidenceChangedError extends Error {}

/** The zip of an evidence pack, chunk by chunk (pull-driven: nothing is produced ahead of the reader). */
export async function* evidenceZip(input: PackInput): AsyncGenerator<Uint8Array> {
  // DOS times are local: these local fields read back as the UTC time of creation.
  const t = input.createdAt;
  const mtime = new Date(t.getUTCFullYear(), t.getUTCMonth(), t.getUTCDate(), t.getUTCHours(), t.getUTCMinutes(), t.getUTCSeconds());
  const zip = new ZipWriter({ mtime, level: input.level });
  const files: ManifestFile[] = [];
  const publicKeyPem = exportPublicKeyPem(input.key.publicKey);
  const fingerprint = publicKeySha256(input.key.publicKey);
  const createdAt = t.toISOString();
  const recordFile = (r: AnchorRecord) => `${checkpointBase(r.checkpoint.chain_id, r.checkpoint.tree_size)}.json`;

  files.push(
    await zip.file(
      FILES.readme,
      packReadme({
        correlationId: input.correlationId,
        createdAt,
        createdBy: input.createdBy,
        bridgeVersion: input.bridgeVersion,
        tenants: input.tenants,
        events: input.proofs.length,
        keyId: input.key.keyId,
        publicKeySha256: fingerprint,
        chains: input.chains.map(({ record, events }) => ({
          chainId: record.checkpoint.chain_id,
          events,
          treeSize: record.checkpoint.tree_size,
          createdAt: record.checkpoint.created_at,
          timestamps: (record.timestamps ?? []).map((x) => x.authority),
        })),
      }),
    ),
  );
  yield* zip.take();
  files.push(await zip.file(FILES.publicKey, publicKeyPem));
  files.push(await zip.file(FILES.schema, schemaJson()));
  for (const { record } of input.chains) {
    const cp = record.checkpoint;
    const base = checkpointBase(cp.chain_id, cp.tree_size);
    files.push(await zip.file(`${base}.json`, JSON.stringify(record, null, 2) + '\n'));
    files.push(await zip.file(`${base}.signed.txt`, checkpointSigningPayload(cp)));
    files.push(await zip.file(`${base}.sig`, Buffer.from(cp.signature, 'base64')));
    let n = 0;
    for (const ts of record.timestamps ?? []) files.push(await zip.file(timestampFile(cp.chain_id, cp.tree_size, ++n), Buffer.from(ts.token, 'base64')));
    yield* zip.take();
  }

  const cpFile = new Map(input.chains.map(({ record }) => [record.checkpoint.chain_id, recordFile(record)]));
  const proofs = zip.entry(FILES.proofs);
  let piece: string[] = [];
  let size = 0;
  for (const p of input.proofs) {
    const line: ProofLine = {
      event_id: p.event_id,
      chain_id: p.chain_id,
      seq: p.seq,
      event_hash: p.event_hash,
      leaf_index: p.seq - 1,
      tree_size: p.tree_size,
      checkpoint: cpFile.get(p.chain_id)!,
      audit_path: p.path.map((h) => h.toString('hex')),
    };
    const text = JSON.stringify(line) + '\n';
    piece.push(text);
    size += text.length;
    if (size >= PIECE) {
      await proofs.write(Buffer.from(piece.join('')));
      piece = [];
      size = 0;
      yield* zip.take();
    }
  }
  await proofs.write(Buffer.from(piece.join('')));
  files.push(await proofs.end());
  yield* zip.take();

  // events.jsonl and events.csv from one pass over the rows; fflate keeps the CSV's compressed
  // output until the JSON lines are finished.
  const jsonl = zip.entry(FILES.events);
  const csv = zip.entry(FILES.csv);
  let header: string[] | null = null;
  let jp: string[] = [];
  let cp: string[] = [];
  size = 0;
  let i = 0;
  for await (const row of input.events()) {
    const want = input.proofs[i];
    if (!want || row.chain_id !== want.chain_id || Number(row.seq) !== want.seq || row.hash !== want.event_hash || row.event_id !== want.event_id) {
      throw new EvidenceChangedError(
        `the case changed while its pack was written (row ${i + 1}: chain ${String(row.chain_id)} seq ${String(row.seq)}${want ? `, expected chain ${want.chain_id} seq ${want.seq}` : ', more rows than gathered'})`,
      );
    }
    if (eventHash(row) !== row.hash) {
      throw new EvidenceChangedError(`event ${String(row.event_id)} (chain ${want.chain_id}, seq ${want.seq}) no longer hashes to its stored hash: the store was altered; run "otel-audit verify"`);
    }
    if (header === null) {
      header = Object.keys(row);
      cp.push(CSV_BOM + csvRecord(header.map(csvCell)));
    }
    const j = JSON.stringify(row) + '\n';
    const c = csvRecord(header.map((k) => csvCell(row[k])));
    jp.push(j);
    cp.push(c);
    size += j.length + c.length;
    i++;
    if (size >= PIECE) {
      await Promise.all([jsonl.write(Buffer.from(jp.join(''))), csv.write(Buffer.from(cp.join('')))]);
      jp = [];
      cp = [];
      size = 0;
      yield* zip.take();
    }
  }
  if (i !== input.proofs.length) throw new EvidenceChangedError(`the case changed while its pack was written: ${input.proofs.length} events gathered, ${i} read back`);
  await Promise.all([jsonl.write(Buffer.from(jp.join(''))), csv.write(Buffer.from(cp.join('')))]);
  files.push(await jsonl.end());
  yield* zip.take();
  files.push(await csv.end());
  yield* zip.take();

  const manifest: EvidenceManifest = {
    format: EVIDENCE_FORMAT,
    correlation_id: input.correlationId,
    created_at: createdAt,
    created_by: input.createdBy,
    tenants: input.tenants,
    bridge: { name: '@otel-audit/bridge', version: input.bridgeVersion },
    key_id: input.key.keyId,
    public_key_sha256: fingerprint,
    events: input.proofs.length,
    chains: input.chains.map(({ record, events }) => ({
      chain_id: record.checkpoint.chain_id,
      events,
      checkpoint: {
        file: recordFile(record),
        tree_size: record.checkpoint.tree_size,
        root_hash: record.checkpoint.root_hash,
        created_at: record.checkpoint.created_at,
        key_id: record.checkpoint.key_id,
        timestamps: record.timestamps?.length ?? 0,
      },
    })),
    files,
  };
  const manifestBytes = Buffer.from(JSON.stringify(manifest, null, 2) + '\n', 'utf8');
  await zip.file(FILES.manifest, manifestBytes);
  await zip.file(FILES.manifestSig, sign(null, manifestBytes, input.key.privateKey));
  await zip.finish();
  yield* zip.take();
}

// ---- from the store -------------------------------------------------------------------------

/** What the bridge gives the evidence endpoint. */
export interface EvidenceDeps {
  store: Store;
  /** One checkpointer per chain of this instance; their key and anchors are shared. */
  checkpointers: Map<string, Checkpointer>;
  /** Stores an access event; resolves once it is durable. */
  recordAccess: (r: AccessRecord) => Promise<void>;
  log: Logger;
}

export interface EvidenceRequest {
  correlationId: string;
  /** The tenants the caller may read; null: every tenant. */
  tenants: readonly string[] | null;
  /** The caller's token name: the pack's created_by and the access events' actor. */
  principal: string;
}

/** A request that cannot be answered with a pack; `status` is the HTTP status to answer. */
export class EvidenceError extends Error {
  readonly status: number;
  /** Seconds, for 429. */
  readonly retryAfter?: number;
  constructor(status: number, message: string, retryAfter?: number) {
    super(message);
    this.status = status;
    this.retryAfter = retryAfter;
  }
}

export interface PreparedPack {
  /** A file name for the download: evidence-<case>.zip, reduced to safe characters. */
  filename: string;
  events: number;
  chains: string[];
  input: PackInput;
}

/**
 * Most events in one pack. A pack holds ~5 KB per event uncompressed (JSON line, CSV row, proof;
 * measured: 239 MB for 50,000 events), and verify-evidence needs ~9 KB of memory per event
 * (451 MB peak for 50,000): 200,000 events stay far below the 4 GiB of a zip without Zip64
 * and within reach of an auditor's laptop. README.md, "Cost".
 */
export const MAX_PACK_EVENTS = 200_000;
/** Packs gathered at once (each streams whole chains); more get 429. */
const MAX_CONCURRENT = 2;
let gathering = 0;


interface Gathered {
  event_id: string;
  chain_id: string;
  seq: number;
  hash: string;
  tenant: string;
}

/**
 * Gathers a case's pack (see the file comment) and records its reading as one `access` event
 * per tenant in it. Throws EvidenceError before anything is recorded or answered.
 */
export async function prepareEvidencePack(deps: EvidenceDeps, r: EvidenceRequest): Promise<PreparedPack> {
  if (r.correlationId === '' || r.correlationId.length > 1024) throw new EvidenceError(400, 'expected a correlation id of 1 to 1024 characters');
  if (gathering >= MAX_CONCURRENT) throw new EvidenceError(429, `${MAX_CONCURRENT} evidence packs are being gathered; try again shortly`, 5);
  gathering++;
  try {
    return await gather(deps, r);
  } finally {
    gathering--;
  }
}

async function gather(deps: EvidenceDeps, r: EvidenceRequest): Promise<PreparedPack> {
  const { store, checkpointers, log } = deps;
  const started = Date.now();
  const first = [...checkpointers.values()][0];
  if (!first) throw new EvidenceError(503, 'this bridge has no checkpointer');
  const key = first.key;
  const anchors = first.anchors;

  // 1. The case's rows (in table order: store/evidence-queries.ts), each re-hashed: a pack that
  //    cannot verify helps nobody.
  const rows: Gathered[] = [];
  for await (const row of caseRows(store, r)) {
    if (rows.length >= MAX_PACK_EVENTS) throw new EvidenceError(413, `case ${JSON.stringify(r.correlationId)} has more than ${MAX_PACK_EVENTS} events, more than one pack holds`);
    const g: Gathered = { event_id: String(row.event_id), chain_id: String(row.chain_id), seq: Number(row.seq), hash: String(row.hash), tenant: String(row.tenant) };
    if (eventHash(row) !== g.hash) {
      throw new EvidenceError(500, `event ${g.event_id} (chain ${g.chain_id}, seq ${g.seq}) does not hash to its stored hash: the store was altered; run "otel-audit verify"`);
    }
    rows.push(g);
  }
  // Another tenant's case is answered as not found, as if it did not exist.
  if (rows.length === 0) throw new EvidenceError(404, `no case ${JSON.stringify(r.correlationId)}: no stored event has this correlation id${r.tenants ? ' in your tenants' : ''}`);

  // 2. Per chain: the newest anchored checkpoint covering the case's events, and their paths.
  const byChain = new Map<string, Gathered[]>();
  for (const g of rows) {
    const list = byChain.get(g.chain_id) ?? [];
    list.push(g);
    byChain.set(g.chain_id, list);
  }
  const chains: Array<{ record: AnchorRecord; events: number }> = [];
  const paths = new Map<string, AuditPaths>();
  for (const [chainId, evs] of [...byChain].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const seqs = new Map<number, string>();
    let maxSeq = 0;
    for (const g of evs) {
      if (seqs.has(g.seq)) throw new EvidenceError(500, `chain ${chainId} holds seq ${g.seq} twice: run "otel-audit verify"`);
      seqs.set(g.seq, g.hash);
      if (g.seq > maxSeq) maxSeq = g.seq;
    }
    const own = checkpointers.get(chainId) ?? null;
    let sizes = await anchors.sizes(chainId);
    if ((sizes.at(-1) ?? 0) < maxSeq && own) {
      await own.checkpointNow();
      sizes = await anchors.sizes(chainId);
    }
    const size = sizes.at(-1) ?? 0;
    if (size < maxSeq) {
      const halted = own?.status().halted;
      throw new EvidenceError(
        503,
        `event seq ${maxSeq} of chain ${chainId} is not covered by a checkpoint this bridge's anchors hold` +
          (halted ? `: the checkpointer is halted (${halted})` : own ? '' : ' (a chain of another instance or an older install)'),
      );
    }
    let record: AnchorRecord;
    try {
      record = await anchors.read(chainId, size);
    } catch (err) {
      throw new EvidenceError(500, `cannot read the newest anchor of chain ${chainId}: ${(err as Error).message}`);
    }
    if (anchorRecordErrors(record).length || !verifyCheckpointSignature(record.checkpoint, key.publicKey)) {
      throw new EvidenceError(500, `the newest anchored checkpoint of chain ${chainId} (${size}) is not valid for this bridge's key: run "otel-audit verify"`);
    }
    const ap = new AuditPaths(size, [...seqs.keys()].map((s) => s - 1));
    let expect = 1;
    for await (const row of chainRows<{ seq: string; hash: string }>(store, { chainId, from: 1, to: size, columns: 'seq, hash' })) {
      const s = Number(row.seq);
      if (s !== expect) throw new EvidenceError(500, `the stored chain ${chainId} is not continuous at seq ${Math.min(s, expect)}: run "otel-audit verify"`);
      const want = seqs.get(s);
      if (want !== undefined && want !== row.hash) throw new EvidenceError(500, `the stored hash at seq ${s} of chain ${chainId} changed while the pack was gathered`);
      ap.append(row.hash);
      expect++;
    }
    if (expect !== size + 1) throw new EvidenceError(500, `checkpoint ${size} of chain ${chainId} covers ${size} events but ${expect - 1} are stored: run "otel-audit verify"`);
    if (ap.finish().toString('hex') !== record.checkpoint.root_hash) {
      throw new EvidenceError(500, `the stored events of chain ${chainId} do not reproduce checkpoint ${size}: run "otel-audit verify"`);
    }
    // The paths come from the same nodes as the root; check the two ends of the case anyway.
    for (const g of [evs[0], evs[evs.length - 1]]) {
      if (!verifyInclusion(eventLeafHash(g.hash), g.seq - 1, size, ap.path(g.seq - 1), ap.root)) throw new Error(`internal: the audit path of seq ${g.seq} of chain ${chainId} does not verify`);
    }
    paths.set(chainId, ap);
    chains.push({ record, events: evs.length });
  }
  const proofs: ProofEntry[] = rows.map((g) => ({
    event_id: g.event_id,
    chain_id: g.chain_id,
    seq: g.seq,
    event_hash: g.hash,
    tree_size: paths.get(g.chain_id)!.size,
    path: paths.get(g.chain_id)!.path(g.seq - 1),
  }));

  // 3. The reading is part of the trail, durably, before anything is sent: one access event per
  //    tenant in the pack, in the case's timeline (so the next pack of the case shows this one).
  const tenants = [...new Set(rows.map((g) => g.tenant))].sort();
  try {
    for (const tenant of tenants) {
      await deps.recordAccess({ principal: r.principal, tenant, action: 'evidence', target: `case:${r.correlationId}`.slice(0, 1000), correlationId: r.correlationId });
    }
  } catch (err) {
    throw new EvidenceError(503, `cannot record this evidence pack in the audit trail, so it is not sent: ${(err as Error).message}`);
  }
  log.info('evidence pack gathered', { correlation_id: r.correlationId, events: rows.length, chains: chains.length, principal: r.principal, duration_ms: Date.now() - started });

  // Rows stored since (this pack's own access events among them) are not part of it.
  const wanted = new Set(rows.map((g) => `${g.chain_id}\u0000${g.seq}`));
  const input: PackInput = {
    correlationId: r.correlationId,
    createdAt: new Date(),
    createdBy: r.principal,
    bridgeVersion: packageVersion(),
    tenants,
    key,
    chains,
    proofs,
    async *events() {
      for await (const row of caseRows(store, r)) {
        if (wanted.has(`${String(row.chain_id)}\u0000${Number(row.seq)}`)) yield row;
      }
    },
  };
  return {
    filename: `evidence-${r.correlationId.replace(/[^A-Za-z0-9._-]+/g, '_').slice(0, 100)}.zip`,
    events: rows.length,
    chains: chains.map((c) => c.record.checkpoint.chain_id),
    input,
  };
}
