import { chmodSync, lstatSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ensureWritableDir } from './make-dir.ts';

/** Mode of the data directory and everything the bridge creates in it: owner only. */
export const DIR_MODE = 0o700;
export const FILE_MODE = 0o600;

/**
 * The data directory holds the keys, the write-ahead log (requests as they arrived, sealed), the
 * embedded store and the local anchor: nobody but the bridge's user has any business in it.
 * Creates it 0700, and brings an existing one and its direct entries (clickhouse/, wal/,
 * anchors/, keys/, staging/, clickhouse.xml, ... from older versions, which made them 0755 and
 * 0644) to 0700 / 0600; deeper files are then out of reach behind their 0700 directory.
 * Symbolic links are left alone (an anchor directory mounted from elsewhere is the operator's).
 * Returns the paths whose mode was narrowed.
 */
export function secureDataDir(dataDir: string): string[] {
  ensureWritableDir(dataDir, 'the data directory (--data-dir)', DIR_MODE);
  const changed: string[] = [];
  const narrow = (path: string) => {
    const st = lstatSync(path);
    if (st.isSymbolicLink()) return;
    const want = st.isDirectory() ? DIR_MODE : FILE_MODE;
    if ((st.mode & 0o777 & ~want) !== 0) {
      chmodSync(path, st.mode & want);
      changed.push(path);
    }
  };
  narrow(dataDir);
  for (const name of readdirSync(dataDir)) narrow(join(dataDir, name));
  return changed;
}
