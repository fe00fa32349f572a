/**
 * CSV of what is on screen, made in the browser: the rows of the search table, or the events of a
 * case loaded so far, with the columns a reviewer sees (and the ids that lead back to the trail).
 * The whole of a filter is exported by the API instead (`format=csv&export=1`, recorded in the
 * trail).
 */
import type { AuditEvent } from './model.ts';
import { describe, formatTime, integrityView, typeLabel } from './format.ts';

export const SCREEN_COLUMNS = [
  'Time (UTC)',
  'Type',
  'What',
  'Actor',
  'Actor type',
  'On behalf of',
  'Initiation',
  'Status',
  'Case',
  'Tenant',
  'Integrity',
  'Checkpoint',
  'Event ID',
  'Trace ID',
  'Span ID',
] as const;

/** A spreadsheet runs a cell starting with one of these as a formula. */
const FORMULA_START = /^[=+\-@\t\r]/;

/** One RFC 4180 field; cells a spreadsheet would run as a formula are made text ('=…). */
export function csvField(v: string): string {
  const s = FORMULA_START.test(v) ? `'${v}` : v;
  return /[",\r\n]|^\s|\s$/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function screenRow(e: AuditEvent): string[] {
  const i = integrityView(e.integrity);
  const cp = e.integrity?.checkpoint;
  return [
    formatTime(e.event_time),
    typeLabel(e.event_type),
    describe(e),
    e.actor_id,
    e.actor_type,
    e.on_behalf_of,
    e.initiation,
    e.status,
    e.correlation_id,
    e.tenant,
    i.label,
    cp ? `${cp.chain_id}#${cp.tree_size}` : '',
    e.event_id,
    e.trace_id,
    e.span_id,
  ];
}

/** The CSV text (header line first, CRLF line ends, as RFC 4180 says). */
export function screenCsv(events: AuditEvent[]): string {
  const lines = [SCREEN_COLUMNS.map(csvField).join(',')];
  for (const e of events) lines.push(screenRow(e).map(csvField).join(','));
  return lines.join('\r\n') + '\r\n';
}

/** Parses CSV text into rows (for tests, and to read an export back). */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  const t = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  for (let i = 0; i < t.length; i++) {
    const c = t[i];
    if (quoted) {
      if (c === '"') {
        if (t[i + 1] === '"') {
          field += '"';
          i++;
        } else quoted = false;
      } else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      row.push(field);
      field = '';
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && t[i + 1] === '\n') i++;
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
    } else field += c;
  }
  if (field !== '' || row.length) {
    row.push(field);
    rows.push(row);
  }
  return rows;
}
