import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, resolveConfig } from '../config.ts';
import { AuthConfigError, parseClaimMap, resolveOidcConfig } from './index.ts';
import { claimAt, principalFromClaims, safeReturnTo } from './oidc.ts';

const testdata = (kind: string) => join(import.meta.dirname, 'testdata', 'oidc-claim-map', kind);
const errorOf = (f: () => unknown): Error => {
  try {
    f();
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected an error');
};

const dir = mkdtempSync(join(tmpdir(), 'oidc-config-'));
const secret = join(dir, 'secret');
writeFileSync(secret, 'the-client-secret\n');
const base = { oidcIssuer: 'https://login.example.com/realms/acme', oidcClientId: 'otel-audit', oidcClientSecretFile: secret };

describe('OIDC configuration', () => {
  it('is off unless a flag or variable names it; flags win over the environment', () => {
    expect(resolveOidcConfig({}, {})).toBeUndefined();
    expect(resolveOidcConfig(base, {})).toEqual({
      issuer: 'https://login.example.com/realms/acme',
      clientId: 'otel-audit',
      clientSecret: 'the-client-secret',
      rolesClaim: 'otel_audit_roles',
      tenantsClaim: 'otel_audit_tenants',
      claimMap: undefined,
      scopes: ['openid', 'profile', 'email'],
      redirectUrl: undefined,
    });
    const env = {
      OTEL_AUDIT_OIDC_ISSUER: 'https://idp.example.com',
      OTEL_AUDIT_OIDC_CLIENT_ID: 'from-env',
      OTEL_AUDIT_OIDC_CLIENT_SECRET_FILE: secret,
      OTEL_AUDIT_OIDC_ROLES_CLAIM: 'realm_access.roles',
      OTEL_AUDIT_OIDC_SCOPES: 'openid groups',
    };
    expect(resolveOidcConfig({ oidcClientId: 'from-flag' }, env)).toMatchObject({ issuer: 'https://idp.example.com', clientId: 'from-flag', rolesClaim: 'realm_access.roles', scopes: ['openid', 'groups'] });
  });

  const bad: Array<[string, Record<string, string>, RegExp]> = [
    ['a flag without the required three', { oidcRolesClaim: 'roles' }, /needs --oidc-issuer, --oidc-client-id, --oidc-client-secret-file \(given: --oidc-roles-claim\)/],
    ['no secret file', { oidcIssuer: base.oidcIssuer, oidcClientId: 'x' }, /needs --oidc-client-secret-file/],
    ['http beyond loopback', { ...base, oidcIssuer: 'http://login.example.com' }, /must be https \(http only for a provider on this machine's loopback\)/],
    ['not a URL', { ...base, oidcIssuer: 'login.example.com' }, /invalid --oidc-issuer "login.example.com"/],
    ['a query in the issuer', { ...base, oidcIssuer: 'https://idp.example.com/?x=1' }, /no query, fragment or credentials/],
    ['a missing secret file', { ...base, oidcClientSecretFile: join(dir, 'none') }, /cannot read --oidc-client-secret-file .*none: ENOENT/],
    ['scopes without openid', { ...base, oidcScopes: 'profile email' }, /the scopes must include openid/],
    ['a redirect URL elsewhere', { ...base, oidcRedirectUrl: 'https://audit.example.com/callback' }, /expected http\(s\):\/\/<the bridge's public address>\/api\/v1\/oidc\/callback/],
    ['a claim name with a space', { ...base, oidcTenantsClaim: 'my tenants' }, /invalid --oidc-tenants-claim "my tenants"/],
    ['a missing claim map', { ...base, oidcClaimMap: join(dir, 'none.json') }, /cannot read --oidc-claim-map/],
  ];
  it.each(bad)('refuses %s, naming the flag', (_what, options, message) => {
    const err = errorOf(() => resolveOidcConfig(options, {}));
    expect(err).toBeInstanceOf(AuthConfigError);
    expect(err.message).toMatch(message);
    expect(err.message).not.toContain('the-client-secret');
  });

  it('takes http for a provider on loopback (development, tests), and a redirect URL of the callback', () => {
    expect(resolveOidcConfig({ ...base, oidcIssuer: 'http://127.0.0.1:9000/oidc' }, {})?.issuer).toBe('http://127.0.0.1:9000/oidc');
    expect(resolveOidcConfig({ ...base, oidcRedirectUrl: 'https://audit.example.com/api/v1/oidc/callback' }, {})?.redirectUrl).toBe('https://audit.example.com/api/v1/oidc/callback');
  });
});

describe('the claim map', () => {
  it.each(readdirSync(testdata('valid')))('accepts %s', (file) => {
    const map = parseClaimMap(readFileSync(join(testdata('valid'), file), 'utf8'), file);
    expect(map.roles ?? map.tenants).toBeTruthy();
    expect(resolveOidcConfig({ ...base, oidcClaimMap: join(testdata('valid'), file) }, {})?.claimMap).toEqual(map);
  });

  const reasons: Record<string, RegExp> = {
    'not-json': /is not valid JSON/,
    'not-object': /expected \{"roles"/,
    'unknown-key': /unknown key "groups" \(expected "roles" and\/or "tenants"\)/,
    empty: /give "roles", "tenants" or both/,
    'empty-roles': /"roles" must be a non-empty object/,
    'ingest-role': /roles\["apps"\]: "ingest" cannot be given to a person signing in/,
    'unknown-role': /roles\["auditors"\]: unknown role "auditor" \(roles: reader, content_reader, admin\)/,
    'roles-not-list': /roles\["auditors"\] must be a non-empty list of roles/,
    'star-with-others': /tenants\["ops"\]: "\*" means every tenant and stands alone/,
    'tenant-with-space': /tenants\["team"\]: tenant names are 1-256 characters without spaces/,
  };
  it.each(readdirSync(testdata('invalid')))('refuses %s, naming the file and what is wrong', (file) => {
    const path = join(testdata('invalid'), file);
    const err = errorOf(() => resolveOidcConfig({ ...base, oidcClaimMap: path }, {}));
    expect(err).toBeInstanceOf(AuthConfigError);
    expect(err.message).toContain(path);
    expect(err.message).toMatch(reasons[file.replace(/\.json$/, '')]);
  });
});

describe('roles and tenants from claims', () => {
  const cfg = { rolesClaim: 'otel_audit_roles', tenantsClaim: 'otel_audit_tenants' };

  it('takes the claims\' values as roles and tenants; values that are no role are ignored', () => {
    const r = principalFromClaims({ sub: 'a1', preferred_username: 'alice', otel_audit_roles: ['reader', 'content_reader', 'ingest', 'wizard'], otel_audit_tenants: ['acme'] }, cfg);
    expect('principal' in r && { name: r.principal.name, roles: [...r.principal.roles], tenants: r.principal.tenants }).toEqual({ name: 'oidc:alice', roles: ['reader', 'content_reader'], tenants: ['acme'] });
    const s = principalFromClaims({ sub: 'b2', otel_audit_roles: 'admin', otel_audit_tenants: 'acme globex' }, cfg);
    expect('principal' in s && [s.principal.name, s.principal.tenants]).toEqual(['oidc:b2', ['acme', 'globex']]);
    const all = principalFromClaims({ sub: 'c', otel_audit_roles: ['admin'], otel_audit_tenants: ['*'] }, cfg);
    expect('principal' in all && all.principal.tenants).toBe('*');
  });

  it('refuses no role (or ingest only) and no tenant, saying which claim must carry them', () => {
    for (const roles of [undefined, [], ['ingest'], 'wizard', 42]) {
      const r = principalFromClaims({ sub: 'a1', preferred_username: 'alice', otel_audit_roles: roles, otel_audit_tenants: ['acme'] }, cfg);
      expect('refused' in r && r.refused).toMatch(/^Your account \(oidc:alice\) holds no otel-audit role\. Your identity provider must send one of reader, content_reader, admin in the "otel_audit_roles" claim/);
    }
    const t = principalFromClaims({ sub: 'a1', otel_audit_roles: ['reader'] }, cfg);
    expect('refused' in t && t.refused).toMatch(/holds no tenant to read.*"otel_audit_tenants" claim/);
  });

  it('reads nested claims by dotted path (Keycloak realm_access.roles, resource_access.<client>.roles)', () => {
    const claims = { sub: 'k', realm_access: { roles: ['offline_access', 'reader'] }, resource_access: { 'otel-audit': { roles: ['admin'] } }, 'a.b': 'whole', tenant: 'acme' };
    expect(claimAt(claims, 'realm_access.roles')).toEqual(['offline_access', 'reader']);
    expect(claimAt(claims, 'resource_access.otel-audit.roles')).toEqual(['admin']);
    expect(claimAt(claims, 'a.b')).toBe('whole');
    expect(claimAt(claims, 'realm_access.nope')).toBeUndefined();
    expect(claimAt(claims, 'toString')).toBeUndefined();
    const r = principalFromClaims(claims, { rolesClaim: 'resource_access.otel-audit.roles', tenantsClaim: 'tenant' });
    expect('principal' in r && [[...r.principal.roles], r.principal.tenants]).toEqual([['admin'], ['acme']]);
  });

  it('maps claim values (groups) through the claim map; values it does not name give nothing', () => {
    const claimMap = parseClaimMap(readFileSync(join(testdata('valid'), 'groups.json'), 'utf8'), 'groups.json');
    const groups = { rolesClaim: 'groups', tenantsClaim: 'groups', claimMap };
    const r = principalFromClaims({ sub: 'a', groups: ['everyone', 'otel-audit-auditors', 'team-acme', 'reader'] }, groups);
    expect('principal' in r && [[...r.principal.roles], r.principal.tenants]).toEqual([['reader', 'content_reader'], ['acme']]);
    const ops = principalFromClaims({ sub: 'o', groups: ['otel-audit-ops', 'team-acme'] }, groups);
    expect('principal' in ops && [[...ops.principal.roles], ops.principal.tenants]).toEqual([['admin'], '*']);
    // "reader" is a role name, but with a roles map only mapped values count.
    const plain = principalFromClaims({ sub: 'p', groups: ['reader', 'team-acme'] }, groups);
    expect('refused' in plain && plain.refused).toMatch(/through the bridge's claim map/);
    // __proto__ and friends are no claim values of the map.
    const proto = principalFromClaims({ sub: 'p', groups: ['__proto__', 'constructor', 'team-acme'] }, groups);
    expect('refused' in proto).toBe(true);
  });

  it('goes back only to a path of the bridge', () => {
    for (const ok of ['/', '/cases/CASE-1', '/search?q=x']) expect(safeReturnTo(ok)).toBe(ok);
    for (const bad of [undefined, '', 'https://evil.example', '//evil.example', '/\\evil.example', 'cases', '/a b']) expect(safeReturnTo(bad)).toBe('/');
  });
});

describe('listening beyond loopback (serve)', () => {
  const oidc = { oidcIssuer: 'https://login.example.com', oidcClientId: 'otel-audit', oidcClientSecretFile: secret };

  it('with OIDC and no auth file: the API may, the OTLP receivers may not', () => {
    const cfg = resolveConfig({ ...oidc, api: '0.0.0.0:4319' }, {});
    expect([cfg.api.host, cfg.authFile, cfg.api.oidc?.issuer]).toEqual(['0.0.0.0', undefined, 'https://login.example.com']);
    for (const [flag, key] of [['--otlp-http', 'otlpHttp'], ['--otlp-grpc', 'otlpGrpc']]) {
      const err = errorOf(() => resolveConfig({ ...oidc, [key]: '0.0.0.0:4318' }, {}));
      expect(err).toBeInstanceOf(ConfigError);
      expect(err.message).toMatch(new RegExp(`^${flag} 0\\.0\\.0\\.0 would accept OTLP from other hosts, and this bridge has no --auth-file: OpenID Connect signs in people`));
    }
  });

  it('without OIDC or an auth file, nothing may', () => {
    expect(errorOf(() => resolveConfig({ api: '0.0.0.0:4319' }, {})).message).toMatch(/^--api 0\.0\.0\.0 would accept connections from other hosts/);
  });

  it('session durations: defaults 8h idle and 12h in all; hours are understood', () => {
    expect(resolveConfig({}, {}).api.sessions).toEqual({ idleMs: 8 * 3600_000, absoluteMs: 12 * 3600_000 });
    expect(resolveConfig({ sessionIdleTimeout: '30m', sessionLifetime: '1.5h' }, {}).api.sessions).toEqual({ idleMs: 1_800_000, absoluteMs: 5_400_000 });
    expect(resolveConfig({}, { OTEL_AUDIT_SESSION_IDLE_TIMEOUT: '16h' }).api.sessions).toEqual({ idleMs: 16 * 3600_000, absoluteMs: 16 * 3600_000 });
    expect(errorOf(() => resolveConfig({ sessionIdleTimeout: '2h', sessionLifetime: '1h' }, {})).message).toMatch(/--session-lifetime "1h": shorter than --session-idle-timeout/);
    expect(errorOf(() => resolveConfig({ sessionIdleTimeout: '1 day' }, {})).message).toMatch(/invalid --session-idle-timeout "1 day"/);
  });
});
