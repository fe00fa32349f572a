import { hash, timingSafeEqual } from 'node:crypto';
import { AccessError } from './errors.ts';
import { readAuthFile, type AuthFile, type Role, type TokenEntry } from './config.ts';

/** Who made a request, once authenticated. */
export interface Principal {
  /** The token's name from the auth file; `local` without an auth file. */
  readonly name: string;
  readonly roles: ReadonlySet<Role>;
  /** The tenants it may send to or read; '*' for every tenant. */
  readonly tenants: readonly string[] | '*';
}

/** Without an auth file: the local user, who may do everything (the bridge listens on loopback only). */
export const LOCAL_PRINCIPAL: Principal = Object.freeze({
  name: 'local',
  roles: new Set<Role>(['ingest', 'reader', 'content_reader', 'admin']),
  tenants: '*',
});

/** The caller of a public route (the health checks): no role, no tenant. */
export const ANONYMOUS_PRINCIPAL: Principal = Object.freeze({ name: 'anonymous', roles: new Set<Role>(), tenants: [] });

const digest = (token: string): Buffer => hash('sha256', token, 'buffer') as Buffer;

/** The SHA-256 of a token: what the bridge keeps of it (and what a signed-in session holds). */
export const tokenDigest = digest;

/** What a role includes: admin everything; content_reader also reads. */
export function hasRole(p: Principal, role: Role): boolean {
  if (p.roles.has(role) || p.roles.has('admin')) return true;
  return role === 'reader' && p.roles.has('content_reader');
}

/** Throws PERMISSION_DENIED unless the principal has the role. */
export function requireRole(p: Principal, role: Role, what: string): void {
  if (!hasRole(p, role)) throw new AccessError('PERMISSION_DENIED', `token "${p.name}" may not ${what}: it needs the "${role}" role`);
}

/** The tenants a reader is limited to, or null for every tenant. */
export function tenantScope(p: Principal): readonly string[] | null {
  return p.tenants === '*' ? null : p.tenants;
}

export function mayUseTenant(p: Principal, tenant: string): boolean {
  return p.tenants === '*' || p.tenants.includes(tenant);
}

/**
 * Access control: the tokens of the auth file (reloaded on SIGHUP by the bridge), or none at
 * all (`Access.open()` without a file), when every request is the local principal.
 */
export class Access {
  readonly file: string | undefined;
  private entries: TokenEntry[];

  private constructor(file: string | undefined, auth: AuthFile | null) {
    this.file = file;
    this.entries = auth?.tokens ?? [];
  }

  /** Reads and validates the auth file; throws AuthConfigError naming what is wrong. */
  static open(file?: string): Access {
    return new Access(file, file ? readAuthFile(file, digest) : null);
  }

  get enabled(): boolean {
    return this.file !== undefined;
  }

  get tokenCount(): number {
    return this.entries.length;
  }

  /** Re-reads the auth file; on error the tokens in force stay (and the error is thrown). */
  reload(): number {
    if (!this.file) return 0;
    this.entries = readAuthFile(this.file, digest).tokens;
    return this.entries.length;
  }

  /**
   * The principal of an `Authorization` header value (`Bearer <token>`), or throws
   * UNAUTHENTICATED. Compares the token's digest with every entry's in constant time.
   */
  authenticate(authorization: string | undefined): Principal {
    if (!this.enabled) return LOCAL_PRINCIPAL;
    const m = /^\s*Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
    if (!m) {
      throw new AccessError('UNAUTHENTICATED', 'a token is required: send "Authorization: Bearer <token>" (CLI: --token or OTEL_AUDIT_TOKEN)');
    }
    const p = this.principalOfDigest(digest(m[1]));
    if (!p) throw new AccessError('UNAUTHENTICATED', 'the token is not valid on this bridge');
    return p;
  }

  /**
   * The principal of the entry whose token has this SHA-256, as the auth file says now (a
   * signed-in session keeps the digest, so a reload that removes or changes the entry takes
   * effect at its next request), or null. Every entry is compared, in constant time.
   */
  principalOfDigest(d: Buffer): Principal | null {
    if (!this.enabled) return null;
    let found: TokenEntry | null = null;
    // Every entry is compared, so the time taken does not say which one matched.
    for (const e of this.entries) if (timingSafeEqual(d, e.sha256) && !found) found = e;
    if (!found) return null;
    return { name: found.name, roles: new Set(found.roles), tenants: found.tenants.includes('*') ? '*' : found.tenants };
  }
}

/**
 * The tenants of an ingest request. `tenant`: the one the `x-otel-audit-tenant` header names
 * (it must be among the token's), which every event of the request gets. Otherwise a span's
 * `audit.tenant` may choose among `allowed` (undefined: any tenant; a span naming another is
 * rejected), and `defaultTenant` (the token's first) holds for spans that name none.
 * Throws PERMISSION_DENIED for a header naming a tenant the token does not hold.
 */
export function ingestTenant(p: Principal, header: string | undefined): { tenant?: string; defaultTenant?: string; allowed?: readonly string[] } {
  if (p.tenants === '*') return { tenant: header };
  if (header !== undefined && !p.tenants.includes(header)) {
    throw new AccessError('PERMISSION_DENIED', `token "${p.name}" may not send to tenant "${header.slice(0, 64)}" (its tenants: ${p.tenants.join(', ')})`);
  }
  return { tenant: header, defaultTenant: p.tenants[0], allowed: p.tenants };
}

const LOOPBACK = /^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|::1|localhost|::ffff:127\.\d{1,3}\.\d{1,3}\.\d{1,3})$/i;

/** True for a host that only this machine reaches. */
export function isLoopback(host: string): boolean {
  return LOOPBACK.test(host.replace(/^\[|\]$/g, ''));
}
