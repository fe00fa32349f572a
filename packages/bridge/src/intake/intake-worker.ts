/** A worker thread of IntakePool (intake-pool.ts): decode + intake of the requests it is sent. */
import { randomBytes } from 'node:crypto';
import { parentPort, workerData } from 'node:worker_threads';
import { runIntake, type IntakeJob, type IntakeWorkerData } from './intake-pool.ts';
import { PrivacyFilter } from '../policy/privacy.ts';

const data = workerData as IntakeWorkerData;
// Intake masks and digests only; pseudonyms are made at finalize on the main thread, so this
// filter's key is never used.
const filter = new PrivacyFilter(randomBytes(32), { policy: data.policy });
const privacy = { value: (v: unknown) => filter.value(v), policy: filter.policy, keepsRaw: data.keepsRaw };
const walKey = data.walKey ? Buffer.from(data.walKey) : undefined;

parentPort!.postMessage('ready');
parentPort!.on('message', ({ id, job }: { id: number; job: IntakeJob }) => {
  try {
    // The body arrives as a Uint8Array (structured clone): the decoder wants a Buffer.
    const body = Buffer.from(job.raw.body.buffer, job.raw.body.byteOffset, job.raw.body.byteLength);
    const result = runIntake({ ...job, raw: { ...job.raw, body } }, privacy, walKey);
    // The framed log record moves to the main thread without a copy (frame() allocates it unpooled).
    const transfer = result.walFrame && result.walFrame.byteLength === result.walFrame.buffer.byteLength ? [result.walFrame.buffer as ArrayBuffer] : [];
    parentPort!.postMessage({ id, result }, transfer);
  } catch (err) {
    const e = err as Error;
    parentPort!.postMessage({ id, error: { name: e.name, message: e.message } });
  }
});
