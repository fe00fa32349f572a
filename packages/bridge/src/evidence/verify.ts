/**
 * Checks an evidence pack offline: no store, no network, only the pack and a public key
 * (README.md in this folder: the invariants each check stands for).
 *
 * A pack that cannot be checked at all (not a zip, files missing, no usable key, a format this
 * verifier does not know) throws UnusablePackError. Everything else is a report: `ok`, or
 * findings that each name the file and, where there is one, the line, the event (seq and
 * event id), the chain and the checkpoint.
 */
import { createPublicKey, verify as verifySignature, type KeyObject, type X509Certificate } from 'node:crypto';
import { createHash } from 'node:crypto';
import { anchorRecordErrors, type AnchorRecord } from '../chain/anchor.ts';
import { checkAnchorTimestamp } from '../chain/anchors/rfc3161.ts';
import { eventHash } from '../chain/canonical.ts';
import { parseJsonSafeKeys } from '../store/json-rows.ts';
import { checkpointSigningPayload, eventLeafHash, keyId, verifyCheckpointSignature } from '../chain/checkpoint.ts';
import { verifyInclusion } from '../chain/merkle.ts';
import {
  checkpointBase,
  csvRecords,
  csvText,
  EVIDENCE_FORMAT,
  FILES,
  jsonLines,
  publicKeySha256,
  REQUIRED_FILES,
  schemaDocument,
  timestampFile,
  type EvidenceManifest,
  type ManifestFile,
  type ProofLine,
  type SchemaDocument,
} from './format.ts';
import { ZipFormatError, ZipReader } from './zip.ts';

export const EVIDENCE_FINDING_KINDS = [
  'file_digest', // a file's SHA-256 differs from the manifest's
  'damaged_file', // a zip entry that cannot be decompressed
  'unlisted_file', // a file the manifest does not list
  'duplicate_file', // two zip entries with one name
  'manifest_signature', // manifest.sig does not verify over manifest.json
  'manifest', // the manifest is malformed or disagrees with the pack
  'public_key', // public-key.pem is not a usable key
  'key_mismatch', // public-key.pem is not the key given with --public-key
  'schema', // schema.json is not this verifier's
  'event', // a line of events.jsonl that is not an event object
  'event_hash', // an event's columns do not hash to its hash
  'correlation_id', // an event of another case
  'duplicate_event', // two events at one chain position
  'csv', // events.csv disagrees with events.jsonl
  'proof', // a missing, misplaced or failing inclusion proof
  'checkpoint', // a malformed checkpoint record, or its side files disagree with it
  'checkpoint_signature', // a checkpoint not signed by the key
  'timestamp', // an RFC 3161 token that does not verify for its checkpoint
] as const;
export type EvidenceFindingKind = (typeof EVIDENCE_FINDING_KINDS)[number];

export interface EvidenceFinding {
  kind: EvidenceFindingKind;
  file: string;
  line?: number;
  event_id?: string;
  chain_id?: string;
  seq?: number;
  tree_size?: number;
  detail: string;
}

export interface EvidenceChainReport {
  chain_id: string;
  events: number;
  checkpoint: string;
  tree_size: number;
  root_hash: string;
  created_at: string;
  signature_ok: boolean;
  timestamps: Array<{ authority: string; gen_time: string | null; tsa: string | null; ok: boolean }>;
}

export interface EvidenceReport {
  ok: boolean;
  correlation_id: string | null;
  created_at: string | null;
  created_by: string | null;
  bridge_version: string | null;
  events: number;
  proofs_verified: number;
  chains: EvidenceChainReport[];
  /** Which key the signatures were checked with. */
  key: { source: 'pack' | 'given'; key_id: string; sha256: string };
  /** Whether timestamp authorities' certificates were checked against CA certificates (--tsa-ca). */
  tsa_ca: boolean;
  findings: EvidenceFinding[];
  findings_total: number;
}

/** The pack cannot be checked at all: exit 2. */
export class UnusablePackError extends Error {}

const MAX_FINDINGS = 1000;
const CHECKPOINT_FILE = /^checkpoints\/([A-Za-z0-9._-]{1,64})\/(\d{20})\.json$/;
const HEX64 = /^[0-9a-f]{64}$/;

export interface VerifyEvidenceOptions {
  /** The key the operator published; without it the pack's own key is trusted (and the report says so). */
  publicKey?: KeyObject;
  /** CA certificates the RFC 3161 authorities' certificates must chain to. */
  tsaCa?: X509Certificate[];
}

const utf8 = (b: Uint8Array) => Buffer.from(b).toString('utf8');
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const short = (h: unknown) => (typeof h === 'string' && h.length > 16 ? `${h.slice(0, 16)}…` : String(h));

interface EventInfo {
  line: number;
  event_id: string;
  chain_id: string;
  seq: number;
  hash: string;
}

export function verifyEvidencePack(data: Uint8Array, opts: VerifyEvidenceOptions = {}): EvidenceReport {
  let zip: ZipReader;
  try {
    zip = ZipReader.open(data);
  } catch (err) {
    throw new UnusablePackError(`not a zip archive: ${(err as Error).message}`);
  }
  const findings: EvidenceFinding[] = [];
  let total = 0;
  const add = (f: EvidenceFinding) => {
    total++;
    if (findings.length < MAX_FINDINGS) findings.push(f);
  };

  // ---- the archive -----------------------------------------------------------------------
  const seen = new Set<string>();
  for (const e of zip.entries) {
    if (seen.has(e.name)) add({ kind: 'duplicate_file', file: e.name, detail: `the zip holds two entries named ${e.name}: tools disagree on which one they show` });
    seen.add(e.name);
  }
  const missing = [FILES.manifest, FILES.manifestSig, ...REQUIRED_FILES].filter((f) => !zip.has(f));
  if (missing.length) {
    const hint = zip.has(FILES.manifest) || zip.entries.some((e) => e.name.startsWith('checkpoints/')) ? '' : ' (is this an otel-audit evidence pack?)';
    throw new UnusablePackError(`not a complete evidence pack: ${missing.join(', ')} missing${hint}`);
  }
  /** An entry's bytes, or null (reported) when it is damaged. */
  const read = (name: string): Uint8Array | null => {
    try {
      return zip.read(name);
    } catch (err) {
      if (err instanceof ZipFormatError) throw new UnusablePackError(err.message);
      add({ kind: 'damaged_file', file: name, detail: `${(err as Error).message}: the zip entry is damaged` });
      return null;
    }
  };

  // ---- the key ---------------------------------------------------------------------------
  const pemBytes = read(FILES.publicKey);
  let packKey: KeyObject | null = null;
  try {
    if (!pemBytes) throw new Error('damaged');
    const k = createPublicKey(utf8(pemBytes));
    if (k.asymmetricKeyType !== 'ed25519') throw new Error(`a ${k.asymmetricKeyType} key`);
    packKey = k;
  } catch (err) {
    if (!opts.publicKey) throw new UnusablePackError(`${FILES.publicKey} is not a usable Ed25519 public key (${(err as Error).message}), and no --public-key was given`);
    add({ kind: 'public_key', file: FILES.publicKey, detail: `${FILES.publicKey} is not a usable Ed25519 public key (${(err as Error).message})` });
  }
  const key = opts.publicKey ?? packKey!;
  const keyInfo = { source: opts.publicKey ? ('given' as const) : ('pack' as const), key_id: keyId(key), sha256: publicKeySha256(key) };
  if (opts.publicKey && packKey && publicKeySha256(packKey) !== keyInfo.sha256) {
    add({
      kind: 'key_mismatch',
      file: FILES.publicKey,
      detail: `the pack's public key (key id ${keyId(packKey)}) is not the key you gave (key id ${keyInfo.key_id}): every signature is checked against yours`,
    });
  }

  // ---- the manifest ----------------------------------------------------------------------
  const manifestBytes = read(FILES.manifest);
  const sig = read(FILES.manifestSig);
  const manifestSigned = !!manifestBytes && !!sig && sig.length === 64 && verifySignature(null, manifestBytes, key, sig);
  if (!manifestSigned) {
    add({ kind: 'manifest_signature', file: FILES.manifestSig, detail: `${FILES.manifestSig} is not a valid signature of ${FILES.manifest} for key ${keyInfo.key_id}: the manifest was altered, or signed by another key` });
  }
  let manifest: EvidenceManifest | null = null;
  try {
    if (manifestBytes) manifest = JSON.parse(utf8(manifestBytes)) as EvidenceManifest;
  } catch {
    add({ kind: 'manifest', file: FILES.manifest, detail: `${FILES.manifest} is not JSON` });
  }
  if (manifest !== null && (typeof manifest !== 'object' || manifest.format !== EVIDENCE_FORMAT)) {
    const fmt = typeof manifest === 'object' ? JSON.stringify(manifest.format) : 'none';
    if (manifestSigned) throw new UnusablePackError(`the pack's format is ${fmt}; this verifier reads ${EVIDENCE_FORMAT}`);
    add({ kind: 'manifest', file: FILES.manifest, detail: `the manifest's format is ${fmt}, not ${EVIDENCE_FORMAT}` });
    manifest = null;
  }
  const manifestErrors = manifest ? manifestShapeErrors(manifest) : [];
  for (const e of manifestErrors) add({ kind: 'manifest', file: FILES.manifest, detail: e });
  if (manifestErrors.length) manifest = null;

  const listed = new Map<string, ManifestFile>((manifest?.files ?? []).map((f) => [f.name, f]));
  if (manifest) {
    const absent = [...listed.keys()].filter((n) => !zip.has(n));
    if (absent.length) throw new UnusablePackError(`not a complete evidence pack: ${absent.join(', ')} listed in the manifest but missing`);
    for (const name of seen) {
      if (name !== FILES.manifest && name !== FILES.manifestSig && !listed.has(name)) {
        add({ kind: 'unlisted_file', file: name, detail: `${name} is not listed in the manifest: it was added to the pack` });
      }
    }
    for (const f of REQUIRED_FILES) if (!listed.has(f)) add({ kind: 'manifest', file: FILES.manifest, detail: `the manifest does not list ${f}` });
  }
  /** Checks a file against the manifest's digest as it is read. */
  const content = (name: string): Uint8Array | null => {
    const bytes = read(name);
    const want = listed.get(name);
    if (bytes && want && (sha256(bytes) !== want.sha256 || bytes.length !== want.bytes)) {
      add({ kind: 'file_digest', file: name, detail: `${name} is not the file the manifest lists (SHA-256 ${short(sha256(bytes))}, manifest ${short(want.sha256)}): it was altered` });
    }
    return bytes;
  };
  for (const name of [FILES.readme, FILES.publicKey]) content(name);

  // ---- schema.json -------------------------------------------------------------------------
  const schemaBytes = content(FILES.schema);
  if (schemaBytes) {
    let doc: SchemaDocument | null = null;
    try {
      doc = JSON.parse(utf8(schemaBytes)) as SchemaDocument;
    } catch {
      add({ kind: 'schema', file: FILES.schema, detail: `${FILES.schema} is not JSON` });
    }
    if (doc) {
      const mine = schemaDocument();
      const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
      const known =
        doc.hash_domain === mine.hash_domain &&
        same(doc.columns, mine.columns) &&
        Array.isArray(doc.added_columns) &&
        doc.added_columns.length <= mine.added_columns.length &&
        same(doc.added_columns, mine.added_columns.slice(0, doc.added_columns.length)) &&
        (doc.hash_v2 === undefined || same(doc.hash_v2, mine.hash_v2));
      if (!known) {
        const intact = manifestSigned && listed.get(FILES.schema)?.sha256 === sha256(schemaBytes);
        if (intact) throw new UnusablePackError(`the pack's event schema (${FILES.schema}) is newer than this verifier's: use the otel-audit ${manifest?.bridge?.version ?? ''} that made it, or a later one`);
        add({ kind: 'schema', file: FILES.schema, detail: `${FILES.schema} is not the event schema this verifier knows` });
      }
    }
  }

  // ---- checkpoints -------------------------------------------------------------------------
  const checkpoints = new Map<string, { record: AnchorRecord | null; signed: boolean; report: EvidenceChainReport | null }>();
  for (const name of seen) {
    const m = CHECKPOINT_FILE.exec(name);
    if (!m) continue;
    const [, chainId, sizeText] = m;
    const bytes = content(name);
    let record: AnchorRecord | null = null;
    try {
      if (bytes) record = JSON.parse(utf8(bytes)) as AnchorRecord;
    } catch {
      add({ kind: 'checkpoint', file: name, chain_id: chainId, tree_size: Number(sizeText), detail: `${name} is not JSON` });
    }
    const errors = record ? anchorRecordErrors(record) : [];
    if (record && errors.length) {
      add({ kind: 'checkpoint', file: name, chain_id: chainId, tree_size: Number(sizeText), detail: `the checkpoint record ${name} is malformed: ${errors.join('; ')}` });
      record = null;
    }
    if (!record) {
      checkpoints.set(name, { record: null, signed: false, report: null });
      continue;
    }
    const cp = record.checkpoint;
    const at = { file: name, chain_id: cp.chain_id, tree_size: cp.tree_size };
    if (cp.chain_id !== chainId || cp.tree_size !== Number(sizeText)) {
      add({ kind: 'checkpoint', ...at, detail: `${name} holds checkpoint ${cp.chain_id}@${cp.tree_size}, not the one its name says` });
    }
    const signed = verifyCheckpointSignature(cp, key);
    if (!signed) {
      add({
        kind: 'checkpoint_signature',
        ...at,
        detail: `the signature of checkpoint ${cp.chain_id}@${cp.tree_size} (key id ${cp.key_id}) is not valid for key ${keyInfo.key_id}: the checkpoint was altered, or signed by another key`,
      });
    }
    const base = checkpointBase(chainId, Number(sizeText));
    const payload = checkpointSigningPayload(cp);
    const txt = zip.has(`${base}.signed.txt`) ? content(`${base}.signed.txt`) : null;
    if (!txt || !Buffer.from(txt).equals(payload)) {
      add({ kind: 'checkpoint', ...at, file: `${base}.signed.txt`, detail: `${base}.signed.txt is ${txt ? 'not' : 'missing, it should be'} the signed text of checkpoint ${cp.chain_id}@${cp.tree_size}` });
    }
    const raw = zip.has(`${base}.sig`) ? content(`${base}.sig`) : null;
    if (!raw || !Buffer.from(raw).equals(Buffer.from(cp.signature, 'base64'))) {
      add({ kind: 'checkpoint', ...at, file: `${base}.sig`, detail: `${base}.sig is ${raw ? 'not' : 'missing, it should be'} the signature of checkpoint ${cp.chain_id}@${cp.tree_size}` });
    }
    const timestamps: EvidenceChainReport['timestamps'] = [];
    (record.timestamps ?? []).forEach((ts, i) => {
      const check = checkAnchorTimestamp(ts, cp, opts.tsaCa);
      timestamps.push({
        authority: String(ts.authority),
        gen_time: check.info?.genTime.toISOString() ?? null,
        tsa: check.info?.signer.subject ?? null,
        ok: check.errors.length === 0,
      });
      if (check.errors.length) {
        add({ kind: 'timestamp', ...at, detail: `the RFC 3161 timestamp of ${ts.authority} over checkpoint ${cp.chain_id}@${cp.tree_size} does not verify: ${check.errors.join('; ')}` });
      }
      const file = timestampFile(chainId, Number(sizeText), i + 1);
      const tst = zip.has(file) ? content(file) : null;
      if (!tst || !Buffer.from(tst).equals(Buffer.from(String(ts.token), 'base64'))) {
        add({ kind: 'checkpoint', ...at, file, detail: `${file} is ${tst ? 'not' : 'missing, it should be'} the timestamp token of the checkpoint record` });
      }
    });
    checkpoints.set(name, {
      record,
      signed,
      report: { chain_id: cp.chain_id, events: 0, checkpoint: name, tree_size: cp.tree_size, root_hash: cp.root_hash, created_at: cp.created_at, signature_ok: signed, timestamps },
    });
  }
  if (checkpoints.size === 0) throw new UnusablePackError('not a complete evidence pack: no checkpoint in checkpoints/');
  for (const c of manifest?.chains ?? []) {
    const cp = checkpoints.get(c.checkpoint.file)?.record?.checkpoint;
    if (!cp || cp.chain_id !== c.chain_id || cp.tree_size !== c.checkpoint.tree_size || cp.root_hash !== c.checkpoint.root_hash) {
      add({ kind: 'manifest', file: FILES.manifest, chain_id: c.chain_id, detail: `the manifest's checkpoint of chain ${c.chain_id} (${c.checkpoint.file}) is not the one in the pack` });
    }
  }

  // ---- events.jsonl and events.csv, line by line ----------------------------------------------
  const caseId = manifest?.correlation_id ?? null;
  const events: Array<EventInfo | null> = [];
  const positions = new Set<string>();
  const evBytes = content(FILES.events);
  const csvBytes = content(FILES.csv);
  const csvRows = csvBytes ? safeCsv(csvBytes) : null;
  let header: string[] | null = null;
  if (csvRows) {
    const h = csvRows.next();
    if (h.done || h.value.error) add({ kind: 'csv', file: FILES.csv, line: 1, detail: `${FILES.csv} has no header row${h.value?.error ? ` (${h.value.error})` : ''}` });
    else header = h.value.fields;
  }
  let csvBroken = !header;
  for (const { line, text } of evBytes ? jsonLines(evBytes) : []) {
    let e: Record<string, unknown>;
    try {
      // Attribute names are object keys here: parsed so that V8 cannot hand back another key
      // (store/json-rows.ts), which would report an untouched event as altered.
      e = parseJsonSafeKeys(text) as Record<string, unknown>;
      if (e === null || typeof e !== 'object' || Array.isArray(e)) throw new Error('not an object');
    } catch {
      add({ kind: 'event', file: FILES.events, line, detail: `line ${line} of ${FILES.events} is not a JSON object: the file was altered` });
      events.push(null);
      if (csvRows && !csvBroken) csvRows.next();
      continue;
    }
    const info: EventInfo = { line, event_id: String(e.event_id), chain_id: String(e.chain_id), seq: Number(e.seq), hash: String(e.hash) };
    events.push(info);
    const at = { file: FILES.events, line, event_id: info.event_id, chain_id: info.chain_id, seq: info.seq };
    let recomputed: string;
    try {
      recomputed = eventHash(e);
    } catch (err) {
      recomputed = `(${(err as Error).message})`;
    }
    if (recomputed !== e.hash) {
      add({ kind: 'event_hash', ...at, detail: `${where(info)}: its columns hash to ${short(recomputed)}, not to its hash ${short(e.hash)}: the event was altered` });
    }
    if (caseId !== null && e.correlation_id !== caseId) {
      add({ kind: 'correlation_id', ...at, detail: `${where(info)} has correlation id ${JSON.stringify(e.correlation_id)}, not the case's ${JSON.stringify(caseId)}` });
    }
    const pos = `${info.chain_id}\u0000${info.seq}`;
    if (positions.has(pos)) add({ kind: 'duplicate_event', ...at, detail: `${where(info)}: another event of the pack is at the same chain position` });
    positions.add(pos);

    if (csvRows && !csvBroken) {
      const r = csvRows.next();
      if (r.done || r.value.error) {
        add({ kind: 'csv', file: FILES.csv, event_id: info.event_id, chain_id: info.chain_id, seq: info.seq, detail: r.done ? `${FILES.csv} ends before ${where(info)}` : `${FILES.csv} cannot be read from here: ${r.value.error}` });
        csvBroken = true;
      } else {
        const keys = Object.keys(e);
        const diff: string[] = [];
        if (keys.length !== header!.length || keys.some((k, i) => k !== header![i])) diff.push('the columns');
        header!.forEach((col, i) => {
          if (r.value.fields[i] !== csvText(e[col])) diff.push(col);
        });
        if (r.value.fields.length !== header!.length) diff.push(`the number of cells (${r.value.fields.length})`);
        if (diff.length) {
          add({
            kind: 'csv',
            file: FILES.csv,
            line: r.value.line,
            event_id: info.event_id,
            chain_id: info.chain_id,
            seq: info.seq,
            detail: `${FILES.csv} line ${r.value.line} disagrees with ${FILES.events} line ${line} (${where(info)}) in ${diff.slice(0, 5).join(', ')}${diff.length > 5 ? ` and ${diff.length - 5} more` : ''}`,
          });
        }
      }
    }
  }
  if (csvRows && !csvBroken) {
    let extra = 0;
    for (const r of csvRows) if (r.fields.length > 1 || r.fields[0] !== '') extra++;
    if (extra) add({ kind: 'csv', file: FILES.csv, detail: `${FILES.csv} has ${extra} row${extra === 1 ? '' : 's'} more than ${FILES.events}` });
  }
  if (manifest && evBytes && manifest.events !== events.length) {
    add({ kind: 'manifest', file: FILES.manifest, detail: `the manifest counts ${manifest.events} events, ${FILES.events} holds ${events.length}: events were added or removed` });
  }

  // ---- proofs.jsonl, line by line -----------------------------------------------------------
  const proofBytes = content(FILES.proofs);
  let n = 0;
  let verified = 0;
  const perChain = new Map<string, number>();
  for (const { line, text } of proofBytes ? jsonLines(proofBytes) : []) {
    n = line;
    const ev = events[line - 1];
    const at = { file: FILES.proofs, line, ...(ev ? { event_id: ev.event_id, chain_id: ev.chain_id, seq: ev.seq } : {}) };
    let p: ProofLine;
    try {
      p = JSON.parse(text) as ProofLine;
      if (p === null || typeof p !== 'object') throw new Error('not an object');
    } catch {
      add({ kind: 'proof', ...at, detail: `line ${line} of ${FILES.proofs} is not a JSON object: the file was altered` });
      continue;
    }
    if (ev === undefined) {
      add({ kind: 'proof', ...at, detail: `proof line ${line} has no event: ${FILES.events} has ${events.length} lines` });
      continue;
    }
    if (ev === null) continue; // the event line is reported already
    const what = `the proof of ${where(ev)} (${FILES.proofs} line ${line})`;
    const cpEntry = typeof p.checkpoint === 'string' ? checkpoints.get(p.checkpoint) : undefined;
    const problems: string[] = [];
    if (p.event_id !== ev.event_id || p.chain_id !== ev.chain_id || p.seq !== ev.seq) problems.push(`is for event ${p.event_id} (chain ${p.chain_id}, seq ${p.seq}), not this one`);
    if (p.event_hash !== ev.hash) problems.push(`is for hash ${short(p.event_hash)}, not the event's ${short(ev.hash)}`);
    if (p.leaf_index !== ev.seq - 1) problems.push(`puts the event at leaf ${p.leaf_index}, not seq - 1 = ${ev.seq - 1}`);
    if (!cpEntry) problems.push(`names checkpoint ${JSON.stringify(p.checkpoint)}, which the pack does not hold`);
    const cp = cpEntry?.record?.checkpoint;
    if (cp && (cp.chain_id !== ev.chain_id || cp.tree_size !== p.tree_size)) problems.push(`leads to checkpoint ${cp.chain_id}@${cp.tree_size}, not chain ${ev.chain_id} at tree size ${p.tree_size}`);
    const pathOk = Array.isArray(p.audit_path) && p.audit_path.every((h) => typeof h === 'string' && HEX64.test(h));
    if (!pathOk) problems.push('has an audit path that is not a list of 64-character hex hashes');
    if (problems.length) {
      add({ kind: 'proof', ...at, tree_size: cp?.tree_size, detail: `${what} ${problems.join('; ')}` });
      continue;
    }
    if (!cp) continue; // the checkpoint record is reported already
    const included = HEX64.test(ev.hash) && verifyInclusion(eventLeafHash(ev.hash), p.leaf_index, cp.tree_size, p.audit_path.map((h) => Buffer.from(h, 'hex')), Buffer.from(cp.root_hash, 'hex'));
    if (!included) {
      add({ kind: 'proof', ...at, tree_size: cp.tree_size, detail: `${what} does not lead to the root of checkpoint ${cp.chain_id}@${cp.tree_size}: the event's hash, its position or the audit path was altered` });
      continue;
    }
    verified++;
    perChain.set(p.checkpoint, (perChain.get(p.checkpoint) ?? 0) + 1);
  }
  for (let i = n; i < events.length; i++) {
    const ev = events[i];
    if (ev) add({ kind: 'proof', file: FILES.proofs, event_id: ev.event_id, chain_id: ev.chain_id, seq: ev.seq, detail: `${where(ev)} has no proof: ${FILES.proofs} has ${n} lines` });
  }

  const chains: EvidenceChainReport[] = [];
  for (const [name, c] of checkpoints) if (c.report) chains.push({ ...c.report, events: perChain.get(name) ?? 0 });
  return {
    ok: total === 0,
    correlation_id: caseId,
    created_at: manifest?.created_at ?? null,
    created_by: manifest?.created_by ?? null,
    bridge_version: manifest?.bridge?.version ?? null,
    events: events.length,
    proofs_verified: verified,
    chains,
    key: keyInfo,
    tsa_ca: !!opts.tsaCa,
    findings,
    findings_total: total,
  };
}

function where(e: EventInfo): string {
  return `event ${e.event_id} (chain ${e.chain_id}, seq ${e.seq}, ${FILES.events} line ${e.line})`;
}

/** csvRecords that reports a parse error as a row instead of throwing. */
function* safeCsv(buf: Uint8Array): Generator<{ line: number; fields: string[]; error?: string }> {
  try {
    yield* csvRecords(buf);
  } catch (err) {
    yield { line: 0, fields: [], error: (err as Error).message };
  }
}

function manifestShapeErrors(m: EvidenceManifest): string[] {
  const errors: string[] = [];
  if (typeof m.correlation_id !== 'string') errors.push('the manifest has no correlation_id');
  if (!Number.isSafeInteger(m.events)) errors.push('the manifest has no event count');
  if (!Array.isArray(m.files) || m.files.some((f) => f === null || typeof f !== 'object' || typeof f.name !== 'string' || typeof f.sha256 !== 'string' || !Number.isSafeInteger(f.bytes))) {
    errors.push('the manifest\'s file list is malformed');
  }
  if (!Array.isArray(m.chains) || m.chains.some((c) => c === null || typeof c !== 'object' || typeof c.chain_id !== 'string' || c.checkpoint === null || typeof c.checkpoint !== 'object' || typeof c.checkpoint.file !== 'string')) {
    errors.push('the manifest\'s chain list is malformed');
  }
  return errors;
}

/** The report for a person: the verdict, what was checked, the key, and each finding. */
export function formatEvidenceReport(r: EvidenceReport, file: string): string {
  const lines: string[] = [];
  const caseText = r.correlation_id !== null ? `case ${JSON.stringify(r.correlation_id)}` : 'an unknown case';
  if (r.ok) {
    const cps = r.chains
      .map((c) => {
        const ts = c.timestamps.filter((t) => t.ok).map((t) => `, timestamped ${t.gen_time} by ${t.authority}`).join('');
        return `${c.chain_id}@${c.tree_size} signed ${c.created_at}${ts}`;
      })
      .join('; ');
    lines.push(
      `OK: ${file}: evidence pack of ${caseText}, ${r.events} event${r.events === 1 ? '' : 's'}: every event hashes to its hash, every proof leads to its checkpoint's signed root (${cps}), the CSV agrees with the JSON lines, the files match the signed manifest.`,
    );
    lines.push(`Made ${r.created_at} by ${JSON.stringify(r.created_by)} with otel-audit ${r.bridge_version}.`);
  } else {
    lines.push(`ALTERED: ${file}: evidence pack of ${caseText}: ${r.findings_total} finding${r.findings_total === 1 ? '' : 's'}`);
    for (const f of r.findings) lines.push(`  - ${f.kind}: ${f.detail}`);
    if (r.findings_total > r.findings.length) lines.push(`  ... and ${r.findings_total - r.findings.length} more`);
  }
  if (r.key.source === 'pack') {
    lines.push(
      `Key: the signatures were checked with the key inside the pack (key id ${r.key.key_id}, SHA-256 ${r.key.sha256}), which was trusted as is. ` +
        `Compare it with the public key the operator published (otel-audit public-key), or run again with --public-key: anyone can make a pack that verifies against a key of their own.`,
    );
  } else {
    lines.push(`Key: checked with the key you gave (key id ${r.key.key_id}).`);
  }
  for (const c of r.chains) {
    for (const t of c.timestamps) {
      if (!t.ok || !t.tsa) continue;
      const ca = r.tsa_ca ? 'its certificate chains to the CA you gave' : 'its certificate was taken from the token, not checked against a CA (--tsa-ca FILE)';
      lines.push(`Timestamp: ${c.chain_id}@${c.tree_size} existed at ${t.gen_time} on the word of ${t.tsa} (${t.authority}); ${ca}.`);
    }
  }
  lines.push('Not proved: that the case has no other events (a pack proves what it holds); the operator\'s "otel-audit verify" checks the whole trail.');
  return lines.join('\n') + '\n';
}
