import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { ApiServer } from './api/server.ts';
import type { BridgeConfig } from './config.ts';
import { createLogger, type Logger } from './internal/logger.ts';
import { Metrics } from './internal/metrics.ts';
import { AuditPipeline } from './pipeline/pipeline.ts';
import { loadPseudonymKey, PrivacyFilter } from './pipeline/privacy.ts';
import { OtlpHttpReceiver } from './receive/http/otlp-http.ts';
import { redactUrl, Store } from './store/store.ts';

/** The running service: receivers → pipeline → store, plus the query API. */
export class Bridge {
  readonly config: BridgeConfig;
  readonly store: Store;
  readonly pipeline: AuditPipeline;
  readonly metrics: Metrics;
  readonly log: Logger;
  private readonly receiver: OtlpHttpReceiver;
  private readonly api: ApiServer;
  otlpHttpAddress: AddressInfo | null = null;
  apiAddress: AddressInfo | null = null;
  private stopping: Promise<void> | null = null;

  private constructor(config: BridgeConfig, store: Store, pipeline: AuditPipeline, privacy: PrivacyFilter, metrics: Metrics, log: Logger) {
    this.config = config;
    this.store = store;
    this.pipeline = pipeline;
    this.metrics = metrics;
    this.log = log;
    this.receiver = new OtlpHttpReceiver(config.otlpHttp, pipeline, log, metrics);
    this.api = new ApiServer(config.api, store, privacy, metrics, {
      ready: () => pipeline.healthy,
      flush: () => pipeline.flush(),
      info: () => ({
        store: store.mode,
        database: store.database,
        chain: pipeline.chainHead,
        chain_id: config.pipeline.chainId,
        pending_events: pipeline.correlator.pending,
      }),
    }, log);
  }

  static async start(config: BridgeConfig, log: Logger = createLogger(config.logLevel)): Promise<Bridge> {
    const store = await Store.open({ url: config.clickhouseUrl, dataDir: config.dataDir, database: config.database });
    let pipeline: AuditPipeline | null = null;
    try {
      const applied = await store.migrate();
      if (applied.length) log.info('applied schema migrations', { versions: applied });
      const privacy = new PrivacyFilter(loadPseudonymKey(join(config.dataDir, 'keys', 'pseudonym.key'), config.pseudonymKey));
      const metrics = new Metrics();
      pipeline = await AuditPipeline.start(store, privacy, config.pipeline, log, metrics);
      const bridge = new Bridge(config, store, pipeline, privacy, metrics, log);
      bridge.otlpHttpAddress = await bridge.receiver.start();
      bridge.apiAddress = await bridge.api.start();
      log.info('otel-audit bridge started', {
        otlp_http: `http://${bridge.otlpHttpAddress.address}:${bridge.otlpHttpAddress.port}`,
        api: `http://${bridge.apiAddress.address}:${bridge.apiAddress.port}`,
        store: store.mode === 'embedded' ? join(config.dataDir, 'clickhouse') : redactUrl(config.clickhouseUrl ?? ''),
        chain_id: config.pipeline.chainId,
      });
      return bridge;
    } catch (err) {
      await pipeline?.close().catch(() => {});
      await store.close().catch(() => {});
      throw err;
    }
  }

  /** Stops accepting, writes out everything pending, and closes the store. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      await this.receiver.stop();
      await this.pipeline.close();
      await this.api.stop();
      await this.store.close();
      this.log.info('otel-audit bridge stopped');
    })();
    return this.stopping;
  }
}
