import { renderTable } from '../output.ts';
import { API_URL_OPTION, apiUrl, callApi, cliFormat, EXIT, FORMAT_OPTION, UsageError, type Command } from '../shared.ts';
import { RULES, TIME_HELP } from './alerts.ts';

export const detect: Command = {
  summary: 'evaluate the detection rules over a time range now (new incidents become alerts)',
  usage: 'otel-audit detect --from DURATION|TIME [--to DURATION|TIME] [--rule ID] [--format table|csv|jsonl]',
  options: { ...API_URL_OPTION, ...FORMAT_OPTION, from: { type: 'string' }, to: { type: 'string' }, rule: { type: 'string', multiple: true } },
  details: `${TIME_HELP} --to defaults to now. --rule (repeatable): only these rules (${RULES}).
Over the events whose time is in the range, in your token's tenants (needs the admin role).
An incident already stored is not raised again, so a range may be re-run at will. Prints the
alerts this run raised (as "alerts" does), and on stderr how many incidents the range holds.`,
  async run(values, pos) {
    if (pos.length) throw new UsageError(`detect takes no positional arguments (got "${pos[0]}")`);
    if (values.from === undefined) throw new UsageError('detect needs --from (a time or a duration ago, such as 24h)');
    const format = cliFormat(values);
    const rules = (values.rule as string[] | undefined) ?? [];
    const body: Record<string, string> = { from: String(values.from) };
    if (values.to !== undefined) body.to = String(values.to);
    if (rules.length) body.rule = rules.join(',');
    const res = await callApi(apiUrl(values), '/api/v1/detect', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const r = (await res.json()) as { from: string; to: string; rules: string[]; found: number; raised: Array<Record<string, unknown>> };
    process.stderr.write(`detect: ${r.found} incident${r.found === 1 ? '' : 's'} from ${r.from} to ${r.to}; ${r.raised.length} new alert${r.raised.length === 1 ? '' : 's'}\n`);
    if (format === 'jsonl') process.stdout.write(r.raised.map((a) => JSON.stringify(a) + '\n').join(''));
    else if (format === 'csv') {
      const cols = ['alert_id', 'tenant', 'rule', 'severity', 'correlation_id', 'event_ids', 'detected_at', 'explanation'];
      const field = (v: unknown) => {
        const s = Array.isArray(v) ? v.join(' ') : String(v ?? '');
        return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
      };
      process.stdout.write([cols.join(','), ...r.raised.map((a) => cols.map((c) => field(a[c])).join(','))].join('\r\n') + '\r\n');
    } else if (r.raised.length) {
      process.stdout.write(renderTable(r.raised.map((a) => ({ rule: a.rule, severity: a.severity, tenant: a.tenant, case: a.correlation_id, explanation: a.explanation })), ['rule', 'severity', 'tenant', 'case', 'explanation']));
    }
    return EXIT.OK;
  },
};
