import type { CorrelatorConfig } from '../correlate/index.ts';
import { defaultIntakeWorkers } from '../intake/index.ts';
import type { DecodeOptions } from '../otlp/index.ts';

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
  maxPendingEvents: 200_000,
  shutdownTimeoutMs: 10_000,
  intakeWorkers: defaultIntakeWorkers(),
};
