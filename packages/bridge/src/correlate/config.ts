/**
 * The correlator's configuration: how long events wait for their ancestors and content, and how
 * long and how many traces are kept. Validated here (`checkCorrelatorConfig`); the flags that
 * set it (`--decision-wait`, `--content-wait`) are parsed in src/config.ts.
 */
export interface CorrelatorConfig {
  /**
   * How long an event whose ancestry is incomplete waits for its ancestors (like the
   * Collector's tail-sampling `decision_wait`). Children are exported before their parents,
   * often in another request.
   */
  decisionWaitMs: number;
  /** How long a model call without content waits for its content log records. */
  contentWaitMs: number;
  /** How long a trace's nodes are kept after its last activity, for late descendants. */
  traceTtlMs: number;
  /** Upper bound on the traces held in memory; the oldest idle ones go first. */
  maxTraces: number;
}

export const DEFAULT_CORRELATOR_CONFIG: CorrelatorConfig = {
  decisionWaitMs: 10_000,
  contentWaitMs: 2_000,
  traceTtlMs: 30_000,
  maxTraces: 200_000,
};

export class CorrelatorConfigError extends Error {
  readonly code = 'CORRELATOR_CONFIG';
}

/** A day: longer waits hold events (and memory) past any exporter's retries. */
const MAX_WAIT_MS = 24 * 3600 * 1000;

/** Validates a configuration (defaults filled in); throws CorrelatorConfigError naming the setting. */
export function checkCorrelatorConfig(c: Partial<CorrelatorConfig>): CorrelatorConfig {
  const known = new Set(Object.keys(DEFAULT_CORRELATOR_CONFIG));
  for (const k of Object.keys(c)) if (!known.has(k)) throw new CorrelatorConfigError(`unknown correlator setting "${k}" (known: ${[...known].join(', ')})`);
  const full = { ...DEFAULT_CORRELATOR_CONFIG, ...c };
  const ms = (name: string, v: number, min: number) => {
    if (!(Number.isSafeInteger(v) && v >= min && v <= MAX_WAIT_MS)) {
      throw new CorrelatorConfigError(`${name} must be a whole number of milliseconds from ${min} to ${MAX_WAIT_MS} (24h), got ${v}`);
    }
  };
  ms('--decision-wait (decisionWaitMs)', full.decisionWaitMs, 1);
  ms('--content-wait (contentWaitMs)', full.contentWaitMs, 0);
  ms('traceTtlMs', full.traceTtlMs, 1);
  if (!(Number.isSafeInteger(full.maxTraces) && full.maxTraces >= 1)) throw new CorrelatorConfigError(`maxTraces must be a positive whole number, got ${full.maxTraces}`);
  return full;
}
