/**
 * Helpers shared across the bridge (README.md): logging, time formats, retries with backoff, key
 * files, the data directory, metrics, validation. Of these only the logger is public API
 * (src/index.ts re-exports `createLogger`).
 */
export { createLogger, silentLogger, type Logger, type LogLevel } from './logger.ts';
export { dateTime64ToBigInt, dateTime64ToNanos, dateToClickHouse, durationNanos, nanosToDateTime64, nowNanos, parseTimeArg } from './time.ts';
export { Backoff, backoffDelay, checkBackoffOptions, retry, retryAfterMs, RetryConfigError, sleep, type BackoffOptions, type RetryOptions, type RetryVerdict } from './retry.ts';
export { loadOrCreateKey } from './keys.ts';
export { DIR_MODE, FILE_MODE, secureDataDir } from './data-dir.ts';
export { ensureWritableDir } from './make-dir.ts';
export { fsyncPath, fsyncPathAsync, skipBytes } from './durable.ts';
export { Metrics, type Series } from './metrics.ts';
export { bytesText } from './bytes.ts';
export { ConfigError } from './config-error.ts';
export { describe, isObject, unknownKeys } from './validate.ts';
export { packageVersion } from './version.ts';
