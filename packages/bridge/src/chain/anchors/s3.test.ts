/**
 * The S3 anchor and the AnchorSet against a real S3-compatible server (S3rver on loopback,
 * test/helpers/s3.ts) with the real AWS SDK: puts, lists and gets for real, and the Object Lock
 * headers as the server received them (S3rver implements no Object Lock, so enforcement itself is
 * documented against AWS and MinIO, not tested here).
 */
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { objectPuts, startS3, type LocalS3 } from '../../../../../test/helpers/s3.ts';
import { ANCHOR_FORMAT, type AnchorRecord } from '../anchor.ts';
import { signCheckpoint } from '../checkpoint.ts';
import { MerkleAccumulator } from '../merkle.ts';
import { parseAnchorUrl } from './config.ts';
import { DirectoryAnchorSink } from './directory.ts';
import { S3AnchorSink } from './s3.ts';
import { AnchorConflictError, AnchorSet } from './set.ts';

let s3: LocalS3;
const { privateKey, publicKey } = generateKeyPairSync('ed25519');

/** A signed record of `chain` at `size` over leaves derived from `salt` (another salt: another history). */
function record(chain: string, size: number, prev: AnchorRecord | null = null, salt = 0): AnchorRecord {
  const acc = new MerkleAccumulator();
  for (let i = 0; i < size; i++) acc.append(Buffer.alloc(32, (i + 1 + salt) % 256));
  const checkpoint = signCheckpoint(
    {
      version: 1,
      chain_id: chain,
      tree_size: size,
      root_hash: acc.root().toString('hex'),
      head_seq: size,
      head_hash: 'cd'.repeat(32),
      created_at: new Date().toISOString(),
      prev_tree_size: prev?.checkpoint.tree_size ?? 0,
      prev_root_hash: prev?.checkpoint.root_hash ?? '',
    },
    privateKey,
  );
  return { format: ANCHOR_FORMAT, checkpoint, accumulator: acc.toJSON() };
}

async function sink(prefix: string): Promise<S3AnchorSink> {
  const spec = parseAnchorUrl(`s3://${s3.bucket}/${prefix}?endpoint=${encodeURIComponent(s3.endpoint)}&retention=30d`, { dataDir: '/nonexistent' });
  if (spec.kind !== 's3') throw new Error('not s3');
  return S3AnchorSink.open(spec);
}

beforeAll(async () => {
  s3 = await startS3();
  for (const [k, v] of Object.entries(s3.env)) process.env[k] = v;
});
afterAll(async () => {
  await s3?.close();
});

describe('S3AnchorSink', () => {
  it('puts one locked object per checkpoint, and lists and reads them back', async () => {
    const a = await sink('site-1');
    const r1 = record('main-low', 10);
    const r2 = record('main-low', 20, r1);
    const before = s3.requests.length;
    await a.write(r1);
    await a.write(r2);
    expect(await a.sizes('main-low')).toEqual([10, 20]);
    expect(await a.sizes('main-high')).toEqual([]);
    const { records, errors } = await a.readAll('main-low');
    expect(errors).toEqual([]);
    expect(records).toEqual([r1, r2]);
    expect(await a.latest('main-low')).toEqual(r2);
    expect(await a.readAt('main-low', 10)).toEqual([r1]);

    const puts = objectPuts(s3).filter((p) => s3.requests.indexOf(p) >= before);
    expect(puts.map((p) => p.path.replace(/\?.*$/, ''))).toEqual([`/${s3.bucket}/${a.key(r1)}`, `/${s3.bucket}/${a.key(r2)}`]);
    expect(a.key(r1)).toMatch(/^site-1\/main-low\/00000000000000000010-[0-9a-f]{16}\.json$/);
    for (const p of puts) {
      expect(p.headers['x-amz-object-lock-mode']).toBe('COMPLIANCE');
      const until = Date.parse(String(p.headers['x-amz-object-lock-retain-until-date']));
      expect(Math.abs(until - (Date.now() + 30 * 86_400_000))).toBeLessThan(120_000);
      expect(p.headers['if-none-match']).toBe('*');
      expect(p.headers['x-amz-checksum-sha256']).toMatch(/^[A-Za-z0-9+/]{43}=$/);
      expect(String(p.headers.authorization)).toMatch(/^AWS4-HMAC-SHA256 Credential=S3RVER\//);
      expect(String(p.headers.authorization)).toContain('x-amz-object-lock-mode');
    }
  });

  it('keeps two different checkpoints for one size side by side, and says so', async () => {
    const a = await sink('site-2');
    const orig = record('main-medium', 5);
    const resigned = record('main-medium', 5, null, 99);
    await a.write(orig);
    await a.write(resigned);
    expect(a.key(orig)).not.toBe(a.key(resigned));
    expect(await a.sizes('main-medium')).toEqual([5]);
    expect((await a.readAt('main-medium', 5)).length).toBe(2);
    await expect(a.latest('main-medium')).rejects.toThrow(/different checkpoints .* tree size 5/);
  });

  it('an unreachable server is an error naming the anchor', async () => {
    const a = await sink('site-3');
    s3.failWith = 503;
    try {
      await expect(a.write(record('main-low', 1))).rejects.toThrow(/cannot write site-3\/main-low\/.* to s3:\/\/anchors\/site-3/);
      await expect(a.readAll('main-low')).rejects.toThrow(/cannot list/);
    } finally {
      s3.failWith = null;
    }
  });
});

describe('AnchorSet over a directory and S3', () => {
  const dirSink = () => new DirectoryAnchorSink(mkdtempSync(join(tmpdir(), 'anchor-set-')));

  it('a record S3 missed while down is written at the next try, and healed at the next start', async () => {
    const local = dirSink();
    const set = new AnchorSet([local, await sink('site-4')]);
    const r1 = record('c', 1);
    await set.write(r1);
    s3.failWith = 503;
    const r2 = record('c', 2, r1);
    await set.write(r2); // stored locally; S3 waits
    expect(set.pending).toBe(1);
    await set.retry();
    expect(set.pending).toBe(1);
    s3.failWith = null;
    await set.retry();
    expect(set.pending).toBe(0);
    expect(await (await sink('site-4')).sizes('c')).toEqual([1, 2]);

    // A restart after records reached only the local copy: heal copies them over.
    const r3 = record('c', 3, r2);
    await local.write(r3);
    const restarted = new AnchorSet([local, await sink('site-4')]);
    expect((await restarted.resumePoint('c'))?.checkpoint.tree_size).toBe(3);
    expect(await restarted.heal('c', publicKey)).toBe(1);
    expect(await (await sink('site-4')).sizes('c')).toEqual([1, 2, 3]);
  });

  it('when all stores fail the checkpoint is not taken', async () => {
    const set = new AnchorSet([await sink('site-5')]);
    s3.failWith = 503;
    try {
      await expect(set.write(record('c', 1))).rejects.toThrow(/no anchor could store checkpoint 1/);
    } finally {
      s3.failWith = null;
    }
  });

  it('resumes from the newest record of any store, and refuses stores that disagree', async () => {
    const local = dirSink();
    const remote = await sink('site-6');
    const set = new AnchorSet([local, remote]);
    const r1 = record('c', 4);
    const r2 = record('c', 8, r1);
    await set.write(r1);
    await set.write(r2);
    // The local copy lost its newest record (deleted): S3's is the resume point.
    const lost = new DirectoryAnchorSink(local.dir);
    const { rmSync } = await import('node:fs');
    rmSync(join(lost.chainDir('c'), '00000000000000000008.json'));
    expect((await new AnchorSet([lost, remote]).resumePoint('c'))?.checkpoint.tree_size).toBe(8);

    // History re-signed into the local copy after 4, at another size: the stores disagree.
    const forked = record('c', 6, r1, 7);
    await lost.write(forked);
    const other = dirSink();
    await other.write(r1);
    await other.write(record('c', 9, r1, 5));
    await expect(new AnchorSet([other, remote]).resumePoint('c')).rejects.toBeInstanceOf(AnchorConflictError);
    // Same size, different checkpoint.
    const same = dirSink();
    await same.write(record('c', 8, r1, 3));
    await expect(new AnchorSet([same, remote]).resumePoint('c')).rejects.toThrow(/disagree|different/);
  });
});
