import { readFileSync } from 'node:fs';

let version: string | null = null;

/** The bridge package's version, from its package.json (beside src/ in a checkout, dist/ when installed). */
export function packageVersion(): string {
  version ??= (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  return version;
}
