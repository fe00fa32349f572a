import { API_URL_OPTION, apiUrl, callApi, EXIT, UsageError, type Command } from '../shared.ts';

export const erase: Command = {
  summary: "erase a subject's sealed content (deletes its data key; the hash chain still verifies)",
  usage: 'otel-audit erase --subject ID [--tenant NAME] [--api-url URL] [--token TOKEN] [--format text|json]',
  options: {
    ...API_URL_OPTION,
    subject: { type: 'string' },
    tenant: { type: 'string' },
    format: { type: 'string' },
  },
  details: `Crypto-shredding (POST /api/v1/erase): the bridge deletes the data key under which the raw
content of the subject's high-risk events was sealed. Their content_sealed column can then never
be decrypted again (GET /api/v1/events/<id>/content answers 410 Gone); the rows, their digests
and redacted content stay, so the hash chain and otel-audit verify are unaffected.

--subject ID   on_behalf_of, else actor_id, else correlation_id of the events: the clear value
               (an e-mail, a user id) or the value as stored (its pii: pseudonym)
--tenant NAME  only this tenant (default: every tenant whose events reached the bridge, stored
               or still on their way, that the token may use)
--token TOKEN  an admin token, when the bridge has an auth file (or OTEL_AUDIT_TOKEN)`,
  async run(values, pos) {
    if (pos.length) throw new UsageError(`erase takes no positional arguments (got "${pos[0]}"); use --subject ID`);
    const subject = values.subject as string | undefined;
    if (!subject || !subject.trim()) throw new UsageError('--subject ID is required');
    const format = (values.format as string | undefined) ?? 'text';
    if (format !== 'text' && format !== 'json') throw new UsageError(`invalid --format "${format}": expected text or json`);
    const body: Record<string, string> = { subject };
    if (values.tenant) body.tenant = String(values.tenant);
    const res = await callApi(apiUrl(values), '/api/v1/erase', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    const r = (await res.json()) as { keys_erased: number; tenants: string[]; sealed_events: number };
    if (format === 'json') {
      process.stdout.write(JSON.stringify(r) + '\n');
      return EXIT.OK;
    }
    const events = `${r.sealed_events} stored event${r.sealed_events === 1 ? '' : 's'}`;
    process.stdout.write(
      r.keys_erased > 0
        ? `erased ${r.keys_erased} data key${r.keys_erased === 1 ? '' : 's'} (tenant${r.tenants.length === 1 ? '' : 's'} ${r.tenants.join(', ')}): ` +
            `the sealed content of ${events} can no longer be read. The rows and the hash chain are unchanged: otel-audit verify still passes.\n`
        : `no data key found for this subject (nothing was sealed for it, or it was already erased); ${events} with sealed content name it.\n`,
    );
    return EXIT.OK;
  },
};
