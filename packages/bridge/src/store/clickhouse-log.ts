import type { ErrorLogParams, Logger as ClientLogger, LogParams, WarnLogParams } from '@clickhouse/client';
import { createLogger, type Logger } from '../internal/logger.ts';

/**
 * The log of @clickhouse/client, as JSON lines of ours. The client makes its logger itself from
 * a class (`log: { LoggerClass }`), so the class writes to a module-level logger: the bridge's
 * (set by `routeClickHouseLog` at start) or, in CLI commands, a warn-level one on stderr. Its
 * own default writes multi-line plain text, which broke "one JSON object per line".
 */
let target: Logger = createLogger('warn');

export function routeClickHouseLog(log: Logger): void {
  target = log;
}

/** The client's `args`, without query text (a `sql` query may quote personal data). */
function fields(module: string, args: Record<string, unknown> | undefined, err?: Error): Record<string, unknown> {
  const out: Record<string, unknown> = { component: `@clickhouse/client ${module}` };
  for (const [k, v] of Object.entries(args ?? {})) if (k !== 'query') out[k] = v;
  if (err !== undefined) out.error = err.message;
  return out;
}

export class ClickHouseLog implements ClientLogger {
  trace({ module, message, args }: LogParams): void {
    target.debug(message, fields(module, args));
  }
  debug({ module, message, args }: LogParams): void {
    target.debug(message, fields(module, args));
  }
  info({ module, message, args }: LogParams): void {
    target.info(message, fields(module, args));
  }
  warn({ module, message, args, err }: WarnLogParams): void {
    target.warn(message, fields(module, args, err));
  }
  error({ module, message, args, err }: ErrorLogParams): void {
    target.error(message, fields(module, args, err));
  }
}
