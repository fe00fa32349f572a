/**
 * Retention by risk level with one hash chain per risk level, on a real chDB store: the TTL
 * deletes only rows of the low-risk chain, as a prefix of it, and every chain still verifies
 * (the low one from the checkpoint boundary after its oldest retained seq, `verify --from`).
 */

import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChainWriter, Checkpointer, DirectoryAnchorSink, riskChainId, riskChainIds, verifyStoredChain } from '../chain/index.ts';
import { silentLogger } from '../internal/index.ts';
import type { AuditEvent } from '../model.ts';
import { EVENT_COLUMNS, RowWriter, rowEncoder, Store } from '../store/index.ts';
import { openTempStore, sampleEvent, type TempStore } from '../store/testdata/index.ts';

let store: Store;
let dataDir: string;
let anchorDir: string;
const checkpointers = new Map<string, Checkpointer>();
const writers = new Map<string, ChainWriter>();

const daysAgo = (d: number) => new Date(Date.now() - d * 86_400_000).toISOString().replace('T', ' ').replace('Z', '000000');

function event(i: number, risk: string, ageDays: number): AuditEvent {
  const e = sampleEvent(1000 + i);
  e.risk = risk;
  e.ingest_time = daysAgo(ageDays);
  return e;
}

/** As the pipeline's seal(): grouped by risk chain (order kept), one batch per chain, then the stored hook. */
async function seal(events: AuditEvent[], round: number): Promise<void> {
  const groups = new Map<string, AuditEvent[]>();
  for (const e of events) {
    const id = riskChainId('main', e.risk);
    if (!groups.has(id)) groups.set(id, []);
    groups.get(id)!.push(e);
  }
  for (const [id, evs] of groups) {
    if (!writers.has(id)) writers.set(id, new ChainWriter(id, null));
    writers.get(id)!.append(evs);
    const w = new RowWriter();
    const encode = rowEncoder(EVENT_COLUMNS);
    for (const e of evs) encode(w, e as unknown as Record<string, unknown>);
    await store.insertRowBinary('events', EVENT_COLUMNS, w.take(), `${id}:${round}`);
    checkpointers.get(id)!.stored(evs[0].seq, evs.at(-1)!.seq, evs.map((e) => e.hash));
  }
  for (const cp of checkpointers.values()) await cp.checkpointNow();
}

const verify = (chainId: string, from?: number) =>
  verifyStoredChain(store, new DirectoryAnchorSink(anchorDir), [...checkpointers.values()][0].key.publicKey, { chainId, from });

const count = async (chainId: string) =>
  Number((await store.rows<{ n: string }>('SELECT count() AS n FROM otel_audit.events WHERE chain_id = {c:String}', { c: chainId }))[0].n);

let temp: TempStore;
beforeAll(async () => {
  temp = await openTempStore('retention-chains-');
  ({ dataDir, store } = temp);
  anchorDir = join(dataDir, 'anchors');
  for (const id of riskChainIds('main')) {
    checkpointers.set(id, await Checkpointer.start(store, { chainId: id, dataDir, anchorDir, everyEvents: 1_000, intervalMs: 0 }, silentLogger));
  }
});
afterAll(async () => {
  for (const cp of checkpointers.values()) await cp.close();
  await temp?.remove();
});

describe('one chain per risk level', () => {
  it('routes each risk to its chain; an unknown risk goes to the high chain (the longest retention)', () => {
    expect(riskChainIds('main')).toEqual(['main-low', 'main-medium', 'main-high']);
    expect(['low', 'medium', 'high', 'critical', ''].map((r) => riskChainId('main', r))).toEqual([
      'main-low',
      'main-medium',
      'main-high',
      'main-high',
      'main-high',
    ]);
  });

  it('expiry of old low rows deletes a prefix of the low chain only; the rest verifies from the checkpoint boundary', async () => {
    // Round 1, 50 days ago (within the default 90 days): 4 low and 3 medium events, interleaved as they arrive.
    await seal([event(1, 'low', 50), event(2, 'medium', 50), event(3, 'low', 50), event(4, 'low', 50), event(5, 'medium', 50), event(6, 'low', 50), event(7, 'medium', 50)], 1);
    // Round 2, now: 3 low, 2 medium, 1 high.
    await seal([event(8, 'low', 0), event(9, 'high', 0), event(10, 'medium', 0), event(11, 'low', 0), event(12, 'low', 0), event(13, 'medium', 0)], 2);
    expect([await count('main-low'), await count('main-medium'), await count('main-high')]).toEqual([7, 5, 1]);
    for (const id of riskChainIds('main')) expect(await verify(id), id).toMatchObject({ ok: true, findings: [] });
    // Checkpoints: low at 4 (round 1) and 7.
    expect(new DirectoryAnchorSink(anchorDir).sizesSync('main-low')).toEqual([4, 7]);

    // Low kept 30 days now; merge so that the TTL applies at once.
    await store.command(
      "ALTER TABLE otel_audit.events MODIFY TTL toDateTime(ingest_time) + toIntervalDay(multiIf(risk = 'low', 30, risk = 'medium', 365, 2190)) DELETE WHERE endsWith(chain_id, concat('-', risk))",
    );
    await store.command('OPTIMIZE TABLE otel_audit.events FINAL');

    const left = await store.rows<{ seq: string }>("SELECT seq FROM otel_audit.events WHERE chain_id = 'main-low' ORDER BY seq");
    expect(left.map((r) => Number(r.seq))).toEqual([5, 6, 7]);
    expect([await count('main-medium'), await count('main-high')]).toEqual([5, 1]);
    // From seq 1 the deleted prefix shows; from the boundary after it (checkpoint 4 → --from 5) all is intact.
    expect((await verify('main-low')).ok).toBe(false);
    expect(await verify('main-low', 5)).toMatchObject({ ok: true, findings: [], events_checked: 3 });
    expect(await verify('main-medium')).toMatchObject({ ok: true, findings: [], events_checked: 5 });
    expect(await verify('main-high')).toMatchObject({ ok: true, findings: [], events_checked: 1 });
  });

  it('with a retention of 0 days the whole low chain goes; medium and high are untouched and verify', async () => {
    await store.command(
      "ALTER TABLE otel_audit.events MODIFY TTL toDateTime(ingest_time) + toIntervalDay(multiIf(risk = 'low', 0, risk = 'medium', 365, 2190)) DELETE WHERE endsWith(chain_id, concat('-', risk))",
    );
    await store.command('OPTIMIZE TABLE otel_audit.events FINAL');
    expect([await count('main-low'), await count('main-medium'), await count('main-high')]).toEqual([0, 5, 1]);
    expect(await verify('main-medium')).toMatchObject({ ok: true, findings: [], events_checked: 5 });
    expect(await verify('main-high')).toMatchObject({ ok: true, findings: [], events_checked: 1 });
  });
});
