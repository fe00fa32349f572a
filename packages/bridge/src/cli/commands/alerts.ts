import { RULE_IDS } from '../../detect/config.ts';
import { renderTable } from '../output.ts';
import { API_URL_OPTION, apiUrl, callApi, cliFormat, EXIT, FORMAT_OPTION, pipeToStdout, readJsonLines, UsageError, type Command } from '../shared.ts';

export const TIME_HELP = 'TIME is ISO 8601 (2026-11-22T08:00:00Z), "2026-11-22 08:00:00" (UTC), or a duration ago: 15m, 2h, 7d.';
export const RULES = RULE_IDS.join(', ');

export const alerts: Command = {
  summary: 'list alerts: what the detection rules found, with the events each cites',
  usage: 'otel-audit alerts [--from DURATION|TIME] [--to DURATION|TIME] [--rule ID] [--severity S] [--correlation-id ID] [--format table|csv|jsonl]',
  options: {
    ...API_URL_OPTION,
    ...FORMAT_OPTION,
    from: { type: 'string' },
    to: { type: 'string' },
    rule: { type: 'string', multiple: true },
    severity: { type: 'string' },
    'correlation-id': { type: 'string' },
    limit: { type: 'string' },
  },
  details: `${TIME_HELP} --from and --to select incidents by the time of their events.
--rule (repeatable or comma-separated): ${RULES}.
--severity: low, medium, high (comma-separated). Only the alerts of your token's tenants.
jsonl: one alert a line with rule, severity, tenant, correlation_id, event_ids, detected_at,
explanation (and alert_id, subject, first_event_time, last_event_time, details).
The bridge evaluates the rules on its own (the policy file's "detections"); "otel-audit detect"
re-runs them over a range. What each rule means: docs/detections.md.`,
  async run(values, pos) {
    if (pos.length) throw new UsageError(`alerts takes no positional arguments (got "${pos[0]}")`);
    const format = cliFormat(values);
    const q = new URLSearchParams({ format: format === 'table' ? 'jsonl' : format });
    for (const k of ['from', 'to', 'severity'] as const) if (values[k] !== undefined) q.set(k, String(values[k]));
    const rules = (values.rule as string[] | undefined) ?? [];
    if (rules.length) q.set('rule', rules.join(','));
    if (values['correlation-id'] !== undefined) q.set('correlation_id', String(values['correlation-id']));
    if (values.limit !== undefined) {
      if (!/^\d+$/.test(String(values.limit)) || Number(values.limit) < 1 || Number(values.limit) > 100_000) throw new UsageError(`invalid --limit "${values.limit}": expected a whole number from 1 to 100000`);
      q.set('limit', String(values.limit));
    }
    const res = await callApi(apiUrl(values), `/api/v1/alerts?${q}`);
    if (format !== 'table') {
      await pipeToStdout(res);
      return EXIT.OK;
    }
    const rows = await readJsonLines(res);
    if (!rows.length) {
      process.stdout.write('no alerts\n');
      return EXIT.OK;
    }
    const view = rows.map((a) => ({
      when: String(a.last_event_time).replace(/(\.\d{3})\d*$/, '$1'),
      rule: a.rule,
      severity: a.severity,
      tenant: a.tenant,
      case: a.correlation_id,
      explanation: a.explanation,
      events: (a.event_ids as string[]).join(' '),
    }));
    process.stdout.write(renderTable(view, ['when', 'rule', 'severity', 'tenant', 'case', 'explanation', 'events']));
    return EXIT.OK;
  },
};
