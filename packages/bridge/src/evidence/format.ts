/**
 * The evidence pack format, otel-audit-evidence/v1 (README.md in this folder has the invariants).
 * Shared by the writer (pack.ts) and the offline verifier (verify.ts): file names, the manifest,
 * the proof lines, the CSV rule and the schema document. Nothing here touches the store.
 */
import { createHash, type KeyObject } from 'node:crypto';
import { HASH_DOMAIN, HASH_DOMAIN_V2, HASH_V2_COLUMNS } from '../chain/canonical.ts';
import { EVENT_COLUMNS } from '../store/schema.ts';

export const EVIDENCE_FORMAT = 'otel-audit-evidence/v1';

/** Fixed file names at the root of the zip. */
export const FILES = {
  readme: 'README.md',
  manifest: 'manifest.json',
  manifestSig: 'manifest.sig',
  publicKey: 'public-key.pem',
  schema: 'schema.json',
  events: 'events.jsonl',
  csv: 'events.csv',
  proofs: 'proofs.jsonl',
} as const;

/** Files every pack holds besides its checkpoints and the manifest, all listed in the manifest. */
export const REQUIRED_FILES: readonly string[] = Object.values(FILES).filter((f) => f !== FILES.manifest && f !== FILES.manifestSig);

/** `checkpoints/<chain_id>/<tree_size, 20 digits>` + `.json` (the anchor record), `.signed.txt`, `.sig`. */
export function checkpointBase(chainId: string, treeSize: number): string {
  return `checkpoints/${chainId}/${String(treeSize).padStart(20, '0')}`;
}

/** The n-th (1-based) RFC 3161 token of a checkpoint, as a DER file for `openssl ts -verify`. */
export function timestampFile(chainId: string, treeSize: number, n: number): string {
  return `${checkpointBase(chainId, treeSize)}.timestamp-${n}.tst`;
}

export interface ManifestFile {
  name: string;
  bytes: number;
  sha256: string;
}

export interface ManifestChain {
  chain_id: string;
  /** Events of this chain in the pack. */
  events: number;
  /** The checkpoint every proof of this chain leads to. */
  checkpoint: { file: string; tree_size: number; root_hash: string; created_at: string; key_id: string; timestamps: number };
}

/**
 * manifest.json. Its exact bytes are signed (manifest.sig, raw 64-byte Ed25519 signature) with the
 * bridge's checkpoint key. They begin with `{` and name the format first, so they can never be
 * taken for a checkpoint's signed text, which begins with "otel-audit checkpoint".
 */
export interface EvidenceManifest {
  format: typeof EVIDENCE_FORMAT;
  correlation_id: string;
  /** ISO 8601 UTC. */
  created_at: string;
  /** The name of the token that asked for the pack (`local` without an auth file). */
  created_by: string;
  /** The tenants whose events are in the pack. */
  tenants: string[];
  bridge: { name: string; version: string };
  key_id: string;
  /** SHA-256 of the public key's SPKI DER, hex: the fingerprint to compare with the operator's. */
  public_key_sha256: string;
  events: number;
  chains: ManifestChain[];
  files: ManifestFile[];
}

/** One line of proofs.jsonl: line i is the proof of line i of events.jsonl. */
export interface ProofLine {
  event_id: string;
  chain_id: string;
  seq: number;
  event_hash: string;
  /** seq - 1. */
  leaf_index: number;
  tree_size: number;
  /** The anchor record (checkpoints/…json) whose signed root the path leads to. */
  checkpoint: string;
  /** RFC 6962 audit path, lowest level first, hex. */
  audit_path: string[];
}

export function publicKeySha256(key: KeyObject): string {
  return createHash('sha256').update(key.export({ type: 'spki', format: 'der' })).digest('hex');
}

// ---- CSV ----------------------------------------------------------------------------------

/** events.csv starts with a UTF-8 byte order mark, so that spreadsheet programs read UTF-8. */
export const CSV_BOM = '\uFEFF';

/**
 * A cell as events.csv writes it, from the value of the same column in the JSON line:
 *  - null → empty; numbers and booleans as JSON writes them; objects and arrays as their JSON text;
 *  - a string as is, except that one starting with = + - @ tab or CR gets a leading apostrophe,
 *    so that a spreadsheet shows it as text instead of running it as a formula (the content of
 *    audit events comes from applications and their users).
 * Fields are quoted (RFC 4180) when they hold a comma, a quote, CR or LF; rows end in CRLF.
 */
export function csvCell(v: unknown): string {
  let s: string;
  if (v === null || v === undefined) s = '';
  else if (typeof v === 'string') s = /^[=+\-@\t\r]/.test(v) ? `'${v}` : v;
  else if (typeof v === 'number' || typeof v === 'boolean') s = String(v);
  else s = JSON.stringify(v);
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

export function csvRecord(cells: readonly string[]): string {
  return cells.join(',') + '\r\n';
}

/** The unquoted text of csvCell(v): what a CSV parser reads back from the cell. */
export function csvText(v: unknown): string {
  const c = csvCell(v);
  return c.startsWith('"') ? c.slice(1, -1).replaceAll('""', '"') : c;
}

/**
 * RFC 4180 records of a CSV document (UTF-8 bytes), with the 1-based line where each starts.
 * Splits on bytes (the delimiters are ASCII) and decodes each field. Throws on a quote that
 * does not close.
 */
export function* csvRecords(buf: Uint8Array): Generator<{ line: number; fields: string[] }> {
  const dec = new TextDecoder('utf-8', { fatal: false });
  let i = buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf ? 3 : 0;
  let line = 1;
  while (i < buf.length) {
    const start = line;
    const fields: string[] = [];
    for (;;) {
      let field: string;
      if (buf[i] === 0x22) {
        // Quoted: up to the closing quote; "" is a quote.
        const parts: Uint8Array[] = [];
        let from = ++i;
        for (;;) {
          if (i >= buf.length) throw new Error(`a quoted field opened on line ${start} does not close`);
          if (buf[i] === 0x22) {
            if (buf[i + 1] === 0x22) {
              parts.push(buf.subarray(from, i + 1));
              i += 2;
              from = i;
              continue;
            }
            parts.push(buf.subarray(from, i));
            i++;
            break;
          }
          if (buf[i] === 0x0a) line++;
          i++;
        }
        field = parts.map((p) => dec.decode(p)).join('');
      } else {
        const from = i;
        while (i < buf.length && buf[i] !== 0x2c && buf[i] !== 0x0d && buf[i] !== 0x0a) i++;
        field = dec.decode(buf.subarray(from, i));
      }
      fields.push(field);
      if (buf[i] === 0x2c) {
        i++;
        continue;
      }
      if (buf[i] === 0x0d && buf[i + 1] === 0x0a) i += 2;
      else if (buf[i] === 0x0a || buf[i] === 0x0d) i++;
      else if (i < buf.length) throw new Error(`unexpected character after a quoted field on line ${line}`);
      line++;
      break;
    }
    yield { line: start, fields };
  }
}

/** The lines of a JSON-lines file (UTF-8 bytes), 1-based, without decoding the whole file at once. */
export function* jsonLines(buf: Uint8Array): Generator<{ line: number; text: string }> {
  const dec = new TextDecoder('utf-8', { fatal: true });
  let start = 0;
  let line = 0;
  while (start < buf.length) {
    let end = buf.indexOf(0x0a, start);
    if (end < 0) end = buf.length;
    line++;
    let text: string;
    try {
      text = dec.decode(buf.subarray(start, end));
    } catch {
      text = '\uFFFD'; // not UTF-8: JSON.parse of it fails and the caller reports the line
    }
    yield { line, text };
    start = end + 1;
  }
}

// ---- schema.json ----------------------------------------------------------------------------

/**
 * schema.json: what an auditor needs to recompute event hashes without otel-audit. The rule
 * itself is chain/canonical.ts's; `normalize` names how each column's value is written into the
 * hashed JSON array.
 */
export interface SchemaDocument {
  format: 'otel-audit-event-schema/v1';
  hash_domain: string;
  /** Hashed as plain values, in this order (every column before `hash`). */
  columns: Array<{ name: string; type: string; normalize: Normalize }>;
  /** Added later: appended as [name, value] pairs, in this order, only when not empty. */
  added_columns: Array<{ name: string; type: string; normalize: Normalize }>;
  /**
   * Rows with hash_version 2: SHA-256 of the domain, then the row's ClickHouse RowBinary bytes
   * for these columns in this order (map entries in key order). Absent in packs made before.
   */
  hash_v2?: { hash_domain: string; serialization: 'RowBinary'; columns: Array<{ name: string; type: string }> };
}

export type Normalize = 'uint64' | 'map' | 'tuples' | 'as_is';

function normalizeOf(type: string): { normalize: Normalize; fields?: string[] } {
  const t = type.replace(/ CODEC\(.*\)$/, '');
  if (/^(Nullable\()?UInt64\)?$/.test(t)) return { normalize: 'uint64' };
  if (t.startsWith('Map(')) return { normalize: 'map' };
  if (/^Array\(Tuple\(/.test(t)) return { normalize: 'tuples' };
  return { normalize: 'as_is' };
}

export function schemaDocument(): SchemaDocument {
  const hashAt = EVENT_COLUMNS.findIndex(([n]) => n === 'hash');
  const col = ([name, type]: readonly [string, string]) => ({ name, type: type.replace(/ CODEC\(.*\)$/, ''), normalize: normalizeOf(type).normalize });
  return {
    format: 'otel-audit-event-schema/v1',
    hash_domain: HASH_DOMAIN,
    columns: EVENT_COLUMNS.slice(0, hashAt).map(col),
    added_columns: EVENT_COLUMNS.slice(hashAt + 1).map(col),
    hash_v2: {
      hash_domain: HASH_DOMAIN_V2,
      serialization: 'RowBinary',
      columns: HASH_V2_COLUMNS.map((name) => ({ name, type: EVENT_COLUMNS.find(([n]) => n === name)![1].replace(/ CODEC\(.*\)$/, '') })),
    },
  };
}

export function schemaJson(): string {
  return JSON.stringify(schemaDocument(), null, 2) + '\n';
}
