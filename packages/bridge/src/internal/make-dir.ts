import { accessSync, constants, mkdirSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

/**
 * Creates `dir` (and its missing parents, with `mode`) and checks that this process can write
 * in it, with an error that names the directory and the cause. Unlike `mkdirSync(dir,
 * { recursive: true })` it cannot spin: under /proc (and other special file systems) recursive
 * mkdir gets ENOENT for a parent that exists and, in libuv, retries forever at 100 % CPU.
 */
export function ensureWritableDir(dir: string, what: string, mode = 0o700): void {
  const path = resolve(dir);
  const missing: string[] = [];
  let at = path;
  for (;;) {
    try {
      const st = statSync(at);
      if (!st.isDirectory()) throw new Error(`cannot use ${path} as ${what}: ${at} is not a directory`);
      break;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOTDIR') throw new Error(`cannot use ${path} as ${what}: a part of that path is a file, not a directory`);
      if (code !== 'ENOENT') {
        if (code === undefined) throw err;
        throw new Error(`cannot use ${path} as ${what}: ${at}: ${(err as Error).message}`);
      }
      missing.push(at);
      const parent = dirname(at);
      if (parent === at) break;
      at = parent;
    }
  }
  for (const d of missing.reverse()) {
    try {
      mkdirSync(d, { mode });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') continue;
      const why =
        code === 'EACCES' || code === 'EPERM'
          ? `this user (uid ${process.getuid?.()}) may not create it`
          : code === 'EROFS'
            ? 'the file system is read-only'
            : code === 'ENOENT'
              ? `${dirname(d)} exists but takes no new directories: a special file system such as /proc or /sys`
              : (err as Error).message;
      throw new Error(`cannot create ${what} ${d}: ${why}`);
    }
  }
  try {
    accessSync(path, constants.W_OK | constants.X_OK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'EROFS' ? 'the file system is read-only' : `this user (uid ${process.getuid?.()}) may not write in it (${code})`;
    throw new Error(`cannot use ${path} as ${what}: ${why}`);
  }
}
