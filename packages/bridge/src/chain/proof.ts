/**
 * The offline inclusion-proof bundle: one event, its audit path, and the signed checkpoint it
 * leads to. Anyone holding the public key can check it without access to the store.
 */
import type { KeyObject } from 'node:crypto';
import { eventLeafHash, verifyCheckpointSignature, type Checkpoint } from './checkpoint.ts';
import { inclusionProof, verifyInclusion } from './merkle.ts';

export const PROOF_BUNDLE_FORMAT = 'otel-audit-inclusion-proof/v1';

export interface InclusionProofBundle {
  format: typeof PROOF_BUNDLE_FORMAT;
  /** The stored event row, as exported. */
  event: Record<string, unknown>;
  event_hash: string;
  /** Position of the event in the chain's Merkle tree (seq order, 0-based). */
  leaf_index: number;
  tree_size: number;
  /** Sibling hashes, lowest level first, hex. */
  audit_path: string[];
  checkpoint: Checkpoint;
}

export interface ProofVerification {
  ok: boolean;
  errors: string[];
}

const HEX64 = /^[0-9a-f]{64}$/;

/**
 * Builds a bundle for eventHashes[leafIndex] against a checkpoint. eventHashes are the chain's
 * event hashes (hex) in seq order, at least checkpoint.tree_size of them. Throws if the hashes
 * do not reproduce the checkpoint's root: handing out a proof that cannot verify helps nobody.
 */
export function buildProofBundle(
  event: Record<string, unknown>,
  leafIndex: number,
  eventHashes: readonly string[],
  checkpoint: Checkpoint,
): InclusionProofBundle {
  const size = checkpoint.tree_size;
  if (eventHashes.length < size) {
    throw new RangeError(`checkpoint covers ${size} events but only ${eventHashes.length} hashes were given`);
  }
  if (!Number.isSafeInteger(leafIndex) || leafIndex < 0 || leafIndex >= size) {
    throw new RangeError(`event index ${leafIndex} is not covered by the checkpoint (tree size ${size})`);
  }
  const leaves = eventHashes.slice(0, size).map(eventLeafHash);
  const eventHash = eventHashes[leafIndex] as string;
  const path = inclusionProof(leaves, leafIndex);
  if (!verifyInclusion(leaves[leafIndex] as Buffer, leafIndex, size, path, Buffer.from(checkpoint.root_hash, 'hex'))) {
    throw new Error(`the event hashes do not reproduce the root of checkpoint ${checkpoint.chain_id}@${size}`);
  }
  return {
    format: PROOF_BUNDLE_FORMAT,
    event,
    event_hash: eventHash,
    leaf_index: leafIndex,
    tree_size: size,
    audit_path: path.map((h) => h.toString('hex')),
    checkpoint,
  };
}

/**
 * Checks the checkpoint signature, the audit path up to the checkpoint root, and (when
 * recomputeEventHash is given) that the event content still hashes to event_hash. Reports every
 * failure, not just the first, as sentences for a human reader. Never throws.
 */
export function verifyProofBundle(
  bundle: InclusionProofBundle,
  publicKey: KeyObject,
  recomputeEventHash?: (event: Record<string, unknown>) => string,
): ProofVerification {
  const errors: string[] = [];
  const done = (): ProofVerification => ({ ok: errors.length === 0, errors });

  if (bundle === null || typeof bundle !== 'object') {
    errors.push('The proof bundle is not a JSON object.');
    return done();
  }
  if (bundle.format !== PROOF_BUNDLE_FORMAT) {
    errors.push(`The bundle format is ${JSON.stringify(bundle.format)}, expected "${PROOF_BUNDLE_FORMAT}".`);
  }
  const cp = bundle.checkpoint;
  if (cp === null || typeof cp !== 'object') {
    errors.push('The bundle has no checkpoint.');
    return done();
  }

  if (!verifyCheckpointSignature(cp, publicKey)) {
    errors.push(
      `The checkpoint signature is not valid for the given public key (checkpoint key_id ${JSON.stringify(cp.key_id)}): ` +
        'the checkpoint was altered or signed by another key.',
    );
  }

  const eventHashOk = typeof bundle.event_hash === 'string' && HEX64.test(bundle.event_hash);
  if (!eventHashOk) errors.push('The event_hash is not 64 lowercase hex characters.');
  if (bundle.tree_size !== cp.tree_size) {
    errors.push(`The bundle's tree_size ${bundle.tree_size} differs from the checkpoint's tree_size ${cp.tree_size}.`);
  }
  const indexOk = Number.isSafeInteger(bundle.leaf_index) && bundle.leaf_index >= 0;
  if (!indexOk) {
    errors.push(`The leaf_index ${JSON.stringify(bundle.leaf_index)} is not a non-negative integer.`);
  } else if (Number.isSafeInteger(cp.tree_size) && bundle.leaf_index >= cp.tree_size) {
    errors.push(`The leaf_index ${bundle.leaf_index} is outside the checkpoint, which covers ${cp.tree_size} events.`);
  }
  const pathOk = Array.isArray(bundle.audit_path) && bundle.audit_path.every((h) => typeof h === 'string' && HEX64.test(h));
  if (!pathOk) errors.push('The audit_path is not a list of 64-character lowercase hex hashes.');
  const rootOk = typeof cp.root_hash === 'string' && HEX64.test(cp.root_hash);
  if (!rootOk) errors.push('The checkpoint root_hash is not 64 lowercase hex characters.');

  if (eventHashOk && indexOk && pathOk && rootOk) {
    const included = verifyInclusion(
      eventLeafHash(bundle.event_hash),
      bundle.leaf_index,
      cp.tree_size,
      bundle.audit_path.map((h) => Buffer.from(h, 'hex')),
      Buffer.from(cp.root_hash, 'hex'),
    );
    if (!included) {
      errors.push(
        `The audit path does not lead from event_hash at leaf ${bundle.leaf_index} to the checkpoint root ` +
          `for tree size ${cp.tree_size}: the event, its position or the path was altered.`,
      );
    }
  }

  // The stored row carries its own hash and chain (AuditEvent.hash / chain_id): they must agree.
  const ev = bundle.event;
  if (ev !== null && typeof ev === 'object') {
    if (typeof ev.hash === 'string' && ev.hash !== bundle.event_hash) {
      errors.push(`The event's stored hash ${ev.hash} differs from the bundle's event_hash ${bundle.event_hash}.`);
    }
    if (typeof ev.chain_id === 'string' && ev.chain_id !== cp.chain_id) {
      errors.push(`The event belongs to chain ${JSON.stringify(ev.chain_id)}, the checkpoint to ${JSON.stringify(cp.chain_id)}.`);
    }
  }

  if (recomputeEventHash !== undefined) {
    if (bundle.event === null || typeof bundle.event !== 'object') {
      errors.push('The bundle has no event to recompute the hash of.');
    } else {
      try {
        const recomputed = recomputeEventHash(bundle.event);
        if (recomputed !== bundle.event_hash) {
          errors.push(
            `The event's content hashes to ${recomputed}, not to the event_hash ${bundle.event_hash}: the event was altered.`,
          );
        }
      } catch (err) {
        errors.push(`The event's hash could not be recomputed: ${(err as Error).message}`);
      }
    }
  }
  return done();
}
