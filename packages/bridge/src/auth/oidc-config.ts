/**
 * OpenID Connect sign-in's configuration (`serve --oidc-*`, OTEL_AUDIT_OIDC_*), validated here:
 * a bad value is refused at start naming the flag. The claim map file (`--oidc-claim-map`) is
 * validated by parseClaimMap; `testdata/oidc-claim-map/valid` and `invalid` hold one file per rule.
 *
 *   {"roles":   {"<claim value>": ["reader", ...]},   // e.g. IdP groups → otel-audit roles
 *    "tenants": {"<claim value>": ["acme", ...]}}     // e.g. IdP groups → tenants ("*": every tenant)
 */
import { readFileSync } from 'node:fs';
import { isLoopback } from './access.ts';
import { AuthConfigError, ROLES, type Role } from './config.ts';

/** The path of the redirect URI on the bridge (register `<public URL>/api/v1/oidc/callback` at the provider). */
export const OIDC_CALLBACK_PATH = '/api/v1/oidc/callback';
export const DEFAULT_ROLES_CLAIM = 'otel_audit_roles';
export const DEFAULT_TENANTS_CLAIM = 'otel_audit_tenants';
export const DEFAULT_SCOPES = ['openid', 'profile', 'email'];

/** Roles a person signed in through OIDC may hold: not ingest (a browser does not send OTLP). */
export const OIDC_ROLES = ROLES.filter((r) => r !== 'ingest');

export interface OidcClaimMap {
  /** A claim value (of the roles claim) → the roles it gives. */
  roles?: Record<string, Role[]>;
  /** A claim value (of the tenants claim) → the tenants it gives; ["*"] is every tenant. */
  tenants?: Record<string, string[]>;
}

export interface OidcConfig {
  /** The issuer identifier; `<issuer>/.well-known/openid-configuration` is its discovery document. */
  issuer: string;
  clientId: string;
  /** Read from `--oidc-client-secret-file` at start. */
  clientSecret: string;
  /** A claim name, or a dotted path into nested claims (`realm_access.roles`). */
  rolesClaim: string;
  tenantsClaim: string;
  claimMap?: OidcClaimMap;
  scopes: string[];
  /** The redirect URI registered at the provider; default: this request's origin + OIDC_CALLBACK_PATH. */
  redirectUrl?: string;
}

export interface OidcOptions {
  oidcIssuer?: string;
  oidcClientId?: string;
  oidcClientSecretFile?: string;
  oidcRolesClaim?: string;
  oidcTenantsClaim?: string;
  oidcClaimMap?: string;
  oidcScopes?: string;
  oidcRedirectUrl?: string;
}

const TENANT = /^[^\s\0]{1,256}$/;
const CLAIM = /^[^\s\0]{1,256}$/;

/** The OIDC configuration from flags (winning) and the environment; undefined when none is given. */
export function resolveOidcConfig(o: OidcOptions, env: NodeJS.ProcessEnv = process.env): OidcConfig | undefined {
  const v = (flag: keyof OidcOptions, name: string): string | undefined => {
    const raw = o[flag] ?? env[name];
    return raw === undefined || raw.trim() === '' ? undefined : raw.trim();
  };
  const issuer = v('oidcIssuer', 'OTEL_AUDIT_OIDC_ISSUER');
  const clientId = v('oidcClientId', 'OTEL_AUDIT_OIDC_CLIENT_ID');
  const secretFile = v('oidcClientSecretFile', 'OTEL_AUDIT_OIDC_CLIENT_SECRET_FILE');
  const rest: Array<[string, string | undefined]> = [
    ['--oidc-roles-claim', v('oidcRolesClaim', 'OTEL_AUDIT_OIDC_ROLES_CLAIM')],
    ['--oidc-tenants-claim', v('oidcTenantsClaim', 'OTEL_AUDIT_OIDC_TENANTS_CLAIM')],
    ['--oidc-claim-map', v('oidcClaimMap', 'OTEL_AUDIT_OIDC_CLAIM_MAP')],
    ['--oidc-scopes', v('oidcScopes', 'OTEL_AUDIT_OIDC_SCOPES')],
    ['--oidc-redirect-url', v('oidcRedirectUrl', 'OTEL_AUDIT_OIDC_REDIRECT_URL')],
  ];
  const required: Array<[string, string | undefined]> = [
    ['--oidc-issuer', issuer],
    ['--oidc-client-id', clientId],
    ['--oidc-client-secret-file', secretFile],
  ];
  if (!required.some(([, x]) => x) && !rest.some(([, x]) => x)) return undefined;
  const missing = required.filter(([, x]) => !x).map(([f]) => f);
  if (missing.length) {
    const given = [...required, ...rest].filter(([, x]) => x).map(([f]) => f);
    throw new AuthConfigError(`OpenID Connect sign-in needs ${missing.join(', ')} (given: ${given.join(', ')})`);
  }
  const [, rolesClaim = DEFAULT_ROLES_CLAIM] = rest[0];
  const [, tenantsClaim = DEFAULT_TENANTS_CLAIM] = rest[1];
  for (const [flag, claim] of [['--oidc-roles-claim', rolesClaim], ['--oidc-tenants-claim', tenantsClaim]]) {
    if (!CLAIM.test(claim)) throw new AuthConfigError(`invalid ${flag} "${claim}": a claim name, or a dotted path such as realm_access.roles`);
  }
  const scopes = rest[3][1] ? rest[3][1].split(/[\s,]+/).filter(Boolean) : DEFAULT_SCOPES;
  if (!scopes.includes('openid')) throw new AuthConfigError(`invalid --oidc-scopes "${rest[3][1]}": the scopes must include openid`);
  if (!/^[\x21-\x7e]{1,256}$/.test(clientId!)) throw new AuthConfigError(`invalid --oidc-client-id: 1-256 printable characters without spaces`);
  return {
    issuer: issuerUrl(issuer!),
    clientId: clientId!,
    clientSecret: readSecret(secretFile!),
    rolesClaim,
    tenantsClaim,
    claimMap: rest[2][1] ? readClaimMap(rest[2][1]) : undefined,
    scopes,
    redirectUrl: rest[4][1] ? redirectUrl(rest[4][1]) : undefined,
  };
}

/** https, or http on loopback only (a provider on this machine, for development and tests). */
function issuerUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new AuthConfigError(`invalid --oidc-issuer "${value}": expected the issuer's URL, for example https://login.example.com/realms/acme`);
  }
  if (url.search || url.hash || url.username || url.password) throw new AuthConfigError(`invalid --oidc-issuer "${value}": an issuer URL has no query, fragment or credentials`);
  if (url.protocol === 'http:' && !isLoopback(url.hostname)) {
    throw new AuthConfigError(`invalid --oidc-issuer "${value}": the issuer must be https (http only for a provider on this machine's loopback)`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new AuthConfigError(`invalid --oidc-issuer "${value}": expected an https URL`);
  return value;
}

function redirectUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new AuthConfigError(`invalid --oidc-redirect-url "${value}": expected a URL ending in ${OIDC_CALLBACK_PATH}`);
  }
  if (!/^https?:$/.test(url.protocol) || url.pathname !== OIDC_CALLBACK_PATH || url.search || url.hash) {
    throw new AuthConfigError(`invalid --oidc-redirect-url "${value}": expected http(s)://<the bridge's public address>${OIDC_CALLBACK_PATH}`);
  }
  return url.href;
}

function readSecret(file: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new AuthConfigError(`cannot read --oidc-client-secret-file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const secret = text.trim();
  if (!secret || /\s/.test(secret)) throw new AuthConfigError(`--oidc-client-secret-file ${file} must hold the client secret alone, on one line`);
  return secret;
}

function readClaimMap(file: string): OidcClaimMap {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new AuthConfigError(`cannot read --oidc-claim-map ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  return parseClaimMap(text, `claim map ${file}`);
}

/** Parses and validates a claim map's text; `where` names it in errors. */
export function parseClaimMap(text: string, where: string): OidcClaimMap {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new AuthConfigError(`${where} is not valid JSON: ${(err as Error).message}`);
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) {
    throw new AuthConfigError(`${where}: expected {"roles": {"<claim value>": ["reader", ...]}, "tenants": {"<claim value>": ["<tenant>", ...]}}`);
  }
  const d = doc as Record<string, unknown>;
  for (const k of Object.keys(d)) if (k !== 'roles' && k !== 'tenants') throw new AuthConfigError(`${where}: unknown key "${k}" (expected "roles" and/or "tenants")`);
  if (d.roles === undefined && d.tenants === undefined) throw new AuthConfigError(`${where}: give "roles", "tenants" or both`);
  const out: OidcClaimMap = {};
  for (const kind of ['roles', 'tenants'] as const) {
    const m = d[kind];
    if (m === undefined) continue;
    if (m === null || typeof m !== 'object' || Array.isArray(m) || Object.keys(m).length === 0) {
      throw new AuthConfigError(`${where}: "${kind}" must be a non-empty object from claim values to lists of ${kind}`);
    }
    const entries: Record<string, string[]> = Object.create(null);
    for (const [value, list] of Object.entries(m as Record<string, unknown>)) {
      const at = `${where}: ${kind}["${value.slice(0, 100)}"]`;
      if (!value || value.length > 1024) throw new AuthConfigError(`${at}: a claim value is 1-1024 characters`);
      if (!Array.isArray(list) || list.length === 0 || !list.every((x) => typeof x === 'string')) {
        throw new AuthConfigError(`${at} must be a non-empty list of ${kind === 'roles' ? 'roles' : 'tenant names'}`);
      }
      if (kind === 'roles') {
        if (list.includes('ingest')) throw new AuthConfigError(`${at}: "ingest" cannot be given to a person signing in (a browser does not send OTLP)`);
        const bad = list.find((r) => !(OIDC_ROLES as readonly string[]).includes(r));
        if (bad !== undefined) throw new AuthConfigError(`${at}: unknown role "${bad.slice(0, 64)}" (roles: ${OIDC_ROLES.join(', ')})`);
      } else {
        if (!list.every((t) => TENANT.test(t))) throw new AuthConfigError(`${at}: tenant names are 1-256 characters without spaces`);
        if (list.includes('*') && list.length > 1) throw new AuthConfigError(`${at}: "*" means every tenant and stands alone`);
      }
      entries[value] = [...new Set(list as string[])];
    }
    if (kind === 'roles') out.roles = entries as Record<string, Role[]>;
    else out.tenants = entries;
  }
  return out;
}
