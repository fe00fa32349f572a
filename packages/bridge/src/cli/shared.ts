import type { ParseArgsConfig } from 'node:util';
import { eventSummary, renderTable } from './output.ts';

/** Exit codes: 0 success, 1 the work failed (unreachable bridge, query error), 2 bad usage. */
export const EXIT = { OK: 0, FAILED: 1, USAGE: 2 } as const;

// `otel-audit export | head`: the reader went away. Stop quietly, as Unix tools do, instead
// of dying on an unhandled EPIPE with a stack trace.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(EXIT.OK);
  throw err;
});

/** Bad input: exit code 2 with the usage line. */
export class UsageError extends Error {}
/** Input the bridge refused (a 4xx answer): exit code 2, with its message and no usage line. */
export class InputError extends Error {}
/** The work failed: exit code 1. */
export class CommandError extends Error {}

export type Options = NonNullable<ParseArgsConfig['options']>;

export interface Command {
  summary: string;
  usage: string;
  options: Options;
  details?: string;
  run(values: Record<string, unknown>, positionals: string[]): Promise<number>;
}

export const API_URL_OPTION: Options = {
  'api-url': { type: 'string' },
  token: { type: 'string' },
};

/**
 * The bearer token for the bridge (`--token`, else OTEL_AUDIT_TOKEN), set by apiUrl: a CLI
 * process runs one command against one bridge, so every call of it sends the same token.
 */
let apiToken: string | undefined;
export const FORMAT_OPTION: Options = { format: { type: 'string' } };

export const FILTER_OPTIONS: Options = {
  actor: { type: 'string', multiple: true },
  reviewer: { type: 'string', multiple: true },
  type: { type: 'string' },
  tool: { type: 'string' },
  from: { type: 'string' },
  to: { type: 'string' },
  'correlation-id': { type: 'string' },
  target: { type: 'string' },
  status: { type: 'string' },
  risk: { type: 'string' },
  text: { type: 'string' },
  tenant: { type: 'string', multiple: true },
  limit: { type: 'string' },
};

export const TIMELINE_COLUMNS = ['time', 'type', 'what', 'actor', 'status', 'trace_id', 'span_id'];

export function apiUrl(values: Record<string, unknown>): string {
  const token = ((values.token as string | undefined) ?? process.env.OTEL_AUDIT_TOKEN ?? '').trim();
  if (/\s/.test(token)) throw new UsageError('invalid --token: a token has no spaces');
  apiToken = token || undefined;
  const raw = (values['api-url'] as string | undefined) ?? process.env.OTEL_AUDIT_API_URL ?? 'http://127.0.0.1:4319';
  try {
    return new URL(raw).toString().replace(/\/$/, '');
  } catch {
    throw new UsageError(`invalid --api-url "${raw}": expected a URL such as http://127.0.0.1:4319`);
  }
}

export type CliFormat = 'table' | 'csv' | 'jsonl';
export function cliFormat(values: Record<string, unknown>): CliFormat {
  const f = (values.format as string | undefined) ?? (process.stdout.isTTY ? 'table' : 'jsonl');
  if (f !== 'table' && f !== 'csv' && f !== 'jsonl') throw new UsageError(`invalid --format "${f}": expected table, csv or jsonl`);
  return f;
}

const BUSY_WAIT_MS = 60_000;

/**
 * Content types the query API answers with; anything else (an OTLP receiver's protobuf, a
 * web page) comes from another server.
 */
const API_CONTENT_TYPES = /^(application\/json|application\/x-ndjson|application\/zip|text\/csv|text\/plain)\b/;

function notOurApi(base: string, what: string): CommandError {
  return new CommandError(
    `${base} is not an otel-audit query API (${what}). The query API listens on the bridge's --api address ` +
      `(default http://127.0.0.1:4319; 4318 and 4317 are its OTLP receivers): point --api-url or OTEL_AUDIT_API_URL there.`,
  );
}

export async function callApi(base: string, path: string, init?: RequestInit): Promise<Response> {
  let res: Response;
  const headers = new Headers(init?.headers);
  if (apiToken && !headers.has('authorization')) headers.set('authorization', `Bearer ${apiToken}`);
  // A busy bridge (429: its few sql slots are taken) says when to come back: wait, up to a minute.
  const deadline = Date.now() + BUSY_WAIT_MS;
  for (;;) {
    try {
      res = await fetch(base + path, { ...init, headers });
    } catch (err) {
      const c = (err as { cause?: { code?: string; name?: string } }).cause;
      const cause = c?.code ?? (err as Error).message;
      // Something listens but does not answer HTTP/1.1 (undici's parser error, llhttp's codes):
      // an HTTP/2-only server such as the OTLP/gRPC receiver.
      if (c?.name === 'HTTPParserError' || /^HPE_/.test(cause)) throw notOurApi(base, 'it does not answer HTTP/1.1: an OTLP/gRPC receiver?');
      throw new CommandError(
        `cannot reach the bridge at ${base} (${cause}). Start it with "npm start" (or "otel-audit serve"), or point --api-url / OTEL_AUDIT_API_URL at a running one.`,
      );
    }
    const wait = Number(res.headers.get('retry-after') ?? NaN) * 1000;
    if (res.status !== 429 || !(wait >= 0) || Date.now() + wait > deadline) break;
    await res.arrayBuffer();
    await new Promise((r) => setTimeout(r, wait + Math.random() * 250));
  }
  const contentType = res.headers.get('content-type') ?? '';
  if (contentType && !API_CONTENT_TYPES.test(contentType)) {
    await res.body?.cancel();
    throw notOurApi(base, `it answered ${res.status} with ${contentType.split(';')[0]}${/protobuf|grpc/.test(contentType) ? ': an OTLP receiver?' : ''}`);
  }
  if (!res.ok) {
    const text = await res.text();
    let msg: string | undefined;
    try {
      const error = (JSON.parse(text) as { error?: unknown }).error;
      if (typeof error === 'string') msg = error;
    } catch {
      /* not JSON */
    }
    // Every error of the query API is {"error": "..."}: anything else comes from another server.
    if (msg === undefined) throw notOurApi(base, `it answered ${res.status} without an otel-audit error`);
    if (res.status === 401) {
      throw new CommandError(`${msg}${apiToken ? '' : ' (this bridge requires a token: pass --token or set OTEL_AUDIT_TOKEN)'}`);
    }
    if (res.status === 403 || res.status === 429) throw new CommandError(msg);
    if (res.status >= 400 && res.status < 500) throw new InputError(msg);
    throw new CommandError(`the bridge answered ${res.status}: ${msg}`);
  }
  return res;
}

/** Copies a streamed response to stdout, honouring backpressure. */
export async function pipeToStdout(res: Response): Promise<void> {
  const reader = res.body!.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (!process.stdout.write(value)) await new Promise((r) => process.stdout.once('drain', r));
  }
}

export async function readJsonLines(res: Response): Promise<Array<Record<string, unknown>>> {
  const text = await res.text();
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

export function filterQuery(values: Record<string, unknown>, format: string): string {
  const q = new URLSearchParams();
  for (const a of (values.actor as string[] | undefined) ?? []) q.append('actor', a);
  for (const r of (values.reviewer as string[] | undefined) ?? []) q.append('reviewer', r);
  if (values.limit !== undefined && !/^\d+$/.test(String(values.limit))) {
    throw new UsageError(`invalid --limit "${values.limit}": expected a whole number from 1 to 10000000`);
  }
  for (const t of (values.tenant as string[] | undefined) ?? []) q.append('tenant', t);
  for (const k of ['type', 'tool', 'target', 'status', 'risk', 'from', 'to', 'limit'] as const) if (values[k]) q.set(k, String(values[k]));
  if (values.text) q.set('q', String(values.text));
  if (values['correlation-id']) q.set('correlation_id', String(values['correlation-id']));
  q.set('format', format);
  return q.toString();
}

export async function listEvents(values: Record<string, unknown>, path: string, emptyHint: string): Promise<number> {
  const format = cliFormat(values);
  const base = apiUrl(values);
  const res = await callApi(base, `${path}?${filterQuery(values, format === 'table' ? 'jsonl' : format)}`);
  if (format !== 'table') {
    await pipeToStdout(res);
    return EXIT.OK;
  }
  const rows = await readJsonLines(res);
  if (rows.length === 0) {
    process.stdout.write(`${emptyHint}\n`);
    return EXIT.OK;
  }
  const view = rows.map((e) => ({
    time: String(e.event_time).replace(/(\.\d{3})\d*$/, '$1'),
    type: e.event_type,
    what: [e.name, eventSummary(e)].filter(Boolean).join(' · '),
    actor: [e.actor_id, e.on_behalf_of ? `for ${e.on_behalf_of}` : ''].filter(Boolean).join(' '),
    status: e.status,
    correlation_id: e.correlation_id,
    trace_id: e.trace_id,
    span_id: e.span_id,
  }));
  const cols = path.startsWith('/api/v1/timeline') ? TIMELINE_COLUMNS : ['correlation_id', ...TIMELINE_COLUMNS];
  process.stdout.write(renderTable(view, cols));
  return EXIT.OK;
}

export async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  try {
    for await (const c of stream as AsyncIterable<Buffer>) chunks.push(Buffer.from(c));
  } catch (err) {
    throw new UsageError(`cannot read the query: ${(err as Error).message}`);
  }
  return Buffer.concat(chunks).toString('utf8');
}

