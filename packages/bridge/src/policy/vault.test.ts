import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { sealWith, SubjectVault, type SealingKey } from './vault.ts';

const sealWithKey = (k: SealingKey) => sealWith(k, EVENT, '{"later":true}');

const EVENT = 'a'.repeat(32);
/** When the events sealed here arrived (epoch ms). */
const NOW = Date.now();

function vault(): SubjectVault {
  return new SubjectVault(join(mkdtempSync(join(tmpdir(), 'vault-')), 'subjects'), randomBytes(32));
}

describe('SubjectVault', () => {
  it('seals and opens content per (tenant, subject); long content is compressed first', () => {
    const v = vault();
    const long = JSON.stringify({ input: [{ role: 'user', parts: [{ type: 'text', content: 'my card is 4111 1111 1111 1111 '.repeat(40) }] }] });
    for (const text of ['{"query":"short"}', long]) {
      const blob = v.seal('acme', 'pii:0123456789abcdef', EVENT, text, NOW)!;
      expect(Buffer.from(blob, 'base64').toString('latin1')).not.toContain('4111');
      const r = v.open(blob, EVENT);
      expect(r.status).toBe('ok');
      expect(r.status === 'ok' && r.plaintext.toString()).toBe(text);
      expect(SubjectVault.keyIdOf(blob)).toBe(v.keyId('acme', 'pii:0123456789abcdef'));
    }
    expect(Buffer.from(v.seal('acme', 's', EVENT, long, NOW)!, 'base64').length).toBeLessThan(long.length / 4);
  });

  it('names key files by HMAC (no subject in the directory), mode 0600, one key per tenant and subject', () => {
    const v = vault();
    v.seal('acme', 'jane@example.com', EVENT, '{}', NOW)!;
    v.seal('acme', 'jane@example.com', EVENT, '{}', NOW)!;
    v.seal('globex', 'jane@example.com', EVENT, '{}', NOW)!;
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
    v.seal('acme', 'known', EVENT, '{}', NOW)!;
    expect(v.prepare([['acme', 'known', NOW]])).toBeNull();
    const subjects = Array.from({ length: 20 }, (_, i) => ['acme', `new-${i % 10}`, NOW] as const);
    const pending = v.prepare(subjects);
    expect(pending).not.toBeNull();
    await pending;
    expect(v.prepare(subjects)).toBeNull();
    expect(readdirSync(v.dir).sort()).toEqual([...new Set(['known', ...subjects.map(([, s]) => s)])].map((s) => `${v.keyId('acme', s)}.key`).sort());
    // Another vault on the same directory (the next start) reads the same keys.
    const again = new SubjectVault(v.dir, (v as unknown as { idKey: Buffer }).idKey);
    for (const [t, s] of subjects) {
      const blob = v.seal(t, s, EVENT, `{"s":"${s}"}`, NOW)!;
      const r = again.open(blob, EVENT);
      expect(r.status === 'ok' && r.plaintext.toString()).toBe(`{"s":"${s}"}`);
      expect(Buffer.from(again.sealingKey(t, s, NOW)!.key)).toEqual(Buffer.from(v.sealingKey(t, s, NOW)!.key));
    }
  });

  it('one key per subject when creations race (two vaults, and the sync path against prepare), never a partly written one', async () => {
    const a = vault();
    const idKey = (a as unknown as { idKey: Buffer }).idKey;
    const b = new SubjectVault(a.dir, idKey);
    const subjects = Array.from({ length: 30 }, (_, i) => ['acme', `race-${i}`, NOW] as const);
    const racing = [a.prepare(subjects), b.prepare(subjects)];
    // The sync path, for every other subject, while both creations are under way.
    const sync = subjects.filter((_, i) => i % 2 === 0).map(([t, s]) => a.sealingKey(t, s, NOW)!);
    await Promise.all(racing);
    for (const [i, [t, s]] of subjects.entries()) {
      const ka = Buffer.from(a.sealingKey(t, s, NOW)!.key);
      expect(Buffer.from(b.sealingKey(t, s, NOW)!.key)).toEqual(ka);
      if (i % 2 === 0) expect(Buffer.from(sync[i / 2].key)).toEqual(ka);
      expect(Buffer.from(new SubjectVault(a.dir, idKey).sealingKey(t, s, NOW)!.key)).toEqual(ka);
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
    const blob = v.seal('acme', 's', EVENT, '{"x":1}', NOW)!;
    expect(v.open(blob, 'b'.repeat(32))).toMatchObject({ status: 'invalid' });
    const bytes = Buffer.from(blob, 'base64');
    bytes[bytes.length - 1] ^= 1;
    expect(v.open(bytes.toString('base64'), EVENT)).toMatchObject({ status: 'invalid' });
    expect(v.open('bm90IGEgYmxvYg==', EVENT)).toMatchObject({ status: 'invalid' });
  });

  it('erase deletes the key: old content reads as erased, also once a new key exists for the subject', () => {
    const v = vault();
    const before = v.seal('acme', 's', EVENT, '{"x":1}', NOW)!;
    const other = v.seal('acme', 'someone-else', EVENT, '{"y":2}', NOW)!;
    expect(v.has('acme', 's')).toBe(true);
    expect(v.erase('acme', 's', NOW + 10)).toBe(true);
    expect(v.erase('acme', 's', NOW + 10)).toBe(false);
    expect(v.has('acme', 's')).toBe(false);
    expect(v.open(before, EVENT)).toEqual({ status: 'erased', keyId: v.keyId('acme', 's') });
    expect(v.open(other, EVENT).status).toBe('ok');
    const after = v.seal('acme', 's', EVENT, '{"x":2}', NOW + 20)!;
    expect(v.open(after, EVENT).status).toBe('ok');
    expect(v.open(before, EVENT).status).toBe('erased');
  });

  it('content of events that arrived before an erasure is never sealed, not even under a new key; also after a restart', async () => {
    const v = vault();
    const idKey = (v as unknown as { idKey: Buffer }).idKey;
    v.seal('acme', 's', EVENT, '{"x":1}', NOW);
    v.erase('acme', 's', NOW + 10);
    // Arrived before the erasure (or in the same millisecond), sealed after it: refused.
    expect(v.seal('acme', 's', EVENT, '{"x":1}', NOW + 5)).toBeNull();
    expect(v.sealingKey('acme', 's', NOW + 10)).toBeNull();
    // Preparing keys for such events creates no key.
    expect(v.prepare([['acme', 's', NOW + 5]])).toBeNull();
    expect(v.has('acme', 's')).toBe(false);
    // A subject never sealed before is erased too: its in-flight content is not sealed either.
    expect(v.erase('acme', 'not-yet-sealed', NOW + 10)).toBe(false);
    expect(v.sealingKey('acme', 'not-yet-sealed', NOW)).toBeNull();
    // Arrived after: sealed under a new key.
    expect(v.open(v.seal('acme', 's', EVENT, '{"x":2}', NOW + 11)!, EVENT).status).toBe('ok');
    // The next start knows the erasures (a replay of the log re-seals nothing of before).
    const again = new SubjectVault(v.dir, idKey);
    expect(again.sealingKey('acme', 's', NOW + 5)).toBeNull();
    expect(again.sealingKey('acme', 'not-yet-sealed', NOW + 10)).toBeNull();
    expect(again.sealingKey('acme', 's', NOW + 11)).not.toBeNull();
    expect(readdirSync(v.dir).filter((f) => f.endsWith('.erased')).sort()).toEqual([`${v.keyId('acme', 'not-yet-sealed')}.erased`, `${v.keyId('acme', 's')}.erased`].sort());
    // An erasure record that does not parse counts as an erasure at the start that found it.
    writeFileSync(join(v.dir, `${v.keyId('acme', 'broken')}.erased`), '{"v":1');
    expect(new SubjectVault(v.dir, idKey).sealingKey('acme', 'broken', Date.now() - 1)).toBeNull();
  });

  it('a key being read off the event loop when its subject is erased is not kept: content arriving later gets a new key', async () => {
    const v = vault();
    const old = v.sealingKey('acme', 's', NOW)!;
    const fresh = new SubjectVault(v.dir, (v as unknown as { idKey: Buffer }).idKey);
    const loading = fresh.prepare([['acme', 's', NOW]]);
    expect(loading).not.toBeNull();
    fresh.erase('acme', 's', NOW + 10);
    await loading;
    const next = fresh.sealingKey('acme', 's', NOW + 11)!;
    expect(Buffer.from(next.kid)).not.toEqual(Buffer.from(old.kid));
    expect(fresh.open(sealWithKey(next), EVENT).status).toBe('ok');
  });

  it('keys survive a restart (a new vault on the same directory)', () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'vault-')), 'subjects');
    const idKey = randomBytes(32);
    const blob = new SubjectVault(dir, idKey).seal('t', 's', EVENT, '{"z":3}', NOW)!;
    const r = new SubjectVault(dir, idKey).open(blob, EVENT);
    expect(r.status === 'ok' && r.plaintext.toString()).toBe('{"z":3}');
  });

  it('lists the tenants noted, durably and once each; a torn last line is skipped at start', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'vault-')), 'subjects');
    const idKey = randomBytes(32);
    const v = new SubjectVault(dir, idKey);
    expect(v.tenants()).toEqual([]);
    const first = v.noteTenants(['acme', 'globex "corp"']);
    // Listed at once (an erasure that comes meanwhile covers them), written before the promise resolves.
    expect(v.tenants()).toEqual(['acme', 'globex "corp"']);
    await first;
    expect(v.noteTenants(['acme'])).toBeNull();
    await v.noteTenants(['acme', 'initech']);
    expect(readFileSync(join(dir, 'tenants'), 'utf8')).toBe('"acme"\n"globex \\"corp\\""\n"initech"\n');
    writeFileSync(join(dir, 'tenants'), '"ac', { flag: 'a' });
    expect(new SubjectVault(dir, idKey).tenants()).toEqual(['acme', 'globex "corp"', 'initech']);
  });

  it('a tenant that could not be written is not listed: the re-sent request notes it again', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'vault-')), 'subjects');
    const v = new SubjectVault(dir, randomBytes(32));
    mkdirSync(join(dir, 'tenants')); // a directory where the list goes: the append fails
    await expect(v.noteTenants(['acme'])).rejects.toThrow(/cannot record new tenants in .*tenants: EISDIR/);
    expect(v.tenants()).toEqual([]);
    rmSync(join(dir, 'tenants'), { recursive: true });
    await v.noteTenants(['acme']);
    expect(v.tenants()).toEqual(['acme']);
  });
});
