/**
 * Signing in with OpenID Connect (docs/security.md, "Signing in"): the authorization code flow
 * with PKCE (S256), state and nonce, for a confidential client (`--oidc-client-id`,
 * `--oidc-client-secret-file`).
 *
 *   GET /api/v1/oidc/login     begin(): a transaction (state, nonce, PKCE verifier) kept here
 *                              under a random id the browser holds in a short-lived cookie;
 *                              redirect to the provider's authorization endpoint
 *   GET /api/v1/oidc/callback  finish(): the transaction of this browser, its state compared;
 *                              the code exchanged; the ID token validated (issuer, audience,
 *                              expiry, nonce, and its signature against the provider's JWKS);
 *                              roles and tenants read from its claims (or userinfo's)
 *
 * The protocol is openid-client's (v6, by the author of the certified `oidc-provider`; itself
 * OpenID Certified as a relying party; ESM, no dependencies beyond `jose` and `oauth4webapi`):
 * discovery through `<issuer>/.well-known/openid-configuration` (its `issuer` must match),
 * PKCE, the token request, the ID token's claims. Its signature check of ID tokens from the token
 * endpoint is optional in the spec (TLS vouches for them); it is turned on here
 * (`enableNonRepudiationChecks`), so that a token the provider did not sign is refused even
 * where TLS is terminated in between.
 */
import { hash, randomBytes, timingSafeEqual } from 'node:crypto';
import type * as Client from 'openid-client';
import type { Logger } from '../internal/logger.ts';
import { isLoopback, type Principal } from './access.ts';
import type { Role } from './config.ts';
import { OIDC_ROLES, type OidcConfig } from './oidc-config.ts';

/** A failed sign-in: the status of the page the browser is shown, and what to tell the person. */
export class OidcError extends Error {
  readonly status: 400 | 401 | 403 | 503;
  constructor(status: 400 | 401 | 403 | 503, message: string) {
    super(message);
    this.status = status;
  }
}

/** What a successful sign-in gives: the principal, and who the provider says it is. */
export interface OidcIdentity {
  principal: Principal;
  issuer: string;
  subject: string;
  /** The bridge path the browser goes to afterwards. */
  returnTo: string;
}

interface Transaction {
  state: string;
  nonce: string;
  verifier: string;
  redirectUri: string;
  returnTo: string;
  createdAt: number;
}

/** The cookie holding a sign-in's transaction id, for the callback (SameSite=Lax: the provider's redirect back is cross-site). */
export const OIDC_TRANSACTION_COOKIE = 'otel_audit_oidc';
const TRANSACTION_MS = 10 * 60_000;
const MAX_TRANSACTIONS = 10_000;
/** Discovery is redone this often (the provider's keys are refetched by openid-client when a new key id appears). */
const DISCOVERY_MS = 3600_000;

const keyOf = (id: string): string => hash('sha256', id, 'hex');

/** openid-client, loaded when a bridge with OIDC first needs it (the others never load it). */
let library: Promise<typeof Client> | null = null;
const openidClient = (): Promise<typeof Client> => (library ??= import('openid-client'));

export class OidcSignIn {
  readonly config: OidcConfig;
  private readonly log: Logger;
  private readonly now: () => number;
  private discovered: { at: number; config: Promise<Client.Configuration> } | null = null;
  private readonly transactions = new Map<string, Transaction>();

  constructor(config: OidcConfig, log: Logger, now: () => number = Date.now) {
    this.config = config;
    this.log = log;
    this.now = now;
  }

  /** The provider's metadata and keys (discovered once an hour); throws OidcError 503 when it cannot be reached. */
  async discover(): Promise<Client.Configuration> {
    const client = await openidClient();
    const t = this.now();
    if (!this.discovered || t - this.discovered.at > DISCOVERY_MS) {
      const { issuer, clientId, clientSecret } = this.config;
      const basic = client.ClientSecretBasic(clientSecret);
      const post = client.ClientSecretPost(clientSecret);
      // client_secret_basic unless the provider says it does not take it (the spec's default).
      const auth: Client.ClientAuth = (as, c, body, headers) => {
        const supported = as.token_endpoint_auth_methods_supported;
        return (!supported || supported.includes('client_secret_basic') ? basic : post)(as, c, body, headers);
      };
      const execute = [client.enableNonRepudiationChecks];
      // http only for a provider on loopback (oidc-config.ts refuses any other).
      if (new URL(issuer).protocol === 'http:' && isLoopback(new URL(issuer).hostname)) execute.push(client.allowInsecureRequests);
      const config = client.discovery(new URL(issuer), clientId, undefined, auth, { execute, timeout: 10 });
      const entry = { at: t, config };
      this.discovered = entry;
      config.then(
        () => this.log.info('OpenID Connect provider discovered', { issuer }),
        (err) => {
          if (this.discovered === entry) this.discovered = null;
          this.log.error('OpenID Connect provider not discovered', { issuer, error: describe(err) });
        },
      );
    }
    try {
      return await this.discovered.config;
    } catch (err) {
      throw new OidcError(503, `the identity provider ${this.config.issuer} cannot be reached (${describe(err)}): try again later`);
    }
  }

  /**
   * Starts a sign-in: the URL to send the browser to, and the transaction id for its cookie.
   * `redirectUri` is the callback as registered at the provider; `returnTo` a path of the bridge.
   */
  async begin(redirectUri: string, returnTo: string): Promise<{ url: string; transaction: string }> {
    const config = await this.discover();
    const client = await openidClient();
    const verifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const nonce = client.randomNonce();
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: redirectUri,
      scope: this.config.scopes.join(' '),
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
      nonce,
    });
    const t = this.now();
    for (const [k, x] of this.transactions) if (t - x.createdAt > TRANSACTION_MS) this.transactions.delete(k);
    while (this.transactions.size >= MAX_TRANSACTIONS) this.transactions.delete(this.transactions.keys().next().value!);
    const id = randomBytes(32).toString('base64url');
    this.transactions.set(keyOf(id), { state, nonce, verifier, redirectUri, returnTo: safeReturnTo(returnTo), createdAt: t });
    return { url: url.href, transaction: id };
  }

  /**
   * Completes a sign-in from the provider's redirect back: `transaction` is the cookie's id,
   * `params` the callback's query. Throws OidcError: 400 no sign-in of this browser or a state
   * that is not its own; 401 the provider refused, the code exchange failed, or the ID token is
   * not valid (issuer, audience, expiry, nonce, signature); 403 no otel-audit role or tenant in
   * the claims; 503 the provider cannot be reached.
   */
  async finish(transaction: string | undefined, params: URLSearchParams): Promise<OidcIdentity> {
    const key = transaction && transaction.length <= 256 ? keyOf(transaction) : undefined;
    const t = key ? this.transactions.get(key) : undefined;
    if (!t || this.now() - t.createdAt > TRANSACTION_MS) {
      if (key) this.transactions.delete(key);
      throw new OidcError(400, 'No sign-in was started in this browser, or it took more than 10 minutes. Start again.');
    }
    // One use: a replayed callback finds nothing.
    this.transactions.delete(key!);
    const state = params.get('state') ?? '';
    if (!sameSecret(state, t.state)) throw new OidcError(400, 'This answer from the identity provider does not belong to the sign-in this browser started (state mismatch). Start again.');
    const config = await this.discover();
    const client = await openidClient();
    const callback = new URL(t.redirectUri);
    callback.search = params.toString();
    let tokens: Awaited<ReturnType<typeof Client.authorizationCodeGrant>>;
    try {
      tokens = await client.authorizationCodeGrant(config, callback, {
        pkceCodeVerifier: t.verifier,
        expectedState: t.state,
        expectedNonce: t.nonce,
        idTokenExpected: true,
      });
    } catch (err) {
      throw this.refusal(err, client);
    }
    const idClaims = tokens.claims();
    if (!idClaims) throw new OidcError(401, 'The identity provider sent no ID token.');
    let claims: Record<string, unknown> = { ...idClaims };
    // Roles or tenants not in the ID token (a provider that keeps them for userinfo): ask userinfo.
    const meta = config.serverMetadata();
    if ((claimAt(claims, this.config.rolesClaim) === undefined || claimAt(claims, this.config.tenantsClaim) === undefined) && meta.userinfo_endpoint && tokens.access_token) {
      try {
        const info = await client.fetchUserInfo(config, tokens.access_token, idClaims.sub);
        claims = { ...info, ...idClaims };
      } catch (err) {
        throw this.refusal(err, client);
      }
    }
    const mapped = principalFromClaims(claims, this.config);
    if ('refused' in mapped) throw new OidcError(403, mapped.refused);
    return { principal: mapped.principal, issuer: String(idClaims.iss), subject: idClaims.sub, returnTo: t.returnTo };
  }

  private refusal(err: unknown, client: typeof Client): OidcError {
    if (err instanceof OidcError) return err;
    const name = (err as Error)?.name;
    if (err instanceof TypeError || name === 'TimeoutError' || name === 'AbortError') {
      return new OidcError(503, `The identity provider ${this.config.issuer} cannot be reached (${describe(err)}). Try again later.`);
    }
    if (err instanceof client.AuthorizationResponseError || err instanceof client.ResponseBodyError) {
      const desc = err.error_description ? `: ${err.error_description}` : '';
      return new OidcError(401, `The identity provider refused the sign-in (${err.error}${desc}).`);
    }
    return new OidcError(401, `The identity provider's answer is not valid here (${describe(err)}).`);
  }
}

/** An error's message, and its cause's (openid-client wraps the precise reason). */
function describe(err: unknown): string {
  const e = err as Error & { cause?: unknown; code?: string };
  const cause = e?.cause instanceof Error && e.cause.message !== e.message ? `: ${e.cause.message}` : '';
  return `${e?.message ?? String(err)}${cause}`.slice(0, 300);
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** A path of the bridge to go back to after signing in: `/...`, never another site (`//host`, `/\host`). */
export function safeReturnTo(path: string | undefined): string {
  if (!path || !/^\/(?![/\\])[^\s\\]*$/.test(path) || path.length > 2048) return '/';
  return path;
}

/** A claim by name, or by a dotted path into nested objects when no claim has the whole name. */
export function claimAt(claims: Record<string, unknown>, name: string): unknown {
  if (Object.hasOwn(claims, name)) return claims[name];
  let v: unknown = claims;
  for (const part of name.split('.')) {
    if (v === null || typeof v !== 'object' || Array.isArray(v) || !Object.hasOwn(v, part)) return undefined;
    v = (v as Record<string, unknown>)[part];
  }
  return v;
}

/** A claim's values: a list of strings, or one string of words separated by spaces or commas. */
function values(v: unknown): string[] {
  if (typeof v === 'string') return v.split(/[\s,]+/).filter(Boolean);
  if (Array.isArray(v)) return v.filter((x): x is string => typeof x === 'string' && x.length > 0);
  return [];
}

const TENANT = /^[^\s\0]{1,256}$/;

/**
 * The principal of a signed-in person from the ID token's (and userinfo's) claims: roles from
 * the roles claim, tenants from the tenants claim, each value through the claim map when one is
 * given for it (values it does not name are ignored), else taken as a role or tenant name
 * (values that are no otel-audit role are ignored, so a groups claim can be used as it is). No
 * role or no tenant: refused, saying what the provider must send.
 */
export function principalFromClaims(claims: Record<string, unknown>, cfg: Pick<OidcConfig, 'rolesClaim' | 'tenantsClaim' | 'claimMap'>): { principal: Principal } | { refused: string } {
  const sub = typeof claims.sub === 'string' ? claims.sub : '';
  const username = typeof claims.preferred_username === 'string' && claims.preferred_username.trim() ? claims.preferred_username.trim() : sub;
  const name = `oidc:${username.replace(/[\u0000-\u001f\u007f]/g, '').slice(0, 200)}`;
  const rawRoles = values(claimAt(claims, cfg.rolesClaim));
  const roles = new Set<Role>();
  for (const v of rawRoles) {
    const mapped = cfg.claimMap?.roles ? (Object.hasOwn(cfg.claimMap.roles, v) ? cfg.claimMap.roles[v] : []) : [v];
    for (const r of mapped) if ((OIDC_ROLES as readonly string[]).includes(r)) roles.add(r as Role);
  }
  if (roles.size === 0) {
    return {
      refused:
        `Your account (${name}) holds no otel-audit role. Your identity provider must send one of ${OIDC_ROLES.join(', ')} in the "${cfg.rolesClaim}" claim` +
        `${cfg.claimMap?.roles ? ' (through the bridge\'s claim map)' : ''}; ask the administrator of your sign-in to grant it.`,
    };
  }
  const rawTenants = values(claimAt(claims, cfg.tenantsClaim));
  const tenants = new Set<string>();
  for (const v of rawTenants) {
    const mapped = cfg.claimMap?.tenants ? (Object.hasOwn(cfg.claimMap.tenants, v) ? cfg.claimMap.tenants[v] : []) : [v];
    for (const x of mapped) if (TENANT.test(x)) tenants.add(x);
  }
  if (tenants.size === 0) {
    return {
      refused:
        `Your account (${name}) holds no tenant to read. Your identity provider must send the tenants (or "*" for all) in the "${cfg.tenantsClaim}" claim` +
        `${cfg.claimMap?.tenants ? ' (through the bridge\'s claim map)' : ''}; ask the administrator of your sign-in to grant them.`,
    };
  }
  return { principal: { name, roles, tenants: tenants.has('*') ? '*' : [...tenants] } };
}
