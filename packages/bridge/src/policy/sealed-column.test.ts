/**
 * The schema migrations of the privacy stage on a real chDB store: `content_sealed` added to a
 * table that already holds chained rows (which must still verify), and the retention TTL.
 */
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChainWriter, DirectoryAnchorSink, eventHash, verifyStoredChain } from '../chain/index.ts';
import { silentLogger } from '../internal/index.ts';
import type { AuditEvent } from '../model.ts';
import { EVENT_COLUMNS, EVENT_COLUMNS_V1, fullDdl, MIGRATIONS, migrationTableDdl, RowWriter, rowEncoder, Store } from '../store/index.ts';
import { sampleEvent } from '../store/testdata/index.ts';
import { applyRetention, currentRetention } from './retention.ts';

/** Hashes of sampleEvent(1), sampleEvent(2) sealed as chain 'old', computed by the first schema's canonical.ts. */
const V1_HASHES = [
  '04ff9cc46001698dcc9a4ab1899808cd0327404bc1edd701dccff0b852acd5c5',
  '076c49bf32858dd04a8ce0c5572e3b7c554f0646731d21b93fa31a34ede11993',
];

let store: Store;
let dir: string;

async function insert(events: AuditEvent[], columns: typeof EVENT_COLUMNS, token: string): Promise<void> {
  const w = new RowWriter();
  const encode = rowEncoder(columns);
  for (const e of events) encode(w, e as unknown as Record<string, unknown>);
  await store.insertRowBinary('events', columns, w.take(), token);
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sealed-column-'));
  store = await Store.open({ dataDir: dir, database: 'otel_audit' });
  // A store as the first release left it: migrations 1 and 2 only.
  await store.command('CREATE DATABASE IF NOT EXISTS otel_audit');
  await store.command(migrationTableDdl(store.schema));
  for (const m of MIGRATIONS.filter((x) => x.version <= 2)) {
    for (const s of m.statements({ database: 'otel_audit' })) await store.command(s);
    await store.command(`INSERT INTO otel_audit.schema_migrations (version, name) VALUES (${m.version}, 'old')`);
  }
});

afterAll(async () => {
  await store?.close();
});

describe('content_sealed on a store with older rows', () => {
  it('rows without the column hash exactly as the first schema hashed them', async () => {
    const old = [sampleEvent(1), sampleEvent(2)];
    new ChainWriter('old', null, { hashVersion: 1 }).append(old);
    expect(old.map((e) => e.hash)).toEqual(V1_HASHES);
    await insert(old, EVENT_COLUMNS_V1, 'old:1-2');
    expect(await store.migrate()).toEqual(MIGRATIONS.filter((m) => m.version > 2).map((m) => m.version));
  });

  it('after the migration, old rows read back with content_sealed = "" and still verify; new rows hash the column', async () => {
    const back = await store.rows<Record<string, unknown>>("SELECT * FROM otel_audit.events WHERE chain_id = 'old' ORDER BY seq");
    expect(back.map((r) => r.content_sealed)).toEqual(['', '']);
    expect(back.map((r) => eventHash(r))).toEqual(V1_HASHES);

    const fresh = sampleEvent(3) as AuditEvent & { content_sealed?: string };
    fresh.content_sealed = 'AQ' + 'A'.repeat(80);
    const plain = { ...sampleEvent(3), chain_id: 'old', seq: 3, prev_hash: V1_HASHES[1], hash_version: 2 };
    new ChainWriter('old', { seq: 2, hash: V1_HASHES[1] }).append([fresh]);
    expect(fresh.hash).not.toBe(eventHash(plain));
    await insert([fresh], EVENT_COLUMNS, 'old:3-3');
    const [row] = await store.rows<Record<string, unknown>>("SELECT * FROM otel_audit.events WHERE chain_id = 'old' AND seq = 3");
    expect(row.content_sealed).toBe(fresh.content_sealed);
    expect(row.hash_version).toBe(2); // old rows on the chain are version 1, new ones version 2
    expect(eventHash(row)).toBe(fresh.hash);

    const key = generateKeyPairSync('ed25519').privateKey;
    const anchors = new DirectoryAnchorSink(join(dir, 'anchors'));
    const ok = await verifyStoredChain(store, anchors, key as never, { chainId: 'old' });
    expect(ok.findings).toEqual([]);
    expect(ok.events_checked).toBe(3);

    // Changing the sealed content (or clearing it) is tampering like any other column.
    await store.command("ALTER TABLE otel_audit.events UPDATE content_sealed = '' WHERE chain_id = 'old' AND seq = 3 SETTINGS mutations_sync = 1");
    const bad = await verifyStoredChain(store, anchors, key as never, { chainId: 'old' });
    expect(bad.ok).toBe(false);
    expect(bad.findings.map((f) => f.kind)).toContain('modified');
  });
});

describe('retention by risk level', () => {
  it('the DDL holds the TTL: low 90, medium 365, high 2190 days, only in single-risk chains', () => {
    const ddl = fullDdl({ database: 'otel_audit' });
    expect(ddl).toContain(
      "MODIFY TTL toDateTime(ingest_time) + toIntervalDay(multiIf(risk = 'low', 90, risk = 'medium', 365, 2190)) DELETE WHERE endsWith(chain_id, concat('-', risk))",
    );
    expect(fullDdl({ database: 'otel_audit', cluster: 'c' })).toContain("ALTER TABLE otel_audit.events_local ON CLUSTER 'c' MODIFY TTL");
  });

  it('the migrated table has it, and the policy retention replaces it', async () => {
    expect(await currentRetention(store)).toEqual({ low: 90, medium: 365, high: 2190 });
    expect(await applyRetention(store, { low: 90, medium: 365, high: 2190 }, silentLogger)).toBe(false);
    expect(await applyRetention(store, { low: 30, medium: 400, high: 3650 }, silentLogger)).toBe(true);
    expect(await currentRetention(store)).toEqual({ low: 30, medium: 400, high: 3650 });
  });

  it('TTL deletes expired rows of single-risk chains only', async () => {
    const e = (i: number, chain: string, risk: string, daysAgo: number) => {
      const ev = sampleEvent(100 + i);
      ev.risk = risk;
      ev.ingest_time = new Date(Date.now() - daysAgo * 86_400_000).toISOString().replace('T', ' ').replace('Z', '000000');
      new ChainWriter(chain, null).append([ev]);
      return ev;
    };
    const rows = [e(1, 'main-low', 'low', 40), e(2, 'main-low', 'low', 10), e(3, 'main-medium', 'medium', 40), e(4, 'mixed', 'low', 40)];
    rows[1].seq = 2;
    await insert(rows, EVENT_COLUMNS, 'ttl:1');
    await store.command('OPTIMIZE TABLE otel_audit.events FINAL');
    const left = await store.rows<{ chain_id: string; seq: string }>(
      "SELECT chain_id, seq FROM otel_audit.events WHERE chain_id IN ('main-low', 'main-medium', 'mixed') ORDER BY chain_id, seq",
    );
    // low is kept 30 days now: the 40-day-old low row of the single-risk chain goes; the mixed chain keeps everything.
    expect(left).toEqual([
      { chain_id: 'main-low', seq: '2' },
      { chain_id: 'main-medium', seq: '1' },
      { chain_id: 'mixed', seq: '1' },
    ]);
  });
});
