import { readFileSync } from 'node:fs';
import { eventHash } from '../../chain/canonical.ts';
import { loadPublicKey } from '../../chain/checkpoint.ts';
import { parseJsonSafeKeys } from '../../store/json-rows.ts';
import { verifyProofBundle, type InclusionProofBundle } from '../../chain/proof.ts';
import { EXIT, UsageError, readAll, type Command } from '../shared.ts';
import { EXIT_TAMPERED } from './verify.ts';

export const verifyProof: Command = {
  summary: 'check an inclusion proof bundle offline, with the public key only (exit 3 if invalid)',
  usage: 'otel-audit verify-proof <FILE | -> --public-key KEY [--format text|json]',
  options: { 'public-key': { type: 'string' }, format: { type: 'string' } },
  details: `Needs no store and no bridge: recomputes the event's hash from its columns, follows the audit
path to the checkpoint's Merkle root, and checks the checkpoint's Ed25519 signature against KEY
(a PEM public key file, e.g. <data-dir>/keys/signing-key.pub.pem or "otel-audit public-key").
Exit codes: 0 valid, 3 invalid, 2 bad usage.`,
  async run(values, pos) {
    if (pos.length !== 1) throw new UsageError('verify-proof takes one bundle file (or - for stdin)');
    if (!values['public-key']) throw new UsageError('--public-key KEY is required: the proof is only as good as the key you trust');
    const format = (values.format as string | undefined) ?? 'text';
    if (format !== 'text' && format !== 'json') throw new UsageError(`invalid --format "${format}": expected text or json`);
    let key;
    try {
      key = loadPublicKey(String(values['public-key']));
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
    let text: string;
    try {
      text = pos[0] === '-' ? await readAll(process.stdin) : readFileSync(pos[0], 'utf8');
    } catch (err) {
      throw new UsageError(`cannot read ${pos[0]}: ${(err as Error).message}`);
    }
    let bundle: InclusionProofBundle;
    try {
      // The bundle holds the row, whose attribute names are object keys (store/json-rows.ts).
      bundle = parseJsonSafeKeys(text) as InclusionProofBundle;
    } catch (err) {
      throw new UsageError(`${pos[0]} is not JSON: ${(err as Error).message}`);
    }
    const result = verifyProofBundle(bundle, key, eventHash);
    const ev = (bundle && typeof bundle === 'object' ? bundle.event : null) as Record<string, unknown> | null;
    // The leaf index is the event's position: seq - 1. The stored seq is covered by its hash.
    if (ev && typeof ev === 'object' && ev.seq !== undefined && Number(ev.seq) - 1 !== bundle.leaf_index) {
      result.errors.push(`The event's seq ${String(ev.seq)} does not match the leaf_index ${bundle.leaf_index} (expected seq - 1).`);
      result.ok = false;
    }
    const cp = bundle?.checkpoint;
    if (format === 'json') {
      process.stdout.write(
        JSON.stringify({
          ok: result.ok,
          errors: result.errors,
          event_id: ev?.event_id ?? null,
          chain_id: cp?.chain_id ?? null,
          seq: ev?.seq !== undefined ? Number(ev.seq) : null,
          tree_size: cp?.tree_size ?? null,
          checkpoint_created_at: cp?.created_at ?? null,
          key_id: cp?.key_id ?? null,
        }) + '\n',
      );
    } else if (result.ok) {
      process.stdout.write(
        `OK: event ${String(ev?.event_id)} (chain ${cp.chain_id}, seq ${String(ev?.seq)}) is included in checkpoint ` +
          `${cp.chain_id}@${cp.tree_size} (root ${cp.root_hash.slice(0, 16)}…), signed by key ${cp.key_id} at ${cp.created_at}\n`,
      );
    } else {
      process.stdout.write(`INVALID proof:\n${result.errors.map((e) => `  - ${e}`).join('\n')}\n`);
    }
    return result.ok ? EXIT.OK : EXIT_TAMPERED;
  },
};
