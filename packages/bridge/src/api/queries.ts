/**
 * The API's query input: output formats, and filters as given checked into the store's typed
 * EventFilters. The SQL they become is the store's (store/event-queries.ts).
 */
import { EVENT_TYPES } from '../model.ts';
import { dateToClickHouse, parseTimeArg } from '../internal/time.ts';
import { QueryInputError, type EventFilters } from '../store/index.ts';

// One class for a refused input, thrown here or by the store (a cursor, a limit): answered 400.
export { QueryInputError } from '../store/index.ts';

/** Output formats of every listing endpoint and command (and the `sql` endpoint's ClickHouse formats). */
export const OUTPUT_FORMATS = { jsonl: 'JSONEachRow', csv: 'CSVWithNames', json: 'JSON' } as const;
export type OutputFormat = keyof typeof OUTPUT_FORMATS;

export interface SearchFilters {
  /** Only these tenants' rows (a reader's scope, or ?tenant=); undefined: every tenant. */
  tenants?: readonly string[];
  correlationId?: string;
  traceId?: string;
  actor?: string[];
  reviewer?: string[];
  /** Comma-separated event types. */
  type?: string;
  tool?: string;
  /** A target system, a target id, or "system/id". */
  target?: string;
  /** Comma-separated statuses. */
  status?: string;
  /** Comma-separated risk levels. */
  risk?: string;
  from?: string;
  to?: string;
  /** Free text (bounded: 1-200 characters). */
  q?: string;
}

const HEX32 = /^[0-9a-f]{32}$/;
const RISKS = ['low', 'medium', 'high'];
export const MAX_Q_LENGTH = 200;

const list = (v: string) =>
  v
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean);

/**
 * Filters as given (query parameters, CLI flags), checked and typed for the store's listings
 * (store/event-queries.ts writes them as SQL). Identities are matched both as given and as
 * their pseudonym, since the privacy floor may have stored either (the caller passes every
 * search form in `actor` / `reviewer`). Throws QueryInputError naming what is wrong.
 */
export function eventFilters(f: SearchFilters): EventFilters {
  const out: EventFilters = {};
  if (f.tenants !== undefined) out.tenants = f.tenants;
  if (f.correlationId !== undefined) out.correlationId = f.correlationId;
  if (f.traceId !== undefined) {
    const t = f.traceId.toLowerCase();
    if (!HEX32.test(t)) throw new QueryInputError(`invalid trace id "${f.traceId.slice(0, 64)}": expected 32 hex characters`);
    out.traceId = t;
  }
  if (f.actor?.length) out.actor = f.actor;
  if (f.reviewer?.length) out.reviewer = f.reviewer;
  if (f.type) {
    const types = list(f.type);
    for (const t of types) {
      if (!(EVENT_TYPES as readonly string[]).includes(t)) {
        throw new QueryInputError(`invalid event type "${t.slice(0, 64)}": expected one of ${EVENT_TYPES.join(', ')}`);
      }
    }
    out.types = types;
  }
  if (f.tool) out.tool = f.tool;
  if (f.target) out.target = f.target;
  if (f.status) out.statuses = list(f.status);
  if (f.risk) {
    const risks = list(f.risk);
    for (const r of risks) if (!RISKS.includes(r)) throw new QueryInputError(`invalid risk "${r.slice(0, 64)}": expected low, medium or high`);
    out.risks = risks;
  }
  for (const key of ['from', 'to'] as const) {
    const v = f[key];
    if (v === undefined) continue;
    let d: Date;
    try {
      d = parseTimeArg(v);
    } catch (err) {
      throw new QueryInputError(`--${key}: ${(err as Error).message}`);
    }
    out[key] = dateToClickHouse(d);
  }
  if (f.q !== undefined) {
    const q = f.q.trim();
    if (!q || q.length > MAX_Q_LENGTH) throw new QueryInputError(`invalid q: expected 1 to ${MAX_Q_LENGTH} characters of text`);
    out.q = q;
  }
  return out;
}

export function parseFormat(v: string | null | undefined, fallback: OutputFormat = 'jsonl'): OutputFormat {
  if (!v) return fallback;
  if (v in OUTPUT_FORMATS) return v as OutputFormat;
  throw new QueryInputError(`invalid format "${v}": expected one of ${Object.keys(OUTPUT_FORMATS).join(', ')}`);
}
