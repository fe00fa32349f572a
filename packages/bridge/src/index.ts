/**
 * @otel-audit/bridge — the service that turns OpenTelemetry GenAI traces into an audit trail.
 * The CLI (`otel-audit`) is the usual entry point; these exports embed the bridge in a process.
 */
export { Bridge } from './bridge.ts';
export { ConfigError, resolveConfig, type BridgeConfig, type ServeOptions } from './config.ts';
// Bridge.start logs through a Logger: createLogger's (JSON lines on stderr) unless the embedding process passes its own.
export { createLogger, type Logger, type LogLevel } from './internal/logger.ts';
export { Store, type StoreConfig } from './store/store.ts';
export { fullDdl, MIGRATIONS, EVENT_COLUMNS } from './store/schema.ts';
export { eventHash, canonicalEventJson, GENESIS_HASH } from './chain/canonical.ts';
export type { AuditEvent, TelemetrySpan, TelemetryLog, EventType } from './model.ts';
