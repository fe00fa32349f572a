import { createPrivateKey } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { DEFAULT_KEY_FILE, exportPublicKeyPem, keyId } from '../../chain/checkpoint.ts';
import { API_URL_OPTION, apiUrl, callApi, CommandError, EXIT, UsageError, type Command } from '../shared.ts';
import { readPem } from './verify.ts';

export const publicKey: Command = {
  summary: 'print the public key that checkpoints are signed with (PEM)',
  usage: 'otel-audit public-key [--signing-key FILE | --data-dir DIR] [--api-url URL] [--token TOKEN]',
  options: { ...API_URL_OPTION, 'signing-key': { type: 'string' }, 'data-dir': { type: 'string' } },
  details: `From the private key file (--signing-key FILE, OTEL_AUDIT_SIGNING_KEY_FILE, the PEM in
OTEL_AUDIT_SIGNING_KEY, or <data-dir>/keys/signing-key.pem with --data-dir), else from the running
bridge (GET /api/v1/public-key). The key id goes to stderr. Give the key to whoever checks
proofs and runs verify; keep it somewhere the database admin cannot change it.`,
  async run(values, pos) {
    if (pos.length) throw new UsageError(`public-key takes no positional arguments (got "${pos[0]}")`);
    let pem: string | null = null;
    const file = (values['signing-key'] as string | undefined) ?? process.env.OTEL_AUDIT_SIGNING_KEY_FILE;
    if (file) pem = readPem(file, 'signing key file');
    else if (process.env.OTEL_AUDIT_SIGNING_KEY?.trim()) {
      const env = process.env.OTEL_AUDIT_SIGNING_KEY;
      pem = env.includes('\n') ? env : env.replaceAll('\\n', '\n');
    } else if (values['data-dir']) {
      const path = join(resolve(String(values['data-dir'])), DEFAULT_KEY_FILE);
      if (!existsSync(path)) throw new CommandError(`no signing key at ${path}: the bridge creates it on its first start`);
      pem = readPem(path, 'signing key file');
    }
    if (pem !== null) {
      let key;
      try {
        key = createPrivateKey(pem);
      } catch (err) {
        throw new UsageError(`not a PEM private key: ${(err as Error).message}`);
      }
      if (key.asymmetricKeyType !== 'ed25519') throw new UsageError(`the signing key is ${key.asymmetricKeyType}, expected Ed25519`);
      process.stdout.write(exportPublicKeyPem(key));
      process.stderr.write(`key id ${keyId(key)}\n`);
      return EXIT.OK;
    }
    const res = await callApi(apiUrl(values), '/api/v1/public-key');
    const body = (await res.json()) as { public_key: string; key_id: string };
    process.stdout.write(body.public_key);
    process.stderr.write(`key id ${body.key_id}\n`);
    return EXIT.OK;
  },
};
