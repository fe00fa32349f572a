/** Small helpers shared by the three scripts: flags, URLs, errors and exit codes. */
import { parseArgs, type ParseArgsOptionsConfig } from 'node:util';

/** Bad input from the user: printed with the usage hint, exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

export function parseFlags<T extends ParseArgsOptionsConfig>(argv: string[], options: T) {
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals: false }).values;
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

/** An http(s) URL without its trailing slash, or a UsageError naming the flag. */
export function httpUrl(flag: string, value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new UsageError(`${flag}: not a URL: ${JSON.stringify(value)} (expected e.g. http://127.0.0.1:4318)`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`${flag}: expected an http:// or https:// URL, got ${JSON.stringify(value)}`);
  return url.href.replace(/\/+$/, '');
}

export function required(flag: string, value: string | undefined): string {
  if (value === undefined || value === '') throw new UsageError(`${flag} is required`);
  return value;
}

/** Progress and errors go to stderr, so that stdout stays machine-readable. */
export function info(script: string, message: string): void {
  process.stderr.write(`[${script}] ${message}\n`);
}

/**
 * Runs a script's main: exit 0 on success, 2 on a usage error, 1 on any other failure, with
 * one clear line on stderr.
 */
export async function runMain(script: string, usage: string, main: () => Promise<number | void>): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(usage);
    return;
  }
  try {
    process.exitCode = (await main()) ?? 0;
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`${script}: ${err.message}\n\n${usage}`);
      process.exitCode = 2;
    } else {
      // The root cause says most ("connect ECONNREFUSED ..." under "Connection error.").
      let root: unknown = err;
      while (root instanceof Error && root.cause instanceof Error) root = root.cause;
      const message = err instanceof Error ? err.message : String(err);
      const detail = root !== err && root instanceof Error && !message.includes(root.message) ? ` (${root.message})` : '';
      process.stderr.write(`${script}: error: ${message}${detail}\n`);
      process.exitCode = 1;
    }
  }
}
