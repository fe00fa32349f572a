/**
 * RFC 3161 against a real timestamp authority: openssl's `ts -reply` behind a loopback HTTP
 * server (test/helpers/tsa.ts). Our request is read back by `openssl ts -query -text`, our tokens
 * are verified by `openssl ts -verify` as well as by checkTimestampToken, and altered tokens,
 * imprints, nonces and trust anchors are refused.
 */
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTsaCertificates, openssl, startTsa, type LocalTsa } from '../../../../../test/helpers/tsa.ts';
import { ANCHOR_FORMAT, type AnchorRecord } from '../anchor.ts';
import { signCheckpoint } from '../checkpoint.ts';
import { MerkleAccumulator } from '../merkle.ts';
import { checkAnchorTimestamp, checkpointImprint, checkTimestampToken, loadCertificates, TimestampAuthorityAnchor, timestampRequest } from './rfc3161.ts';

let tsa: LocalTsa;
let ecTsa: LocalTsa;
let work: string;
const { privateKey } = generateKeyPairSync('ed25519');

function record(treeSize = 1): AnchorRecord {
  const acc = new MerkleAccumulator();
  for (let i = 0; i < treeSize; i++) acc.append(Buffer.alloc(32, i + 1));
  const checkpoint = signCheckpoint(
    {
      version: 1,
      chain_id: 'tsa-test',
      tree_size: treeSize,
      root_hash: acc.root().toString('hex'),
      head_seq: treeSize,
      head_hash: 'ab'.repeat(32),
      created_at: new Date().toISOString(),
      prev_tree_size: 0,
      prev_root_hash: '',
    },
    privateKey,
  );
  return { format: ANCHOR_FORMAT, checkpoint, accumulator: acc.toJSON() };
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'rfc3161-test-'));
  tsa = await startTsa();
  ecTsa = await startTsa({ keyType: 'ec' });
});
afterAll(async () => {
  await tsa?.close();
  await ecTsa?.close();
});

describe('the TimeStampReq', () => {
  it('is what openssl reads: SHA-256 imprint, our nonce, certReq', async () => {
    const imprint = Buffer.alloc(32, 7);
    const { der, nonce } = timestampRequest(imprint, 0x8123456789abcdefn);
    expect(nonce).toBe(0x8123456789abcdefn);
    const file = join(work, 'req.tsq');
    writeFileSync(file, der);
    const text = await openssl(['ts', '-query', '-in', file, '-text'], work);
    expect(text).toMatch(/Hash Algorithm: sha256/);
    expect(text).toContain('07 07 07 07');
    expect(text).toMatch(/Nonce: 0x8123456789ABCDEF/i);
    expect(text).toMatch(/Certificate required: yes/);
  });
});

describe('a timestamp from a real TSA', () => {
  for (const kind of ['rsa', 'ec'] as const) {
    it(`is obtained, stored in the record and checked (${kind} TSA key)`, async () => {
      const local = kind === 'rsa' ? tsa : ecTsa;
      const anchor = new TimestampAuthorityAnchor({ url: local.anchorUrl, endpoint: local.endpoint, caFile: local.caFile, timeoutMs: 10_000 });
      const r = record(3);
      const before = Date.now();
      await anchor.endorse(r);
      expect(r.timestamps).toHaveLength(1);
      const ts = r.timestamps![0];
      expect(ts.authority).toBe(local.endpoint);
      const check = checkAnchorTimestamp(ts, r.checkpoint, loadCertificates(local.caFile));
      expect(check.errors).toEqual([]);
      expect(check.info!.genTime.getTime()).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000 - 1000);
      expect(check.info!.genTime.getTime()).toBeLessThanOrEqual(Date.now() + 1000);
      expect(check.info!.nonce!.toString(16)).toBe(ts.nonce);
      expect(check.info!.signer.subject).toContain('tsa test TSA');

      // openssl agrees: the token is valid for this imprint under the CA.
      const tokenFile = join(work, `token-${kind}.der`);
      writeFileSync(tokenFile, Buffer.from(ts.token, 'base64'));
      const out = await openssl(
        ['ts', '-verify', '-token_in', '-in', tokenFile, '-digest', checkpointImprint(r.checkpoint).toString('hex'), '-CAfile', local.caFile, '-untrusted', local.certFile],
        work,
      );
      expect(out).toContain('Verification: OK');
    });
  }

  it('refuses a token for another checkpoint, another nonce, an altered token, or another CA', async () => {
    const anchor = new TimestampAuthorityAnchor({ url: tsa.anchorUrl, endpoint: tsa.endpoint, timeoutMs: 10_000 });
    const r = record(2);
    await anchor.endorse(r);
    const ts = r.timestamps![0];
    const token = Buffer.from(ts.token, 'base64');
    const imprint = checkpointImprint(r.checkpoint);
    const nonce = BigInt(`0x${ts.nonce}`);
    expect(checkTimestampToken(token, { imprint, nonce }).errors).toEqual([]);

    // Another checkpoint (a different created_at is a different imprint).
    const other = { ...r.checkpoint, created_at: '2020-01-01T00:00:00.000Z' };
    expect(checkAnchorTimestamp(ts, other).errors).toContain('the message imprint is not the SHA-256 of this checkpoint');
    expect(checkTimestampToken(token, { imprint, nonce: nonce + 1n }).errors).toContain('the nonce is not the one the request sent');

    // One byte of the signature flipped (it is at the end of the SignerInfo, the end of the token).
    const flipped = Buffer.from(token);
    flipped[flipped.length - 5] ^= 0xff;
    expect(checkTimestampToken(flipped, { imprint, nonce }).errors).toContain('the TSA signature does not verify');

    // A byte of the TSTInfo changed: the signed digest no longer matches.
    const genAt = token.indexOf(Buffer.from(String(new Date().getUTCFullYear())));
    const altered = Buffer.from(token);
    altered[genAt] = altered[genAt] === 0x32 ? 0x31 : 0x32;
    expect(checkTimestampToken(altered, { imprint, nonce }).errors.join(' ')).toMatch(/message digest does not match/);

    expect(checkTimestampToken(token.subarray(0, 100), { imprint }).errors[0]).toMatch(/malformed token/);

    const dir = mkdtempSync(join(tmpdir(), 'other-ca-'));
    const { caFile } = await makeTsaCertificates(dir, 'other');
    expect(checkTimestampToken(token, { imprint, nonce, trusted: loadCertificates(caFile) }).errors.join(' ')).toMatch(/does not chain to the pinned CA/);
    expect(checkTimestampToken(token, { imprint, nonce, trusted: loadCertificates(tsa.caFile) }).errors).toEqual([]);
  });

  it('a TSA that is down, answers an error, or is pinned to another CA stamps nothing', async () => {
    const r = record(1);
    tsa.failWith = 503;
    const anchor = new TimestampAuthorityAnchor({ url: tsa.anchorUrl, endpoint: tsa.endpoint, timeoutMs: 10_000 });
    await expect(anchor.endorse(r)).rejects.toThrow(/answered HTTP 503/);
    tsa.failWith = null;
    const nowhere = new TimestampAuthorityAnchor({ url: 'rfc3161+http://127.0.0.1:9/', endpoint: 'http://127.0.0.1:9/', timeoutMs: 2_000 });
    await expect(nowhere.endorse(r)).rejects.toThrow(/unreachable/);
    const pinned = new TimestampAuthorityAnchor({ url: tsa.anchorUrl, endpoint: tsa.endpoint, caFile: ecTsa.caFile, timeoutMs: 10_000 });
    await expect(pinned.endorse(r)).rejects.toThrow(/unusable token: .*pinned CA/);
    expect(r.timestamps).toBeUndefined();
  });
});
