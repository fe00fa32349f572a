import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Store } from '../store.ts';

export interface TempStore {
  dataDir: string;
  store: Store;
  /** Closes the store and deletes its data directory. */
  remove(): Promise<void>;
}

/**
 * A migrated embedded store (real chDB) in a new temporary data directory named after `prefix`,
 * for tests that need the engine.
 */
export async function openTempStore(prefix: string): Promise<TempStore> {
  const dataDir = mkdtempSync(join(tmpdir(), prefix));
  const remove = async () => {
    await store.close();
    rmSync(dataDir, { recursive: true, force: true });
  };
  const store = await Store.open({ dataDir, database: 'otel_audit' });
  try {
    await store.migrate();
  } catch (err) {
    await remove();
    throw err;
  }
  return { dataDir, store, remove };
}
