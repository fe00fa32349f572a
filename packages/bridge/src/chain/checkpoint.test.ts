import { generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  checkpointSigningPayload,
  eventLeafHash,
  exportPublicKeyPem,
  keyId,
  loadOrCreateSigningKey,
  loadPublicKey,
  signCheckpoint,
  verifyCheckpointSignature,
  type Checkpoint,
  type UnsignedCheckpoint,
} from './checkpoint.ts';
import { leafHash, rootFromLeafHashes } from './merkle.ts';

const { privateKey, publicKey } = generateKeyPairSync('ed25519');

function unsigned(): UnsignedCheckpoint {
  const hashes = ['11', '22', '33'].map((b) => b.repeat(32));
  return {
    version: 1,
    chain_id: 'tenant-a/default',
    tree_size: 3,
    root_hash: rootFromLeafHashes(hashes.map(eventLeafHash)).toString('hex'),
    head_seq: 3,
    head_hash: hashes[2] as string,
    created_at: '2025-01-31T12:00:00.000Z',
    prev_tree_size: 1,
    prev_root_hash: eventLeafHash(hashes[0] as string).toString('hex'),
  };
}

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'otel-audit-chain-'));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('checkpoint signatures', () => {
  it('round-trips sign/verify, through JSON too', () => {
    const cp = signCheckpoint(unsigned(), privateKey);
    expect(cp.key_id).toBe(keyId(publicKey));
    expect(cp.key_id).toMatch(/^[0-9a-f]{16}$/);
    expect(Buffer.from(cp.signature, 'base64')).toHaveLength(64);
    expect(verifyCheckpointSignature(cp, publicKey)).toBe(true);
    expect(verifyCheckpointSignature(JSON.parse(JSON.stringify(cp)) as Checkpoint, publicKey)).toBe(true);
  });

  it('eventLeafHash hashes the raw 32 bytes', () => {
    const h = 'ab'.repeat(32);
    expect(eventLeafHash(h)).toEqual(leafHash(Buffer.from(h, 'hex')));
    expect(() => eventLeafHash('AB'.repeat(32))).toThrow(TypeError);
  });

  it('has the documented canonical payload', () => {
    const cp = signCheckpoint(unsigned(), privateKey);
    const text = checkpointSigningPayload(cp).toString('utf8');
    expect(text).toBe(
      [
        'otel-audit checkpoint',
        'version=1',
        'chain_id=tenant-a/default',
        'tree_size=3',
        `root_hash=${cp.root_hash}`,
        'head_seq=3',
        `head_hash=${'33'.repeat(32)}`,
        'created_at=2025-01-31T12:00:00.000Z',
        'prev_tree_size=1',
        `prev_root_hash=${cp.prev_root_hash}`,
        `key_id=${cp.key_id}`,
        '',
      ].join('\n'),
    );
    // Key order of the object must not matter.
    const reordered = Object.fromEntries(Object.entries(cp).reverse()) as unknown as Checkpoint;
    expect(checkpointSigningPayload(reordered)).toEqual(checkpointSigningPayload(cp));
  });

  it('tampering with any field breaks the signature', () => {
    const cp = signCheckpoint(unsigned(), privateKey);
    const tampered: Record<keyof Checkpoint, unknown> = {
      version: 2,
      chain_id: 'tenant-b/default',
      tree_size: 4,
      root_hash: '00'.repeat(32),
      head_seq: 4,
      head_hash: '44'.repeat(32),
      created_at: '2025-01-31T12:00:01.000Z',
      prev_tree_size: 0,
      prev_root_hash: 'ff'.repeat(32),
      key_id: '0123456789abcdef',
      signature: Buffer.alloc(64, 1).toString('base64'),
    };
    for (const [field, value] of Object.entries(tampered)) {
      const bad = { ...cp, [field]: value } as Checkpoint;
      expect(verifyCheckpointSignature(bad, publicKey), field).toBe(false);
    }
    const sig = Buffer.from(cp.signature, 'base64');
    for (const i of [0, 31, 63]) {
      const s = Buffer.from(sig);
      s[i] = (s[i] as number) ^ 1;
      expect(verifyCheckpointSignature({ ...cp, signature: s.toString('base64') }, publicKey)).toBe(false);
    }
    expect(verifyCheckpointSignature({ ...cp, signature: cp.signature.replace(/==$/, '') }, publicKey)).toBe(false);
  });

  it('fails with the wrong key, and never throws on junk', () => {
    const cp = signCheckpoint(unsigned(), privateKey);
    const other = generateKeyPairSync('ed25519').publicKey;
    expect(verifyCheckpointSignature(cp, other)).toBe(false);
    // Even when the checkpoint claims the other key's id.
    expect(verifyCheckpointSignature({ ...cp, key_id: keyId(other) }, other)).toBe(false);
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey;
    expect(verifyCheckpointSignature(cp, rsa)).toBe(false);
    for (const junk of [null, undefined, 42, {}, { ...cp, tree_size: '3' }, { ...cp, chain_id: 'a\nb' }]) {
      expect(verifyCheckpointSignature(junk as unknown as Checkpoint, publicKey)).toBe(false);
    }
    expect(verifyCheckpointSignature(cp, null as unknown as typeof publicKey)).toBe(false);
  });

  it('refuses to sign malformed checkpoints', () => {
    const u = unsigned();
    expect(() => signCheckpoint({ ...u, chain_id: 'x\ny' }, privateKey)).toThrow(/chain_id/);
    expect(() => signCheckpoint({ ...u, root_hash: 'AB'.repeat(32) }, privateKey)).toThrow(/root_hash/);
    expect(() => signCheckpoint({ ...u, created_at: '2025-01-31 12:00:00' }, privateKey)).toThrow(/created_at/);
    expect(() => signCheckpoint({ ...u, prev_tree_size: 9 }, privateKey)).toThrow(/prev_tree_size/);
    expect(() => signCheckpoint({ ...u, prev_tree_size: 0, prev_root_hash: '' }, privateKey)).not.toThrow();
    expect(() => signCheckpoint({ ...u, key_id: '0123456789abcdef' }, privateKey)).toThrow(/key_id/);
    expect(() => signCheckpoint(u, publicKey)).toThrow(/Ed25519 private key/);
  });
});

describe('signing keys', () => {
  it('creates <dataDir>/keys/signing-key.pem with mode 0600 and reloads it identically', () => {
    const dataDir = tempDir();
    const first = loadOrCreateSigningKey({ dataDir });
    expect(first.created).toBe(true);
    const keyPath = join(dataDir, 'keys', 'signing-key.pem');
    expect(statSync(keyPath).mode & 0o777).toBe(0o600);
    const pubPath = join(dataDir, 'keys', 'signing-key.pub.pem');
    expect(readFileSync(pubPath, 'utf8')).toBe(exportPublicKeyPem(first.publicKey));

    const second = loadOrCreateSigningKey({ dataDir });
    expect(second.created).toBe(false);
    expect(second.keyId).toBe(first.keyId);
    expect(second.privateKey.equals(first.privateKey)).toBe(true);

    const cp = signCheckpoint(unsigned(), second.privateKey);
    expect(verifyCheckpointSignature(cp, loadPublicKey(pubPath))).toBe(true);
    expect(verifyCheckpointSignature(cp, loadPublicKey(readFileSync(pubPath, 'utf8')))).toBe(true);
  });

  it('prefers envPem, then keyFile, then the data dir', () => {
    const dataDir = tempDir();
    const a = generateKeyPairSync('ed25519').privateKey;
    const b = generateKeyPairSync('ed25519').privateKey;
    const aPem = a.export({ type: 'pkcs8', format: 'pem' }) as string;
    const keyFile = join(dataDir, 'b.pem');
    writeFileSync(keyFile, b.export({ type: 'pkcs8', format: 'pem' }) as string);

    expect(loadOrCreateSigningKey({ envPem: aPem, keyFile, dataDir }).keyId).toBe(keyId(a));
    expect(loadOrCreateSigningKey({ envPem: aPem.replaceAll('\n', '\\n'), dataDir }).keyId).toBe(keyId(a));
    expect(loadOrCreateSigningKey({ envPem: '', keyFile, dataDir }).keyId).toBe(keyId(b));
    expect(existsSync(join(dataDir, 'keys'))).toBe(false);
  });

  it('names the file when a key file is unreadable or not Ed25519', () => {
    const dataDir = tempDir();
    const missing = join(dataDir, 'nope.pem');
    expect(() => loadOrCreateSigningKey({ keyFile: missing, dataDir })).toThrow(missing);

    const garbage = join(dataDir, 'garbage.pem');
    writeFileSync(garbage, 'not a key');
    expect(() => loadOrCreateSigningKey({ keyFile: garbage, dataDir })).toThrow(garbage);

    const rsa = join(dataDir, 'rsa.pem');
    const rsaKey = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey;
    writeFileSync(rsa, rsaKey.export({ type: 'pkcs8', format: 'pem' }) as string);
    expect(() => loadOrCreateSigningKey({ keyFile: rsa, dataDir })).toThrow(new RegExp(`${rsa}.*rsa.*Ed25519`));

    expect(() => loadOrCreateSigningKey({ envPem: 'junk', dataDir })).toThrow(/OTEL_AUDIT_SIGNING_KEY/);
    expect(() => loadPublicKey(missing)).toThrow(missing);
  });

  it('reports a corrupted default key file by path instead of replacing it', () => {
    const dataDir = tempDir();
    loadOrCreateSigningKey({ dataDir });
    const keyPath = join(dataDir, 'keys', 'signing-key.pem');
    writeFileSync(keyPath, 'corrupted');
    expect(() => loadOrCreateSigningKey({ dataDir })).toThrow(keyPath);
    expect(readFileSync(keyPath, 'utf8')).toBe('corrupted');
  });
});
