import { resolve } from 'node:path';
import { DEFAULT_API_CONFIG, type ApiConfig } from './api/server.ts';
import { DEFAULT_CHECKPOINT_EVERY_EVENTS, DEFAULT_CHECKPOINT_INTERVAL_MS, type CheckpointConfig } from './chain/checkpointer.ts';
import { DEFAULT_CORRELATOR_CONFIG } from './correlate/correlator.ts';
import type { LogLevel } from './internal/logger.ts';
import { resolvePrivacyConfig, type PrivacyConfig } from './policy/config.ts';
import { DEFAULT_PIPELINE_CONFIG, type PipelineConfig } from './pipeline/pipeline.ts';
import { DEFAULT_OTLP_HTTP_CONFIG, type OtlpHttpConfig } from './receive/http/otlp-http.ts';
import { DEFAULT_OTLP_GRPC_CONFIG, type OtlpGrpcConfig } from './receive/grpc/otlp-grpc.ts';
import { DEFAULT_DECODE_OPTIONS, type DecodeOptions } from './receive/otlp/decode.ts';

export interface BridgeConfig {
  dataDir: string;
  clickhouseUrl?: string;
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
  /** The privacy policy file and the reviewer token (policy/config.ts). */
  privacy?: PrivacyConfig;
}

export class ConfigError extends Error {}

/** HOST:PORT, :PORT or PORT. */
export function parseHostPort(value: string, what: string): { host: string; port: number } {
  const m = /^(?:\[?([^\]]*?)\]?:)?(\d{1,5})$/.exec(value.trim());
  const port = m ? Number(m[2]) : NaN;
  if (!m || port > 65535) throw new ConfigError(`invalid ${what} "${value}": expected HOST:PORT, for example 127.0.0.1:4318`);
  return { host: m[1] || '127.0.0.1', port };
}

export function parseDuration(value: string, what: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(value.trim());
  if (!m) throw new ConfigError(`invalid ${what} "${value}": expected a duration such as 500ms, 10s or 2m`);
  const n = Number(m[1]);
  return Math.round(m[2] === 'm' ? n * 60_000 : m[2] === 'ms' ? n : n * 1000);
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

export interface ServeOptions {
  otlpHttp?: string;
  /** HOST:PORT, or `off`. */
  otlpGrpc?: string;
  maxInFlight?: string;
  maxInFlightBytes?: string;
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
  signingKey?: string;
  /** `--policy FILE` and `--reviewer-token-file FILE` (policy/config.ts). */
  policy?: string;
  reviewerTokenFile?: string;
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
  const api = parseHostPort(o.api ?? env.OTEL_AUDIT_API ?? '127.0.0.1:4319', '--api');
  const risk = o.defaultRisk ?? env.OTEL_AUDIT_DEFAULT_RISK ?? DEFAULT_PIPELINE_CONFIG.defaultRisk;
  if (!['low', 'medium', 'high'].includes(risk)) throw new ConfigError(`invalid --default-risk "${risk}": expected low, medium or high`);
  const logLevel = (o.logLevel ?? env.OTEL_AUDIT_LOG_LEVEL ?? 'info') as LogLevel;
  if (!['debug', 'info', 'warn', 'error'].includes(logLevel)) throw new ConfigError(`invalid --log-level "${logLevel}": expected debug, info, warn or error`);
  const chainId = o.chainId ?? env.OTEL_AUDIT_CHAIN_ID ?? DEFAULT_PIPELINE_CONFIG.chainId;
  // 57: room for the risk suffix (`-medium`) within the 64 characters of a chain id.
  if (!/^[A-Za-z0-9._-]{1,57}$/.test(chainId)) throw new ConfigError(`invalid --chain-id "${chainId}": use 1-57 letters, digits, '.', '_' or '-'`);
  const everyEvents = Number(o.checkpointEveryEvents ?? env.OTEL_AUDIT_CHECKPOINT_EVERY_EVENTS ?? DEFAULT_CHECKPOINT_EVERY_EVENTS);
  if (!Number.isSafeInteger(everyEvents) || everyEvents < 1) {
    throw new ConfigError(`invalid --checkpoint-every-events "${o.checkpointEveryEvents ?? env.OTEL_AUDIT_CHECKPOINT_EVERY_EVENTS}": expected a positive integer`);
  }
  const checkpointInterval = o.checkpointInterval ?? env.OTEL_AUDIT_CHECKPOINT_INTERVAL;
  return {
    dataDir,
    clickhouseUrl: o.clickhouseUrl ?? env.OTEL_AUDIT_CLICKHOUSE_URL ?? undefined,
    database: env.OTEL_AUDIT_DATABASE ?? 'otel_audit',
    otlpHttp: {
      ...DEFAULT_OTLP_HTTP_CONFIG,
      ...otlp,
      maxBodyBytes,
      maxInFlight,
      maxInFlightBytes,
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
    api: { ...DEFAULT_API_CONFIG, ...api },
    pipeline: {
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
    },
    checkpoint: {
      everyEvents,
      intervalMs: checkpointInterval === undefined ? DEFAULT_CHECKPOINT_INTERVAL_MS : parseDuration(checkpointInterval, '--checkpoint-interval'),
      anchorDir: resolve(o.anchorDir ?? env.OTEL_AUDIT_ANCHOR_DIR ?? resolve(dataDir, 'anchors')),
      signingKeyFile: o.signingKey ?? env.OTEL_AUDIT_SIGNING_KEY_FILE,
      signingKeyPem: env.OTEL_AUDIT_SIGNING_KEY,
    },
    logLevel,
    pseudonymKey: env.OTEL_AUDIT_PSEUDONYM_KEY,
    walKey: env.OTEL_AUDIT_WAL_KEY,
    privacy: privacyConfig(o, env),
  };
}

/** 0 (intake on the main thread) to 64 worker threads; the default follows the cores. */
function intakeWorkers(raw: string | undefined): number {
  if (raw === undefined) return DEFAULT_PIPELINE_CONFIG.intakeWorkers;
  if (raw.trim() === '0') return 0;
  const n = parseCount(raw, '--intake-workers');
  if (n > 64) throw new ConfigError(`invalid --intake-workers "${raw}": at most 64`);
  return n;
}

/** The privacy stage's options (policy/config.ts); a bad policy file or token is bad input. */
function privacyConfig(o: ServeOptions, env: NodeJS.ProcessEnv): PrivacyConfig {
  const chainId = o.chainId ?? env.OTEL_AUDIT_CHAIN_ID;
  if (chainId && /-(low|medium|high)$/.test(chainId)) {
    throw new ConfigError(`invalid --chain-id "${chainId}": ids ending in -low, -medium or -high are reserved for single-risk chains, which the retention TTL trims (policy/README.md)`);
  }
  try {
    return resolvePrivacyConfig(o, env);
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }
}
