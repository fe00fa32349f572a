import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { ApiServer } from './api/server.ts';
import { registerApiRoutes } from './api/routes/index.ts';
import { accessRequest } from './api/access-log.ts';
import { Access } from './auth/index.ts';
import { riskChainIds } from './chain/chain-writer.ts';
import { Checkpointer, type StoredHook } from './chain/checkpointer.ts';
import type { BridgeConfig } from './config.ts';
import { Forwarder } from './forward/index.ts';
import { AlertWebhooks, DEFAULT_DETECT_CONFIG, Detector } from './detect/index.ts';
import { secureDataDir } from './internal/data-dir.ts';
import { routeClickHouseLog } from './store/clickhouse-log.ts';
import { loadOrCreateKey } from './internal/keys.ts';
import { createLogger, type Logger } from './internal/logger.ts';
import { Metrics } from './internal/metrics.ts';
import { AuditPipeline } from './pipeline/index.ts';
import type { PrivacyFilter } from './policy/privacy.ts';
import { openPrivacy } from './policy/index.ts';
import { checkStoragePolicy } from './policy/retention.ts';
import { OtlpHttpReceiver } from './receive/http/otlp-http.ts';
import { OtlpGrpcReceiver } from './receive/grpc/otlp-grpc.ts';
import { redactUrl, Store } from './store/store.ts';

/** The running service: receivers → pipeline → store, plus the query API. */
export class Bridge {
  readonly config: BridgeConfig;
  readonly store: Store;
  readonly pipeline: AuditPipeline;
  readonly metrics: Metrics;
  readonly log: Logger;
  /** One checkpointer per chain (the instance's three risk chains), by chain id. */
  readonly checkpointers: Map<string, Checkpointer>;
  /** The forward hop (`--forward`, forward/README.md), or null. */
  forwarder: Forwarder | null = null;
  /** Detections over the stored trail (detect/), evaluated on a timer and on request. */
  readonly detector: Detector;
  private readonly webhooks: AlertWebhooks;
  private readonly receiver: OtlpHttpReceiver;
  private readonly grpcReceiver: OtlpGrpcReceiver | null;
  private readonly api: ApiServer;
  /** The auth file's tokens (reloaded on SIGHUP), or none: the local user, on loopback only. */
  readonly access: Access;
  otlpHttpAddress: AddressInfo | null = null;
  otlpGrpcAddress: { address: string; port: number } | null = null;
  apiAddress: AddressInfo | null = null;
  private stopping: Promise<void> | null = null;

  private constructor(
    config: BridgeConfig,
    store: Store,
    pipeline: AuditPipeline,
    privacy: PrivacyFilter,
    metrics: Metrics,
    log: Logger,
    checkpointers: Map<string, Checkpointer>,
    access: Access,
  ) {
    this.config = config;
    this.access = access;
    this.checkpointers = checkpointers;
    this.store = store;
    this.pipeline = pipeline;
    this.metrics = metrics;
    this.log = log;
    this.detector = new Detector(store, config.detect ?? DEFAULT_DETECT_CONFIG, log, metrics, (tenant, risk) => privacy.policy.contentMode(tenant, risk));
    // Without --alert-webhook it sends nothing, and its counters still show 0 in /metrics.
    const webhooks = new AlertWebhooks(config.detect?.webhooks ?? { urls: [], secret: '' }, log, metrics);
    this.webhooks = webhooks;
    if (config.detect?.webhooks) this.detector.onAlerts((alerts) => webhooks.send(alerts));
    this.receiver = new OtlpHttpReceiver(config.otlpHttp, pipeline, log, metrics, access);
    this.grpcReceiver = config.otlpGrpc ? new OtlpGrpcReceiver(config.otlpGrpc, pipeline, log, metrics, access) : null;
    const recordAccess = async (r: Parameters<typeof accessRequest>[0]) => {
      const { rejected } = await pipeline.ingest(accessRequest(r));
      if (rejected.length) throw new Error(`the access event was rejected: ${rejected[0].reason}`);
    };
    this.api = new ApiServer(config.api, store, privacy, metrics, {
      recordAccess,
      ready: () => pipeline.healthy,
      flush: () => pipeline.flush(),
      info: () => ({
        store: store.mode,
        database: store.database,
        chain: pipeline.chainHead,
        chain_id: config.pipeline.chainId,
        pending_events: pipeline.correlator.pending,
        checkpoints: Object.fromEntries([...checkpointers].map(([id, cp]) => [id, cp.status()])),
      }),
    }, log, access);
    registerApiRoutes(this.api.context, { chainId: config.pipeline.chainId, checkpointers, detector: this.detector });
  }

  static async start(config: BridgeConfig, log: Logger = createLogger(config.logLevel)): Promise<Bridge> {
    routeClickHouseLog(log);
    const access = Access.open(config.authFile);
    // Keys, write-ahead log, store and local anchor: owner only (internal/data-dir.ts).
    const narrowed = secureDataDir(config.dataDir);
    if (narrowed.length) log.warn('data directory entries were readable by others; now owner only', { paths: narrowed });
    const store = await Store.open({ url: config.clickhouseUrl, readerUrl: config.clickhouseReaderUrl, dataDir: config.dataDir, database: config.database, ...config.tiering });
    let pipeline: AuditPipeline | null = null;
    let forwarder: Forwarder | null = null;
    try {
      // --hot-days: the storage policy is on the server before a migration creates events on it.
      if (config.tiering) await checkStoragePolicy(store);
      const applied = await store.migrate();
      if (applied.length) log.info('applied schema migrations', { versions: applied });
      // Privacy (policy/): the policy file, per-tenant keys, subject keys for sealed content, retention TTL.
      const privacy = await openPrivacy({ dataDir: config.dataDir, pseudonymKey: config.pseudonymKey, policy: config.privacy?.policy }, store, log);
      const metrics = new Metrics();
      // The embedded engine's memory is the bridge's: /metrics shows it beside the V8 heaps.
      if (store.mode === 'embedded') {
        metrics.asyncGauge('otel_audit_embedded_clickhouse_memory_bytes', 'Memory the embedded ClickHouse engine holds by its own count (MemoryTracking), in bytes (read at the scrape before)', () => store.engineMemory());
      }
      const walKey = loadOrCreateKey({ file: join(config.dataDir, 'keys', 'wal.key'), bytes: 32, exact: true, envName: 'OTEL_AUDIT_WAL_KEY', envValue: config.walKey });
      // Forward copies (forward/): their own queue in the data directory, handed to the write path.
      forwarder = config.forward ? await Forwarder.start(config.forward, join(config.dataDir, 'forward'), log, metrics) : null;
      pipeline = await AuditPipeline.start(store, privacy, { ...config.pipeline, walKey, decode: config.otlpHttp.decode }, log, metrics, forwarder ?? undefined);
      // Tamper evidence: signed checkpoints over what ClickHouse confirmed (chain/README.md).
      // One checkpointer per risk chain; the pipeline's stored hook is dispatched by chain id.
      const hooks = new Map<string, StoredHook>();
      pipeline.stored = (chainId, first, last, hashes) => hooks.get(chainId)?.(first, last, hashes);
      const checkpointers = new Map<string, Checkpointer>();
      try {
        for (const chainId of riskChainIds(config.pipeline.chainId)) {
          const cp = await Checkpointer.start(store, { ...config.checkpoint, chainId, dataDir: config.dataDir }, log, (hook) => hooks.set(chainId, hook), pipeline.merkleWorker);
          checkpointers.set(chainId, cp);
        }
      } catch (err) {
        for (const cp of checkpointers.values()) await cp.close().catch(() => {});
        throw err;
      }
      // The instance's chain from before per-risk chains has no checkpointer: its records still
      // go to anchors added since (chain/anchors/set.ts, heal).
      const first = [...checkpointers.values()][0];
      await first.anchors.heal(config.pipeline.chainId, first.key.publicKey).catch((err) => log.error('legacy chain anchors not healed', { error: (err as Error).message }));
      const bridge = new Bridge(config, store, pipeline, privacy, metrics, log, checkpointers, access);
      bridge.forwarder = forwarder;
      try {
        bridge.otlpHttpAddress = await bridge.receiver.start();
        bridge.otlpGrpcAddress = (await bridge.grpcReceiver?.start()) ?? null;
        bridge.apiAddress = await bridge.api.start();
        bridge.detector.start();
      } catch (err) {
        await bridge.receiver.stop();
        await bridge.grpcReceiver?.stop();
        for (const cp of checkpointers.values()) await cp.close().catch(() => {});
        throw err;
      }
      const grpcAddr = bridge.otlpGrpcAddress;
      log.info('otel-audit bridge started', {
        otlp_http: `http://${bridge.otlpHttpAddress.address}:${bridge.otlpHttpAddress.port}`,
        otlp_grpc: grpcAddr ? `${grpcAddr.address.includes(':') ? `[${grpcAddr.address}]` : grpcAddr.address}:${grpcAddr.port}` : 'off',
        api: `http://${bridge.apiAddress.address}:${bridge.apiAddress.port}`,
        store: store.mode === 'embedded' ? join(config.dataDir, 'clickhouse') : redactUrl(config.clickhouseUrl ?? ''),
        chain_id: config.pipeline.chainId,
        ...(forwarder ? { forward: forwarder.target } : {}),
        access: access.enabled ? `auth file ${access.file} (${access.tokenCount} tokens)` : config.api.oidc ? 'no auth file: OTLP on loopback only, for the local user' : 'no auth file: loopback only, local user may do everything',
        ...(config.api.oidc ? { oidc: config.api.oidc.issuer } : {}),
      });
      return bridge;
    } catch (err) {
      await pipeline?.close().catch(() => {});
      await forwarder?.close().catch(() => {});
      await store.close().catch(() => {});
      throw err;
    }
  }

  /** SIGHUP: re-reads the auth file; a file that no longer validates leaves the tokens in force. */
  reloadAccess(): void {
    if (!this.access.enabled) return;
    try {
      const n = this.access.reload();
      this.log.info('auth file reloaded', { file: this.access.file, tokens: n });
    } catch (err) {
      this.log.error('auth file not reloaded; the tokens in force stay', { error: (err as Error).message });
    }
  }

  /** Stops accepting, writes out everything pending, and closes the store. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      await Promise.all([this.receiver.stop(), this.grpcReceiver?.stop()]);
      await this.detector.close();
      this.webhooks.close();
      await this.pipeline.close();
      await this.forwarder?.close();
      for (const cp of this.checkpointers.values()) await cp.close();
      await this.api.stop();
      await this.store.close();
      this.log.info('otel-audit bridge stopped');
    })();
    return this.stopping;
  }
}
