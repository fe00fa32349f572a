/**
 * The write path's configuration, validated here (`checkPipelineConfig`, with the correlator's
 * and the spool's own checks); the flags that set it are parsed in src/config.ts. Cases in
 * testdata/config/{valid,invalid}.
 */
import { RISK_LEVELS } from '../chain/index.ts';
import { checkCorrelatorConfig, CorrelatorConfigError, type CorrelatorConfig } from '../correlate/index.ts';
import { defaultIntakeWorkers } from '../intake/index.ts';
import type { DecodeOptions } from '../otlp/index.ts';
import { checkSpoolConfig, SpoolConfigError } from '../spool/index.ts';

export interface PipelineConfig {
  dataDir: string;
  /**
   * This instance's chain id. Events are chained into one chain per risk level,
   * `<chainId>-low|medium|high` (see chain/README.md). One writer per chain: give each bridge
   * instance its own id.
   */
  chainId: string;
  defaultRisk: string;
  correlator: Partial<CorrelatorConfig>;
  /** Most rows in one ClickHouse insert. */
  batchRows: number;
  /** How often decided events are chained and written. */
  flushIntervalMs: number;
  /** Longest a decided event waits for an insert in flight before it is chained anyway. */
  maxHoldMs: number;
  walSegmentBytes: number;
  fsync: boolean;
  /** How many recent event ids are remembered to drop re-sent spans (see README, Idempotency). */
  dedupIds: number;
  /** Key that encrypts write-ahead log records (AES-256-GCM); see loadWalKey. */
  walKey?: Buffer;
  /** The decoder limits, so that a replay decodes requests exactly as they were first decoded. */
  decode?: DecodeOptions;
  /**
   * Disk budget of the write-ahead log. Past it (ClickHouse down or slower than the intake),
   * `overloaded()` says so and receivers answer 503 / UNAVAILABLE with a retry hint.
   */
  spoolBudgetBytes: number;
  /** Chained rows waiting for ClickHouse kept in memory; the others are read back from the log. */
  spoolMemoryBytes: number;
  /**
   * Records waiting in memory for the write-ahead log's next write and fsync, past which
   * receivers answer 503 (the disk is slower than the intake): without it, chained batches
   * queued there under overload (and they cannot leave memory before they are on disk).
   */
  walQueueBytes: number;
  /** Events held in memory (waiting for their context, or chained and in memory) past which receivers answer 503. */
  maxPendingEvents: number;
  /** How long shutdown waits for ClickHouse; what it has not taken by then stays in the log for the next start. */
  shutdownTimeoutMs: number;
  /** Worker threads for decode + intake (intake-pool.ts); 0 runs them on the main thread. */
  intakeWorkers: number;
}

export const DEFAULT_PIPELINE_CONFIG: Omit<PipelineConfig, 'dataDir'> = {
  chainId: 'main',
  defaultRisk: 'medium',
  correlator: {},
  batchRows: 10_000,
  flushIntervalMs: 100,
  maxHoldMs: 1_000,
  walSegmentBytes: 64 * 1024 * 1024,
  fsync: true,
  dedupIds: 500_000,
  spoolBudgetBytes: 1024 ** 3,
  spoolMemoryBytes: 64 * 1024 ** 2,
  walQueueBytes: 64 * 1024 ** 2,
  maxPendingEvents: 200_000,
  shutdownTimeoutMs: 10_000,
  intakeWorkers: defaultIntakeWorkers(),
};

export class PipelineConfigError extends Error {
  readonly code = 'PIPELINE_CONFIG';
}

/** Most intake worker threads (`--intake-workers`). */
export const MAX_INTAKE_WORKERS = 64;

/**
 * Validates a configuration; throws PipelineConfigError naming the setting (by its flag where
 * it has one). A chain id leaves room for the risk suffix (`-medium`) within 64 characters.
 */
export function checkPipelineConfig(c: PipelineConfig): PipelineConfig {
  const fail = (msg: string): never => {
    throw new PipelineConfigError(msg);
  };
  if (typeof c.dataDir !== 'string' || !c.dataDir) fail('dataDir must be a directory path');
  if (!/^[A-Za-z0-9._-]{1,57}$/.test(c.chainId)) fail(`invalid --chain-id "${c.chainId}": use 1-57 letters, digits, '.', '_' or '-'`);
  if (/-(low|medium|high)$/.test(c.chainId)) {
    fail(`invalid --chain-id "${c.chainId}": ids ending in -low, -medium or -high are reserved for single-risk chains, which the retention TTL trims (policy/README.md)`);
  }
  if (!(RISK_LEVELS as readonly string[]).includes(c.defaultRisk)) fail(`invalid --default-risk "${c.defaultRisk}": expected ${RISK_LEVELS.join(', ')}`);
  const whole = (name: string, v: number, min: number, max = Number.MAX_SAFE_INTEGER) => {
    if (!(Number.isSafeInteger(v) && v >= min && v <= max)) fail(`${name} must be a whole number from ${min}${max < Number.MAX_SAFE_INTEGER ? ` to ${max}` : ''}, got ${v}`);
  };
  whole('batchRows', c.batchRows, 1, 1_000_000);
  whole('flushIntervalMs', c.flushIntervalMs, 1, 60_000);
  whole('maxHoldMs', c.maxHoldMs, 0, 60_000);
  // A segment holds at least one large request and its chained rows.
  whole('walSegmentBytes', c.walSegmentBytes, 64 * 1024);
  whole('dedupIds', c.dedupIds, 1);
  whole('walQueueBytes', c.walQueueBytes, 1);
  whole('--max-pending-events (maxPendingEvents)', c.maxPendingEvents, 1);
  whole('shutdownTimeoutMs', c.shutdownTimeoutMs, 0);
  whole('--intake-workers (intakeWorkers)', c.intakeWorkers, 0, MAX_INTAKE_WORKERS);
  if (c.walKey !== undefined && c.walKey.length !== 32) fail(`walKey must be 32 bytes (AES-256), got ${c.walKey.length}`);
  try {
    checkSpoolConfig({ budgetBytes: c.spoolBudgetBytes, memoryBytes: c.spoolMemoryBytes });
    checkCorrelatorConfig(c.correlator);
  } catch (err) {
    if (err instanceof SpoolConfigError || err instanceof CorrelatorConfigError) fail(err.message);
    throw err;
  }
  return c;
}
