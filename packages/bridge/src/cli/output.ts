/**
 * What the CLI prints for people: aligned tables that fit the terminal (long cells wrap onto
 * more lines instead of being cut), and one event laid out vertically.
 */

/** The terminal's width: stdout's columns on a terminal, else $COLUMNS, else no limit. */
export function terminalWidth(): number {
  if (process.stdout.isTTY && process.stdout.columns) return process.stdout.columns;
  const env = Number(process.env.COLUMNS);
  return Number.isFinite(env) && env >= 20 ? env : Infinity;
}

/** `text` in lines of at most `width` characters: at spaces where it can, inside a word where it must. */
export function wrapText(text: string, width: number): string[] {
  if (width === Infinity || text.length <= width) return [text];
  const w = Math.max(1, width);
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    let rest = word;
    if (line && line.length + 1 + rest.length <= w) {
      line += ' ' + rest;
      continue;
    }
    if (line) lines.push(line);
    line = '';
    while (rest.length > w) {
      lines.push(rest.slice(0, w));
      rest = rest.slice(w);
    }
    line = rest;
  }
  lines.push(line);
  return lines;
}

const GAP = 2;
/** Narrowest a column is made before the others. */
const MIN_COLUMN = 8;

/**
 * Renders JSON rows as an aligned text table. When it is wider than `width`, the widest columns
 * are narrowed and their cells wrap onto more lines (at spaces, so that ids stay whole, as long
 * as the terminal allows); nothing is cut.
 */
export function renderTable(rows: Array<Record<string, unknown>>, columns?: string[], width = terminalWidth()): string {
  if (rows.length === 0) return '(no rows)\n';
  const cols = columns ?? Object.keys(rows[0]);
  const cell = (v: unknown): string => {
    if (v === null || v === undefined) return '';
    const s = typeof v === 'string' ? v : JSON.stringify(v);
    return s.replace(/\s+/g, ' ').trim();
  };
  const cells = rows.map((r) => cols.map((c) => cell(r[c])));
  const widths = cols.map((c) => c.length);
  for (const row of cells) for (let i = 0; i < row.length; i++) if (row[i].length > widths[i]) widths[i] = row[i].length;
  const total = () => widths.reduce((a, b) => a + b, 0) + GAP * (widths.length - 1);
  // Narrow the widest column, a character at a time, until the table fits: first down to its
  // longest word (ids stay whole), then, if that is not enough, inside words.
  const longestWord = cols.map((c, i) => Math.max(...[c, ...cells.map((r) => r[i])].flatMap((v) => v.split(' ').map((w) => w.length))));
  for (const floor of [(i: number) => Math.max(MIN_COLUMN, longestWord[i]), () => MIN_COLUMN]) {
    for (let excess = total() - width; excess > 0; excess--) {
      let widest = -1;
      for (let i = 0; i < widths.length; i++) if (widths[i] > floor(i) && (widest < 0 || widths[i] > widths[widest])) widest = i;
      if (widest < 0) break;
      widths[widest]--;
    }
  }
  const render = (vals: string[]): string[] => {
    const wrapped = vals.map((v, i) => wrapText(v, widths[i]));
    const height = Math.max(...wrapped.map((w) => w.length));
    const out: string[] = [];
    for (let l = 0; l < height; l++) out.push(wrapped.map((w, i) => (w[l] ?? '').padEnd(widths[i])).join(' '.repeat(GAP)).trimEnd());
    return out;
  };
  return [...render(cols), widths.map((w) => '-'.repeat(w)).join(' '.repeat(GAP)), ...cells.flatMap(render)].join('\n') + '\n';
}

/** Longest text of an override the timeline shows, in characters; the rest is "…". */
const CLIP = 60;

/**
 * `t` on one line, at most `n` characters: control characters (a terminal's escape sequences
 * among them) and runs of white space become one space; cut between characters, not inside one.
 */
function clip(t: string, n = CLIP): string {
  const chars = Array.from(t.replace(/[\s\p{Cc}]+/gu, ' ').trim());
  return chars.length > n ? `${chars.slice(0, n - 1).join('').trimEnd()}…` : chars.join('');
}

type Message = { role?: string; parts?: Array<{ type?: string; content?: unknown }> };

/**
 * The AI's original and the person's final text of an `edited`/`overridden` approval, from the
 * content the API lists (the redacted JSON: the sealed copy is never listed, and content kept
 * as digests only is ''). The original is the event's input, the final its output
 * (docs/conventions.md, Human oversight); undefined unless both have text.
 */
function replaced(content: unknown): { original: string; final: string } | undefined {
  if (typeof content !== 'string' || !content.startsWith('{')) return undefined;
  let c: { input?: unknown; output?: unknown };
  try {
    c = JSON.parse(content) as typeof c;
  } catch {
    return undefined;
  }
  const text = (m: unknown) =>
    (Array.isArray(m) ? (m as Message[]) : [])
      .flatMap((x) => (Array.isArray(x?.parts) ? x.parts : []))
      .filter((p) => p?.type === 'text' && typeof p.content === 'string')
      .map((p) => p.content as string)
      .join(' ')
      .trim();
  const original = text(c?.input);
  const final = text(c?.output);
  return original && final ? { original, final } : undefined;
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
    case 'approval': {
      const head = [s('decision'), s('reviewer_id') && `by ${s('reviewer_id')}`, e.edited ? '(edited)' : ''].filter(Boolean).join(' ');
      // An override or an edit: what the AI said, then what the person put in its place.
      const texts = e.edited || e.decision === 'edited' || e.decision === 'overridden' ? replaced(e.content) : undefined;
      return texts ? `${head}: "${clip(texts.original)}" → "${clip(texts.final)}"` : head;
    }
    case 'system_effect':
      return [s('effect'), s('target_system') && `${s('target_system')}/${s('target_id')}`].filter(Boolean).join(' ');
    case 'outcome':
      return s('outcome');
    case 'evaluation': {
      // The result stays in attributes (docs/conventions.md, Evaluations); listings carry them.
      const a = (e.attributes ?? {}) as Record<string, string>;
      const score = a['gen_ai.evaluation.score.value'];
      return [a['gen_ai.evaluation.name'] || s('name'), score !== undefined && `score ${score}`, a['gen_ai.evaluation.score.label']].filter(Boolean).join(' ');
    }
    case 'deployment': {
      const a = (e.attributes ?? {}) as Record<string, string>;
      const model = [a['audit.model.name'], a['audit.model.version'] && `v${a['audit.model.version']}`].filter(Boolean).join(' ');
      return [model, s('target_id') && `→ ${s('target_id')}`, s('target_system') && `on ${s('target_system')}`, s('reviewer_id') && `approved by ${s('reviewer_id')}`]
        .filter(Boolean)
        .join(' ');
    }
    default:
      return s('purpose') || s('operation');
  }
}

type Row = Record<string, unknown>;

const isEmpty = (v: unknown) => v === null || v === undefined || v === '' || (Array.isArray(v) && v.length === 0) || (typeof v === 'object' && v !== null && Object.keys(v).length === 0);

/** One line per value of a field: lists and maps one item a line. */
function fieldLines(name: string, v: unknown): string[] {
  if (name === 'attributes' && v && typeof v === 'object') {
    return Object.keys(v)
      .sort()
      .map((k) => `${k} = ${(v as Row)[k]}`);
  }
  if (name === 'sources' && Array.isArray(v)) {
    return v.map((s: Row) =>
      [s.id, s.version && `v${s.version}`, s.sensitivity && `(${s.sensitivity})`, s.uri, s.score !== null && s.score !== undefined && `score ${s.score}`].filter(Boolean).join(' '),
    );
  }
  if (name === 'links' && Array.isArray(v)) return v.map((l: Row) => `trace ${l.trace_id} span ${l.span_id}`);
  if (Array.isArray(v)) return v.map((x) => (typeof x === 'string' ? x : JSON.stringify(x)));
  if (typeof v === 'string') return v.split('\n');
  return [JSON.stringify(v)];
}

const refLine = (r: Row) => [r.event_type, r.event_id, r.name && `"${r.name}"`, r.decision && `${r.decision}${r.reviewer_id ? ` by ${r.reviewer_id}` : ''}`, r.event_time].filter(Boolean).join('  ');

/**
 * GET /api/v1/events/:id as a vertical layout: the event's columns (empty ones left out), then
 * its integrity and links; long values wrap under their value column.
 */
export function renderEvent(detail: { event: Row; integrity: Row; links: { linked: Row[]; unresolved: Row[]; approvals: Row[] } }, width = terminalWidth()): string {
  const fields: Array<[string, string[]]> = [];
  for (const [k, v] of Object.entries(detail.event)) if (!isEmpty(v)) fields.push([k, fieldLines(k, v)]);
  const i = detail.integrity;
  const cp = i.checkpoint as Row | null;
  fields.push([
    'integrity',
    [
      `${i.status}${cp ? `: checkpoint ${cp.tree_size} of chain ${cp.chain_id}${cp.created_at ? ` (${cp.created_at})` : ''}` : ''}`,
      ...(i.reason ? [String(i.reason)] : []),
    ],
  ]);
  const l = detail.links;
  if (l.linked.length) fields.push(['links to', l.linked.map(refLine)]);
  if (l.unresolved.length) fields.push(['links to (not stored)', l.unresolved.map((u) => `trace ${u.trace_id} span ${u.span_id}`)]);
  if (l.approvals.length) fields.push(['approved by', l.approvals.map(refLine)]);
  const keyWidth = Math.max(...fields.map(([k]) => k.length));
  const valueWidth = width === Infinity ? Infinity : Math.max(20, width - keyWidth - GAP);
  const out: string[] = [];
  for (const [k, lines] of fields) {
    const wrapped = lines.flatMap((line) => wrapText(line, valueWidth));
    wrapped.forEach((line, n) => out.push(`${(n === 0 ? k : '').padEnd(keyWidth)}${' '.repeat(GAP)}${line}`.trimEnd()));
  }
  return out.join('\n') + '\n';
}
