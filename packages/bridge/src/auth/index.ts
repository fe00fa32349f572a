/** Access control: tokens with roles and tenants (auth file), and loopback-only without one. */
export { Access, ANONYMOUS_PRINCIPAL, LOCAL_PRINCIPAL, hasRole, requireRole, tenantScope, mayUseTenant, ingestTenant, isLoopback, type Principal } from './access.ts';
export { AccessError, ACCESS_STATUS, type AccessErrorCode } from './errors.ts';
export { AuthConfigError, ROLES, MIN_TOKEN_LENGTH, parseAuthFile, readAuthFile, type Role, type AuthFile, type TokenEntry } from './config.ts';
export { tokenDigest } from './access.ts';
export {
  Sessions,
  SignInError,
  FailureLimiter,
  DEFAULT_SESSION_OPTIONS,
  SESSION_COOKIE,
  CSRF_COOKIE,
  CSRF_HEADER,
  cameOverTls,
  readCookie,
  sessionCookies,
  clearedSessionCookies,
  type SessionOptions,
  type SessionInfo,
  type SessionSource,
  type Authenticated,
} from './session.ts';
export { resolveOidcConfig, parseClaimMap, OIDC_CALLBACK_PATH, type OidcConfig, type OidcClaimMap, type OidcOptions } from './oidc-config.ts';
