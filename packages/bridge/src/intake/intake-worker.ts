/** A worker thread of IntakePool (intake-pool.ts): decode + intake of the requests it is sent. */
import { createSecretKey, randomBytes } from 'node:crypto';
import { parentPort, workerData } from 'node:worker_threads';
import { runIntake, type IntakeWorkerData, type SealKeyText, type WorkerMessage } from './intake-pool.ts';
import { frame } from '../spool/index.ts';
// The policy's files, not its index: a worker must not load the store (and chDB) with it.
import { PrivacyFilter } from '../policy/privacy.ts';
import { sealWith, type SealingKey } from '../policy/vault.ts';
// Likewise the chain's file: chain/index.ts loads the store.
import { appendEventHashes, consistencyProofHex } from '../chain/leaves.ts';
import { HeldEvents } from './held.ts';

const data = workerData as IntakeWorkerData;
// Intake masks and digests; finalize (of the events held here) makes pseudonyms, under the
// main thread's key, and leaves content to seal with the keys the main thread sends.
const fin = data.finalizer;
const filter = new PrivacyFilter(fin ? Buffer.from(fin.masterKey) : randomBytes(32), { policy: fin?.policy ?? data.policy, sealsElsewhere: fin?.seals ?? false });
const privacy = { value: (v: unknown) => filter.value(v), policy: filter.policy, keepsRaw: data.keepsRaw };
const held = fin ? new HeldEvents(filter) : undefined;
const walKey = data.walKey ? Buffer.from(data.walKey) : undefined;

/** Data keys prepared for node:crypto, by key id and generation (subjects repeat). */
const keys = new Map<string, SealingKey>();
function keyOf(j: SealKeyText): SealingKey {
  const id = j.keyId + j.kid;
  let k = keys.get(id);
  if (!k) {
    if (keys.size >= 10_000) keys.clear();
    const key = Buffer.from(j.key, 'base64');
    keys.set(id, (k = { keyId: j.keyId, kid: Buffer.from(j.kid, 'hex'), key, keyObject: createSecretKey(key) }));
  }
  return k;
}

parentPort!.postMessage('ready');
parentPort!.on('message', (message: WorkerMessage) => {
  const { id } = message;
  try {
    if ('seal' in message) {
      const keys = message.seal.keys.map(keyOf);
      const sealed = message.seal.jobs.map((j) => sealWith(keys[j.k], j.eventId, j.plaintext));
      parentPort!.postMessage({ id, sealed });
      return;
    }
    if ('leaves' in message) {
      const { state, hashes, keepLeaves } = message.leaves;
      const appended = appendEventHashes(state, hashes, keepLeaves);
      parentPort!.postMessage({ id, appended }, appended.leaves ? [appended.leaves.buffer as ArrayBuffer] : []);
      return;
    }
    if ('finalize' in message) {
      parentPort!.postMessage({ id, finalized: held!.finalize(message.finalize) });
      return;
    }
    if ('encode' in message) {
      const encoded = held!.encode(message.encode.items, message.encode.keys.map(keyOf));
      parentPort!.postMessage({ id, encoded }, [encoded.rows.buffer as ArrayBuffer]);
      return;
    }
    if ('recycle' in message) {
      held!.recycle(message.recycle);
      parentPort!.postMessage({ id, dropped: true });
      return;
    }
    if ('drop' in message) {
      held!.drop(message.drop);
      parentPort!.postMessage({ id, dropped: true });
      return;
    }
    if ('proof' in message) {
      parentPort!.postMessage({ id, consistency: consistencyProofHex(message.proof.old, message.proof.leaves) });
      return;
    }
    if ('frame' in message) {
      const framed = frame(message.frame, walKey);
      parentPort!.postMessage({ id, framed }, [framed.buffer as ArrayBuffer]);
      return;
    }
    const { job } = message;
    // The body arrives as a Uint8Array, or chunks of it (structured clone): the decoder wants a Buffer.
    const asBuffer = (b: Uint8Array): Buffer => Buffer.from(b.buffer, b.byteOffset, b.byteLength);
    const body = Array.isArray(job.raw.body) ? job.raw.body.map(asBuffer) : asBuffer(job.raw.body as Uint8Array);
    const result = runIntake({ ...job, raw: { ...job.raw, body } }, privacy, walKey, held);
    // The framed log record moves to the main thread without a copy (frame() allocates it unpooled).
    const transfer = result.walFrame && result.walFrame.byteLength === result.walFrame.buffer.byteLength ? [result.walFrame.buffer as ArrayBuffer] : [];
    parentPort!.postMessage({ id, result }, transfer);
  } catch (err) {
    const e = err as Error;
    parentPort!.postMessage({ id, error: { name: e.name, message: e.message } });
  }
});
