/**
 * Events as CSV for people (docs/api.md, "CSV"): a header of plain names, every stored column
 * but the sealed ciphertext, people's columns first and the chain's last; empty cells for
 * nulls, lists and maps as readable text. JSON lines stay the machine format (every column,
 * typed).
 */

type Row = Record<string, unknown>;
type Format = (v: unknown, row: Row) => string;

const text: Format = (v) => (v === null || v === undefined ? '' : String(v));
const yesNo: Format = (v) => (v === null || v === undefined ? '' : v === true || v === 'true' || v === 1 ? 'yes' : 'no');
const joined: Format = (v) => (Array.isArray(v) ? v.map(String).join('; ') : text(v, {}));

/** 1500000 (ns) → "1.5" (ms), exactly. */
const nsToMs: Format = (v) => {
  if (v === null || v === undefined || v === '') return '';
  const ns = BigInt(String(v));
  const whole = ns / 1_000_000n;
  const frac = (ns % 1_000_000n).toString().padStart(6, '0').replace(/0+$/, '');
  return frac ? `${whole}.${frac}` : `${whole}`;
};

/** `k=v; k2=v2`, by key. */
const mapText: Format = (v) => {
  if (!v || typeof v !== 'object') return '';
  return Object.keys(v)
    .sort()
    .map((k) => `${k}=${(v as Record<string, unknown>)[k]}`)
    .join('; ');
};

const field = (t: unknown, name: string, i: number): unknown => (Array.isArray(t) ? t[i] : (t as Row | null)?.[name]);

/** `kb-12 v3 (internal) https://… score 0.82; …` */
const sourcesText: Format = (v) =>
  (Array.isArray(v) ? v : [])
    .map((s) => {
      const [id, uri, version, sensitivity, score] = ['id', 'uri', 'version', 'sensitivity', 'score'].map((n, i) => field(s, n, i));
      return [id, version && `v${version}`, sensitivity && `(${sensitivity})`, uri, score !== null && score !== undefined && `score ${score}`]
        .filter((x) => x !== '' && x !== null && x !== undefined && x !== false)
        .join(' ');
    })
    .join('; ');

/** `trace_id/span_id; …` */
const linksText: Format = (v) =>
  (Array.isArray(v) ? v : []).map((l) => `${field(l, 'trace_id', 0)}/${field(l, 'span_id', 1)}`).join('; ');

/** [header, column, format]: every column of otel_audit.events but content_sealed, once. */
export const CSV_COLUMNS: ReadonlyArray<readonly [header: string, column: string, format: Format]> = [
  ['Time (UTC)', 'event_time', text],
  ['Event type', 'event_type', text],
  ['Name', 'name', text],
  ['Case', 'correlation_id', text],
  ['Actor', 'actor_id', text],
  ['Actor type', 'actor_type', text],
  ['Actor role', 'actor_role', text],
  ['On behalf of', 'on_behalf_of', text],
  ['Initiation', 'initiation', text],
  ['Tenant', 'tenant', text],
  ['Status', 'status', text],
  ['Error type', 'error_type', text],
  ['Risk', 'risk', text],
  ['Purpose', 'purpose', text],
  ['Tool', 'tool_name', text],
  ['Action', 'action', text],
  ['Target system', 'target_system', text],
  ['Target ID', 'target_id', text],
  ['Permission', 'permission', text],
  ['Approval required', 'approval_required', yesNo],
  ['Decision', 'decision', text],
  ['Reviewer', 'reviewer_id', text],
  ['Reviewer role', 'reviewer_role', text],
  ['Rationale', 'rationale', text],
  ['Edited', 'edited', yesNo],
  ['Effect', 'effect', text],
  ['Outcome', 'outcome', text],
  ['Provider', 'provider', text],
  ['Request model', 'request_model', text],
  ['Response model', 'response_model', text],
  ['Input tokens', 'input_tokens', text],
  ['Output tokens', 'output_tokens', text],
  ['Prompt version', 'prompt_version', text],
  ['Sources', 'sources', sourcesText],
  ['Links', 'links', linksText],
  ['Content (redacted)', 'content', text],
  ['Attributes', 'attributes', mapText],
  ['Sealed content', 'has_sealed_content', yesNo],
  ['Service', 'service_name', text],
  ['Environment', 'environment', text],
  ['Operation', 'operation', text],
  ['Duration (ms)', 'duration_ns', nsToMs],
  ['Ingest time (UTC)', 'ingest_time', text],
  ['Event ID', 'event_id', text],
  ['Trace ID', 'trace_id', text],
  ['Span ID', 'span_id', text],
  ['Parent span ID', 'parent_span_id', text],
  ['Tool call ID', 'tool_call_id', text],
  ['Case source', 'correlation_source', text],
  ['Input digest', 'input_digest', text],
  ['Output digest', 'output_digest', text],
  ['Conventions', 'conventions', joined],
  ['Redactions', 'redactions', text],
  ['Truncated', 'truncated', joined],
  ['Sent by', 'ingest_principal', text],
  ['Chain', 'chain_id', text],
  ['Seq', 'seq', text],
  ['Previous hash', 'prev_hash', text],
  ['Hash', 'hash', text],
  ['Hash version', 'hash_version', text],
];

/** A spreadsheet runs a cell starting with one of these as a formula. */
const FORMULA_START = /^[=+\-@\t\r]/;

/** One RFC 4180 field: quoted when it holds a comma, quote or line break, or edge spaces. */
export function csvField(s: string, excel = false): string {
  const v = excel && FORMULA_START.test(s) ? `'${s}` : s;
  return /[",\r\n]|^\s|\s$/.test(v) ? `"${v.replace(/"/g, '""')}"` : v;
}

export function csvHeader(excel = false): string {
  return CSV_COLUMNS.map(([h]) => csvField(h, excel)).join(',') + '\n';
}

export function csvRow(row: Row, excel = false): string {
  return CSV_COLUMNS.map(([, col, f]) => csvField(f(row[col], row), excel)).join(',') + '\n';
}

/** UTF-8 byte order mark, for spreadsheets that otherwise guess another encoding. */
export const UTF8_BOM = '\uFEFF';

/** CSV of a stream of event rows (JSONEachRow objects), header first, in chunks of ~64 KiB. */
export async function* csvChunks(rows: AsyncIterable<Row>, excel = false): AsyncGenerator<Buffer> {
  // The header waits for the first row, so that a query that fails at once still gets a status.
  const head = (excel ? UTF8_BOM : '') + csvHeader(excel);
  let out = '';
  let started = false;
  for await (const row of rows) {
    if (!started) {
      out = head;
      started = true;
    }
    out += csvRow(row, excel);
    if (out.length >= 65536) {
      yield Buffer.from(out);
      out = '';
    }
  }
  if (!started) out = head;
  if (out) yield Buffer.from(out);
}
