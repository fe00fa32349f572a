import { createReadStream } from 'node:fs';
import { renderTable } from '../output.ts';
import { fullDdl } from '../../store/schema.ts';
import {
  API_URL_OPTION,
  apiUrl,
  callApi,
  cliFormat,
  EXIT,
  FILTER_OPTIONS,
  filterQuery,
  FORMAT_OPTION,
  listEvents,
  pipeToStdout,
  readAll,
  readJsonLines,
  CommandError,
  InputError,
  UsageError,
  type Command,
} from '../shared.ts';

export const timeline: Command = {
  summary: 'every event of one correlation id (case, ticket, task), in order, across traces',
  usage: 'otel-audit timeline <correlation-id> [--format table|csv|jsonl] [--api-url URL] [--token TOKEN]',
  options: { ...API_URL_OPTION, ...FORMAT_OPTION },
  async run(values, pos) {
    if (pos.length !== 1) throw new UsageError('timeline takes exactly one correlation id');
    return listEvents(values, `/api/v1/timeline/${encodeURIComponent(pos[0])}`, `no events for correlation id "${pos[0]}"`);
  },
};

export const trace: Command = {
  summary: 'every audit event of one trace',
  usage: 'otel-audit trace <trace-id> [--format table|csv|jsonl] [--api-url URL] [--token TOKEN]',
  options: { ...API_URL_OPTION, ...FORMAT_OPTION },
  async run(values, pos) {
    if (pos.length !== 1) throw new UsageError('trace takes exactly one trace id');
    if (!/^[0-9a-fA-F]{32}$/.test(pos[0])) throw new UsageError(`invalid trace id "${pos[0]}": expected 32 hex characters`);
    return listEvents(values, `/api/v1/traces/${pos[0].toLowerCase()}`, `no audit events in trace ${pos[0]}`);
  },
};

const FILTER_HELP = `TIME is ISO 8601 (2026-11-22T08:00:00Z), "2026-11-22 08:00:00" (UTC), or a duration ago: 15m, 2h, 7d.
TYPE is one of request, model_call, retrieval, tool_call, approval, system_effect, outcome, access.
--actor matches the acting identity and the human it acted for. --target matches the target
system, the target id, or SYSTEM/ID. --status and --risk take comma-separated values.
--text finds words (case-insensitive) in names, content as stored (redacted), attribute values,
tool names, targets, rationales and source ids (1-200 characters). --tenant (repeatable) limits
to tenants your token holds.`;

export const search: Command = {
  summary: 'find events by actor, reviewer, event type, tool, target, status, risk, text and time range',
  usage:
    'otel-audit search [--actor ID]... [--reviewer ID]... [--type TYPE[,TYPE]] [--tool NAME] [--target SYSTEM|ID|SYSTEM/ID] [--status S] [--risk R] [--text WORDS] [--from TIME] [--to TIME] [--correlation-id ID] [--tenant T]... [--limit N] [--format table|csv|jsonl]',
  options: { ...API_URL_OPTION, ...FORMAT_OPTION, ...FILTER_OPTIONS },
  details: `${FILTER_HELP}
--limit defaults to 1000. CSV is for people: plain column names, every column but the sealed
ciphertext (docs/api.md, "CSV"); jsonl keeps every column typed.`,
  async run(values, pos) {
    if (pos.length) throw new UsageError(`search takes no positional arguments (got "${pos[0]}"): use --actor, --type, ...`);
    return listEvents(values, '/api/v1/events', 'no matching events');
  },
};

export const exportEvents: Command = {
  summary: 'stream events as CSV or JSON lines (same filters as search, no limit by default)',
  usage: 'otel-audit export --format csv|jsonl [--excel] [filters as for search] > events.csv',
  options: { ...API_URL_OPTION, ...FORMAT_OPTION, ...FILTER_OPTIONS, excel: { type: 'boolean' } },
  details: `${FILTER_HELP}
csv (the default) is for people: a header of plain names ("Time (UTC)", "Event type", "Actor", ...),
every stored column but the sealed ciphertext, empty cells for nulls, lists and maps as readable
text. --excel starts it with a UTF-8 byte order mark and neutralizes cells a spreadsheet would run
as formulas (a leading ' before =, +, -, @). jsonl is for machines: every column, typed.
The sealed ciphertext (content_sealed) is in neither. Each export is recorded in the trail.`,
  async run(values, pos) {
    if (pos.length) throw new UsageError(`export takes no positional arguments (got "${pos[0]}")`);
    const format = (values.format as string | undefined) ?? 'csv';
    if (format !== 'csv' && format !== 'jsonl') throw new UsageError(`invalid --format "${format}": export writes csv or jsonl`);
    if (values.excel && format !== 'csv') throw new UsageError('--excel is for --format csv');
    const v = { ...values, limit: values.limit ?? '10000000' };
    // export=1: the bridge records the export in the trail (an `access` event per tenant read).
    const res = await callApi(apiUrl(values), `/api/v1/events?${filterQuery(v, format)}&export=1${values.excel ? '&excel=1' : ''}`);
    await pipeToStdout(res);
    return EXIT.OK;
  },
};

/** ClickHouse's own error messages, as the bridge passes them on. */
const ENGINE_ERROR = /^(Syntax error|Code: \d+|DB::Exception)|\((UNKNOWN_[A-Z_]+|SYNTAX_ERROR|ILLEGAL_[A-Z_]+|TYPE_MISMATCH|NO_COMMON_TYPE|NOT_AN_AGGREGATE)\)/;

/** The views the schema creates (store/schema.ts), read from its DDL: no second list to keep in step. */
const ANALYST_VIEWS = [...new Set(Array.from(fullDdl({ database: 'otel_audit' }).matchAll(/CREATE (?:OR REPLACE )?VIEW (?:IF NOT EXISTS )?otel_audit\.(\w+)/g), (m) => m[1]))];

export const sql: Command = {
  summary: 'run a read-only SQL query against the audit database',
  usage: 'otel-audit sql "<query>" [--format table|csv|jsonl] [--api-url URL] [--token TOKEN]   (or --file FILE, or - for stdin)',
  options: { ...API_URL_OPTION, ...FORMAT_OPTION, file: { type: 'string' } },
  details: `Tables: otel_audit.events, otel_audit.checkpoints, otel_audit.alerts.
Views: ${ANALYST_VIEWS.join(', ')}.
Writes, DDL, SETTINGS and table functions that reach outside the database (file, url, s3, remote, ...)
are refused.`,
  async run(values, pos) {
    let query: string;
    if (values.file) query = await readAll(createReadStream(String(values.file)));
    else if (pos.length === 1 && pos[0] === '-') query = await readAll(process.stdin);
    else if (pos.length === 1) query = pos[0];
    else throw new UsageError('sql takes one query (quote it), --file FILE, or - to read it from stdin');
    const format = cliFormat(values);
    let res: Response;
    try {
      res = await callApi(apiUrl(values), `/api/v1/sql?format=${format === 'table' ? 'jsonl' : format}`, {
        method: 'POST',
        headers: { 'content-type': 'text/plain' },
        body: query,
      });
    } catch (err) {
      // A query the engine could not run (a syntax error, an unknown column) failed: exit 1.
      // A refusal by the read-only rules stays bad input: exit 2.
      if (err instanceof InputError && ENGINE_ERROR.test(err.message)) throw new CommandError(err.message);
      throw err;
    }
    if (format !== 'table') await pipeToStdout(res);
    else process.stdout.write(renderTable(await readJsonLines(res)));
    return EXIT.OK;
  },
};
