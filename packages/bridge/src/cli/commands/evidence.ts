import { closeSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { FILES, type EvidenceManifest } from '../../evidence/format.ts';
import { ZipReader } from '../../evidence/zip.ts';
import { API_URL_OPTION, apiUrl, callApi, CommandError, EXIT, UsageError, type Command } from '../shared.ts';

export const evidence: Command = {
  summary: "write a case's evidence pack: its events, a proof for each, the signed checkpoints, the public key (a zip)",
  usage: 'otel-audit evidence <correlation-id> --out FILE.zip [--api-url URL] [--token TOKEN]',
  options: { ...API_URL_OPTION, out: { type: 'string', short: 'o' } },
  details: `Asks the bridge (GET /api/v1/cases/<id>/evidence) for the pack of every event stored under
the correlation id, in the tenants your token may read, and writes it to FILE.zip: the events as
CSV and JSON lines, an inclusion proof for each, the signed checkpoints the proofs lead to (with
their anchor records and RFC 3161 timestamps), the public key, a signed manifest and a README that
says what was proved and how to check it. The bridge records the request in the trail (an access
event per tenant) before it answers.

Anyone can check the pack offline, with no store and no network:
  otel-audit verify-evidence FILE.zip --public-key operator-key.pem

The file appears only once the whole pack has arrived.`,
  async run(values, pos) {
    if (pos.length !== 1) throw new UsageError('evidence takes exactly one correlation id');
    if (!values.out) throw new UsageError('--out FILE.zip is required: the pack is a zip file');
    const out = resolve(String(values.out));
    const base = apiUrl(values);
    const res = await callApi(base, `/api/v1/cases/${encodeURIComponent(pos[0])}/evidence`);
    if (!(res.headers.get('content-type') ?? '').startsWith('application/zip')) {
      await res.body?.cancel();
      throw new CommandError(`${base} did not answer with a zip (content-type ${res.headers.get('content-type') ?? 'none'}): is it an otel-audit bridge?`);
    }
    // Written beside the target, then renamed: a broken download never leaves a FILE.zip.
    const tmp = join(dirname(out), `.${basename(out)}.${process.pid}.partial`);
    let fd: number;
    try {
      fd = openSync(tmp, 'wx', 0o600);
    } catch (err) {
      throw new CommandError(`cannot write ${out}: ${(err as Error).message}`);
    }
    let bytes = 0;
    const progress = process.stderr.isTTY ? setInterval(() => process.stderr.write(`\r${(bytes / 1048576).toFixed(1)} MiB`), 500) : null;
    try {
      try {
        for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
          writeSync(fd, chunk);
          bytes += chunk.length;
        }
        fsyncSync(fd);
      } finally {
        closeSync(fd);
        if (progress) {
          clearInterval(progress);
          process.stderr.write('\r\x1b[K');
        }
      }
      const manifest = readManifest(tmp);
      renameSync(tmp, out);
      const chains = manifest.chains.map((c) => `${c.chain_id}@${c.checkpoint.tree_size}`).join(', ');
      process.stdout.write(
        `wrote ${out}: case ${JSON.stringify(manifest.correlation_id)}, ${manifest.events} event${manifest.events === 1 ? '' : 's'}, ` +
          `proved against checkpoint${manifest.chains.length === 1 ? '' : 's'} ${chains}, signed by key ${manifest.key_id} ` +
          `(${(bytes / 1024).toFixed(0)} KiB)\n`,
      );
      return EXIT.OK;
    } catch (err) {
      rmSync(tmp, { force: true });
      if (err instanceof CommandError) throw err;
      throw new CommandError(`the pack did not arrive whole (${(err as Error).message}); nothing was written. The bridge's log says why.`);
    }
  },
};

/** The manifest of a downloaded pack: also checks that the zip is complete. */
function readManifest(file: string): EvidenceManifest {
  const zip = ZipReader.open(readFileSync(file));
  const m = JSON.parse(Buffer.from(zip.read(FILES.manifest)).toString('utf8')) as EvidenceManifest;
  if (!Array.isArray(m.chains)) throw new Error('the manifest is incomplete');
  return m;
}

export { verifyEvidence } from './verify-evidence.ts';
