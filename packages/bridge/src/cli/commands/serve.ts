import { Bridge } from '../../bridge.ts';
import { resolveConfig } from '../../config.ts';
import { createLogger } from '../../internal/logger.ts';
import { CommandError, EXIT, type Command } from '../shared.ts';

export const serve: Command = {
  summary: 'run the bridge: OTLP receiver, pipeline, store and query API',
  usage: 'otel-audit serve [--otlp-http HOST:PORT] [--otlp-grpc HOST:PORT] [--api HOST:PORT] [--data-dir DIR] [--clickhouse-url URL] [--auth-file FILE] [--oidc-issuer URL ...] [--anchor URL]...',
  options: {
    'otlp-http': { type: 'string' },
    'otlp-grpc': { type: 'string' },
    api: { type: 'string' },
    'data-dir': { type: 'string' },
    'clickhouse-url': { type: 'string' },
    'clickhouse-reader-url': { type: 'string' },
    'sql-timeout': { type: 'string' },
    'sql-concurrency': { type: 'string' },
    'sql-max-memory': { type: 'string' },
    'sql-max-result-rows': { type: 'string' },
    'sql-max-result-bytes': { type: 'string' },
    'sql-threads': { type: 'string' },
    'decision-wait': { type: 'string' },
    'content-wait': { type: 'string' },
    'max-body': { type: 'string' },
    'chain-id': { type: 'string' },
    'default-risk': { type: 'string' },
    'log-level': { type: 'string' },
    'checkpoint-every-events': { type: 'string' },
    'checkpoint-interval': { type: 'string' },
    'anchor-dir': { type: 'string' },
    anchor: { type: 'string', multiple: true },
    'signing-key': { type: 'string' },
    policy: { type: 'string' },
    'reviewer-token-file': { type: 'string' },
    'auth-file': { type: 'string' },
    'spool-budget': { type: 'string' },
    'spool-memory': { type: 'string' },
    'max-in-flight': { type: 'string' },
    'max-in-flight-bytes': { type: 'string' },
    'max-connections-per-client': { type: 'string' },
    'client-timeout': { type: 'string' },
    'min-body-rate': { type: 'string' },
    'max-pending-events': { type: 'string' },
    'max-attributes': { type: 'string' },
    'max-attribute-length': { type: 'string' },
    'max-depth': { type: 'string' },
    'intake-workers': { type: 'string' },
    'trace-url-template': { type: 'string' },
    'session-idle-timeout': { type: 'string' },
    'session-lifetime': { type: 'string' },
    'oidc-issuer': { type: 'string' },
    'oidc-client-id': { type: 'string' },
    'oidc-client-secret-file': { type: 'string' },
    'oidc-roles-claim': { type: 'string' },
    'oidc-tenants-claim': { type: 'string' },
    'oidc-claim-map': { type: 'string' },
    'oidc-scopes': { type: 'string' },
    'oidc-redirect-url': { type: 'string' },
    forward: { type: 'string' },
    'forward-header': { type: 'string', multiple: true },
    'forward-queue-bytes': { type: 'string' },
    'alert-webhook': { type: 'string', multiple: true },
    'alert-webhook-secret-file': { type: 'string' },
    'hot-days': { type: 'string' },
    'storage-policy': { type: 'string' },
  },
  details: `Options (each also an environment variable):
--otlp-http HOST:PORT     OTLP/HTTP receiver (OTEL_AUDIT_OTLP_HTTP, default 127.0.0.1:4318)
--otlp-grpc HOST:PORT     OTLP/gRPC receiver, or "off" (OTEL_AUDIT_OTLP_GRPC, default 127.0.0.1:4317)
--api HOST:PORT           query API (OTEL_AUDIT_API, default 127.0.0.1:4319)
--data-dir DIR            embedded store, write-ahead log and keys (OTEL_AUDIT_DATA_DIR, default ./.otel-audit)
--clickhouse-url URL      a ClickHouse server instead of the embedded store (OTEL_AUDIT_CLICKHOUSE_URL)
--clickhouse-reader-url URL  the server's read-only user, which sql queries run as
                          (OTEL_AUDIT_CLICKHOUSE_READER_URL; deploy/clickhouse/users.sql, docs/operations.md)
--sql-timeout DURATION    longest a sql query runs; the engine stops it then (OTEL_AUDIT_SQL_TIMEOUT, default 60s)
--sql-concurrency N       sql queries run at once; more get 429 with Retry-After (OTEL_AUDIT_SQL_CONCURRENCY, default 2)
--sql-max-memory SIZE     memory of one sql query (OTEL_AUDIT_SQL_MAX_MEMORY, default 1GiB)
--sql-max-result-rows N   rows a sql query may return, more is an error (OTEL_AUDIT_SQL_MAX_RESULT_ROWS, default 10000000)
--sql-max-result-bytes SIZE  bytes a sql query may return (OTEL_AUDIT_SQL_MAX_RESULT_BYTES, default 1GiB)
--sql-threads N           threads of one sql query (OTEL_AUDIT_SQL_THREADS, default 2)
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
--max-connections-per-client N  open OTLP/HTTP connections from one address; more are answered 429 and
                          closed (OTEL_AUDIT_MAX_CONNECTIONS_PER_CLIENT, default 32; raise it behind a proxy)
--client-timeout DURATION time for an OTLP/HTTP request's headers, and the least time for its body
                          (OTEL_AUDIT_CLIENT_TIMEOUT, default 10s)
--min-body-rate SIZE      slowest OTLP/HTTP upload accepted, per second: a body that has taken longer than
                          the client timeout + bytes sent / rate gets 408 (OTEL_AUDIT_MIN_BODY_RATE, default 32KiB)
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
--anchor URL              an anchor for every checkpoint, repeatable (OTEL_AUDIT_ANCHOR, comma-separated):
                          file:///DIR, s3://bucket/prefix (Object Lock, compliance mode; ?endpoint= or
                          OTEL_AUDIT_S3_ENDPOINT for MinIO, ?retention=365d), rfc3161+https://tsa/ (?ca=FILE);
                          <data-dir>/anchors is kept unless a file:// anchor is given (docs/operations.md)
--anchor-dir DIR          alias of --anchor file://DIR (OTEL_AUDIT_ANCHOR_DIR);
                          put it where the database admin cannot write (see chain/README.md)
--signing-key FILE        Ed25519 PKCS#8 PEM key (OTEL_AUDIT_SIGNING_KEY_FILE, or the PEM itself in
                          OTEL_AUDIT_SIGNING_KEY; default <data-dir>/keys/signing-key.pem, created)
--policy FILE             privacy policy, JSON: attribute rules, content and retention by risk, per tenant
                          (OTEL_AUDIT_POLICY; default: safe defaults, see packages/bridge/src/policy/README.md)
--auth-file FILE          tokens with roles (ingest, reader, content_reader, admin) and tenants, JSON
                          (OTEL_AUDIT_AUTH_FILE; reloaded on SIGHUP). Without it every listener must be on
                          loopback, and local users may do everything (docs/security.md)
--session-idle-timeout DURATION  a signed-in browser's session ends after this long without a request
                          (OTEL_AUDIT_SESSION_IDLE_TIMEOUT, default 8h)
--session-lifetime DURATION  ... and this long after signing in (OTEL_AUDIT_SESSION_LIFETIME, default 12h)
--oidc-issuer URL         sign people in to the web UI and API with OpenID Connect: the issuer, https
                          (OTEL_AUDIT_OIDC_ISSUER; discovery at URL/.well-known/openid-configuration).
                          Register the redirect URI https://<this bridge>/api/v1/oidc/callback
--oidc-client-id ID       the bridge's client id at the provider (OTEL_AUDIT_OIDC_CLIENT_ID)
--oidc-client-secret-file FILE  the client secret, alone in a file (OTEL_AUDIT_OIDC_CLIENT_SECRET_FILE)
--oidc-roles-claim NAME   the claim with otel-audit roles, or a dotted path such as realm_access.roles
                          (OTEL_AUDIT_OIDC_ROLES_CLAIM, default otel_audit_roles)
--oidc-tenants-claim NAME the claim with tenants, "*" for all
                          (OTEL_AUDIT_OIDC_TENANTS_CLAIM, default otel_audit_tenants)
--oidc-claim-map FILE     JSON mapping claim values (e.g. groups) to roles and tenants (OTEL_AUDIT_OIDC_CLAIM_MAP)
--oidc-scopes SCOPES      scopes asked for (OTEL_AUDIT_OIDC_SCOPES, default "openid profile email")
--oidc-redirect-url URL   the redirect URI registered at the provider, when the bridge is reached under
                          another address than its Host header says (OTEL_AUDIT_OIDC_REDIRECT_URL).
                          Without --auth-file, OIDC lets --api listen beyond loopback, not OTLP
--trace-url-template URL  a tracing UI's link to a trace, with {trace_id}, for the web UI
                          (OTEL_AUDIT_TRACE_URL_TEMPLATE; e.g. http://jaeger:16686/trace/{trace_id})
--forward URL             send everything accepted on, after redaction, each audit span with audit.event_id:
                          http(s)://HOST:PORT (OTLP/HTTP protobuf to URL/v1/traces, URL/v1/logs, gzip) or
                          grpc(s)://HOST:PORT (OTLP/gRPC); queued on disk, retried (OTEL_AUDIT_FORWARD)
--forward-header NAME=VALUE  a header for the downstream, repeatable, e.g. 'authorization=Bearer …'
                          (OTEL_AUDIT_FORWARD_HEADERS: comma-separated, values percent-encoded)
--forward-queue-bytes SIZE  disk budget of the forward queue; past it the oldest forward data is dropped
                          and counted, never the audit trail (OTEL_AUDIT_FORWARD_QUEUE_BYTES, default 1GiB)
--alert-webhook URL       POST each new alert there as JSON, HMAC-signed, retried; repeatable
                          (OTEL_AUDIT_ALERT_WEBHOOK, comma-separated; docs/detections.md)
--alert-webhook-secret-file FILE  the webhooks' shared signing secret, at least 16 characters
                          (OTEL_AUDIT_ALERT_WEBHOOK_SECRET_FILE, or the secret in OTEL_AUDIT_ALERT_WEBHOOK_SECRET)
--hot-days N              with --clickhouse-url: events parts move to S3 (the storage policy's "cold" volume)
                          N days after arrival, the retention by risk unchanged (OTEL_AUDIT_HOT_DAYS; off by
                          default; the server needs deploy/clickhouse/storage-s3.xml, docs/operations.md)
--storage-policy NAME     the policy events is on with --hot-days (OTEL_AUDIT_STORAGE_POLICY, default
                          otel_audit_tiered; otel_audit_tiered_upgrade for a table created without it)`,
  async run(values) {
    // Whatever the bridge and the embedded engine create (ClickHouse parts included) is owner
    // only, whatever the umask of the shell that started it (internal/data-dir.ts).
    process.umask(0o077);
    const config = resolveConfig({
      otlpHttp: values['otlp-http'] as string | undefined,
      otlpGrpc: values['otlp-grpc'] as string | undefined,
      spoolBudget: values['spool-budget'] as string | undefined,
      spoolMemory: values['spool-memory'] as string | undefined,
      maxInFlight: values['max-in-flight'] as string | undefined,
      maxInFlightBytes: values['max-in-flight-bytes'] as string | undefined,
      maxConnectionsPerClient: values['max-connections-per-client'] as string | undefined,
      clientTimeout: values['client-timeout'] as string | undefined,
      minBodyRate: values['min-body-rate'] as string | undefined,
      maxPendingEvents: values['max-pending-events'] as string | undefined,
      maxAttributes: values['max-attributes'] as string | undefined,
      maxAttributeLength: values['max-attribute-length'] as string | undefined,
      maxDepth: values['max-depth'] as string | undefined,
      intakeWorkers: values['intake-workers'] as string | undefined,
      api: values.api as string | undefined,
      dataDir: values['data-dir'] as string | undefined,
      clickhouseUrl: values['clickhouse-url'] as string | undefined,
      clickhouseReaderUrl: values['clickhouse-reader-url'] as string | undefined,
      sqlTimeout: values['sql-timeout'] as string | undefined,
      sqlConcurrency: values['sql-concurrency'] as string | undefined,
      sqlMaxMemory: values['sql-max-memory'] as string | undefined,
      sqlMaxResultRows: values['sql-max-result-rows'] as string | undefined,
      sqlMaxResultBytes: values['sql-max-result-bytes'] as string | undefined,
      sqlThreads: values['sql-threads'] as string | undefined,
      decisionWait: values['decision-wait'] as string | undefined,
      contentWait: values['content-wait'] as string | undefined,
      maxBody: values['max-body'] as string | undefined,
      chainId: values['chain-id'] as string | undefined,
      defaultRisk: values['default-risk'] as string | undefined,
      logLevel: values['log-level'] as string | undefined,
      checkpointEveryEvents: values['checkpoint-every-events'] as string | undefined,
      checkpointInterval: values['checkpoint-interval'] as string | undefined,
      anchorDir: values['anchor-dir'] as string | undefined,
      anchors: values.anchor as string[] | undefined,
      signingKey: values['signing-key'] as string | undefined,
      policy: values.policy as string | undefined,
      reviewerTokenFile: values['reviewer-token-file'] as string | undefined,
      authFile: values['auth-file'] as string | undefined,
      traceUrlTemplate: values['trace-url-template'] as string | undefined,
      sessionIdleTimeout: values['session-idle-timeout'] as string | undefined,
      sessionLifetime: values['session-lifetime'] as string | undefined,
      oidcIssuer: values['oidc-issuer'] as string | undefined,
      oidcClientId: values['oidc-client-id'] as string | undefined,
      oidcClientSecretFile: values['oidc-client-secret-file'] as string | undefined,
      oidcRolesClaim: values['oidc-roles-claim'] as string | undefined,
      oidcTenantsClaim: values['oidc-tenants-claim'] as string | undefined,
      oidcClaimMap: values['oidc-claim-map'] as string | undefined,
      oidcScopes: values['oidc-scopes'] as string | undefined,
      oidcRedirectUrl: values['oidc-redirect-url'] as string | undefined,
      forward: values.forward as string | undefined,
      forwardHeaders: values['forward-header'] as string[] | undefined,
      forwardQueueBytes: values['forward-queue-bytes'] as string | undefined,
      alertWebhook: values['alert-webhook'] as string[] | undefined,
      alertWebhookSecretFile: values['alert-webhook-secret-file'] as string | undefined,
      hotDays: values['hot-days'] as string | undefined,
      storagePolicy: values['storage-policy'] as string | undefined,
    });
    const log = createLogger(config.logLevel);
    // The handlers go in before the bridge starts: a signal while it starts (a supervisor that
    // gives up, a test that stops it at once) stops it as soon as it has started, cleanly,
    // instead of killing it half-open. A signal can come twice: Ctrl-C reaches every process
    // of the terminal's group, so under `npm start` the bridge gets SIGINT from the terminal
    // and again from npm, which forwards it; the handlers stay, so a repeat does not kill a
    // bridge that is draining.
    let bridge: Bridge | null = null;
    let signalled: string | null = null;
    let stopped: (() => void) | null = null;
    const done = new Promise<void>((resolve) => (stopped = resolve));
    const shutdown = (signal: string) => {
      if (signalled) {
        log.info('already shutting down', { signal });
        return;
      }
      signalled = signal;
      if (!bridge) return; // stopped once started, below
      log.info('shutting down', { signal });
      bridge.stop().then(stopped!, (err) => {
        log.error('shutdown failed', { error: (err as Error).message });
        process.exitCode = EXIT.FAILED;
        stopped!();
      });
    };
    process.on('SIGTERM', () => shutdown('SIGTERM'));
    process.on('SIGINT', () => shutdown('SIGINT'));
    process.on('SIGHUP', () => bridge?.reloadAccess());
    try {
      bridge = await Bridge.start(config, log);
    } catch (err) {
      throw new CommandError(`cannot start the bridge: ${(err as Error).message}`);
    }
    if (signalled) {
      const signal: string = signalled;
      signalled = null;
      shutdown(signal);
    }
    await done;
    return EXIT.OK;
  },
};
