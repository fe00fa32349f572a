import { resolve } from 'node:path';
import { DEFAULT_API_CONFIG, type ApiConfig } from './api/server.ts';
import { DEFAULT_SQL_LIMITS, type SqlLimits } from './api/sql/read-only-sql.ts';
import { Access, AuthConfigError, DEFAULT_SESSION_OPTIONS, isLoopback, resolveOidcConfig, type OidcConfig, type OidcOptions, type SessionOptions } from './auth/index.ts';
import { AnchorConfigError, resolveAnchors, type AnchorSpec } from './chain/anchors/config.ts';
import { DEFAULT_CHECKPOINT_EVERY_EVENTS, DEFAULT_CHECKPOINT_INTERVAL_MS, type CheckpointConfig } from './chain/checkpointer.ts';
import { DEFAULT_CORRELATOR_CONFIG } from './correlate/index.ts';
import { DetectConfigError, resolveDetectConfig, type DetectConfig } from './detect/index.ts';
import { ForwardConfigError, resolveForwardConfig, type ForwardConfig } from './forward/index.ts';
import type { LogLevel } from './internal/logger.ts';
import { resolvePrivacyConfig, type PrivacyConfig } from './policy/config.ts';
import { PolicyError } from './policy/policy.ts';
import { checkPipelineConfig, DEFAULT_PIPELINE_CONFIG, MAX_INTAKE_WORKERS, PipelineConfigError, type PipelineConfig } from './pipeline/index.ts';
import { DEFAULT_OTLP_HTTP_CONFIG, type OtlpHttpConfig } from './receive/http/otlp-http.ts';
import { DEFAULT_OTLP_GRPC_CONFIG, type OtlpGrpcConfig } from './receive/grpc/otlp-grpc.ts';
import { DEFAULT_DECODE_OPTIONS, type DecodeOptions } from './otlp/index.ts';
import { DEFAULT_STORAGE_POLICY } from './store/schema.ts';
import { ConfigError } from './internal/config-error.ts';

export interface BridgeConfig {
  dataDir: string;
  clickhouseUrl?: string;
  /** A read-only ClickHouse user for the `sql` command (server mode; deploy/clickhouse/users.sql). */
  clickhouseReaderUrl?: string;
  database: string;
  otlpHttp: OtlpHttpConfig;
  /** null: no OTLP/gRPC receiver (`--otlp-grpc off`). */
  otlpGrpc: OtlpGrpcConfig | null;
  api: ApiConfig;
  pipeline: PipelineConfig;
  /** Signed checkpoints and their external anchor (chain/checkpointer.ts). */
  checkpoint: CheckpointConfig;
  logLevel: LogLevel;
  pseudonymKey?: string;
  /** Base64 AES-256 key sealing the write-ahead log (OTEL_AUDIT_WAL_KEY); else keys/wal.key. */
  walKey?: string;
  /** The privacy policy file (policy/config.ts). */
  privacy?: PrivacyConfig;
  /** The auth file (auth/config.ts), validated; absent: no access control, loopback only. */
  authFile?: string;
  /** Detections: the policy file's `detections` section, or the defaults (detect/config.ts). */
  detect?: DetectConfig;
  /** `--forward URL`: send everything accepted on, redacted (forward/config.ts); absent: no forwarding. */
  forward?: ForwardConfig;
  /** `--hot-days N` and `--storage-policy NAME`: hot and cold storage of `events` (a server only); absent: off. */
  tiering?: Tiering;
}

/** Parts of `events` older than hotDays move to the `cold` volume of storagePolicy (store/schema.ts). */
export interface Tiering {
  hotDays: number;
  storagePolicy: string;
}

export { ConfigError };

/** HOST:PORT, :PORT or PORT. */
export function parseHostPort(value: string, what: string): { host: string; port: number } {
  const m = /^(?:\[?([^\]]*?)\]?:)?(\d{1,5})$/.exec(value.trim());
  const port = m ? Number(m[2]) : NaN;
  if (!m || port > 65535) throw new ConfigError(`invalid ${what} "${value}": expected HOST:PORT, for example 127.0.0.1:4318`);
  return { host: m[1] || '127.0.0.1', port };
}

export function parseDuration(value: string, what: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(value.trim());
  if (!m) throw new ConfigError(`invalid ${what} "${value}": expected a duration such as 500ms, 10s, 2m or 8h`);
  const n = Number(m[1]);
  return Math.round(m[2] === 'h' ? n * 3600_000 : m[2] === 'm' ? n * 60_000 : m[2] === 'ms' ? n : n * 1000);
}

export function parseSize(value: string, what: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(b|kib|kb|mib|mb|gib|gb)?$/i.exec(value.trim());
  if (!m) throw new ConfigError(`invalid ${what} "${value}": expected a size such as 64MiB or 1GiB`);
  const unit = (m[2] ?? 'b').toLowerCase();
  const mult = unit.startsWith('k') ? 1024 : unit.startsWith('m') ? 1024 ** 2 : unit.startsWith('g') ? 1024 ** 3 : 1;
  return Math.round(Number(m[1]) * mult);
}

/** A positive integer (`what` names the flag in the error). */
export function parseCount(value: string, what: string): number {
  const n = Number(value.trim().replace(/_/g, ''));
  if (!/^\s*[\d_]+\s*$/.test(value) || !Number.isSafeInteger(n) || n < 1) {
    throw new ConfigError(`invalid ${what} "${value}": expected a positive integer`);
  }
  return n;
}

export interface ServeOptions extends OidcOptions {
  otlpHttp?: string;
  /** HOST:PORT, or `off`. */
  otlpGrpc?: string;
  maxInFlight?: string;
  maxInFlightBytes?: string;
  /** OTLP/HTTP: open connections per client address, headers/body time, slowest upload (receive/http). */
  maxConnectionsPerClient?: string;
  clientTimeout?: string;
  minBodyRate?: string;
  maxPendingEvents?: string;
  intakeWorkers?: string;
  spoolBudget?: string;
  spoolMemory?: string;
  maxAttributes?: string;
  maxAttributeLength?: string;
  maxDepth?: string;
  api?: string;
  dataDir?: string;
  clickhouseUrl?: string;
  decisionWait?: string;
  contentWait?: string;
  maxBody?: string;
  chainId?: string;
  defaultRisk?: string;
  logLevel?: string;
  checkpointEveryEvents?: string;
  checkpointInterval?: string;
  anchorDir?: string;
  /** `--anchor URL`, repeatable (chain/anchors/config.ts). */
  anchors?: string[];
  signingKey?: string;
  /** `--policy FILE` (policy/config.ts). */
  policy?: string;
  /** `--alert-webhook URL` (repeatable) and its signing secret (detect/config.ts). */
  alertWebhook?: string[];
  alertWebhookSecretFile?: string;
  /** Folded into the auth file: refused with the way to migrate. */
  reviewerTokenFile?: string;
  /** `--auth-file FILE`: tokens with roles and tenants (auth/config.ts). */
  authFile?: string;
  /** `--clickhouse-reader-url` and the limits of `sql` queries (api/sql/read-only-sql.ts). */
  clickhouseReaderUrl?: string;
  sqlTimeout?: string;
  sqlConcurrency?: string;
  sqlMaxMemory?: string;
  sqlMaxResultRows?: string;
  sqlMaxResultBytes?: string;
  sqlThreads?: string;
  /** `--trace-url-template`: a tracing UI's link to a trace, with {trace_id} (shown by the web UI). */
  traceUrlTemplate?: string;
  /** Signed-in browsers' sessions (auth/session.ts): `--session-idle-timeout`, `--session-lifetime`. */
  sessionIdleTimeout?: string;
  sessionLifetime?: string;
  /** `--forward URL`, `--forward-header name=value` (repeatable), `--forward-queue-bytes SIZE` (forward/config.ts). */
  forward?: string;
  forwardHeaders?: string[];
  forwardQueueBytes?: string;
  /** `--hot-days N`, `--storage-policy NAME` (resolveTiering). */
  hotDays?: string;
  storagePolicy?: string;
}

/**
 * `--hot-days N` (OTEL_AUDIT_HOT_DAYS): a positive whole number of days; `--storage-policy NAME`
 * (OTEL_AUDIT_STORAGE_POLICY, default otel_audit_tiered) only with it. Undefined when off.
 */
export function resolveTiering(o: { hotDays?: string; storagePolicy?: string }, env: NodeJS.ProcessEnv = process.env): Tiering | undefined {
  const raw = o.hotDays ?? env.OTEL_AUDIT_HOT_DAYS;
  const policy = o.storagePolicy ?? env.OTEL_AUDIT_STORAGE_POLICY;
  if (raw === undefined || raw === '') {
    if (policy !== undefined && policy !== '') {
      throw new ConfigError(`--storage-policy "${policy}" needs --hot-days N: the policy is where parts older than N days move (docs/operations.md, "Hot and cold storage")`);
    }
    return undefined;
  }
  if (!/^\d+$/.test(raw.trim()) || !Number.isSafeInteger(Number(raw)) || Number(raw) < 1) {
    throw new ConfigError(`invalid --hot-days "${raw}": expected a positive whole number of days`);
  }
  const storagePolicy = policy || DEFAULT_STORAGE_POLICY;
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(storagePolicy)) {
    throw new ConfigError(`invalid --storage-policy "${storagePolicy}": expected a storage policy name of the server's configuration (letters, digits, '_')`);
  }
  return { hotDays: Number(raw), storagePolicy };
}

/** Flags win over environment variables, which win over defaults. */
export function resolveConfig(o: ServeOptions, env: NodeJS.ProcessEnv = process.env): BridgeConfig {
  const dataDir = resolve(o.dataDir ?? env.OTEL_AUDIT_DATA_DIR ?? '.otel-audit');
  const otlp = parseHostPort(o.otlpHttp ?? env.OTEL_AUDIT_OTLP_HTTP ?? '127.0.0.1:4318', '--otlp-http');
  const grpcValue = (o.otlpGrpc ?? env.OTEL_AUDIT_OTLP_GRPC ?? '127.0.0.1:4317').trim();
  const grpc = /^(off|none|false|disabled)$/i.test(grpcValue) ? null : parseHostPort(grpcValue, '--otlp-grpc');
  const count = (flag: string, v: string | undefined, envName: string, dflt: number) => {
    const raw = v ?? env[envName];
    return raw === undefined ? dflt : parseCount(raw, flag);
  };
  const size = (flag: string, v: string | undefined, envName: string, dflt: number) => {
    const raw = v ?? env[envName];
    const n = raw === undefined ? dflt : parseSize(raw, flag);
    if (n < 1) throw new ConfigError(`invalid ${flag} "${raw}": must be more than 0 bytes`);
    return n;
  };
  const decode: Required<DecodeOptions> = {
    ...DEFAULT_DECODE_OPTIONS,
    maxAttributes: count('--max-attributes', o.maxAttributes, 'OTEL_AUDIT_MAX_ATTRIBUTES', DEFAULT_DECODE_OPTIONS.maxAttributes),
    maxAttributeValueLength: count('--max-attribute-length', o.maxAttributeLength, 'OTEL_AUDIT_MAX_ATTRIBUTE_LENGTH', DEFAULT_DECODE_OPTIONS.maxAttributeValueLength),
    maxDepth: count('--max-depth', o.maxDepth, 'OTEL_AUDIT_MAX_DEPTH', DEFAULT_DECODE_OPTIONS.maxDepth),
  };
  const maxInFlight = count('--max-in-flight', o.maxInFlight, 'OTEL_AUDIT_MAX_IN_FLIGHT', DEFAULT_OTLP_HTTP_CONFIG.maxInFlight);
  const maxInFlightBytes = size('--max-in-flight-bytes', o.maxInFlightBytes, 'OTEL_AUDIT_MAX_IN_FLIGHT_BYTES', DEFAULT_OTLP_HTTP_CONFIG.maxInFlightBytes);
  const maxBodyBytes = parseSize(o.maxBody ?? env.OTEL_AUDIT_MAX_BODY ?? '64MiB', '--max-body');
  const slowClients = slowClientLimits(o, env, count);
  const api = parseHostPort(o.api ?? env.OTEL_AUDIT_API ?? '127.0.0.1:4319', '--api');
  const risk = o.defaultRisk ?? env.OTEL_AUDIT_DEFAULT_RISK ?? DEFAULT_PIPELINE_CONFIG.defaultRisk;
  const logLevel = (o.logLevel ?? env.OTEL_AUDIT_LOG_LEVEL ?? 'info') as LogLevel;
  if (!['debug', 'info', 'warn', 'error'].includes(logLevel)) throw new ConfigError(`invalid --log-level "${logLevel}": expected debug, info, warn or error`);
  const chainId = o.chainId ?? env.OTEL_AUDIT_CHAIN_ID ?? DEFAULT_PIPELINE_CONFIG.chainId;
  const everyEvents = Number(o.checkpointEveryEvents ?? env.OTEL_AUDIT_CHECKPOINT_EVERY_EVENTS ?? DEFAULT_CHECKPOINT_EVERY_EVENTS);
  if (!Number.isSafeInteger(everyEvents) || everyEvents < 1) {
    throw new ConfigError(`invalid --checkpoint-every-events "${o.checkpointEveryEvents ?? env.OTEL_AUDIT_CHECKPOINT_EVERY_EVENTS}": expected a positive integer`);
  }
  const checkpointInterval = o.checkpointInterval ?? env.OTEL_AUDIT_CHECKPOINT_INTERVAL;
  const tiering = resolveTiering(o, env);
  const clickhouseUrl = o.clickhouseUrl ?? env.OTEL_AUDIT_CLICKHOUSE_URL ?? undefined;
  if (tiering && !clickhouseUrl) {
    throw new ConfigError(
      `--hot-days needs a ClickHouse server (--clickhouse-url) with the storage policy "${tiering.storagePolicy}" (deploy/clickhouse/storage-s3.xml): the embedded store has no S3 disk`,
    );
  }
  const oidc = oidcConfig(o, env);
  const authFile = authFileOf(o, env, [
    ['--otlp-http', otlp.host],
    ['--otlp-grpc', grpc?.host],
    ['--api', api.host],
  ], oidc);
  return {
    dataDir,
    clickhouseUrl,
    clickhouseReaderUrl: readerUrl(o, env),
    database: env.OTEL_AUDIT_DATABASE ?? 'otel_audit',
    otlpHttp: {
      ...DEFAULT_OTLP_HTTP_CONFIG,
      ...otlp,
      maxBodyBytes,
      maxInFlight,
      maxInFlightBytes,
      ...slowClients,
      decode,
    },
    otlpGrpc: grpc && {
      ...DEFAULT_OTLP_GRPC_CONFIG,
      ...grpc,
      maxMessageBytes: maxBodyBytes,
      maxInFlight,
      maxInFlightBytes,
      decode,
    },
    api: {
      ...DEFAULT_API_CONFIG,
      ...api,
      sql: sqlLimits(o, env, count, size),
      traceUrlTemplate: traceUrlTemplate(o.traceUrlTemplate ?? env.OTEL_AUDIT_TRACE_URL_TEMPLATE),
      sessions: sessionOptions(o, env),
      oidc,
    },
    pipeline: pipelineConfig({
      ...DEFAULT_PIPELINE_CONFIG,
      dataDir,
      chainId,
      defaultRisk: risk,
      decode,
      spoolBudgetBytes: size('--spool-budget', o.spoolBudget, 'OTEL_AUDIT_SPOOL_BUDGET', DEFAULT_PIPELINE_CONFIG.spoolBudgetBytes),
      spoolMemoryBytes: size('--spool-memory', o.spoolMemory, 'OTEL_AUDIT_SPOOL_MEMORY', DEFAULT_PIPELINE_CONFIG.spoolMemoryBytes),
      maxPendingEvents: count('--max-pending-events', o.maxPendingEvents, 'OTEL_AUDIT_MAX_PENDING_EVENTS', DEFAULT_PIPELINE_CONFIG.maxPendingEvents),
      intakeWorkers: intakeWorkers(o.intakeWorkers ?? env.OTEL_AUDIT_INTAKE_WORKERS),
      correlator: {
        ...DEFAULT_CORRELATOR_CONFIG,
        decisionWaitMs: parseDuration(o.decisionWait ?? env.OTEL_AUDIT_DECISION_WAIT ?? '10s', '--decision-wait'),
        contentWaitMs: parseDuration(o.contentWait ?? env.OTEL_AUDIT_CONTENT_WAIT ?? '2s', '--content-wait'),
      },
    }),
    checkpoint: {
      everyEvents,
      intervalMs: checkpointInterval === undefined ? DEFAULT_CHECKPOINT_INTERVAL_MS : parseDuration(checkpointInterval, '--checkpoint-interval'),
      anchors: anchorSpecs(o, dataDir, env),
      signingKeyFile: o.signingKey ?? env.OTEL_AUDIT_SIGNING_KEY_FILE,
      signingKeyPem: env.OTEL_AUDIT_SIGNING_KEY,
    },
    logLevel,
    pseudonymKey: env.OTEL_AUDIT_PSEUDONYM_KEY,
    walKey: env.OTEL_AUDIT_WAL_KEY,
    privacy: privacyConfig(o, env),
    authFile,
    forward: forwardConfig(o, env),
    detect: detectConfig(o, env),
    tiering,
  };
}

/**
 * The auth file, read once here so that a bad one is a usage error; without one, every
 * listener must be on loopback (DESIGN 3.4). With OpenID Connect and no auth file, the API may
 * listen beyond loopback (OIDC signs people in to it), the OTLP receivers may not: OIDC signs in
 * people, not applications, and ingest without an auth file is the local principal's.
 */
function authFileOf(o: ServeOptions, env: NodeJS.ProcessEnv, listeners: Array<[flag: string, host: string | undefined]>, oidc?: OidcConfig): string | undefined {
  if (o.reviewerTokenFile ?? env.OTEL_AUDIT_REVIEWER_TOKEN_FILE ?? env.OTEL_AUDIT_REVIEWER_TOKEN) {
    throw new ConfigError(
      '--reviewer-token-file (and OTEL_AUDIT_REVIEWER_TOKEN[_FILE]) was folded into --auth-file: give that token an entry ' +
        '{"name": "reviewer", "token": "<the token>", "roles": ["content_reader", "admin"], "tenants": ["*"]} in an auth file ' +
        '(docs/security.md, "Migrating from --reviewer-token-file")',
    );
  }
  const raw = o.authFile ?? env.OTEL_AUDIT_AUTH_FILE;
  const file = raw ? resolve(raw) : undefined;
  if (file) {
    try {
      Access.open(file);
    } catch (err) {
      throw new ConfigError((err as Error).message);
    }
    return file;
  }
  for (const [flag, host] of listeners) {
    if (host !== undefined && !isLoopback(host)) {
      if (oidc && flag === '--api') continue;
      if (oidc) {
        throw new ConfigError(
          `${flag} ${host} would accept OTLP from other hosts, and this bridge has no --auth-file: OpenID Connect signs in people to the API and the web UI, ` +
            `not applications. Give it --auth-file FILE with ingest tokens (docs/security.md), or keep ${flag} on 127.0.0.1.`,
        );
      }
      throw new ConfigError(
        `${flag} ${host} would accept connections from other hosts, and this bridge has no --auth-file: without one it listens on loopback only. ` +
          `Give it --auth-file FILE (OTEL_AUDIT_AUTH_FILE; tokens with roles and tenants, see docs/security.md), or listen on 127.0.0.1.`,
      );
    }
  }
  return undefined;
}

/** OpenID Connect sign-in (auth/oidc-config.ts); a bad flag or file is bad input. */
function oidcConfig(o: ServeOptions, env: NodeJS.ProcessEnv): OidcConfig | undefined {
  try {
    return resolveOidcConfig(o, env);
  } catch (err) {
    if (err instanceof AuthConfigError) throw new ConfigError(err.message);
    throw err;
  }
}

/** How long a signed-in browser's session lasts: without requests, and at most (auth/session.ts). */
function sessionOptions(o: ServeOptions, env: NodeJS.ProcessEnv): Partial<SessionOptions> {
  const idle = o.sessionIdleTimeout ?? env.OTEL_AUDIT_SESSION_IDLE_TIMEOUT;
  const life = o.sessionLifetime ?? env.OTEL_AUDIT_SESSION_LIFETIME;
  const idleMs = idle === undefined ? DEFAULT_SESSION_OPTIONS.idleMs : parseDuration(idle, '--session-idle-timeout');
  const absoluteMs = life === undefined ? Math.max(DEFAULT_SESSION_OPTIONS.absoluteMs, idleMs) : parseDuration(life, '--session-lifetime');
  if (idleMs < 1000) throw new ConfigError(`invalid --session-idle-timeout "${idle}": at least 1s`);
  if (absoluteMs < idleMs) throw new ConfigError(`invalid --session-lifetime "${life}": shorter than --session-idle-timeout (${idle ?? '8h'})`);
  return { idleMs, absoluteMs };
}

/** A link to a trace in a tracing UI (Jaeger, Tempo, ...): http(s), with {trace_id} where the id goes. */
function traceUrlTemplate(v: string | undefined): string | undefined {
  if (!v) return undefined;
  let ok = v.includes('{trace_id}');
  try {
    ok &&= /^https?:$/.test(new URL(v.replaceAll('{trace_id}', '0')).protocol);
  } catch {
    ok = false;
  }
  if (!ok) throw new ConfigError(`invalid --trace-url-template "${v}": expected an http(s) URL with {trace_id}, for example http://jaeger:16686/trace/{trace_id}`);
  return v;
}

/** The read-only user's URL for `sql`: only beside a ClickHouse server of its own. */
function readerUrl(o: ServeOptions, env: NodeJS.ProcessEnv): string | undefined {
  const url = o.clickhouseReaderUrl ?? env.OTEL_AUDIT_CLICKHOUSE_READER_URL;
  if (url && !(o.clickhouseUrl ?? env.OTEL_AUDIT_CLICKHOUSE_URL)) {
    throw new ConfigError('--clickhouse-reader-url needs --clickhouse-url: the embedded store runs sql in read-only sessions of its own');
  }
  return url || undefined;
}

/** Limits of `sql` queries, which a query cannot lift (api/sql/read-only-sql.ts). */
function sqlLimits(
  o: ServeOptions,
  env: NodeJS.ProcessEnv,
  count: (flag: string, v: string | undefined, envName: string, dflt: number) => number,
  size: (flag: string, v: string | undefined, envName: string, dflt: number) => number,
): SqlLimits {
  const d = DEFAULT_SQL_LIMITS;
  const timeout = o.sqlTimeout ?? env.OTEL_AUDIT_SQL_TIMEOUT;
  const timeoutMs = timeout === undefined ? d.timeoutSeconds * 1000 : parseDuration(timeout, '--sql-timeout');
  if (timeoutMs < 100) throw new ConfigError(`invalid --sql-timeout "${timeout}": at least 100ms`);
  return {
    timeoutSeconds: timeoutMs / 1000,
    concurrency: count('--sql-concurrency', o.sqlConcurrency, 'OTEL_AUDIT_SQL_CONCURRENCY', d.concurrency),
    maxMemoryBytes: size('--sql-max-memory', o.sqlMaxMemory, 'OTEL_AUDIT_SQL_MAX_MEMORY', d.maxMemoryBytes),
    maxResultRows: count('--sql-max-result-rows', o.sqlMaxResultRows, 'OTEL_AUDIT_SQL_MAX_RESULT_ROWS', d.maxResultRows),
    maxResultBytes: size('--sql-max-result-bytes', o.sqlMaxResultBytes, 'OTEL_AUDIT_SQL_MAX_RESULT_BYTES', d.maxResultBytes),
    maxThreads: count('--sql-threads', o.sqlThreads, 'OTEL_AUDIT_SQL_THREADS', d.maxThreads),
  };
}

/** The OTLP/HTTP receiver's bounds on clients: connections per address, header and body time. */
function slowClientLimits(
  o: ServeOptions,
  env: NodeJS.ProcessEnv,
  count: (flag: string, v: string | undefined, envName: string, dflt: number) => number,
): Pick<OtlpHttpConfig, 'maxConnectionsPerClient' | 'clientTimeoutMs' | 'minBodyBytesPerSecond'> {
  const d = DEFAULT_OTLP_HTTP_CONFIG;
  const timeout = o.clientTimeout ?? env.OTEL_AUDIT_CLIENT_TIMEOUT;
  const clientTimeoutMs = timeout === undefined ? d.clientTimeoutMs : parseDuration(timeout, '--client-timeout');
  if (clientTimeoutMs < 100) throw new ConfigError(`invalid --client-timeout "${timeout}": at least 100ms`);
  const rate = o.minBodyRate ?? env.OTEL_AUDIT_MIN_BODY_RATE;
  const minBodyBytesPerSecond = rate === undefined ? d.minBodyBytesPerSecond : parseSize(rate.replace(/\/s$/i, ''), '--min-body-rate');
  if (minBodyBytesPerSecond < 1) throw new ConfigError(`invalid --min-body-rate "${rate}": at least 1 byte per second`);
  return {
    maxConnectionsPerClient: count('--max-connections-per-client', o.maxConnectionsPerClient, 'OTEL_AUDIT_MAX_CONNECTIONS_PER_CLIENT', d.maxConnectionsPerClient),
    clientTimeoutMs,
    minBodyBytesPerSecond,
  };
}

/** The anchors (`--anchor`, `--anchor-dir`, the in-data-dir default); a bad one is bad input. */
function anchorSpecs(o: ServeOptions, dataDir: string, env: NodeJS.ProcessEnv): AnchorSpec[] {
  try {
    return resolveAnchors(o, dataDir, env);
  } catch (err) {
    if (err instanceof AnchorConfigError) throw new ConfigError(err.message);
    throw err;
  }
}

/** 0 (intake on the main thread) to MAX_INTAKE_WORKERS threads; the default follows the cores. */
function intakeWorkers(raw: string | undefined): number {
  if (raw === undefined) return DEFAULT_PIPELINE_CONFIG.intakeWorkers;
  if (raw.trim() === '0') return 0;
  const n = parseCount(raw, '--intake-workers');
  if (n > MAX_INTAKE_WORKERS) throw new ConfigError(`invalid --intake-workers "${raw}": at most ${MAX_INTAKE_WORKERS}`);
  return n;
}

/** The write path's settings, checked where they are declared (pipeline/config.ts); a bad one is bad input. */
function pipelineConfig(c: PipelineConfig): PipelineConfig {
  try {
    return checkPipelineConfig(c);
  } catch (err) {
    if (err instanceof PipelineConfigError) throw new ConfigError(err.message);
    throw err;
  }
}

/** The detections of the policy file (detect/config.ts); a bad section is bad input. */
function detectConfig(o: ServeOptions, env: NodeJS.ProcessEnv): DetectConfig {
  try {
    return resolveDetectConfig(o, env);
  } catch (err) {
    if (err instanceof DetectConfigError) throw new ConfigError(err.message);
    throw err;
  }
}

/** Forwarding (forward/config.ts); a bad URL or header is bad input. */
function forwardConfig(o: ServeOptions, env: NodeJS.ProcessEnv): ForwardConfig | undefined {
  try {
    return resolveForwardConfig(o, env, parseSize) ?? undefined;
  } catch (err) {
    if (err instanceof ForwardConfigError) throw new ConfigError(err.message);
    throw err;
  }
}

/** The privacy stage's options (policy/config.ts); a bad policy file or token is bad input. */
function privacyConfig(o: ServeOptions, env: NodeJS.ProcessEnv): PrivacyConfig {
  try {
    return resolvePrivacyConfig(o, env);
  } catch (err) {
    throw new ConfigError((err as Error).message, err instanceof PolicyError ? err.code : undefined);
  }
}
