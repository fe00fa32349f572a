import { renderEvent } from '../output.ts';
import { API_URL_OPTION, apiUrl, callApi, EXIT, UsageError, type Command } from '../shared.ts';

export const event: Command = {
  summary: 'one event, whole: every column, its integrity, and what it links to',
  usage: 'otel-audit event <event-id> [--format table|json] [--api-url URL] [--token TOKEN]',
  options: { ...API_URL_OPTION, format: { type: 'string' } },
  details: `On a terminal: the event's columns one per line (empty ones left out), its integrity (verified
in a signed checkpoint, newer than the last checkpoint, or what is broken), the events its span
links point at (for an approval: the proposal) and the approvals that point at it.
--format json (the default off a terminal): GET /api/v1/events/<id> as it is.`,
  async run(values, pos) {
    if (pos.length !== 1) throw new UsageError('event takes exactly one event id');
    if (!/^[0-9a-fA-F]{32}$/.test(pos[0])) throw new UsageError(`invalid event id "${pos[0]}": expected 32 hex characters`);
    const format = (values.format as string | undefined) ?? (process.stdout.isTTY ? 'table' : 'json');
    if (format !== 'table' && format !== 'json') throw new UsageError(`invalid --format "${format}": expected table or json`);
    const res = await callApi(apiUrl(values), `/api/v1/events/${pos[0].toLowerCase()}`);
    const detail = (await res.json()) as Parameters<typeof renderEvent>[0];
    process.stdout.write(format === 'json' ? JSON.stringify(detail, null, 2) + '\n' : renderEvent(detail));
    return EXIT.OK;
  },
};
