/**
 * The chain step against a real spool (write-ahead log on disk, chDB store): events go to the
 * chain of their risk, in batches of at most batchRows, each re-sent event once, and after a
 * replay the chains continue after the logged batches.
 */

import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventHash, GENESIS_HASH } from '../chain/index.ts';
import { syntheticEvent } from '../chain/testdata/index.ts';
import { Metrics, silentLogger } from '../internal/index.ts';
import type { AuditEvent } from '../model.ts';
import { Spool, WriteAheadLog, type StoredBatch } from '../spool/index.ts';
import { Store } from '../store/index.ts';
import { ChainStep } from './chain-step.ts';
import { RecentIds } from './recent-ids.ts';
import { chainBreaks } from './testdata/requests.ts';
import { openTempStore, type TempStore } from '../store/testdata/index.ts';

let temp: TempStore;
let dataDir: string;
let store: Store;
beforeAll(async () => {
  temp = await openTempStore('chain-step-test-');
  ({ dataDir, store } = temp);
});
afterAll(() => temp?.remove());

async function step(name: string, batchRows: number) {
  const { wal } = await WriteAheadLog.openForReplay({ dir: join(dataDir, name), segmentBytes: 1 << 20, fsync: false });
  const stored: StoredBatch[] = [];
  const spool = new Spool(wal, store, { budgetBytes: 1 << 24, memoryBytes: 1 << 22 }, silentLogger, new Metrics(), { onStored: (b) => stored.push(b), onWalError: () => {} });
  let duplicates = 0;
  const chain = new ChainStep({ chainId: name, batchRows, heads: new Map(), recent: new RecentIds(1000), spool, onDuplicate: () => duplicates++ });
  return { chain, spool, stored, duplicates: () => duplicates };
}

const event = (i: number, risk: string): AuditEvent => ({ ...syntheticEvent(i, `cs-${risk}`), risk });
const rowsOf = (chainId: string) =>
  store.rows<Record<string, unknown>>(`SELECT * FROM otel_audit.events WHERE chain_id = {c:String} ORDER BY seq`, { c: chainId });

describe('ChainStep', () => {
  it('chains each event into its risk chain, in batches of at most batchRows, a re-sent event once', async () => {
    const { chain, spool, stored, duplicates } = await step('riskstep', 4);
    const events = Array.from({ length: 15 }, (_, i) => event(i, i % 3 === 0 ? 'low' : 'high'));
    chain.append(events);
    // The same events again (a re-sent request): dropped, each counted.
    chain.append(events.slice(0, 3).map((e) => ({ ...e })));
    spool.kick();
    await spool.waitStored();
    expect(duplicates()).toBe(3);
    expect(stored.map((b) => [b.chainId, b.firstSeq, b.lastSeq])).toEqual([
      ['riskstep-low', 1, 4],
      ['riskstep-low', 5, 5],
      ['riskstep-high', 1, 4],
      ['riskstep-high', 5, 8],
      ['riskstep-high', 9, 10],
    ]);
    expect(chain.heads['riskstep-low'].seq).toBe(5);
    expect(chain.heads['riskstep-high'].seq).toBe(10);
    expect(chain.heads['riskstep-medium']).toEqual({ seq: 0, hash: GENESIS_HASH });
    for (const [id, n] of [['riskstep-low', 5], ['riskstep-high', 10]] as const) {
      const rows = await rowsOf(id);
      expect(rows).toHaveLength(n);
      expect(chainBreaks(rows, GENESIS_HASH, eventHash)).toEqual([]);
    }
    await spool.close();
  });

  it('after a replay, skips the events of logged batches and continues each chain after them', async () => {
    const { chain, spool } = await step('resumestep', 100);
    const logged = Array.from({ length: 3 }, (_, i) => event(100 + i, 'medium'));
    const head = { seq: 7, hash: 'a'.repeat(64) };
    chain.resumeAfter(
      logged.map((e) => e.event_id),
      new Map([['resumestep-medium', head]]),
    );
    chain.append([...logged, event(200, 'medium')]);
    expect(chain.heads['resumestep-medium'].seq).toBe(8);
    spool.kick();
    await spool.waitStored();
    const rows = await rowsOf('resumestep-medium');
    expect(rows.map((r) => [Number(r.seq), r.prev_hash, r.event_id])).toEqual([[8, head.hash, event(200, 'medium').event_id]]);
    expect(rows[0].hash).toBe(eventHash(rows[0]));
    await spool.close();
  });
});
