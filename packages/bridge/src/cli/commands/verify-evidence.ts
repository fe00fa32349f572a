import { readFileSync } from 'node:fs';
import type { KeyObject, X509Certificate } from 'node:crypto';
import { loadPublicKey } from '../../chain/checkpoint.ts';
import { loadCertificates } from '../../chain/anchors/rfc3161.ts';
import { formatEvidenceReport, UnusablePackError, verifyEvidencePack } from '../../evidence/verify.ts';
import { EXIT, UsageError, type Command } from '../shared.ts';
import { EXIT_TAMPERED } from './verify.ts';

export const verifyEvidence: Command = {
  summary: 'check an evidence pack offline, with the public key only (exit 3 if altered)',
  usage: 'otel-audit verify-evidence FILE.zip [--public-key KEY] [--tsa-ca FILE] [--format text|json]',
  options: { 'public-key': { type: 'string' }, 'tsa-ca': { type: 'string' }, format: { type: 'string' } },
  details: `Needs no store and no network. Checks that every file matches the manifest and the manifest
its signature; that every event in events.jsonl hashes to its hash and belongs to the case; that
each event's inclusion proof leads to the root of its checkpoint; that every checkpoint is signed
by the key (and its RFC 3161 timestamps verify); and that events.csv agrees with events.jsonl.

--public-key KEY   the operator's public key (PEM file, e.g. from "otel-audit public-key"). Without
                   it the key inside the pack is trusted, and the report says so; with it, a pack
                   key that differs is a finding.
--tsa-ca FILE      PEM CA certificate(s) that timestamp authorities' certificates must chain to
--format text|json text (default), or the JSON report on stdout

Exit codes: 0 intact, 3 altered (each finding names the file, the event by seq and event id,
the proof, checkpoint or signature), 2 not a usable pack (not a zip, files missing, a bad key).`,
  async run(values, pos) {
    if (pos.length !== 1) throw new UsageError('verify-evidence takes one pack file');
    const format = (values.format as string | undefined) ?? 'text';
    if (format !== 'text' && format !== 'json') throw new UsageError(`invalid --format "${format}": expected text or json`);
    let publicKey: KeyObject | undefined;
    if (values['public-key'] !== undefined) {
      try {
        publicKey = loadPublicKey(String(values['public-key']));
      } catch (err) {
        throw new UsageError((err as Error).message);
      }
    }
    let tsaCa: X509Certificate[] | undefined;
    if (values['tsa-ca'] !== undefined) {
      try {
        tsaCa = loadCertificates(String(values['tsa-ca']));
      } catch (err) {
        throw new UsageError((err as Error).message);
      }
    }
    let data: Buffer;
    try {
      data = readFileSync(pos[0]);
    } catch (err) {
      throw new UsageError(`cannot read ${pos[0]}: ${(err as Error).message}`);
    }
    let report;
    try {
      report = verifyEvidencePack(data, { publicKey, tsaCa });
    } catch (err) {
      if (err instanceof UnusablePackError) throw new UsageError(`${pos[0]}: ${err.message}`);
      throw err;
    }
    process.stdout.write(format === 'json' ? JSON.stringify(report) + '\n' : formatEvidenceReport(report, pos[0]));
    return report.ok ? EXIT.OK : EXIT_TAMPERED;
  },
};
