/**
 * A compliance report: for each requirement a framework sets on logging, what the trail holds as
 * evidence over a period, what is missing, and, in an appendix, the query behind every figure.
 * Rendered as Markdown or as a self-contained HTML page (no scripts, no external resources).
 */
import { RETENTION_REGIME_SPECS, retentionShortfalls, type RetentionRegime } from '../policy/retention-regimes.ts';
import { FIGURE_IDS, FIGURES, figureSql, type FigureId } from './figures.ts';
import { FRAMEWORKS, type FigureRows, type FrameworkId, type ReportContext, type Row } from './frameworks.ts';

export interface ReportInput {
  framework: FrameworkId;
  /** 'YYYY-MM-DD hh:mm:ss.sss' (UTC). */
  from: string;
  to: string;
  /** The reader's tenants; null: every tenant. */
  tenants: readonly string[] | null;
  retention: ReportContext['retention'];
  /** The policy's retention_regime and acknowledge_short_retention (absent: none chosen). */
  regime?: Pick<RetentionRegime, 'regimes' | 'acknowledged'>;
  anchors: ReportContext['anchors'];
  database?: string;
  /** Runs one figure's SQL (in the reader's read-only, tenant-scoped session). */
  run(sql: string): Promise<Row[]>;
  /** When it is made (for the header). */
  now?: Date;
}

export interface Report {
  framework: FrameworkId;
  title: string;
  from: string;
  to: string;
  tenants: readonly string[] | null;
  generatedAt: string;
  figures: FigureRows;
  sql: Record<FigureId, string>;
  requirements: Array<{ ref: string; title: string; asks: string; figures: FigureId[]; gaps: string[] }>;
  retention: ReportContext['retention'];
  minRetentionDays: number;
  /** Each regime the policy keeps the trail for, and whether the retention meets it. */
  retentionRegimes: Array<{ id: string; title: string; minDays: number; basis: string; short: string[] }>;
  /** acknowledge_short_retention, when the policy gives it. */
  acknowledged?: string;
}

export class ReportError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.code = code;
  }
}

export async function buildReport(i: ReportInput): Promise<Report> {
  const fw = FRAMEWORKS[i.framework];
  if (!fw) throw new ReportError('REPORT_BAD_FRAMEWORK', `unknown framework "${String(i.framework).slice(0, 32)}": expected one of ${Object.keys(FRAMEWORKS).join(', ')}`);
  if (!(i.from < i.to)) throw new ReportError('REPORT_BAD_RANGE', `invalid period: --from (${i.from}) must be before --to (${i.to})`);
  const needed = new Set<FigureId>(['activity', ...fw.requirements.flatMap((r) => r.figures)]);
  // Every gap function may read these, whatever its requirement lists.
  for (const id of ['identity_coverage', 'alerts', 'checkpoints', 'decisions', 'proposals', 'human_oversight', 'access', 'outcomes', 'risk_levels', 'purposes'] as FigureId[]) needed.add(id);
  const figures = {} as FigureRows;
  const sql = {} as Record<FigureId, string>;
  for (const id of FIGURE_IDS) {
    if (!needed.has(id)) continue;
    sql[id] = figureSql(id, { from: i.from, to: i.to, tenants: i.tenants, database: i.database });
    figures[id] = await i.run(sql[id]);
  }
  const periodDays = Math.max(1, Math.round((Date.parse(`${i.to.replace(' ', 'T')}Z`) - Date.parse(`${i.from.replace(' ', 'T')}Z`)) / 86_400_000));
  const regimes = i.regime?.regimes ?? [];
  const ctx: ReportContext = { figures, retention: i.retention, regimes, acknowledged: i.regime?.acknowledged, periodDays, anchors: i.anchors };
  const shortfalls = retentionShortfalls(i.retention, regimes);
  const retentionRegimes = regimes.map((id) => {
    const spec = RETENTION_REGIME_SPECS[id];
    const short = shortfalls.filter((s) => s.regime === id).map((s) => `${s.risk} risk ${s.days} days`);
    return { id, title: spec.title, minDays: spec.minDays, basis: spec.basis, short };
  });
  return {
    framework: fw.id,
    title: fw.title,
    from: i.from,
    to: i.to,
    tenants: i.tenants,
    generatedAt: (i.now ?? new Date()).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC'),
    figures,
    sql,
    requirements: fw.requirements.map((r) => ({ ref: r.ref, title: r.title, asks: r.asks, figures: r.figures, gaps: r.gaps(ctx) })),
    retention: i.retention,
    minRetentionDays: fw.minRetentionDays,
    retentionRegimes,
    ...(i.regime?.acknowledged ? { acknowledged: i.regime.acknowledged } : {}),
  };
}

const NOT_CLAIMED = [
  'It does not say the system complies. It shows what the audit trail holds as evidence, and names what it lacks; whether that meets an obligation is for the people accountable to judge.',
  'It sees only what applications sent. Activity that was never instrumented, or sent elsewhere, is invisible to it; low counts can mean little activity or little recording.',
  'It does not verify integrity. It counts signed checkpoints; run `otel-audit verify` (exit 0: intact) and keep its output with this report.',
  'Counts are as stored when it was made: events that arrive later for the same period, and retention that deletes old events, change them.',
  'Detections find what their rules describe (docs/detections.md); no alert does not mean no incident.',
];

/** The retention regime line of the header: which regimes the policy chose, whether the retention meets each. */
function regimeLine(r: Report): string {
  if (!r.retentionRegimes.length) return 'none chosen in the policy file (retention_regime), so the bridge enforces no minimum';
  const each = r.retentionRegimes.map(
    (g) => `${g.title} (at least ${g.minDays} days; ${g.basis}): ${g.short.length ? `not met, kept shorter: ${g.short.join(', ')}` : 'met at every risk level'}`,
  );
  const short = r.retentionRegimes.some((g) => g.short.length);
  return `${each.join('; ')}${short && r.acknowledged ? `. Acknowledged in the policy file (acknowledge_short_retention): "${r.acknowledged}"` : ''}`;
}

/** Figures as small tables: rows as returned by their query, with their columns. */
function cells(rows: Row[]): { columns: string[]; rows: string[][] } {
  const columns = rows.length ? Object.keys(rows[0]) : [];
  return { columns, rows: rows.map((r) => columns.map((c) => (r[c] === '' ? '(none)' : String(r[c])))) };
}

export function renderMarkdown(r: Report): string {
  const esc = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
  const table = (rows: Row[]) => {
    const t = cells(rows);
    if (!t.rows.length) return '_No rows._\n';
    return [`| ${t.columns.join(' | ')} |`, `|${t.columns.map(() => '---').join('|')}|`, ...t.rows.map((x) => `| ${x.map(esc).join(' | ')} |`)].join('\n') + '\n';
  };
  const out: string[] = [];
  out.push(`# Compliance evidence report: ${r.title}`, '');
  out.push(`- **Period:** ${r.from} to ${r.to} (UTC; the end is not included)`);
  out.push(`- **Tenants:** ${r.tenants ? r.tenants.join(', ') || '(none)' : 'all'}`);
  out.push(`- **Made:** ${r.generatedAt} by otel-audit`);
  out.push(`- **Retention in force:** low risk ${r.retention.low} days, medium ${r.retention.medium} days, high ${r.retention.high} days${r.minRetentionDays ? ` (this framework: at least ${r.minRetentionDays} days)` : ''}`);
  out.push(`- **Retention regime:** ${regimeLine(r)}`, '');
  const gaps = r.requirements.flatMap((q) => q.gaps.map((g) => `${q.ref}: ${g}`));
  out.push('## Summary', '');
  out.push(gaps.length ? `The trail holds evidence for ${r.requirements.length} requirements; ${gaps.length} gaps are named below:` : `The trail holds evidence for all ${r.requirements.length} requirements below, and this report finds no gap in it.`, '');
  for (const g of gaps) out.push(`- ${g}`);
  out.push('');
  for (const q of r.requirements) {
    out.push(`## ${q.ref}: ${q.title}`, '', `*What it asks:* ${q.asks}`, '', '### Evidence in the trail', '');
    for (const f of q.figures) out.push(`**${FIGURES[f].title}** — ${FIGURES[f].meaning} (figure \`${f}\`):`, '', table(r.figures[f]));
    out.push('### Missing', '');
    if (q.gaps.length) for (const g of q.gaps) out.push(`- ${g}`);
    else out.push('Nothing this report can see.');
    out.push('');
  }
  out.push('## What this report does not claim', '');
  for (const c of NOT_CLAIMED) out.push(`- ${c}`);
  out.push('', '## Appendix: the query behind each figure', '', 'Each figure is re-derived by running its query with `otel-audit sql` (docs/compliance.md explains them).', '');
  for (const [id, sql] of Object.entries(r.sql)) out.push(`**${id}**`, '', '```sql', sql, '```', '');
  return out.join('\n');
}

export function renderHtml(r: Report): string {
  const h = (s: string) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
  const md = (s: string) => h(s).replace(/`([^`]+)`/g, '<code>$1</code>');
  const table = (rows: Row[]) => {
    const t = cells(rows);
    if (!t.rows.length) return '<p><em>No rows.</em></p>';
    return `<table><thead><tr>${t.columns.map((c) => `<th scope="col">${h(c)}</th>`).join('')}</tr></thead><tbody>${t.rows.map((x) => `<tr>${x.map((v) => `<td>${h(v)}</td>`).join('')}</tr>`).join('')}</tbody></table>`;
  };
  const gaps = r.requirements.flatMap((q) => q.gaps.map((g) => `${q.ref}: ${g}`));
  const parts: string[] = [];
  parts.push(`<h1>Compliance evidence report: ${h(r.title)}</h1>`);
  parts.push(
    `<dl><dt>Period</dt><dd>${h(r.from)} to ${h(r.to)} (UTC; the end is not included)</dd><dt>Tenants</dt><dd>${h(r.tenants ? r.tenants.join(', ') || '(none)' : 'all')}</dd>` +
      `<dt>Made</dt><dd>${h(r.generatedAt)} by otel-audit</dd><dt>Retention in force</dt><dd>low risk ${r.retention.low} days, medium ${r.retention.medium} days, high ${r.retention.high} days${r.minRetentionDays ? ` (this framework: at least ${r.minRetentionDays} days)` : ''}</dd>` +
      `<dt>Retention regime</dt><dd>${h(regimeLine(r))}</dd></dl>`,
  );
  parts.push('<h2>Summary</h2>');
  parts.push(`<p>${gaps.length ? `The trail holds evidence for ${r.requirements.length} requirements; ${gaps.length} gaps are named below:` : `The trail holds evidence for all ${r.requirements.length} requirements below, and this report finds no gap in it.`}</p>`);
  if (gaps.length) parts.push(`<ul class="gaps">${gaps.map((g) => `<li>${md(g)}</li>`).join('')}</ul>`);
  for (const q of r.requirements) {
    parts.push(`<section><h2>${h(q.ref)}: ${h(q.title)}</h2><p><em>What it asks:</em> ${h(q.asks)}</p><h3>Evidence in the trail</h3>`);
    for (const f of q.figures) parts.push(`<p><strong>${h(FIGURES[f].title)}</strong> — ${h(FIGURES[f].meaning)} (figure <code>${f}</code>):</p>${table(r.figures[f])}`);
    parts.push('<h3>Missing</h3>');
    parts.push(q.gaps.length ? `<ul class="gaps">${q.gaps.map((g) => `<li>${md(g)}</li>`).join('')}</ul>` : '<p>Nothing this report can see.</p>');
    parts.push('</section>');
  }
  parts.push(`<h2>What this report does not claim</h2><ul>${NOT_CLAIMED.map((c) => `<li>${md(c)}</li>`).join('')}</ul>`);
  parts.push('<h2>Appendix: the query behind each figure</h2><p>Each figure is re-derived by running its query with <code>otel-audit sql</code>.</p>');
  for (const [id, sql] of Object.entries(r.sql)) parts.push(`<h3 id="${h(id)}">${h(id)}</h3><pre><code>${h(sql)}</code></pre>`);
  const css =
    'body{font:16px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#111}table{border-collapse:collapse;margin:.5rem 0 1rem}' +
    'th,td{border:1px solid #999;padding:.25rem .5rem;text-align:left}th{background:#eee}pre{white-space:pre-wrap;background:#f4f4f4;padding:.5rem}' +
    '.gaps li{color:#8a1c00}dt{font-weight:bold}dd{margin:0 0 .5rem 0}section{border-top:1px solid #ccc;margin-top:1.5rem}';
  return `<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${h(`Compliance evidence report: ${r.title}`)}</title><style>${css}</style></head><body><main>\n${parts.join('\n')}\n</main></body></html>\n`;
}
