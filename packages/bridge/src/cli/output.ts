/** Renders JSON rows as an aligned text table for a terminal. */
export function renderTable(rows: Array<Record<string, unknown>>, columns?: string[]): string {
  if (rows.length === 0) return '(no rows)\n';
  const cols = columns ?? Object.keys(rows[0]);
  const cell = (v: unknown): string => {
    if (v === null || v === undefined) return '';
    const s = typeof v === 'string' ? v : JSON.stringify(v);
    const flat = s.replace(/\s+/g, ' ');
    return flat.length > 60 ? flat.slice(0, 59) + '…' : flat;
  };
  const cells = rows.map((r) => cols.map((c) => cell(r[c])));
  const widths = cols.map((c) => c.length);
  for (const row of cells) for (let i = 0; i < row.length; i++) if (row[i].length > widths[i]) widths[i] = row[i].length;
  const line = (vals: string[]) => vals.map((v, i) => v.padEnd(widths[i])).join('  ').trimEnd();
  return [line(cols), line(widths.map((w) => '-'.repeat(w))), ...cells.map(line)].join('\n') + '\n';
}

/** A compact description of what an event did, for the timeline table. */
export function eventSummary(e: Record<string, unknown>): string {
  const s = (k: string) => (e[k] ? String(e[k]) : '');
  switch (e.event_type) {
    case 'model_call':
      return [s('provider'), s('response_model') || s('request_model'), e.input_tokens != null ? `${e.input_tokens}→${e.output_tokens ?? '?'} tok` : '']
        .filter(Boolean)
        .join(' ');
    case 'retrieval': {
      const sources = (e.sources as Array<{ id?: string } | unknown[]>) ?? [];
      const ids = sources.map((x) => (Array.isArray(x) ? String(x[0]) : String(x.id ?? ''))).filter(Boolean);
      return `${ids.length} source${ids.length === 1 ? '' : 's'}${ids.length ? ': ' + ids.slice(0, 3).join(', ') : ''}`;
    }
    case 'tool_call':
      return [s('tool_name'), s('action'), s('target_system') && `${s('target_system')}/${s('target_id')}`, e.approval_required ? 'needs approval' : '']
        .filter(Boolean)
        .join(' ');
    case 'approval':
      return [s('decision'), s('reviewer_id') && `by ${s('reviewer_id')}`, e.edited ? '(edited)' : ''].filter(Boolean).join(' ');
    case 'system_effect':
      return [s('effect'), s('target_system') && `${s('target_system')}/${s('target_id')}`].filter(Boolean).join(' ');
    case 'outcome':
      return s('outcome');
    default:
      return s('purpose') || s('operation');
  }
}
