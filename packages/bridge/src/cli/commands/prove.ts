import { writeFileSync } from 'node:fs';
import { API_URL_OPTION, apiUrl, callApi, CommandError, EXIT, UsageError, type Command } from '../shared.ts';

export const prove: Command = {
  summary: 'print an inclusion proof bundle for one event (check it offline with verify-proof)',
  usage: 'otel-audit prove <event-id> [--chain ID] [--output FILE] [--api-url URL] [--token TOKEN]',
  options: { ...API_URL_OPTION, chain: { type: 'string' }, output: { type: 'string', short: 'o' } },
  details: `The bundle holds the stored event, its position, the Merkle audit path and the signed checkpoint
it leads to (the newest one; the bridge signs one first if the event is newer). Anyone with the
public key can check it without access to the store:
  otel-audit prove <event-id> > proof.json
  otel-audit verify-proof proof.json --public-key signing-key.pub.pem`,
  async run(values, pos) {
    if (pos.length !== 1) throw new UsageError('prove takes exactly one event id');
    const q = values.chain ? `?chain=${encodeURIComponent(String(values.chain))}` : '';
    const res = await callApi(apiUrl(values), `/api/v1/proof/${encodeURIComponent(pos[0])}${q}`);
    const text = JSON.stringify(await res.json(), null, 2) + '\n';
    if (values.output) {
      try {
        writeFileSync(String(values.output), text);
      } catch (err) {
        throw new CommandError(`cannot write ${values.output}: ${(err as Error).message}`);
      }
    } else {
      process.stdout.write(text);
    }
    return EXIT.OK;
  },
};
