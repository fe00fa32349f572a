import { resolveConfig } from '../../config.ts';
import { fullDdl } from '../../store/schema.ts';
import { Store } from '../../store/store.ts';
import { CommandError, EXIT, type Command } from '../shared.ts';

export const migrate: Command = {
  summary: 'apply the schema migrations (also run at start), or print the DDL',
  usage: 'otel-audit migrate [--data-dir DIR | --clickhouse-url URL] [--print [--cluster NAME]]',
  options: {
    'data-dir': { type: 'string' },
    'clickhouse-url': { type: 'string' },
    print: { type: 'boolean' },
    cluster: { type: 'string' },
  },
  details: `Without --print, connects to the store directly. The embedded store belongs to one process:
stop the bridge first, or let it migrate at start.`,
  async run(values) {
    const database = process.env.OTEL_AUDIT_DATABASE ?? 'otel_audit';
    if (values.print) {
      process.stdout.write(fullDdl({ database, cluster: values.cluster as string | undefined }));
      return EXIT.OK;
    }
    const config = resolveConfig({ dataDir: values['data-dir'] as string | undefined, clickhouseUrl: values['clickhouse-url'] as string | undefined });
    let store: Store;
    try {
      store = await Store.open({ url: config.clickhouseUrl, dataDir: config.dataDir, database, cluster: values.cluster as string | undefined });
    } catch (err) {
      throw new CommandError((err as Error).message);
    }
    try {
      const applied = await store.migrate();
      const version = await store.schemaVersion();
      process.stdout.write(applied.length ? `applied migrations ${applied.join(', ')}; schema is at version ${version}\n` : `schema is up to date (version ${version})\n`);
    } finally {
      await store.close();
    }
    return EXIT.OK;
  },
};
