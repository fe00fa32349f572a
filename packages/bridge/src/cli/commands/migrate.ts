import { resolveConfig, resolveTiering } from '../../config.ts';
import { createLogger } from '../../internal/logger.ts';
import { applyHotDays, checkStoragePolicy } from '../../policy/retention.ts';
import { fullDdl } from '../../store/schema.ts';
import { Store } from '../../store/store.ts';
import { CommandError, EXIT, type Command } from '../shared.ts';

export const migrate: Command = {
  summary: 'apply the schema migrations (also run at start), or print the DDL',
  usage: 'otel-audit migrate [--data-dir DIR | --clickhouse-url URL] [--print [--cluster NAME]] [--hot-days N [--storage-policy NAME]]',
  options: {
    'data-dir': { type: 'string' },
    'clickhouse-url': { type: 'string' },
    print: { type: 'boolean' },
    cluster: { type: 'string' },
    'hot-days': { type: 'string' },
    'storage-policy': { type: 'string' },
  },
  details: `Without --print, connects to the store directly. The embedded store belongs to one process:
stop the bridge first, or let it migrate at start.

--hot-days N              a ClickHouse server only: events parts move to the storage policy's "cold" volume
                          (S3) N days after arrival, the retention by risk unchanged (OTEL_AUDIT_HOT_DAYS;
                          off by default; the server needs deploy/clickhouse/storage-s3.xml, docs/operations.md)
--storage-policy NAME     the policy events is on with --hot-days (OTEL_AUDIT_STORAGE_POLICY, default
                          otel_audit_tiered; otel_audit_tiered_upgrade for a table created without it)`,
  async run(values) {
    const database = process.env.OTEL_AUDIT_DATABASE ?? 'otel_audit';
    const tieringOptions = { hotDays: values['hot-days'] as string | undefined, storagePolicy: values['storage-policy'] as string | undefined };
    if (values.print) {
      const tiering = resolveTiering(tieringOptions);
      process.stdout.write(fullDdl({ database, cluster: values.cluster as string | undefined, ...tiering }));
      return EXIT.OK;
    }
    const config = resolveConfig({ dataDir: values['data-dir'] as string | undefined, clickhouseUrl: values['clickhouse-url'] as string | undefined, ...tieringOptions });
    let store: Store;
    try {
      store = await Store.open({ url: config.clickhouseUrl, dataDir: config.dataDir, database, cluster: values.cluster as string | undefined, ...config.tiering });
    } catch (err) {
      throw new CommandError((err as Error).message);
    }
    try {
      if (config.tiering) await checkStoragePolicy(store);
      const applied = await store.migrate();
      // An existing table: onto the policy, and the move into its TTL (its retention kept).
      if (config.tiering) await applyHotDays(store, createLogger('warn'));
      const version = await store.schemaVersion();
      process.stdout.write(applied.length ? `applied migrations ${applied.join(', ')}; schema is at version ${version}\n` : `schema is up to date (version ${version})\n`);
    } catch (err) {
      throw new CommandError((err as Error).message);
    } finally {
      await store.close();
    }
    return EXIT.OK;
  },
};
