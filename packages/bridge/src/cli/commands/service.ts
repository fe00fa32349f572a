import { packageVersion } from '../../internal/version.ts';
import { parseDuration } from '../../config.ts';
import { API_URL_OPTION, apiUrl, EXIT, UsageError, type Command } from '../shared.ts';


export const version: Command = {
  summary: 'print the version of otel-audit',
  usage: 'otel-audit version   (or otel-audit --version)',
  options: {},
  async run(_values, pos) {
    if (pos.length) throw new UsageError(`version takes no arguments (got "${pos[0]}")`);
    process.stdout.write(`${packageVersion()}\n`);
    return EXIT.OK;
  },
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export const ready: Command = {
  summary: 'exit 0 once the bridge at --api-url is ready (/readyz), 1 if it is not within --wait',
  usage: 'otel-audit ready [--wait DURATION] [--api-url URL]',
  options: { ...API_URL_OPTION, wait: { type: 'string' } },
  details: `Asks GET /readyz (no token needed) until it answers 200, for up to --wait (default 0s: ask once).
For service managers and container health checks: the systemd unit runs it as ExecStartPost.`,
  async run(values, pos) {
    if (pos.length) throw new UsageError(`ready takes no positional arguments (got "${pos[0]}")`);
    const waitMs = parseDuration(String(values.wait ?? '0s'), '--wait');
    const base = apiUrl(values);
    const deadline = Date.now() + waitMs;
    let last = '';
    for (;;) {
      try {
        const res = await fetch(`${base}/readyz`, { signal: AbortSignal.timeout(5_000) });
        const text = await res.text();
        if (res.ok) return EXIT.OK;
        last = `${res.status}: ${text.trim().slice(0, 500)}`;
      } catch (err) {
        last = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
      }
      if (Date.now() >= deadline) break;
      await sleep(Math.min(250, Math.max(0, deadline - Date.now())));
    }
    process.stderr.write(`otel-audit ready: the bridge at ${base} is not ready (${last})\n`);
    return EXIT.FAILED;
  },
};
