import { Bridge } from '../../bridge.ts';
import { resolveConfig } from '../../config.ts';
import { createLogger } from '../../internal/logger.ts';
import { CommandError, EXIT, UsageError, type Command } from '../shared.ts';

export const serve: Command = {
  summary: 'run the bridge: OTLP receiver, pipeline, store and query API',
  usage: 'otel-audit serve [--otlp-http HOST:PORT] [--api HOST:PORT] [--data-dir DIR] [--clickhouse-url URL]',
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
  },
  details: `Options (each also an environment variable):
--otlp-http HOST:PORT     OTLP/HTTP receiver (OTEL_AUDIT_OTLP_HTTP, default 127.0.0.1:4318)
--otlp-grpc HOST:PORT     OTLP/gRPC receiver (not implemented yet: see README)
--api HOST:PORT           query API (OTEL_AUDIT_API, default 127.0.0.1:4319)
--data-dir DIR            embedded store, write-ahead log and keys (OTEL_AUDIT_DATA_DIR, default ./.otel-audit)
--clickhouse-url URL      a ClickHouse server instead of the embedded store (OTEL_AUDIT_CLICKHOUSE_URL)
--decision-wait DURATION  how long a span waits for its ancestors (OTEL_AUDIT_DECISION_WAIT, default 10s)
--content-wait DURATION   how long a model call waits for its content log records (OTEL_AUDIT_CONTENT_WAIT, default 2s)
--max-body SIZE           largest request body after decompression (OTEL_AUDIT_MAX_BODY, default 64MiB)
--chain-id ID             this instance's hash chain; one per instance (OTEL_AUDIT_CHAIN_ID, default main)
--default-risk LEVEL      risk of events that state none (OTEL_AUDIT_DEFAULT_RISK, default medium)
--log-level LEVEL         debug, info, warn, error (OTEL_AUDIT_LOG_LEVEL, default info)
--checkpoint-every-events N   sign a checkpoint every N stored events (OTEL_AUDIT_CHECKPOINT_EVERY_EVENTS, default 10000)
--checkpoint-interval DURATION ... or this often when events arrived (OTEL_AUDIT_CHECKPOINT_INTERVAL, default 60s)
--anchor-dir DIR          external copy of the checkpoints (OTEL_AUDIT_ANCHOR_DIR, default <data-dir>/anchors);
                          put it where the database admin cannot write (see chain/README.md)
--signing-key FILE        Ed25519 PKCS#8 PEM key (OTEL_AUDIT_SIGNING_KEY_FILE, or the PEM itself in
                          OTEL_AUDIT_SIGNING_KEY; default <data-dir>/keys/signing-key.pem, created)`,
  async run(values) {
    if (values['otlp-grpc']) throw new UsageError('--otlp-grpc: the OTLP/gRPC receiver is not implemented yet; use OTLP/HTTP (--otlp-http)');
    const config = resolveConfig({
      otlpHttp: values['otlp-http'] as string | undefined,
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
