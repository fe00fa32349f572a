import { Bridge } from '../../bridge.ts';
import { resolveConfig } from '../../config.ts';
import { createLogger } from '../../internal/logger.ts';
import { CommandError, EXIT, type Command } from '../shared.ts';

export const serve: Command = {
  summary: 'run the bridge: OTLP receiver, pipeline, store and query API',
  usage: 'otel-audit serve [--otlp-http HOST:PORT] [--otlp-grpc HOST:PORT] [--api HOST:PORT] [--data-dir DIR] [--clickhouse-url URL]',
  options: {
    'otlp-http': { type: 'string' },
    'otlp-grpc': { type: 'string' },
    api: { type: 'string' },
    'data-dir': { type: 'string' },
    'clickhouse-url': { type: 'string' },
    'decision-wait': { type: 'string' },
    'content-wait': { type: 'string' },
    'max-body': { type: 'string' },
    'chain-id': { type: 'string' },
    'default-risk': { type: 'string' },
    'log-level': { type: 'string' },
    'checkpoint-every-events': { type: 'string' },
    'checkpoint-interval': { type: 'string' },
    'anchor-dir': { type: 'string' },
    'signing-key': { type: 'string' },
    policy: { type: 'string' },
    'reviewer-token-file': { type: 'string' },
    'spool-budget': { type: 'string' },
    'spool-memory': { type: 'string' },
    'max-in-flight': { type: 'string' },
    'max-in-flight-bytes': { type: 'string' },
    'max-pending-events': { type: 'string' },
    'max-attributes': { type: 'string' },
    'max-attribute-length': { type: 'string' },
    'max-depth': { type: 'string' },
    'intake-workers': { type: 'string' },
  },
  details: `Options (each also an environment variable):
--otlp-http HOST:PORT     OTLP/HTTP receiver (OTEL_AUDIT_OTLP_HTTP, default 127.0.0.1:4318)
--otlp-grpc HOST:PORT     OTLP/gRPC receiver, or "off" (OTEL_AUDIT_OTLP_GRPC, default 127.0.0.1:4317)
--api HOST:PORT           query API (OTEL_AUDIT_API, default 127.0.0.1:4319)
--data-dir DIR            embedded store, write-ahead log and keys (OTEL_AUDIT_DATA_DIR, default ./.otel-audit)
--clickhouse-url URL      a ClickHouse server instead of the embedded store (OTEL_AUDIT_CLICKHOUSE_URL)
--decision-wait DURATION  how long a span waits for its ancestors (OTEL_AUDIT_DECISION_WAIT, default 10s)
--content-wait DURATION   how long a model call waits for its content log records (OTEL_AUDIT_CONTENT_WAIT, default 2s)
--max-body SIZE           largest request body after decompression, or gRPC message (OTEL_AUDIT_MAX_BODY, default 64MiB)
--spool-budget SIZE       disk budget of the write-ahead log; past it (ClickHouse down or slow) requests get
                          503 / UNAVAILABLE with Retry-After (OTEL_AUDIT_SPOOL_BUDGET, default 1GiB)
--spool-memory SIZE       spooled rows also kept in memory; the rest is read back from the log
                          (OTEL_AUDIT_SPOOL_MEMORY, default 64MiB)
--max-in-flight N         requests (and gRPC calls) processed at once; more get 429 / RESOURCE_EXHAUSTED
                          (OTEL_AUDIT_MAX_IN_FLIGHT, default 64)
--max-in-flight-bytes SIZE  request bytes held at once, per receiver (OTEL_AUDIT_MAX_IN_FLIGHT_BYTES, default 128MiB)
--max-pending-events N    events held in memory (waiting for context or for ClickHouse) before requests get
                          503 (OTEL_AUDIT_MAX_PENDING_EVENTS, default 200000)
--max-attributes N        attributes kept per span, log record, link or resource (OTEL_AUDIT_MAX_ATTRIBUTES, default 1024)
--max-attribute-length N  longer string values are truncated, noted in the event's truncated column
                          (OTEL_AUDIT_MAX_ATTRIBUTE_LENGTH, default 65536)
--max-depth N             nesting of array/map values; deeper items are rejected (OTEL_AUDIT_MAX_DEPTH, default 16)
--intake-workers N        worker threads that decode and normalize requests; 0 does it on the main thread
                          (OTEL_AUDIT_INTAKE_WORKERS, default: CPU cores - 1, at most 4)
--chain-id ID             this instance's chain id; one per instance: it writes one hash chain per
                          risk level, ID-low, ID-medium, ID-high (OTEL_AUDIT_CHAIN_ID, default main)
--default-risk LEVEL      risk of events that state none (OTEL_AUDIT_DEFAULT_RISK, default medium)
--log-level LEVEL         debug, info, warn, error (OTEL_AUDIT_LOG_LEVEL, default info)
--checkpoint-every-events N   sign a checkpoint every N stored events (OTEL_AUDIT_CHECKPOINT_EVERY_EVENTS, default 10000)
--checkpoint-interval DURATION ... or this often when events arrived (OTEL_AUDIT_CHECKPOINT_INTERVAL, default 60s)
--anchor-dir DIR          external copy of the checkpoints (OTEL_AUDIT_ANCHOR_DIR, default <data-dir>/anchors);
                          put it where the database admin cannot write (see chain/README.md)
--signing-key FILE        Ed25519 PKCS#8 PEM key (OTEL_AUDIT_SIGNING_KEY_FILE, or the PEM itself in
                          OTEL_AUDIT_SIGNING_KEY; default <data-dir>/keys/signing-key.pem, created)
--policy FILE             privacy policy, JSON: attribute rules, content and retention by risk, per tenant
                          (OTEL_AUDIT_POLICY; default: safe defaults, see packages/bridge/src/policy/README.md)
--reviewer-token-file FILE  token reviewers send to read sealed content and to erase subjects
                          (OTEL_AUDIT_REVIEWER_TOKEN_FILE, or the token in OTEL_AUDIT_REVIEWER_TOKEN; unset: refused)`,
  async run(values) {
    const config = resolveConfig({
      otlpHttp: values['otlp-http'] as string | undefined,
      otlpGrpc: values['otlp-grpc'] as string | undefined,
      spoolBudget: values['spool-budget'] as string | undefined,
      spoolMemory: values['spool-memory'] as string | undefined,
      maxInFlight: values['max-in-flight'] as string | undefined,
      maxInFlightBytes: values['max-in-flight-bytes'] as string | undefined,
      maxPendingEvents: values['max-pending-events'] as string | undefined,
      maxAttributes: values['max-attributes'] as string | undefined,
      maxAttributeLength: values['max-attribute-length'] as string | undefined,
      maxDepth: values['max-depth'] as string | undefined,
      intakeWorkers: values['intake-workers'] as string | undefined,
      api: values.api as string | undefined,
      dataDir: values['data-dir'] as string | undefined,
      clickhouseUrl: values['clickhouse-url'] as string | undefined,
      decisionWait: values['decision-wait'] as string | undefined,
      contentWait: values['content-wait'] as string | undefined,
      maxBody: values['max-body'] as string | undefined,
      chainId: values['chain-id'] as string | undefined,
      defaultRisk: values['default-risk'] as string | undefined,
      logLevel: values['log-level'] as string | undefined,
      checkpointEveryEvents: values['checkpoint-every-events'] as string | undefined,
      checkpointInterval: values['checkpoint-interval'] as string | undefined,
      anchorDir: values['anchor-dir'] as string | undefined,
      signingKey: values['signing-key'] as string | undefined,
      policy: values.policy as string | undefined,
      reviewerTokenFile: values['reviewer-token-file'] as string | undefined,
    });
    const log = createLogger(config.logLevel);
    let bridge: Bridge;
    try {
      bridge = await Bridge.start(config, log);
    } catch (err) {
      throw new CommandError(`cannot start the bridge: ${(err as Error).message}`);
    }
    await new Promise<void>((resolve) => {
      const shutdown = (signal: string) => {
        log.info('shutting down', { signal });
        bridge.stop().then(resolve, (err) => {
          log.error('shutdown failed', { error: (err as Error).message });
          process.exitCode = EXIT.FAILED;
          resolve();
        });
};
        process.once('SIGTERM', () => shutdown('SIGTERM'));
        process.once('SIGINT', () => shutdown('SIGINT'));
      });
      return EXIT.OK;
    },
  };
