import { parseArgs, type ParseArgsConfig } from 'node:util';
import { createReadStream } from 'node:fs';
import { ConfigError, resolveConfig } from '../config.ts';
import { Bridge } from '../bridge.ts';
import { createLogger } from '../internal/logger.ts';
import { fullDdl } from '../store/schema.ts';
import { Store } from '../store/store.ts';
import { eventSummary, renderTable } from './output.ts';

/** Exit codes: 0 success, 1 the work failed (unreachable bridge, query error), 2 bad usage. */
export const EXIT = { OK: 0, FAILED: 1, USAGE: 2 } as const;

class UsageError extends Error {}
class CommandError extends Error {}

type Options = NonNullable<ParseArgsConfig['options']>;

interface Command {
  summary: string;
  usage: string;
  options: Options;
  details?: string;
  run(values: Record<string, unknown>, positionals: string[]): Promise<number>;
}

const API_URL_OPTION: Options = {
  'api-url': { type: 'string' },
};
const FORMAT_OPTION: Options = { format: { type: 'string' } };

const FILTER_OPTIONS: Options = {
  actor: { type: 'string', multiple: true },
  reviewer: { type: 'string', multiple: true },
  type: { type: 'string' },
  tool: { type: 'string' },
  from: { type: 'string' },
  to: { type: 'string' },
  'correlation-id': { type: 'string' },
  limit: { type: 'string' },
};

const TIMELINE_COLUMNS = ['time', 'type', 'what', 'actor', 'status', 'trace_id', 'span_id'];

function apiUrl(values: Record<string, unknown>): string {
  const raw = (values['api-url'] as string | undefined) ?? process.env.OTEL_AUDIT_API_URL ?? 'http://127.0.0.1:4319';
  try {
    return new URL(raw).toString().replace(/\/$/, '');
  } catch {
    throw new UsageError(`invalid --api-url "${raw}": expected a URL such as http://127.0.0.1:4319`);
  }
}

type CliFormat = 'table' | 'csv' | 'jsonl';
function cliFormat(values: Record<string, unknown>): CliFormat {
  const f = (values.format as string | undefined) ?? (process.stdout.isTTY ? 'table' : 'jsonl');
  if (f !== 'table' && f !== 'csv' && f !== 'jsonl') throw new UsageError(`invalid --format "${f}": expected table, csv or jsonl`);
  return f;
}

async function callApi(base: string, path: string, init?: RequestInit): Promise<Response> {
  let res: Response;
  try {
    res = await fetch(base + path, init);
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
    throw new CommandError(
      `cannot reach the bridge at ${base} (${cause}). Start it with "npm start" (or "otel-audit serve"), or point --api-url / OTEL_AUDIT_API_URL at a running one.`,
    );
  }
  if (!res.ok) {
    const text = await res.text();
    let msg = text;
    try {
      msg = (JSON.parse(text) as { error?: string }).error ?? text;
    } catch {
      /* plain text */
    }
    if (res.status >= 400 && res.status < 500) throw new UsageError(msg);
    throw new CommandError(`the bridge answered ${res.status}: ${msg}`);
  }
  return res;
}

/** Copies a streamed response to stdout, honouring backpressure. */
async function pipeToStdout(res: Response): Promise<void> {
  const reader = res.body!.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (!process.stdout.write(value)) await new Promise((r) => process.stdout.once('drain', r));
  }
}

async function readJsonLines(res: Response): Promise<Array<Record<string, unknown>>> {
  const text = await res.text();
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

function filterQuery(values: Record<string, unknown>, format: string): string {
  const q = new URLSearchParams();
  for (const a of (values.actor as string[] | undefined) ?? []) q.append('actor', a);
  for (const r of (values.reviewer as string[] | undefined) ?? []) q.append('reviewer', r);
  for (const k of ['type', 'tool', 'from', 'to', 'limit'] as const) if (values[k]) q.set(k, String(values[k]));
  if (values['correlation-id']) q.set('correlation_id', String(values['correlation-id']));
  q.set('format', format);
  return q.toString();
}

async function listEvents(values: Record<string, unknown>, path: string, emptyHint: string): Promise<number> {
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

const COMMANDS: Record<string, Command> = {
  serve: {
    summary: 'run the bridge: OTLP receiver, pipeline, store and query API',
    usage: 'otel-audit serve [--otlp-http HOST:PORT] [--api HOST:PORT] [--data-dir DIR] [--clickhouse-url URL]',
    options: {
      'otlp-http': { type: 'string' },
      'otlp-grpc': { type: 'string' },
      api: { type: 'string' },
      'data-dir': { type: 'string' },
      'clickhouse-url': { type: 'string' },
      'decision-wait': { type: 'string' },
      'content-wait': { type: 'string' },
      'max-body': { type: 'string' },
      'chain-id': { type: 'string' },
      'default-risk': { type: 'string' },
      'log-level': { type: 'string' },
    },
    details: `Options (each also an environment variable):
  --otlp-http HOST:PORT     OTLP/HTTP receiver (OTEL_AUDIT_OTLP_HTTP, default 127.0.0.1:4318)
  --otlp-grpc HOST:PORT     OTLP/gRPC receiver (not implemented yet: see README)
  --api HOST:PORT           query API (OTEL_AUDIT_API, default 127.0.0.1:4319)
  --data-dir DIR            embedded store, write-ahead log and keys (OTEL_AUDIT_DATA_DIR, default ./.otel-audit)
  --clickhouse-url URL      a ClickHouse server instead of the embedded store (OTEL_AUDIT_CLICKHOUSE_URL)
  --decision-wait DURATION  how long a span waits for its ancestors (OTEL_AUDIT_DECISION_WAIT, default 10s)
  --content-wait DURATION   how long a model call waits for its content log records (OTEL_AUDIT_CONTENT_WAIT, default 2s)
  --max-body SIZE           largest request body after decompression (OTEL_AUDIT_MAX_BODY, default 64MiB)
  --chain-id ID             this instance's hash chain; one per instance (OTEL_AUDIT_CHAIN_ID, default main)
  --default-risk LEVEL      risk of events that state none (OTEL_AUDIT_DEFAULT_RISK, default medium)
  --log-level LEVEL         debug, info, warn, error (OTEL_AUDIT_LOG_LEVEL, default info)`,
    async run(values) {
      if (values['otlp-grpc']) throw new UsageError('--otlp-grpc: the OTLP/gRPC receiver is not implemented yet; use OTLP/HTTP (--otlp-http)');
      const config = resolveConfig({
        otlpHttp: values['otlp-http'] as string | undefined,
        api: values.api as string | undefined,
        dataDir: values['data-dir'] as string | undefined,
        clickhouseUrl: values['clickhouse-url'] as string | undefined,
        decisionWait: values['decision-wait'] as string | undefined,
        contentWait: values['content-wait'] as string | undefined,
        maxBody: values['max-body'] as string | undefined,
        chainId: values['chain-id'] as string | undefined,
        defaultRisk: values['default-risk'] as string | undefined,
        logLevel: values['log-level'] as string | undefined,
      });
      const log = createLogger(config.logLevel);
      let bridge: Bridge;
      try {
        bridge = await Bridge.start(config, log);
      } catch (err) {
        throw new CommandError(`cannot start the bridge: ${(err as Error).message}`);
      }
      await new Promise<void>((resolve) => {
        const shutdown = (signal: string) => {
          log.info('shutting down', { signal });
          bridge.stop().then(resolve, (err) => {
            log.error('shutdown failed', { error: (err as Error).message });
            process.exitCode = EXIT.FAILED;
            resolve();
          });
        };
        process.once('SIGTERM', () => shutdown('SIGTERM'));
        process.once('SIGINT', () => shutdown('SIGINT'));
      });
      return EXIT.OK;
    },
  },
  timeline: {
    summary: 'every event of one correlation id (case, ticket, task), in order, across traces',
    usage: 'otel-audit timeline <correlation-id> [--format table|csv|jsonl] [--api-url URL]',
    options: { ...API_URL_OPTION, ...FORMAT_OPTION },
    async run(values, pos) {
      if (pos.length !== 1) throw new UsageError('timeline takes exactly one correlation id');
      return listEvents(values, `/api/v1/timeline/${encodeURIComponent(pos[0])}`, `no events for correlation id "${pos[0]}"`);
    },
  },
  trace: {
    summary: 'every audit event of one trace',
    usage: 'otel-audit trace <trace-id> [--format table|csv|jsonl] [--api-url URL]',
    options: { ...API_URL_OPTION, ...FORMAT_OPTION },
    async run(values, pos) {
      if (pos.length !== 1) throw new UsageError('trace takes exactly one trace id');
      if (!/^[0-9a-fA-F]{32}$/.test(pos[0])) throw new UsageError(`invalid trace id "${pos[0]}": expected 32 hex characters`);
      return listEvents(values, `/api/v1/traces/${pos[0].toLowerCase()}`, `no audit events in trace ${pos[0]}`);
    },
  },
  search: {
    summary: 'find events by actor, reviewer, event type, tool and time range',
    usage:
      'otel-audit search [--actor ID]... [--reviewer ID]... [--type TYPE[,TYPE]] [--tool NAME] [--from TIME] [--to TIME] [--correlation-id ID] [--limit N] [--format table|csv|jsonl]',
    options: { ...API_URL_OPTION, ...FORMAT_OPTION, ...FILTER_OPTIONS },
    details: `TIME is ISO 8601 (2026-11-22T08:00:00Z), "2026-11-22 08:00:00" (UTC), or a duration ago: 15m, 2h, 7d.
TYPE is one of request, model_call, retrieval, tool_call, approval, system_effect, outcome.
--actor matches the acting identity and the human it acted for. --limit defaults to 1000.`,
    async run(values, pos) {
      if (pos.length) throw new UsageError(`search takes no positional arguments (got "${pos[0]}"): use --actor, --type, ...`);
      return listEvents(values, '/api/v1/events', 'no matching events');
    },
  },
  export: {
    summary: 'stream events as CSV or JSON lines (same filters as search, no limit by default)',
    usage: 'otel-audit export --format csv|jsonl [filters as for search] > events.csv',
    options: { ...API_URL_OPTION, ...FORMAT_OPTION, ...FILTER_OPTIONS },
    async run(values, pos) {
      if (pos.length) throw new UsageError(`export takes no positional arguments (got "${pos[0]}")`);
      const format = (values.format as string | undefined) ?? 'csv';
      if (format !== 'csv' && format !== 'jsonl') throw new UsageError(`invalid --format "${format}": export writes csv or jsonl`);
      const v = { ...values, limit: values.limit ?? '10000000' };
      const res = await callApi(apiUrl(values), `/api/v1/events?${filterQuery(v, format)}`);
      await pipeToStdout(res);
      return EXIT.OK;
    },
  },
  sql: {
    summary: 'run a read-only SQL query against the audit database',
    usage: 'otel-audit sql "<query>" [--format table|csv|jsonl] [--api-url URL]   (or --file FILE, or - for stdin)',
    options: { ...API_URL_OPTION, ...FORMAT_OPTION, file: { type: 'string' } },
    details: `Tables: otel_audit.events, otel_audit.checkpoints. Views: model_calls, retrievals, tool_calls,
approvals, system_effects, timeline. Writes, DDL, SETTINGS and table functions that reach
outside the database (file, url, s3, remote, ...) are refused.`,
    async run(values, pos) {
      let query: string;
      if (values.file) query = await readAll(createReadStream(String(values.file)));
      else if (pos.length === 1 && pos[0] === '-') query = await readAll(process.stdin);
      else if (pos.length === 1) query = pos[0];
      else throw new UsageError('sql takes one query (quote it), --file FILE, or - to read it from stdin');
      const format = cliFormat(values);
      const res = await callApi(apiUrl(values), `/api/v1/sql?format=${format === 'table' ? 'jsonl' : format}`, {
        method: 'POST',
        headers: { 'content-type': 'text/plain' },
        body: query,
      });
      if (format !== 'table') await pipeToStdout(res);
      else process.stdout.write(renderTable(await readJsonLines(res)));
      return EXIT.OK;
    },
  },
  migrate: {
    summary: 'apply the schema migrations (also run at start), or print the DDL',
    usage: 'otel-audit migrate [--data-dir DIR | --clickhouse-url URL] [--print [--cluster NAME]]',
    options: {
      'data-dir': { type: 'string' },
      'clickhouse-url': { type: 'string' },
      print: { type: 'boolean' },
      cluster: { type: 'string' },
    },
    details: `Without --print, connects to the store directly. The embedded store belongs to one process:
stop the bridge first, or let it migrate at start.`,
    async run(values) {
      const database = process.env.OTEL_AUDIT_DATABASE ?? 'otel_audit';
      if (values.print) {
        process.stdout.write(fullDdl({ database, cluster: values.cluster as string | undefined }));
        return EXIT.OK;
      }
      const config = resolveConfig({ dataDir: values['data-dir'] as string | undefined, clickhouseUrl: values['clickhouse-url'] as string | undefined });
      let store: Store;
      try {
        store = await Store.open({ url: config.clickhouseUrl, dataDir: config.dataDir, database, cluster: values.cluster as string | undefined });
      } catch (err) {
        throw new CommandError((err as Error).message);
      }
      try {
        const applied = await store.migrate();
        const version = await store.schemaVersion();
        process.stdout.write(applied.length ? `applied migrations ${applied.join(', ')}; schema is at version ${version}\n` : `schema is up to date (version ${version})\n`);
      } finally {
        await store.close();
      }
      return EXIT.OK;
    },
  },
};

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  try {
    for await (const c of stream as AsyncIterable<Buffer>) chunks.push(Buffer.from(c));
  } catch (err) {
    throw new UsageError(`cannot read the query: ${(err as Error).message}`);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function mainHelp(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length));
  return `otel-audit: an audit trail from the OpenTelemetry traces of AI applications

Usage: otel-audit <command> [options]

Commands:
${Object.entries(COMMANDS)
  .map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`)
  .join('\n')}

Run "otel-audit <command> --help" for a command's options. Commands other than serve and
migrate talk to a running bridge at --api-url / OTEL_AUDIT_API_URL (default http://127.0.0.1:4319).
`;
}

function commandHelp(name: string, c: Command): string {
  return `otel-audit ${name}: ${c.summary}\n\nUsage: ${c.usage}\n${c.details ? `\n${c.details}\n` : ''}`;
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(mainHelp());
    return name ? EXIT.OK : EXIT.USAGE;
  }
  if (name === '--version') {
    process.stdout.write('0.1.0\n');
    return EXIT.OK;
  }
  const command = COMMANDS[name];
  if (!command) {
    process.stderr.write(`otel-audit: unknown command "${name}"\n\n${mainHelp()}`);
    return EXIT.USAGE;
  }
  try {
    const { values, positionals } = parseArgs({
      args: rest,
      options: { ...command.options, help: { type: 'boolean', short: 'h' } },
      allowPositionals: true,
      strict: true,
    });
    if (values.help) {
      process.stdout.write(commandHelp(name, command));
      return EXIT.OK;
    }
    return await command.run(values as Record<string, unknown>, positionals);
  } catch (err) {
    const e = err as Error & { code?: string };
    if (err instanceof UsageError || err instanceof ConfigError || e.code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`otel-audit ${name}: ${e.message}\nUsage: ${command.usage}\n`);
      return EXIT.USAGE;
    }
    process.stderr.write(`otel-audit ${name}: ${e.message}\n`);
    return EXIT.FAILED;
  }
}
