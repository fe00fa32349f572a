/**
 * verifyChain against a real chDB store, one chain per scenario (chains are independent, and a
 * test file may open only one store). Each chain: 300 events inserted in batches of 50,
 * checkpoints every 100 by the real Checkpointer; then the rows or checkpoints are tampered
 * with directly in ClickHouse, as an attacker with database access would.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../internal/index.ts';
import type { AuditEvent } from '../model.ts';
import { Store } from '../store/index.ts';
import { anchorFileName, DirectoryAnchorSink } from './anchor.ts';
import { eventHash } from './canonical.ts';
import { ChainWriter } from './chain-writer.ts';
import { Checkpointer, tableCheckpoints } from './checkpointer.ts';
import { loadOrCreateSigningKey } from './checkpoint.ts';
import { verifyProofBundle } from './proof.ts';
import { buildInclusionBundle, ProofUnavailableError } from './prove.ts';
import { chainRows } from './source.ts';
import { syntheticEvent } from './testdata/synthetic.ts';
import { verifyStoredChain } from './verify-store.ts';
import { formatReport, scanContent, verifyChain, type Finding, type VerifyReport } from './verify.ts';
import { openTempStore, type TempStore } from '../store/testdata/index.ts';

const N = 300;
let store: Store;
let dataDir: string;
let anchorDir: string;
const events = new Map<string, AuditEvent[]>();

async function buildChain(chainId: string): Promise<void> {
  const writer = new ChainWriter(chainId, null);
  const evs = Array.from({ length: N }, (_, i) => syntheticEvent(i, chainId));
  writer.append(evs);
  events.set(chainId, evs);
  const cp = await Checkpointer.start(store, { chainId, dataDir, anchorDir, everyEvents: 100, intervalMs: 0 }, silentLogger);
  for (let i = 0; i < N; i += 50) {
    const batch = evs.slice(i, i + 50);
    const body = batch.map((e) => JSON.stringify(e)).join('\n') + '\n';
    await store.insertJsonEachRow('events', body, `${chainId}:${i}`);
    cp.stored(batch[0].seq, batch[batch.length - 1].seq, batch.map((e) => e.hash));
  }
  await cp.close();
}

/** Both modes, which must agree: one pass over full rows in seq order, and the two-pass path the API uses. */
async function verify(chainId: string, opts: { from?: number; to?: number } = {}): Promise<VerifyReport> {
  const key = loadOrCreateSigningKey({ dataDir }).publicKey;
  const sink = new DirectoryAnchorSink(anchorDir);
  const { records, errors } = await sink.readAll(chainId);
  const onePass = await verifyChain(chainRows(store, { chainId, ...opts }), records, key, {
    chainId,
    ...opts,
    tableCheckpoints: await tableCheckpoints(store, chainId),
    anchorErrors: errors,
  });
  const twoPass = await verifyStoredChain(store, sink, key, { chainId, ...opts });
  expect({ ...twoPass, anchors: undefined, duration_ms: 0 }).toEqual({ ...onePass, duration_ms: 0 });
  return twoPass;
}

const mutate = (sql: string) => store.command(`${sql} SETTINGS mutations_sync = 1`);
const kinds = (r: VerifyReport) => r.findings.map((f) => f.kind);
const pick = (f: Finding) => ({ kind: f.kind, seq: f.seq, seq_to: f.seq_to, event_id: f.event_id, tree_size: f.tree_size, where: f.where });

/** A row as the attacker would write it: the stored shape, with a fresh hash. */
function rehashed(e: AuditEvent, patch: Partial<AuditEvent>): AuditEvent {
  const row = { ...e, ...patch };
  row.hash = eventHash(row as unknown as Record<string, unknown>);
  return row;
}

const CHAINS = ['clean', 'modified', 'recomputed', 'rewritten', 'deleted', 'inserted', 'reordered', 'truncated', 'cpmissing', 'cpforged', 'retention', 'proof', 'swapfar', 'boundary', 'replaced', 'genesis'];

let temp: TempStore;
beforeAll(async () => {
  temp = await openTempStore('verify-test-');
  ({ dataDir, store } = temp);
  anchorDir = join(dataDir, 'anchors');
  for (const c of CHAINS) await buildChain(c);
});
afterAll(() => temp?.remove());

describe('verifyChain on chDB', () => {
  it('an untouched chain is intact, every checkpoint reproduced', async () => {
    const r = await verify('clean');
    expect(r.findings).toEqual([]);
    expect(r.ok).toBe(true);
    expect(r.events_checked).toBe(N);
    expect(r.checkpoints).toEqual({ anchored: 3, in_table: 3, verified: 3, latest_tree_size: 300 });
    expect(r.unanchored_events).toBe(0);
    expect(formatReport(r)).toMatch(/^OK: chain clean, 300 events checked/);
  });

  it('modified: a changed column is located at its seq', async () => {
    await mutate(`ALTER TABLE otel_audit.events UPDATE actor_id = 'mallory' WHERE chain_id = 'modified' AND seq = 150`);
    const r = await verify('modified');
    expect(r.ok).toBe(false);
    expect(r.findings.map(pick)).toEqual([{ kind: 'modified', seq: 150, event_id: events.get('modified')![149].event_id }]);
  });

  it('modified with the hash recomputed: located by the next event still linking to the original', async () => {
    const e = events.get('recomputed')![149];
    const forged = rehashed(e, { actor_id: 'mallory' });
    await mutate(`ALTER TABLE otel_audit.events UPDATE actor_id = 'mallory', hash = '${forged.hash}' WHERE chain_id = 'recomputed' AND seq = 150`);
    const r = await verify('recomputed');
    expect(r.findings.map(pick)).toEqual([{ kind: 'modified', seq: 150, event_id: e.event_id }]);
  });

  it('rewritten: a chain re-hashed from seq 150 on links but fails the signed roots, per checkpoint interval', async () => {
    const evs = events.get('rewritten')!;
    await mutate(`ALTER TABLE otel_audit.events DELETE WHERE chain_id = 'rewritten' AND seq >= 150`);
    const w = new ChainWriter('rewritten', { seq: 149, hash: evs[148].hash });
    const forged = evs.slice(149).map((e, i) => ({ ...e, actor_id: i === 0 ? 'mallory' : e.actor_id }));
    w.append(forged);
    await store.insertJsonEachRow('events', forged.map((e) => JSON.stringify(e)).join('\n') + '\n', 'rewrite');
    const r = await verify('rewritten');
    expect(r.findings.map(pick)).toEqual([
      { kind: 'rewritten', seq: 101, seq_to: 200, tree_size: 200 },
      { kind: 'rewritten', seq: 201, seq_to: 300, tree_size: 300 },
    ]);
    expect(r.checkpoints.verified).toBe(1);
  });

  it('inserted: a rehashed first event linking to neither the genesis hash nor its successor', async () => {
    const e = events.get('genesis')![0];
    const forged = rehashed(e, { prev_hash: 'b'.repeat(64) });
    await mutate(`ALTER TABLE otel_audit.events UPDATE prev_hash = '${forged.prev_hash}', hash = '${forged.hash}' WHERE chain_id = 'genesis' AND seq = 1`);
    const r = await verify('genesis');
    expect(r.findings.map(pick)).toEqual([{ kind: 'inserted', seq: 1, event_id: e.event_id }]);
  });

  it('deleted: a missing row is a gap at its seq', async () => {
    await mutate(`ALTER TABLE otel_audit.events DELETE WHERE chain_id = 'deleted' AND seq = 120`);
    const r = await verify('deleted');
    expect(r.findings.map(pick)).toEqual([{ kind: 'deleted', seq: 120 }]);
  });

  it('inserted: an extra row with a duplicate seq is named, the original kept', async () => {
    const orig = events.get('inserted')![129];
    const extra = rehashed(orig, { event_id: 'forged-event', actor_id: 'mallory' });
    await store.insertJsonEachRow('events', JSON.stringify(extra) + '\n', 'forged');
    const r = await verify('inserted');
    expect(r.findings.map(pick)).toEqual([{ kind: 'inserted', seq: 130, event_id: 'forged-event' }]);
    expect(r.checkpoints.verified).toBe(3);
  });

  it('inserted: a row appended after the head that does not link', async () => {
    const last = events.get('inserted')![N - 1];
    const extra = rehashed(last, { event_id: 'appended', seq: N + 1, prev_hash: 'f'.repeat(64) });
    await store.insertJsonEachRow('events', JSON.stringify(extra) + '\n', 'appended');
    const r = await verify('inserted');
    expect(r.findings.map(pick)).toContainEqual({ kind: 'inserted', seq: N + 1, event_id: 'appended' });
  });

  it('reordered: two rows with swapped seqs', async () => {
    await mutate(`ALTER TABLE otel_audit.events UPDATE seq = if(seq = 170, 171, 170) WHERE chain_id = 'reordered' AND seq IN (170, 171)`);
    const evs = events.get('reordered')!;
    const r = await verify('reordered');
    expect(r.findings.map(pick)).toEqual([
      { kind: 'reordered', seq: 170, event_id: evs[170].event_id },
      { kind: 'reordered', seq: 171, event_id: evs[169].event_id },
    ]);
  });

  it('reordered: rows moved far apart, across a checkpoint', async () => {
    await mutate(`ALTER TABLE otel_audit.events UPDATE seq = if(seq = 190, 230, 190) WHERE chain_id = 'swapfar' AND seq IN (190, 230)`);
    const evs = events.get('swapfar')!;
    const r = await verify('swapfar');
    expect(r.findings.map(pick)).toEqual([
      { kind: 'reordered', seq: 190, event_id: evs[229].event_id },
      { kind: 'reordered', seq: 230, event_id: evs[189].event_id },
    ]);
  });

  it('deleted: the event a checkpoint ends on', async () => {
    await mutate(`ALTER TABLE otel_audit.events DELETE WHERE chain_id = 'boundary' AND seq IN (200, 201)`);
    const r = await verify('boundary');
    expect(r.findings.map(pick)).toEqual([{ kind: 'deleted', seq: 200, seq_to: 201 }]);
  });

  it('inserted: a foreign row in place of the original links to neither neighbour', async () => {
    const orig = events.get('replaced')![59];
    const foreign = rehashed(orig, { event_id: 'foreign', prev_hash: 'e'.repeat(64) });
    await mutate(`ALTER TABLE otel_audit.events DELETE WHERE chain_id = 'replaced' AND seq = 60`);
    await store.insertJsonEachRow('events', JSON.stringify(foreign) + '\n', 'foreign');
    const r = await verify('replaced');
    expect(r.findings.map(pick)).toEqual([{ kind: 'inserted', seq: 60, event_id: 'foreign' }]);
  });

  it('truncated: the newest events removed below the last checkpoint', async () => {
    await mutate(`ALTER TABLE otel_audit.events DELETE WHERE chain_id = 'truncated' AND seq > 250`);
    const r = await verify('truncated');
    expect(r.findings.map(pick)).toEqual([{ kind: 'truncated', seq: 251, seq_to: 300, tree_size: 300 }]);
  });

  it('missing checkpoint: deleted from the table, or from the anchor', async () => {
    await mutate(`ALTER TABLE otel_audit.checkpoints DELETE WHERE chain_id = 'cpmissing' AND tree_size = 200`);
    let r = await verify('cpmissing');
    expect(r.findings.map(pick)).toEqual([{ kind: 'missing_checkpoint', tree_size: 200, where: 'table' }]);
    rmSync(join(anchorDir, 'cpmissing', anchorFileName(100)));
    r = await verify('cpmissing');
    expect(r.findings.map(pick)).toEqual([
      { kind: 'missing_checkpoint', tree_size: 100, where: 'anchor' },
      { kind: 'missing_checkpoint', tree_size: 200, where: 'table' },
    ]);
  });

  it('forged checkpoint: changed in the table, or in the anchor (bad signature)', async () => {
    await mutate(`ALTER TABLE otel_audit.checkpoints UPDATE root_hash = '${'a'.repeat(64)}' WHERE chain_id = 'cpforged' AND tree_size = 200`);
    let r = await verify('cpforged');
    expect(r.findings.map(pick)).toEqual([{ kind: 'forged_checkpoint', tree_size: 200, where: 'table' }]);
    expect(r.findings[0].detail).toContain('root_hash');

    const file = join(anchorDir, 'cpforged', anchorFileName(300));
    const rec = JSON.parse(readFileSync(file, 'utf8'));
    rec.checkpoint.created_at = '2020-01-01T00:00:00.000Z';
    writeFileSync(file, JSON.stringify(rec));
    r = await verify('cpforged');
    expect(r.findings.map(pick)).toEqual([
      { kind: 'forged_checkpoint', tree_size: 300, where: 'anchor' },
      { kind: 'forged_checkpoint', tree_size: 200, where: 'table' },
      { kind: 'forged_checkpoint', tree_size: 300, where: 'table' },
    ]);
    expect(r.findings[0].detail).toContain('signature is not valid');
  });

  it('retention: after dropping the oldest events, verify from the checkpoint boundary', async () => {
    await mutate(`ALTER TABLE otel_audit.events DELETE WHERE chain_id = 'retention' AND seq <= 100`);
    const full = await verify('retention');
    expect(kinds(full)).toEqual(['deleted']);
    expect(full.findings[0]).toMatchObject({ seq: 1, seq_to: 100 });
    expect(full.notes.join(' ')).toContain('--from');

    const r = await verify('retention', { from: 101 });
    expect(r.findings).toEqual([]);
    expect(r.checkpoints.verified).toBe(2);
    // The link into seq 101 is checked against checkpoint 100's signed head:
    await mutate(`ALTER TABLE otel_audit.events UPDATE actor_id = 'mallory' WHERE chain_id = 'retention' AND seq = 101`);
    expect((await verify('retention', { from: 101 })).findings.map(pick)).toEqual([
      { kind: 'modified', seq: 101, event_id: events.get('retention')![100].event_id },
    ]);
  });

  it('two passes: a content scan of other rows is refused, not trusted', async () => {
    const key = loadOrCreateSigningKey({ dataDir }).publicKey;
    const content = await scanContent(chainRows(store, { chainId: 'clean', ordered: false, to: N - 1 }));
    const ordered = chainRows(store, { chainId: 'clean', columns: 'seq, prev_hash, hash, event_id' });
    await expect(verifyChain(ordered, [], key, { chainId: 'clean', content })).rejects.toThrow(/changed between the two passes/);
  });

  it('a seq range checks only that range', async () => {
    const r = await verify('clean', { from: 101, to: 200 });
    expect(r.ok).toBe(true);
    expect(r.events_checked).toBe(100);
    expect(r.checkpoints.verified).toBe(1);
  });
});

describe('inclusion proofs from the store', () => {
  it('builds a bundle that verifies offline, and refuses when the chain is tampered with', async () => {
    const key = loadOrCreateSigningKey({ dataDir }).publicKey;
    const sink = new DirectoryAnchorSink(anchorDir);
    const checkpoint = (await sink.latest('proof'))!.checkpoint;
    const rows = await store.rows<Record<string, unknown>>(`SELECT * FROM otel_audit.events WHERE chain_id = 'proof' AND seq = 77`);
    const bundle = await buildInclusionBundle(store, rows[0], checkpoint, key);
    expect(bundle.leaf_index).toBe(76);
    expect(bundle.tree_size).toBe(300);
    expect(verifyProofBundle(JSON.parse(JSON.stringify(bundle)), key, eventHash)).toEqual({ ok: true, errors: [] });

    const changed = { ...bundle, event: { ...bundle.event, actor_id: 'mallory' } };
    expect(verifyProofBundle(changed, key, eventHash).ok).toBe(false);

    await mutate(`ALTER TABLE otel_audit.events DELETE WHERE chain_id = 'proof' AND seq = 5`);
    await expect(buildInclusionBundle(store, rows[0], checkpoint, key)).rejects.toBeInstanceOf(ProofUnavailableError);
  });
});
