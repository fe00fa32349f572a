import { writeFileSync } from 'node:fs';
import { API_URL_OPTION, apiUrl, callApi, CommandError, EXIT, UsageError, type Command } from '../shared.ts';
import { TIME_HELP } from './alerts.ts';

const FRAMEWORKS = ['eu-ai-act', 'soc2', 'hipaa', 'gdpr'];

export const report: Command = {
  summary: 'write a compliance report: the evidence the trail holds for a framework over a period, and what is missing',
  usage: 'otel-audit report --framework eu-ai-act|soc2|hipaa|gdpr --from DURATION|TIME [--to DURATION|TIME] --out FILE.md|FILE.html [--format markdown|html]',
  options: { ...API_URL_OPTION, framework: { type: 'string' }, from: { type: 'string' }, to: { type: 'string' }, out: { type: 'string' }, format: { type: 'string' } },
  details: `${TIME_HELP} --to defaults to now.
For each requirement the framework sets on logging: the figures the trail holds as evidence over
the period (in your token's tenants), the gaps they show, named plainly, and what the report does
not claim; an appendix gives the query behind each figure, to re-derive it with "otel-audit sql".
--format follows the file's extension (.html or .htm: html; else markdown); --out - writes to
stdout. The gaps are also printed on stderr. What each figure means: docs/compliance.md.`,
  async run(values, pos) {
    if (pos.length) throw new UsageError(`report takes no positional arguments (got "${pos[0]}")`);
    const framework = values.framework as string | undefined;
    if (!framework || !FRAMEWORKS.includes(framework)) throw new UsageError(`${framework ? `invalid --framework "${framework}"` : '--framework is required'}: expected one of ${FRAMEWORKS.join(', ')}`);
    if (values.from === undefined) throw new UsageError('report needs --from (a time, or a duration ago such as 180d)');
    const out = values.out as string | undefined;
    if (!out) throw new UsageError('report needs --out FILE (.md or .html), or --out - for stdout');
    const format = (values.format as string | undefined) ?? (/\.html?$/i.test(out) ? 'html' : 'markdown');
    if (format !== 'markdown' && format !== 'html') throw new UsageError(`invalid --format "${format}": expected markdown or html`);
    const q = new URLSearchParams({ framework, from: String(values.from), format: 'json' });
    if (values.to !== undefined) q.set('to', String(values.to));
    const res = await callApi(apiUrl(values), `/api/v1/report?${q}`);
    const r = (await res.json()) as { title: string; from: string; to: string; gaps: string[]; markdown: string; html: string };
    const text = format === 'html' ? r.html : r.markdown;
    if (out === '-') process.stdout.write(text);
    else {
      try {
        writeFileSync(out, text);
      } catch (err) {
        throw new CommandError(`cannot write ${out}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
      }
    }
    process.stderr.write(`report: ${r.title}, ${r.from} to ${r.to}${out === '-' ? '' : `, written to ${out}`}; ${r.gaps.length} gap${r.gaps.length === 1 ? '' : 's'}${r.gaps.length ? ':' : ''}\n`);
    for (const g of r.gaps) process.stderr.write(`  - ${g}\n`);
    return EXIT.OK;
  },
};
