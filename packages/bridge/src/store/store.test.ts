import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChainWriter, eventHash } from '../chain/index.ts';
import { fullDdl, MIGRATIONS } from './schema.ts';
import { Store } from './store.ts';
import { sampleEvent } from './testdata/sample-event.ts';

let store: Store;

beforeAll(async () => {
  store = await Store.open({ dataDir: mkdtempSync(join(tmpdir(), 'store-test-')), database: 'otel_audit' });
});
afterAll(async () => {
  await store?.close();
});

describe('Store on chDB', () => {
  it('migrates idempotently and records the schema version', async () => {
    expect(await store.migrate()).toEqual(MIGRATIONS.map((m) => m.version));
    expect(await store.migrate()).toEqual([]);
    expect(await store.schemaVersion()).toBe(MIGRATIONS.at(-1)!.version);
    const views = await store.rows<{ name: string }>("SELECT name FROM system.tables WHERE database = 'otel_audit' ORDER BY name");
    expect(views.map((v) => v.name)).toEqual(
      expect.arrayContaining(['events', 'checkpoints', 'model_calls', 'retrievals', 'tool_calls', 'approvals', 'system_effects', 'timeline']),
    );
  });

  it('a re-inserted batch with the same dedup token makes no second row', async () => {
    const events = [sampleEvent(1), sampleEvent(2)];
    new ChainWriter('dedup-test', null).append(events);
    const body = events.map((e) => JSON.stringify(e)).join('\n') + '\n';
    await store.insertJsonEachRow('events', body, 'dedup-test:1-2');
    await store.insertJsonEachRow('events', body, 'dedup-test:1-2');
    const [{ n }] = await store.rows<{ n: string }>("SELECT count() AS n FROM otel_audit.events WHERE chain_id = 'dedup-test'");
    expect(Number(n)).toBe(2);
  });

  it('a row read back from ClickHouse hashes to the hash computed before insert', async () => {
    const events = [sampleEvent(3), sampleEvent(4)];
    new ChainWriter('hash-test', null).append(events);
    await store.insertJsonEachRow('events', events.map((e) => JSON.stringify(e)).join('\n') + '\n', 'hash-test:1-2');
    const back = await store.rows<Record<string, unknown>>("SELECT * FROM otel_audit.events WHERE chain_id = 'hash-test' ORDER BY seq");
    expect(back).toHaveLength(2);
    for (const [i, row] of back.entries()) {
      expect(row.hash).toBe(events[i].hash);
      expect(eventHash(row)).toBe(events[i].hash);
    }
    expect(back[1].prev_hash).toBe(back[0].hash);
  });

  it('prints a cluster DDL variant with replicated and distributed tables', () => {
    const ddl = fullDdl({ database: 'otel_audit', cluster: 'prod' });
    expect(ddl).toContain("ReplicatedMergeTree('/clickhouse/tables/{shard}/otel_audit/events'");
    expect(ddl).toContain("ENGINE = Distributed('prod', otel_audit, events_local");
    expect(ddl).toContain("ON CLUSTER 'prod'");
  });

  it('runs the embedded engine with its own configuration, and names the file when it cannot write it', async () => {
    const [{ v }] = await store.rows<{ v: string }>("SELECT value AS v FROM system.merge_tree_settings WHERE name = 'vertical_merge_algorithm_min_rows_to_activate'");
    expect(v).toBe('1');
    // A directory where the configuration file goes: the write fails before any engine starts.
    const dataDir = mkdtempSync(join(tmpdir(), 'store-test-unwritable-'));
    mkdirSync(join(dataDir, 'clickhouse.xml'));
    await expect(Store.open({ dataDir, database: 'otel_audit' })).rejects.toThrow(/cannot write the embedded ClickHouse configuration .*clickhouse\.xml.*--data-dir/);
  });
});
