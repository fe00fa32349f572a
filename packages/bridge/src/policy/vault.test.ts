import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SubjectVault } from './vault.ts';

const EVENT = 'a'.repeat(32);

function vault(): SubjectVault {
  return new SubjectVault(join(mkdtempSync(join(tmpdir(), 'vault-')), 'subjects'), randomBytes(32));
}

describe('SubjectVault', () => {
  it('seals and opens content per (tenant, subject); long content is compressed first', () => {
    const v = vault();
    const long = JSON.stringify({ input: [{ role: 'user', parts: [{ type: 'text', content: 'my card is 4111 1111 1111 1111 '.repeat(40) }] }] });
    for (const text of ['{"query":"short"}', long]) {
      const blob = v.seal('acme', 'pii:0123456789abcdef', EVENT, text);
      expect(Buffer.from(blob, 'base64').toString('latin1')).not.toContain('4111');
      const r = v.open(blob, EVENT);
      expect(r.status).toBe('ok');
      expect(r.status === 'ok' && r.plaintext.toString()).toBe(text);
      expect(SubjectVault.keyIdOf(blob)).toBe(v.keyId('acme', 'pii:0123456789abcdef'));
    }
    expect(Buffer.from(v.seal('acme', 's', EVENT, long), 'base64').length).toBeLessThan(long.length / 4);
  });

  it('names key files by HMAC (no subject in the directory), mode 0600, one key per tenant and subject', () => {
    const v = vault();
    v.seal('acme', 'jane@example.com', EVENT, '{}');
    v.seal('acme', 'jane@example.com', EVENT, '{}');
    v.seal('globex', 'jane@example.com', EVENT, '{}');
    const files = readdirSync(v.dir);
    expect(files).toHaveLength(2);
    for (const f of files) {
      expect(f).toMatch(/^[0-9a-f]{64}\.key$/);
      expect(statSync(join(v.dir, f)).mode & 0o777).toBe(0o600);
      expect(readFileSync(join(v.dir, f), 'utf8')).not.toContain('jane');
    }
    expect(statSync(v.dir).mode & 0o777).toBe(0o700);
  });

  it('prepare reads or creates keys off the event loop, durably, once per subject; then sealing does no file I/O', async () => {
    const v = vault();
    v.seal('acme', 'known', EVENT, '{}');
    expect(v.prepare([['acme', 'known']])).toBeNull();
    const subjects = Array.from({ length: 20 }, (_, i) => ['acme', `new-${i % 10}`] as const);
    const pending = v.prepare(subjects);
    expect(pending).not.toBeNull();
    await pending;
    expect(v.prepare(subjects)).toBeNull();
    expect(readdirSync(v.dir).sort()).toEqual([...new Set(['known', ...subjects.map(([, s]) => s)])].map((s) => `${v.keyId('acme', s)}.key`).sort());
    // Another vault on the same directory (the next start) reads the same keys.
    const again = new SubjectVault(v.dir, (v as unknown as { idKey: Buffer }).idKey);
    for (const [t, s] of subjects) {
      const blob = v.seal(t, s, EVENT, `{"s":"${s}"}`);
      const r = again.open(blob, EVENT);
      expect(r.status === 'ok' && r.plaintext.toString()).toBe(`{"s":"${s}"}`);
      expect(Buffer.from(again.sealingKey(t, s).key)).toEqual(Buffer.from(v.sealingKey(t, s).key));
    }
  });

  it('one key per subject when creations race (two vaults, and the sync path against prepare), never a partly written one', async () => {
    const a = vault();
    const idKey = (a as unknown as { idKey: Buffer }).idKey;
    const b = new SubjectVault(a.dir, idKey);
    const subjects = Array.from({ length: 30 }, (_, i) => ['acme', `race-${i}`] as const);
    const racing = [a.prepare(subjects), b.prepare(subjects)];
    // The sync path, for every other subject, while both creations are under way.
    const sync = subjects.filter((_, i) => i % 2 === 0).map(([t, s]) => a.sealingKey(t, s));
    await Promise.all(racing);
    for (const [i, [t, s]] of subjects.entries()) {
      const ka = Buffer.from(a.sealingKey(t, s).key);
      expect(Buffer.from(b.sealingKey(t, s).key)).toEqual(ka);
      if (i % 2 === 0) expect(Buffer.from(sync[i / 2].key)).toEqual(ka);
      expect(Buffer.from(new SubjectVault(a.dir, idKey).sealingKey(t, s).key)).toEqual(ka);
    }
    expect(readdirSync(a.dir).filter((f) => !f.endsWith('.key'))).toEqual([]);
  });

  it('a key file left unlinked by a stop (its .tmp) is removed at start, never read as a key', () => {
    const v = vault();
    writeFileSync(join(v.dir, `${v.keyId('acme', 's')}.abcdef012345.tmp`), '{"v":1');
    const again = new SubjectVault(v.dir, (v as unknown as { idKey: Buffer }).idKey);
    expect(readdirSync(again.dir)).toEqual([]);
    expect(again.has('acme', 's')).toBe(false);
  });

  it('a blob opens only for its own event, and not after a change', () => {
    const v = vault();
    const blob = v.seal('acme', 's', EVENT, '{"x":1}');
    expect(v.open(blob, 'b'.repeat(32))).toMatchObject({ status: 'invalid' });
    const bytes = Buffer.from(blob, 'base64');
    bytes[bytes.length - 1] ^= 1;
    expect(v.open(bytes.toString('base64'), EVENT)).toMatchObject({ status: 'invalid' });
    expect(v.open('bm90IGEgYmxvYg==', EVENT)).toMatchObject({ status: 'invalid' });
  });

  it('erase deletes the key: old content reads as erased, also once a new key exists for the subject', () => {
    const v = vault();
    const before = v.seal('acme', 's', EVENT, '{"x":1}');
    const other = v.seal('acme', 'someone-else', EVENT, '{"y":2}');
    expect(v.has('acme', 's')).toBe(true);
    expect(v.erase('acme', 's')).toBe(true);
    expect(v.erase('acme', 's')).toBe(false);
    expect(v.has('acme', 's')).toBe(false);
    expect(v.open(before, EVENT)).toEqual({ status: 'erased', keyId: v.keyId('acme', 's') });
    expect(v.open(other, EVENT).status).toBe('ok');
    const after = v.seal('acme', 's', EVENT, '{"x":2}');
    expect(v.open(after, EVENT).status).toBe('ok');
    expect(v.open(before, EVENT).status).toBe('erased');
  });

  it('keys survive a restart (a new vault on the same directory)', () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'vault-')), 'subjects');
    const idKey = randomBytes(32);
    const blob = new SubjectVault(dir, idKey).seal('t', 's', EVENT, '{"z":3}');
    const r = new SubjectVault(dir, idKey).open(blob, EVENT);
    expect(r.status === 'ok' && r.plaintext.toString()).toBe('{"z":3}');
  });
});
