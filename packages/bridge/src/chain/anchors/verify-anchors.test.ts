/**
 * verify against several anchors at once, on chDB with the real Checkpointer: a local directory,
 * an "external" directory (standing for another host's mount) and a real RFC 3161 authority
 * (openssl behind loopback HTTP). The insider rewrites what lives beside the database; the copies
 * out of reach disagree, and verify says where.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTsa, type LocalTsa } from '../../../../../test/helpers/tsa.ts';
import { silentLogger } from '../../internal/index.ts';
import type { AuditEvent } from '../../model.ts';
import { Store } from '../../store/index.ts';
import { anchorFileName } from '../anchor.ts';
import { ChainWriter } from '../chain-writer.ts';
import { Checkpointer } from '../checkpointer.ts';
import { syntheticEvent } from '../testdata/synthetic.ts';
import { verifyStoredChain } from '../verify-store.ts';
import { formatReport, type Finding } from '../verify.ts';
import type { AnchorSpec } from './config.ts';
import { AnchorSet } from './set.ts';
import { openTempStore, type TempStore } from '../../store/testdata/index.ts';

let store: Store;
let dataDir: string;
let tsa: LocalTsa;
const local = (): AnchorSpec => ({ kind: 'file', url: pathToFileURL(join(dataDir, 'anchors')).href, dir: join(dataDir, 'anchors'), external: false });
let externalDir: string;
let temp: TempStore;
const external = (): AnchorSpec => ({ kind: 'file', url: pathToFileURL(externalDir).href, dir: externalDir, external: true });
const timestamps = (): AnchorSpec => ({ kind: 'rfc3161', url: tsa.anchorUrl, endpoint: tsa.endpoint, caFile: tsa.caFile, timeoutMs: 10_000 });

const nowNs = (offsetMs = 0) => new Date(Date.now() + offsetMs).toISOString().replace('T', ' ').replace('Z', '') + '000000';
const pick = (f: Finding) => ({ kind: f.kind, tree_size: f.tree_size, where: f.where, anchor: f.anchor, seq: f.seq, seq_to: f.seq_to });

/** Seals and stores n events (ingested `ageMs` ago), reporting them to the checkpointer. */
async function write(chainId: string, writer: ChainWriter, all: AuditEvent[], n: number, cp: Checkpointer, ageMs = 0): Promise<void> {
  const evs = Array.from({ length: n }, (_, i) => ({ ...syntheticEvent(all.length + i, chainId), ingest_time: nowNs(-ageMs) }));
  writer.append(evs);
  all.push(...evs);
  await store.insertJsonEachRow('events', evs.map((e) => JSON.stringify(e)).join('\n') + '\n', `${chainId}:${evs[0].seq}`);
  cp.stored(evs[0].seq, evs[n - 1].seq, evs.map((e) => e.hash));
}

async function chain(chainId: string, anchors: AnchorSpec[], n: number, ageMs = 0) {
  const cp = await Checkpointer.start(store, { chainId, dataDir, anchors, everyEvents: 10, intervalMs: 0 }, silentLogger);
  const writer = new ChainWriter(chainId, null);
  const all: AuditEvent[] = [];
  for (let i = 0; i < n; i += 10) await write(chainId, writer, all, 10, cp, ageMs);
  await cp.checkpointNow();
  return { cp, writer, all };
}

const verify = async (chainId: string, anchors: AnchorSpec[], key: Checkpointer['key'], toleranceMs?: number) =>
  verifyStoredChain(store, await AnchorSet.open(anchors), key.publicKey, { chainId, timestampToleranceMs: toleranceMs });

beforeAll(async () => {
  temp = await openTempStore('verify-anchors-');
  ({ dataDir, store } = temp);
  externalDir = mkdtempSync(join(tmpdir(), 'external-anchors-'));
  tsa = await startTsa();
});
afterAll(async () => {
  await temp?.remove();
  await tsa?.close();
  rmSync(externalDir, { recursive: true, force: true });
});

describe('verify with several anchors', () => {
  it('intact: every anchor agrees, every checkpoint is timestamped in time', async () => {
    const anchors = [local(), external(), timestamps()];
    const { cp } = await chain('intact', anchors, 30);
    const r = await verify('intact', anchors, cp.key);
    expect(r.findings).toEqual([]);
    expect(r.ok).toBe(true);
    expect(r.checkpoints).toMatchObject({ anchored: 3, verified: 3, latest_tree_size: 30 });
    expect(r.anchors!.map((a) => [a.kind, a.external])).toEqual([['file', false], ['file', true], ['rfc3161', true]]);
    expect(formatReport(r).split('\n')[0]).not.toContain('does not protect');
    await cp.close();
  });

  it('the OK line says so when the only anchor is in the data directory', async () => {
    const anchors = [local()];
    const { cp } = await chain('localonly', anchors, 10);
    const r = await verify('localonly', anchors, cp.key);
    expect(r.ok).toBe(true);
    expect(formatReport(r).split('\n')[0]).toMatch(/^OK: chain localonly, .*the only anchor is inside the data directory: this does not protect against anyone with write access to it .*serve --anchor/);
    const withTsa = await verify('localonly', [local(), timestamps()], cp.key);
    expect(formatReport(withTsa).split('\n')[0]).toMatch(/anchor records are kept only inside the data directory/);
    await cp.close();
  });

  it('history rewritten and signed again by a bridge without the external anchor: a conflict, and the original checkpoints missing locally', async () => {
    const { cp, all } = await chain('resigned', [local(), external()], 30);
    await cp.close();
    // The insider: events from seq 15 on rewritten and re-hashed; checkpoints 20 and 30 removed
    // from the table and the local anchor; the bridge restarted without the external anchor.
    await store.command(`ALTER TABLE otel_audit.events DELETE WHERE chain_id = 'resigned' AND seq >= 15 SETTINGS mutations_sync = 1`);
    await store.command(`ALTER TABLE otel_audit.checkpoints DELETE WHERE chain_id = 'resigned' AND tree_size >= 20 SETTINGS mutations_sync = 1`);
    for (const size of [20, 30]) rmSync(join(dataDir, 'anchors', 'resigned', anchorFileName(size)));
    const w = new ChainWriter('resigned', { seq: 14, hash: all[13].hash });
    const forged = all.slice(14).map((e) => ({ ...e, actor_id: e.seq === 15 ? 'mallory' : e.actor_id }));
    w.append(forged);
    await store.insertJsonEachRow('events', forged.map((e) => JSON.stringify(e)).join('\n') + '\n', 'resigned-forged');
    const resigner = await Checkpointer.start(store, { chainId: 'resigned', dataDir, anchors: [local()], everyEvents: 10, intervalMs: 0 }, silentLogger);
    expect(resigner.status().halted).toBeNull();
    await resigner.close();

    // With only the local anchor, the rewrite is invisible.
    expect((await verify('resigned', [local()], cp.key)).ok).toBe(true);

    // The external copy still has 20 and 30 as first signed.
    const r = await verify('resigned', [local(), external()], cp.key);
    expect(r.ok).toBe(false);
    const ext = pathToFileURL(externalDir).href;
    const loc = pathToFileURL(join(dataDir, 'anchors')).href;
    expect(r.findings.map(pick)).toEqual([
      { kind: 'missing_checkpoint', tree_size: 20, where: 'anchor', anchor: loc, seq: undefined, seq_to: undefined },
      { kind: 'missing_checkpoint', tree_size: 20, where: 'table', anchor: undefined, seq: undefined, seq_to: undefined },
      { kind: 'conflicting_checkpoint', tree_size: 30, where: undefined, anchor: undefined, seq: undefined, seq_to: undefined },
      { kind: 'rewritten', tree_size: 20, where: undefined, anchor: undefined, seq: 11, seq_to: 20 },
      { kind: 'rewritten', tree_size: 30, where: undefined, anchor: undefined, seq: 21, seq_to: 30 },
    ]);
    expect(r.findings.find((f) => f.kind === 'conflicting_checkpoint')!.detail).toMatch(new RegExp(`checkpoint 30 exists in 2 different signed versions: .*\\(in ${ext}\\).*\\(in ${loc}, the checkpoints table\\)`));

    // And a bridge started with the external anchor again refuses to sign on top of either.
    const honest = await Checkpointer.start(store, { chainId: 'resigned', dataDir, anchors: [local(), external()], everyEvents: 10, intervalMs: 0 }, silentLogger);
    expect(honest.status().halted).toMatch(/the anchors disagree on chain resigned/);
    await honest.close();
  });

  it('a checkpoint signed long after its events is late; one signed while the TSA was down is missing its timestamp', async () => {
    const anchors = [local(), timestamps()];
    const cp = await Checkpointer.start(store, { chainId: 'late', dataDir, anchors, everyEvents: 10, intervalMs: 0 }, silentLogger);
    const writer = new ChainWriter('late', null);
    const all: AuditEvent[] = [];
    await write('late', writer, all, 10, cp); // in time
    await cp.checkpointNow();
    await write('late', writer, all, 10, cp, 2 * 3_600_000); // ingested two hours ago, signed now
    await cp.checkpointNow();
    tsa.failWith = 503;
    await write('late', writer, all, 10, cp);
    await cp.checkpointNow();
    tsa.failWith = null;
    await cp.close();
    const r = await verify('late', anchors, cp.key);
    expect(r.findings.map(pick)).toEqual([
      { kind: 'missing_checkpoint', tree_size: 30, where: 'anchor', anchor: tsa.anchorUrl, seq: undefined, seq_to: undefined },
      { kind: 'late_checkpoint', tree_size: 20, where: undefined, anchor: tsa.anchorUrl, seq: 11, seq_to: 20 },
    ]);
    expect(r.findings[1].detail).toMatch(/checkpoint 20 was timestamped at .*, 120 min after the first event it newly covers \(seq 11/);
    // A wider tolerance accepts it.
    expect((await verify('late', anchors, cp.key, 3 * 3_600_000)).findings.map((f) => f.kind)).toEqual(['missing_checkpoint']);
  });
});
