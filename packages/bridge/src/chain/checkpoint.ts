/**
 * Signed checkpoints: an Ed25519 signature over a chain's Merkle root at a given size, linked to
 * the previous checkpoint so a rollback or fork shows up as a failed consistency proof.
 */
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  sign,
  verify,
  type KeyObject,
} from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { leafHash } from './merkle.ts';

export interface Checkpoint {
  version: 1;
  chain_id: string;
  /** Number of events covered: the Merkle tree is over event hashes with seq order = leaf order. */
  tree_size: number;
  /** Merkle root, 64 lowercase hex chars. */
  root_hash: string;
  head_seq: number;
  /** Hash of the last event covered; '' only for an empty tree. */
  head_hash: string;
  /** ISO 8601 UTC, e.g. 2025-01-31T12:00:00.000Z. */
  created_at: string;
  /** 0 / '' for the first checkpoint of the chain. */
  prev_tree_size: number;
  prev_root_hash: string;
  /** keyId() of the signing key. */
  key_id: string;
  /** Base64 Ed25519 signature over checkpointSigningPayload(). */
  signature: string;
}

export type UnsignedCheckpoint = Omit<Checkpoint, 'signature' | 'key_id'> & { key_id?: string };

/** Leaf hash of an event: leaf data is the 32 raw bytes of the event's hex hash. */
export function eventLeafHash(eventHashHex: string): Buffer {
  if (!HEX64.test(eventHashHex)) {
    throw new TypeError(`event hash must be 64 lowercase hex chars, got ${JSON.stringify(eventHashHex)}`);
  }
  return leafHash(Buffer.from(eventHashHex, 'hex'));
}

const HEX64 = /^[0-9a-f]{64}$/;
const HEX16 = /^[0-9a-f]{16}$/;
const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$/;
// Control characters would break the line format (or hide text from a human reader).
const CONTROL = /[\u0000-\u001f\u007f]/;

const isCount = (n: unknown): n is number => typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;

/** What is wrong with a checkpoint's fields (signature excluded); empty when well formed. */
export function checkpointFieldErrors(cp: Omit<Checkpoint, 'signature'>): string[] {
  const errors: string[] = [];
  if (cp === null || typeof cp !== 'object') return ['The checkpoint is not an object.'];
  if (cp.version !== 1) errors.push(`Checkpoint version ${JSON.stringify(cp.version)} is not supported (expected 1).`);
  if (typeof cp.chain_id !== 'string' || cp.chain_id === '' || CONTROL.test(cp.chain_id)) {
    errors.push('Checkpoint chain_id must be a non-empty string without control characters.');
  }
  if (!isCount(cp.tree_size)) errors.push('Checkpoint tree_size must be a non-negative integer.');
  if (typeof cp.root_hash !== 'string' || !HEX64.test(cp.root_hash)) {
    errors.push('Checkpoint root_hash must be 64 lowercase hex characters.');
  }
  if (!isCount(cp.head_seq)) errors.push('Checkpoint head_seq must be a non-negative integer.');
  if (typeof cp.head_hash !== 'string' || !(HEX64.test(cp.head_hash) || (cp.head_hash === '' && cp.tree_size === 0))) {
    errors.push("Checkpoint head_hash must be 64 lowercase hex characters ('' only for an empty tree).");
  }
  if (typeof cp.created_at !== 'string' || !ISO_UTC.test(cp.created_at) || Number.isNaN(Date.parse(cp.created_at))) {
    errors.push('Checkpoint created_at must be an ISO 8601 UTC timestamp ending in Z.');
  }
  if (!isCount(cp.prev_tree_size)) {
    errors.push('Checkpoint prev_tree_size must be a non-negative integer.');
  } else if (isCount(cp.tree_size) && cp.prev_tree_size > cp.tree_size) {
    errors.push(`Checkpoint prev_tree_size ${cp.prev_tree_size} exceeds tree_size ${cp.tree_size}: the log shrank.`);
  }
  if (
    typeof cp.prev_root_hash !== 'string' ||
    !(HEX64.test(cp.prev_root_hash) || (cp.prev_root_hash === '' && cp.prev_tree_size === 0))
  ) {
    errors.push("Checkpoint prev_root_hash must be 64 lowercase hex characters ('' only when prev_tree_size is 0).");
  }
  if (typeof cp.key_id !== 'string' || !HEX16.test(cp.key_id)) {
    errors.push('Checkpoint key_id must be 16 lowercase hex characters.');
  }
  return errors;
}

/**
 * The exact bytes that are signed. Auditors re-implement this, so it is deliberately plain:
 *
 *   UTF-8 text, LF line endings, no BOM. A header line, then one `name=value` line per field in
 *   this fixed order, each line (the last included) ending in "\n":
 *
 *     otel-audit checkpoint
 *     version=1
 *     chain_id=<chain id, verbatim>
 *     tree_size=<decimal, no sign, no leading zeros>
 *     root_hash=<64 lowercase hex>
 *     head_seq=<decimal>
 *     head_hash=<64 lowercase hex, or empty for an empty tree>
 *     created_at=<ISO 8601 UTC as stored, e.g. 2025-01-31T12:00:00.000Z>
 *     prev_tree_size=<decimal>
 *     prev_root_hash=<64 lowercase hex, or empty for the first checkpoint>
 *     key_id=<16 lowercase hex>
 *
 *   `signature` is the base64 of the 64-byte Ed25519 signature (RFC 8032, pure Ed25519) of
 *   these bytes. Values cannot contain control characters, so every line parses unambiguously.
 *   The header line keeps the signature from being valid for any other message the key signs.
 *
 * Throws TypeError when a field is malformed.
 */
export function checkpointSigningPayload(cp: Omit<Checkpoint, 'signature'>): Buffer {
  const errors = checkpointFieldErrors(cp);
  if (errors.length > 0) throw new TypeError(errors.join(' '));
  const lines = [
    'otel-audit checkpoint',
    `version=${cp.version}`,
    `chain_id=${cp.chain_id}`,
    `tree_size=${cp.tree_size}`,
    `root_hash=${cp.root_hash}`,
    `head_seq=${cp.head_seq}`,
    `head_hash=${cp.head_hash}`,
    `created_at=${cp.created_at}`,
    `prev_tree_size=${cp.prev_tree_size}`,
    `prev_root_hash=${cp.prev_root_hash}`,
    `key_id=${cp.key_id}`,
  ];
  return Buffer.from(lines.join('\n') + '\n', 'utf8');
}

function publicOf(key: KeyObject): KeyObject {
  return key.type === 'private' ? createPublicKey(key) : key;
}

/** First 16 hex chars of SHA-256 over the public key's SPKI DER. A private key is accepted too. */
export function keyId(publicKey: KeyObject): string {
  const der = publicOf(publicKey).export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(der).digest('hex').slice(0, 16);
}

/** Sets key_id from the key (or checks the given one) and signs. Throws on malformed fields. */
export function signCheckpoint(unsigned: UnsignedCheckpoint, privateKey: KeyObject): Checkpoint {
  if (privateKey.type !== 'private' || privateKey.asymmetricKeyType !== 'ed25519') {
    throw new TypeError('signCheckpoint needs an Ed25519 private key');
  }
  const id = keyId(privateKey);
  if (unsigned.key_id !== undefined && unsigned.key_id !== id) {
    throw new TypeError(`checkpoint key_id ${unsigned.key_id} does not match the signing key (${id})`);
  }
  const { signature: _ignored, ...fields } = unsigned as UnsignedCheckpoint & { signature?: string };
  const body = { ...fields, key_id: id } as Omit<Checkpoint, 'signature'>;
  const signature = sign(null, checkpointSigningPayload(body), privateKey).toString('base64');
  return { ...body, signature };
}

/** True only for a well-formed checkpoint signed by this key. Never throws. */
export function verifyCheckpointSignature(cp: Checkpoint, publicKey: KeyObject): boolean {
  try {
    if (cp === null || typeof cp !== 'object' || typeof cp.signature !== 'string') return false;
    const key = publicOf(publicKey);
    if (key.asymmetricKeyType !== 'ed25519') return false;
    if (cp.key_id !== keyId(key)) return false;
    const sig = Buffer.from(cp.signature, 'base64');
    // Buffer's base64 decoder skips junk; insist on the canonical encoding.
    if (sig.length !== 64 || sig.toString('base64') !== cp.signature) return false;
    return verify(null, checkpointSigningPayload(cp), key, sig);
  } catch {
    return false;
  }
}

export function exportPublicKeyPem(publicKey: KeyObject): string {
  return publicOf(publicKey).export({ type: 'spki', format: 'pem' }) as string;
}

function parseEd25519(pem: string, source: string, kind: 'private' | 'public'): KeyObject {
  let key: KeyObject;
  try {
    key = kind === 'private' ? createPrivateKey(pem) : createPublicKey(pem);
  } catch (err) {
    throw new Error(`${source} does not hold a readable ${kind === 'private' ? 'PKCS#8' : 'SPKI'} PEM ${kind} key: ${(err as Error).message}`);
  }
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new Error(`${source} holds a ${key.asymmetricKeyType ?? 'unknown'} key, but otel-audit signs with Ed25519`);
  }
  return key;
}

function readKeyFile(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new Error(`Cannot read ${what} ${path}: ${(err as Error).message}`);
  }
}

export interface SigningKey {
  privateKey: KeyObject;
  publicKey: KeyObject;
  keyId: string;
  /** True when this call generated the key (first start). */
  created: boolean;
}

export interface SigningKeyOptions {
  /** Path of a PKCS#8 PEM Ed25519 private key. */
  keyFile?: string;
  /** Content of OTEL_AUDIT_SIGNING_KEY (a PKCS#8 PEM), read by the caller. */
  envPem?: string;
  dataDir: string;
}

export const DEFAULT_KEY_FILE = join('keys', 'signing-key.pem');
export const DEFAULT_PUBLIC_KEY_FILE = join('keys', 'signing-key.pub.pem');

function keyPair(privateKey: KeyObject, created: boolean): SigningKey {
  const publicKey = createPublicKey(privateKey);
  return { privateKey, publicKey, keyId: keyId(publicKey), created };
}

/**
 * Precedence: envPem, then keyFile, then <dataDir>/keys/signing-key.pem, generated (mode 0600,
 * public key beside it) when missing. Throws an Error naming the source on unusable keys.
 */
export function loadOrCreateSigningKey(opts: SigningKeyOptions): SigningKey {
  if (opts.envPem !== undefined && opts.envPem.trim() !== '') {
    // Container env files often carry the PEM with literal "\n" escapes.
    const pem = opts.envPem.includes('\n') ? opts.envPem : opts.envPem.replaceAll('\\n', '\n');
    return keyPair(parseEd25519(pem, 'OTEL_AUDIT_SIGNING_KEY', 'private'), false);
  }
  if (opts.keyFile !== undefined && opts.keyFile !== '') {
    const pem = readKeyFile(opts.keyFile, 'signing key file');
    return keyPair(parseEd25519(pem, `Signing key file ${opts.keyFile}`, 'private'), false);
  }

  const keyPath = join(opts.dataDir, DEFAULT_KEY_FILE);
  const pubPath = join(opts.dataDir, DEFAULT_PUBLIC_KEY_FILE);
  if (!existsSync(keyPath)) {
    const { privateKey } = generateKeyPairSync('ed25519');
    const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    mkdirSync(dirname(keyPath), { recursive: true, mode: 0o700 });
    try {
      // 'wx': if another process created the key meanwhile, use theirs rather than overwrite it.
      writeFileSync(keyPath, pem, { mode: 0o600, flag: 'wx' });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new Error(`Cannot create signing key file ${keyPath}: ${(err as Error).message}`);
      }
      return loadDefault(keyPath, pubPath);
    }
    chmodSync(keyPath, 0o600);
    writePublicKey(pubPath, privateKey);
    return keyPair(privateKey, true);
  }
  return loadDefault(keyPath, pubPath);
}

function loadDefault(keyPath: string, pubPath: string): SigningKey {
  const key = parseEd25519(readKeyFile(keyPath, 'signing key file'), `Signing key file ${keyPath}`, 'private');
  if (!existsSync(pubPath)) writePublicKey(pubPath, key);
  return keyPair(key, false);
}

function writePublicKey(pubPath: string, privateKey: KeyObject): void {
  try {
    writeFileSync(pubPath, exportPublicKeyPem(privateKey), { mode: 0o644 });
  } catch (err) {
    throw new Error(`Cannot write public key file ${pubPath}: ${(err as Error).message}`);
  }
}

/** An Ed25519 public key from PEM text or from the path of a PEM file. */
export function loadPublicKey(pemOrPath: string): KeyObject {
  if (pemOrPath.includes('-----BEGIN')) return parseEd25519(pemOrPath, 'The given PEM text', 'public');
  const pem = readKeyFile(pemOrPath, 'public key file');
  return publicOf(parseEd25519(pem, `Public key file ${pemOrPath}`, 'public'));
}
