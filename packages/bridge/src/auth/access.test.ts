import { hash } from 'node:crypto';
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Access, AccessError, AuthConfigError, hasRole, ingestTenant, isLoopback, LOCAL_PRINCIPAL, requireRole, tenantScope, type Principal } from './index.ts';
import { tmpdir } from 'node:os';
import { mkdtempSync } from 'node:fs';

const testdata = (kind: string) => join(import.meta.dirname, 'testdata', kind);
const errorOf = (f: () => unknown): Error => {
  try {
    f();
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected an error');
};

describe('auth file', () => {
  it.each(readdirSync(testdata('valid')))('accepts %s', (file) => {
    expect(Access.open(join(testdata('valid'), file)).tokenCount).toBeGreaterThan(0);
  });

  const reasons: Record<string, RegExp> = {
    'not-json': /is not valid JSON/,
    'no-tokens': /expected \{"tokens"/,
    'empty-tokens': /"tokens" is empty/,
    'unknown-top-key': /unknown key "extra"/,
    'short-token': /token "a": "token" must be at least 16 characters/,
    'both-token-and-sha': /give exactly one of "token" and "sha256"/,
    'bad-sha': /"sha256" must be the 64 hex characters/,
    'unknown-role': /"roles" must be a non-empty list of ingest, reader, content_reader, admin/,
    'no-tenants': /"tenants" must be a non-empty list/,
    'star-with-others': /"\*" means every tenant and stands alone/,
    'duplicate-name': /token "a" is named twice/,
    'duplicate-token': /the same token is given to another entry/,
    'unknown-entry-key': /tokens\[0\]: unknown key "expires"/,
  };
  it.each(readdirSync(testdata('invalid')))('refuses %s, naming the file and what is wrong', (file) => {
    const path = join(testdata('invalid'), file);
    const err = errorOf(() => Access.open(path));
    expect(err).toBeInstanceOf(AuthConfigError);
    expect(err.message).toContain(path);
    expect(err.message).toMatch(reasons[file.replace(/\.json$/, '')]);
  });

  it('a missing file is named', () => {
    expect(errorOf(() => Access.open('/nonexistent/auth.json')).message).toBe('cannot read the auth file /nonexistent/auth.json: ENOENT');
  });
});

describe('authenticate', () => {
  const access = Access.open(join(testdata('valid'), 'contract.json'));

  it('maps a bearer token, in clear or by its SHA-256, to its principal', () => {
    const app = access.authenticate('Bearer acme-ingest-0123456789abcdef');
    expect(app).toMatchObject({ name: 'app-acme', tenants: ['acme'] });
    expect([...app.roles]).toEqual(['ingest']);
    expect(access.authenticate('bearer ops-admin-0123456789abcdef').tenants).toBe('*');
    const dir = mkdtempSync(join(tmpdir(), 'auth-'));
    const file = join(dir, 'auth.json');
    const token = 'reviewer-token-0123456789';
    writeFileSync(file, JSON.stringify({ tokens: [{ name: 'r', sha256: (hash('sha256', token, 'buffer') as Buffer).toString('hex'), roles: ['reader'], tenants: ['a'] }] }));
    expect(Access.open(file).authenticate(`Bearer ${token}`).name).toBe('r');
  });

  it('refuses a missing, malformed or unknown token with UNAUTHENTICATED (401 / gRPC 16)', () => {
    for (const header of [undefined, '', 'Basic abc', 'Bearer', 'Bearer a b', 'Bearer acme-ingest-0123456789abcdeX']) {
      const err = errorOf(() => access.authenticate(header)) as AccessError;
      expect(err).toBeInstanceOf(AccessError);
      expect(err.code).toBe('UNAUTHENTICATED');
      expect([err.httpStatus, err.grpcStatus]).toEqual([401, 16]);
      expect(err.message).not.toContain('acme-ingest');
    }
  });

  it('without an auth file every caller is the local principal', () => {
    const open = Access.open();
    expect(open.enabled).toBe(false);
    expect(open.authenticate(undefined)).toBe(LOCAL_PRINCIPAL);
    expect(tenantScope(LOCAL_PRINCIPAL)).toBeNull();
  });

  it('reload keeps the tokens in force when the new file is bad', () => {
    const dir = mkdtempSync(join(tmpdir(), 'auth-'));
    const file = join(dir, 'auth.json');
    writeFileSync(file, JSON.stringify({ tokens: [{ name: 'a', token: 'first-token-0123456789', roles: ['reader'], tenants: ['*'] }] }));
    const a = Access.open(file);
    writeFileSync(file, '{"tokens": [');
    expect(() => a.reload()).toThrow(/not valid JSON/);
    expect(a.authenticate('Bearer first-token-0123456789').name).toBe('a');
    writeFileSync(file, JSON.stringify({ tokens: [{ name: 'b', token: 'second-token-0123456789', roles: ['reader'], tenants: ['*'] }] }));
    expect(a.reload()).toBe(1);
    expect(() => a.authenticate('Bearer first-token-0123456789')).toThrow(AccessError);
    expect(a.authenticate('Bearer second-token-0123456789').name).toBe('b');
  });
});

describe('roles and tenants', () => {
  const p = (roles: string[], tenants: string[] | '*'): Principal => ({ name: 't', roles: new Set(roles) as Principal['roles'], tenants });

  it('admin includes every role; content_reader includes reader; ingest only ingest', () => {
    expect(hasRole(p(['admin'], '*'), 'content_reader')).toBe(true);
    expect(hasRole(p(['content_reader'], '*'), 'reader')).toBe(true);
    expect(hasRole(p(['reader'], '*'), 'content_reader')).toBe(false);
    expect(hasRole(p(['ingest'], '*'), 'reader')).toBe(false);
    expect(hasRole(p(['reader'], '*'), 'ingest')).toBe(false);
    const err = errorOf(() => requireRole(p(['reader'], '*'), 'admin', 'flush the pipeline')) as AccessError;
    expect([err.code, err.httpStatus, err.grpcStatus]).toEqual(['PERMISSION_DENIED', 403, 7]);
    expect(err.message).toBe('token "t" may not flush the pipeline: it needs the "admin" role');
  });

  it('an ingest request gets the token tenant; the header may only choose among them', () => {
    expect(ingestTenant(p(['ingest'], ['acme']), undefined)).toEqual({ tenant: undefined, defaultTenant: 'acme', allowed: ['acme'] });
    expect(ingestTenant(p(['ingest'], ['acme', 'globex']), 'globex')).toEqual({ tenant: 'globex', defaultTenant: 'acme', allowed: ['acme', 'globex'] });
    expect((errorOf(() => ingestTenant(p(['ingest'], ['acme']), 'globex')) as AccessError).code).toBe('PERMISSION_DENIED');
    expect(ingestTenant(p(['ingest'], '*'), 'anything')).toEqual({ tenant: 'anything' });
  });

  it('knows loopback addresses', () => {
    for (const h of ['127.0.0.1', '127.1.2.3', '::1', '[::1]', 'localhost', '::ffff:127.0.0.1']) expect(isLoopback(h), h).toBe(true);
    for (const h of ['0.0.0.0', '::', '10.0.0.1', '192.168.1.5', 'example.com', '']) expect(isLoopback(h), h).toBe(false);
  });
});
