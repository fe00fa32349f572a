import { readFileSync } from 'node:fs';

/**
 * The auth file (`serve --auth-file FILE`, OTEL_AUDIT_AUTH_FILE), validated here:
 *
 *   {"tokens": [{"name": "app-acme", "token": "…" | "sha256": "<64 hex>", "roles": [...], "tenants": [...]}]}
 */
export const ROLES = ['ingest', 'reader', 'content_reader', 'admin'] as const;
export type Role = (typeof ROLES)[number];

/** Shortest token accepted in clear: a guessable one would be worse than none. */
export const MIN_TOKEN_LENGTH = 16;

export interface TokenEntry {
  name: string;
  /** SHA-256 of the token (given as `sha256`, or computed from `token` when the file is read). */
  sha256: Buffer;
  roles: Role[];
  /** Tenant names, or ['*'] for every tenant. */
  tenants: string[];
}

export interface AuthFile {
  tokens: TokenEntry[];
}

export class AuthConfigError extends Error {}

const NAME = /^[A-Za-z0-9._@:-]{1,128}$/;
const TENANT = /^[^\s\0]{1,256}$/;

/** Parses and validates an auth file's text; `where` names it in errors. */
export function parseAuthFile(text: string, where: string, digest: (token: string) => Buffer): AuthFile {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new AuthConfigError(`${where} is not valid JSON: ${(err as Error).message}`);
  }
  const tokens = (doc as { tokens?: unknown })?.tokens;
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc) || !Array.isArray(tokens)) {
    throw new AuthConfigError(`${where}: expected {"tokens": [{"name", "token" or "sha256", "roles", "tenants"}, ...]}`);
  }
  for (const k of Object.keys(doc)) if (k !== 'tokens') throw new AuthConfigError(`${where}: unknown key "${k}" (expected only "tokens")`);
  if (tokens.length === 0) throw new AuthConfigError(`${where}: "tokens" is empty: nobody could sign in`);
  const names = new Set<string>();
  const digests = new Set<string>();
  const out: TokenEntry[] = tokens.map((t: unknown, i: number) => {
    const at = `${where}: tokens[${i}]`;
    if (t === null || typeof t !== 'object' || Array.isArray(t)) throw new AuthConfigError(`${at} must be an object`);
    const e = t as Record<string, unknown>;
    for (const k of Object.keys(e)) {
      if (!['name', 'token', 'sha256', 'roles', 'tenants'].includes(k)) throw new AuthConfigError(`${at}: unknown key "${k}"`);
    }
    if (typeof e.name !== 'string' || !NAME.test(e.name)) {
      throw new AuthConfigError(`${at}: "name" must be 1-128 letters, digits or . _ @ : -`);
    }
    const label = `${where}: token "${e.name}"`;
    if (names.has(e.name)) throw new AuthConfigError(`${label} is named twice`);
    names.add(e.name);
    if ((e.token === undefined) === (e.sha256 === undefined)) throw new AuthConfigError(`${label}: give exactly one of "token" and "sha256"`);
    let sha256: Buffer;
    if (e.token !== undefined) {
      if (typeof e.token !== 'string' || e.token.length < MIN_TOKEN_LENGTH || /\s/.test(e.token)) {
        throw new AuthConfigError(`${label}: "token" must be at least ${MIN_TOKEN_LENGTH} characters without spaces (for example: openssl rand -hex 32)`);
      }
      sha256 = digest(e.token);
    } else {
      if (typeof e.sha256 !== 'string' || !/^[0-9a-fA-F]{64}$/.test(e.sha256)) {
        throw new AuthConfigError(`${label}: "sha256" must be the 64 hex characters of the token's SHA-256 (printf %s TOKEN | sha256sum)`);
      }
      sha256 = Buffer.from(e.sha256, 'hex');
    }
    const hex = sha256.toString('hex');
    if (digests.has(hex)) throw new AuthConfigError(`${label}: the same token is given to another entry`);
    digests.add(hex);
    if (!Array.isArray(e.roles) || e.roles.length === 0 || !e.roles.every((r) => (ROLES as readonly unknown[]).includes(r))) {
      throw new AuthConfigError(`${label}: "roles" must be a non-empty list of ${ROLES.join(', ')}`);
    }
    if (!Array.isArray(e.tenants) || e.tenants.length === 0 || !e.tenants.every((x) => typeof x === 'string' && TENANT.test(x))) {
      throw new AuthConfigError(`${label}: "tenants" must be a non-empty list of tenant names, or ["*"] for every tenant`);
    }
    if (e.tenants.includes('*') && e.tenants.length > 1) throw new AuthConfigError(`${label}: "*" means every tenant and stands alone`);
    return { name: e.name, sha256, roles: [...new Set(e.roles as Role[])], tenants: [...new Set(e.tenants as string[])] };
  });
  return { tokens: out };
}

export function readAuthFile(path: string, digest: (token: string) => Buffer): AuthFile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new AuthConfigError(`cannot read the auth file ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  return parseAuthFile(text, `auth file ${path}`, digest);
}
