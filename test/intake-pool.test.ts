/**
 * Decode + intake on worker threads (packages/bridge/src/intake/): real worker
 * threads, compared with the same work done on this thread.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { resolveConfig, ConfigError } from '../packages/bridge/src/index.ts';
import { IntakePool, runIntake, type IntakeJob } from '../packages/bridge/src/intake/index.ts';
import { PrivacyFilter, SubjectVault } from '../packages/bridge/src/policy/index.ts';
import { DEFAULT_POLICY } from '../packages/bridge/src/policy/index.ts';
import { OtlpDecodeError, type RequestBody } from '../packages/bridge/src/otlp/index.ts';
import { appendEventHashes, consistencyProofHex, MerkleAccumulator, verifyConsistency, type MerkleAccumulatorState } from '../packages/bridge/src/chain/index.ts';
import { encodeLogs, encodeTraces, spanId, traceId, type SpanSpec } from './helpers/otlp.ts';

const privacy = new PrivacyFilter(randomBytes(32), { policy: DEFAULT_POLICY });
const pool = new IntakePool(2, { policy: DEFAULT_POLICY, keepsRaw: privacy.keepsRaw });
afterAll(() => pool.close());

function tracesJob(format: 'protobuf' | 'json'): IntakeJob {
  const t = traceId();
  const root = spanId();
  const spans: SpanSpec[] = [
    { traceId: t, spanId: root, name: 'POST /chat', kind: 1, attributes: { 'audit.correlation_id': 'CASE-7', 'audit.actor.id': 'jane@example.com' } },
    {
      traceId: t,
      spanId: spanId(),
      parentSpanId: root,
      name: 'chat gpt-4o',
      kind: 2,
      attributes: {
        'gen_ai.operation.name': 'chat',
        'gen_ai.provider.name': 'openai',
        'gen_ai.request.model': 'gpt-4o',
        'gen_ai.input.messages': JSON.stringify([{ role: 'user', parts: [{ type: 'text', content: 'my card is 4111 1111 1111 1111' }] }]),
        'gen_ai.output.messages': JSON.stringify([{ role: 'assistant', parts: [{ type: 'text', content: 'noted' }] }]),
        'api.key': 'sk-proj-abcdefghijklmnopqrstuvwxyz0123456789',
      },
    },
    { traceId: t, spanId: spanId(), parentSpanId: root, name: 'GET /health', kind: 2, attributes: { 'http.request.method': 'GET' } },
  ];
  return {
    raw: { signal: 'traces', encoding: format, body: Buffer.from(encodeTraces(spans, format)), tenant: 'acme' },
    defaultRisk: 'medium',
    now: 1_700_000_000_000,
    ingestTime: '2023-11-14 22:13:20.000000000',
  };
}

describe('IntakePool', () => {
  it('moves a large body that owns its memory to the worker (not copied); a small or shared one is copied', async () => {
    const small = tracesJob('protobuf');
    const expected = runIntake(tracesJob('protobuf'), privacy);
    // Padded with a second copy of the request: a large body, owned (its own ArrayBuffer).
    const one = small.raw.body as Buffer;
    const large: IntakeJob = { ...small, raw: { ...small.raw, body: Buffer.concat(Array.from({ length: Math.ceil(70_000 / one.length) }, () => one)) } };
    const largeCopy = Buffer.from(large.raw.body as Buffer);
    const expectedLarge = runIntake({ ...large, raw: { ...large.raw, body: largeCopy } }, privacy);
    const r = await pool.run(large);
    expect((large.raw.body as Buffer).length).toBe(0); // transferred
    expect(r.received).toBe(expectedLarge.received);
    const s = await pool.run(small);
    expect((small.raw.body as Buffer).length).toBe(one.length); // copied
    expect(s.received).toBe(expected.received);
    // A view into a larger buffer is copied too: the rest of its memory is not the request's.
    const inner = Buffer.concat([Buffer.alloc(10), largeCopy]).subarray(10);
    await pool.run({ ...large, raw: { ...large.raw, body: inner } });
    expect(inner.length).toBe(largeCopy.length);
  });

  it('takes a body in chunks: chunks that own their memory move to the worker and are joined there; others are joined here first', async () => {
    const base = tracesJob('protobuf');
    const logged = (body: RequestBody): IntakeJob => ({ ...base, raw: { ...base.raw, body }, walHeader: { t: 'request', signal: 'traces' } as IntakeJob['walHeader'] });
    const whole = base.raw.body as Buffer;
    const expected = runIntake(logged(Buffer.from(whole)), privacy);
    const cut = (b: Buffer, views: boolean): Buffer[] => {
      const at = [0, 7, Math.floor(b.length / 2), b.length];
      // Views into one buffer, or chunks each with its own memory (as Node's HTTP parser reads them).
      const own = (u: Uint8Array): Buffer => Buffer.from(u.buffer, 0, u.length);
      return at.slice(1).map((end, i) => (views ? b.subarray(at[i], end) : own(new Uint8Array(b.subarray(at[i], end)))));
    };
    const owned = cut(whole, false);
    const r = await pool.run(logged(owned));
    expect(owned.map((c) => c.length)).toEqual([0, 0, 0]); // transferred
    expect(r.received).toBe(expected.received);
    // The log record holds the body whole, as a body read in one piece gives it.
    expect(Buffer.from(r.walFrame!).equals(Buffer.from(expected.walFrame!))).toBe(true);
    const shared = Buffer.concat([whole, Buffer.alloc(10)]);
    const views = cut(shared.subarray(0, whole.length), true);
    const viewJob = logged(views);
    const v = await pool.run(viewJob);
    expect(views.map((c) => c.length)).toEqual([7, Math.floor(whole.length / 2) - 7, whole.length - Math.floor(whole.length / 2)]); // not moved
    expect(Buffer.isBuffer(viewJob.raw.body) && viewJob.raw.body.equals(whole)).toBe(true); // joined here
    expect(v.received).toBe(expected.received);
    // Without workers, the calling thread joins them.
    expect(runIntake(logged(cut(whole, false)), privacy).received).toBe(expected.received);
  });

  it('gives what the main thread gives, for protobuf and JSON traces and for logs', async () => {
    const logs: IntakeJob = {
      raw: {
        signal: 'logs',
        encoding: 'json',
        body: Buffer.from(encodeLogs([{ traceId: traceId(), spanId: spanId(), eventName: 'gen_ai.user.message', body: { content: 'call me at +1 415 555 0100' } }], 'json')),
      },
      defaultRisk: 'medium',
      now: 1_700_000_000_000,
      ingestTime: '2023-11-14 22:13:20.000000000',
    };
    for (const job of [tracesJob('protobuf'), tracesJob('json'), logs]) {
      const here = runIntake(job, privacy);
      const there = await pool.run(job);
      expect(there).toEqual(here);
    }
    const r = await pool.run(tracesJob('protobuf'));
    if (r.signal !== 'traces') throw new Error('expected traces');
    expect(r.received).toBe(3);
    expect(r.intake.dropped).toBe(1);
    // Redacted on the worker: the card and the key are masked, the actor stays raw until finalize.
    const text = JSON.stringify(r.intake.events);
    expect(text).not.toContain('4111 1111 1111 1111');
    expect(text).not.toContain('sk-proj-abcdefghijklmnopqrstuvwxyz0123456789');
    expect(r.intake.events[0].node.context.tenant).toBe('acme');
  });

  it('appends event hashes to a Merkle accumulator as the main thread would, and fails a bad hash', async () => {
    const hashes = Array.from({ length: 1000 }, () => randomBytes(32).toString('hex'));
    const here = appendEventHashes({ size: 0, hashes: [] }, hashes.slice(0, 333), false);
    const there = await pool.appendLeaves(here.state, hashes.slice(333), true);
    const all = appendEventHashes({ size: 0, hashes: [] }, hashes, true);
    expect(there.state).toEqual(all.state);
    expect(Buffer.from(there.leaves!).equals(Buffer.from(all.leaves!).subarray(333 * 32))).toBe(true);
    await expect(pool.appendLeaves(all.state, ['not-a-hash'], false)).rejects.toThrow(/event hash must be 64 lowercase hex chars/);
  });

  it('seals each job under its own subject\'s key, the keys sent once per message', async () => {
    const vault = new SubjectVault(join(mkdtempSync(join(tmpdir(), 'pool-seal-')), 'subjects'), randomBytes(32));
    const subjects = ['ann', 'bob', 'ann', 'cid', 'bob', 'ann'];
    const jobs = subjects.map((s, i) => ({ eventId: `${i}`.padStart(32, '0'), key: vault.sealingKey('acme', s, Date.now())!, plaintext: `{"who":"${s}","i":${i}}` }));
    const sealed = await pool.seal(jobs);
    expect(sealed).toHaveLength(6);
    sealed.forEach((blob, i) => {
      expect(SubjectVault.keyIdOf(blob)).toBe(vault.keyId('acme', subjects[i]));
      const r = vault.open(blob, jobs[i].eventId);
      expect(r.status === 'ok' && r.plaintext.toString()).toBe(jobs[i].plaintext);
    });
  });

  it('makes a consistency proof as the main thread would (RFC 6962, checked against both roots), and fails leaves of a bad length', async () => {
    const hashes = Array.from({ length: 1000 }, () => randomBytes(32).toString('hex'));
    const old = appendEventHashes({ size: 0, hashes: [] }, hashes.slice(0, 333), false);
    const added = appendEventHashes(old.state, hashes.slice(333), true);
    const there = await pool.consistencyProof(old.state, added.leaves!);
    expect(there).toEqual(consistencyProofHex(old.state, added.leaves!));
    const root = (state: MerkleAccumulatorState) => MerkleAccumulator.fromJSON(state).root();
    const proof = there.map((h) => Buffer.from(h, 'hex'));
    expect(verifyConsistency(333, 1000, proof, root(old.state), root(added.state))).toBe(true);
    await expect(pool.consistencyProof(old.state, new Uint8Array(33))).rejects.toThrow(/32 bytes each, got 33 bytes/);
  });

  it('fails an unusable request with the OtlpDecodeError the main thread would throw', async () => {
    const job: IntakeJob = { ...tracesJob('json'), raw: { signal: 'traces', encoding: 'json', body: Buffer.from('{"resourceSpans": 7}') } };
    let expected: unknown;
    try {
      runIntake(job, privacy);
    } catch (err) {
      expected = err;
    }
    expect(expected).toBeInstanceOf(OtlpDecodeError);
    const got = await pool.run(job).catch((err: unknown) => err);
    expect(got).toBeInstanceOf(OtlpDecodeError);
    expect((got as Error).message).toBe((expected as Error).message);
  });

  it('fails the jobs of a worker that dies, and replaces it', async () => {
    const failures: string[] = [];
    const small = new IntakePool(1, { policy: DEFAULT_POLICY, keepsRaw: false }, (err) => failures.push(err.message));
    try {
      const inFlight = small.run(tracesJob('protobuf'));
      const slots = (small as unknown as { slots: Array<{ worker: { terminate(): Promise<number> } }> }).slots;
      await slots[0].worker.terminate();
      await expect(inFlight).rejects.toThrow(/intake worker failed/);
      expect(failures).toHaveLength(1);
      const after = await small.run(tracesJob('protobuf'));
      expect(after.received).toBe(3);
    } finally {
      await small.close();
    }
  });

  it('bounds the old generation of each worker, so V8 collects it before it grows to several times what it holds', async () => {
    const slots = (pool as unknown as { slots: Array<{ worker: { getHeapStatistics(): Promise<{ heap_size_limit: number }> } }> }).slots;
    const { heap_size_limit } = await slots[0].worker.getHeapStatistics();
    // Under 2 GiB, V8's growing factor is capped at 1.3–2 instead of 4 (intake-pool.ts).
    expect(heap_size_limit).toBeGreaterThanOrEqual(1024 * 2 ** 20);
    expect(heap_size_limit).toBeLessThan(2048 * 2 ** 20);
  });

  it('a worker that reaches its heap limit dies alone: its jobs fail, it is replaced, this thread goes on', async () => {
    const failures: string[] = [];
    const tight = new IntakePool(1, { policy: DEFAULT_POLICY, keepsRaw: false }, (err) => failures.push(err.message), { oldGenerationMb: 16 });
    try {
      // One request of 20,000 spans: its decoded spans and events outgrow 16 MiB.
      const t = traceId();
      const spans: SpanSpec[] = Array.from({ length: 20_000 }, (_, i) => ({ traceId: t, spanId: spanId(), name: `step ${i}`, kind: 1, attributes: { 'audit.correlation_id': `CASE-${i}`, note: 'x'.repeat(200 + (i % 50)) } }));
      const small = tracesJob('protobuf');
      const big: IntakeJob = { ...small, raw: { ...small.raw, body: Buffer.from(encodeTraces(spans, 'protobuf')) } };
      await expect(tight.run(big)).rejects.toThrow(/intake worker failed: .*memory limit/);
      expect(failures).toHaveLength(1);
      expect(failures[0]).toMatch(/memory limit/);
      const after = await tight.run(tracesJob('protobuf'));
      expect(after.received).toBe(3);
    } finally {
      await tight.close();
    }
  });

  it('gives up workers that cannot even start, after three tries, instead of respawning forever', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'intake-pool-'));
    const script = join(dir, 'broken-worker.mjs');
    writeFileSync(script, "throw new Error('cannot load the intake module');\n");
    const failures: string[] = [];
    const broken = new IntakePool(1, { policy: DEFAULT_POLICY, keepsRaw: false }, (err) => failures.push(err.message), { script: pathToFileURL(script) });
    try {
      const deadline = Date.now() + 10_000;
      while (broken.usable && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(broken.usable).toBe(false);
      expect(failures).toHaveLength(3);
      expect(failures[0]).toContain('cannot load the intake module');
      await expect(broken.run(tracesJob('json'))).rejects.toThrow(/could not be started: .*cannot load the intake module/);
    } finally {
      await broken.close();
    }
  });
});

describe('--intake-workers', () => {
  it('takes 0 to 64 and names the flag when it is wrong', () => {
    expect(resolveConfig({ intakeWorkers: '0' }, {}).pipeline.intakeWorkers).toBe(0);
    expect(resolveConfig({ intakeWorkers: '3' }, {}).pipeline.intakeWorkers).toBe(3);
    expect(resolveConfig({}, { OTEL_AUDIT_INTAKE_WORKERS: '2' }).pipeline.intakeWorkers).toBe(2);
    for (const bad of ['65', '-1', 'two', '1.5']) {
      expect(() => resolveConfig({ intakeWorkers: bad }, {})).toThrow(ConfigError);
      expect(() => resolveConfig({ intakeWorkers: bad }, {})).toThrow(/--intake-workers/);
    }
  });
});
