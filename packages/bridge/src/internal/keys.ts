import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * A symmetric key: from an environment variable (base64) when set, else from a file, created
 * with mode 0600 on first start. Used for identity pseudonyms and for sealing the write-ahead log.
 */
export function loadOrCreateKey(opts: { file: string; bytes: number; envName: string; envValue?: string; exact?: boolean }): Buffer {
  const check = (key: Buffer, where: string): Buffer => {
    const ok = opts.exact ? key.length === opts.bytes : key.length >= opts.bytes;
    if (!ok) throw new Error(`${where} must hold ${opts.exact ? '' : 'at least '}${opts.bytes} bytes, base64-encoded`);
    return key;
  };
  if (opts.envValue) return check(Buffer.from(opts.envValue, 'base64'), opts.envName);
  if (existsSync(opts.file)) {
    let text: string;
    try {
      text = readFileSync(opts.file, 'utf8');
    } catch (err) {
      throw new Error(`cannot read key file ${opts.file}: ${(err as Error).message}`);
    }
    return check(Buffer.from(text.trim(), 'base64'), `key file ${opts.file}`);
  }
  mkdirSync(dirname(opts.file), { recursive: true, mode: 0o700 });
  const key = randomBytes(opts.bytes);
  // 'wx': never overwrite a key another process created meanwhile.
  try {
    writeFileSync(opts.file, key.toString('base64') + '\n', { mode: 0o600, flag: 'wx' });
  } catch {
    return check(Buffer.from(readFileSync(opts.file, 'utf8').trim(), 'base64'), `key file ${opts.file}`);
  }
  return key;
}
