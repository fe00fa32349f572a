import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChainWriter } from '../chain/chain-writer.ts';
import { eventHash } from '../chain/canonical.ts';
import type { AuditEvent } from '../model.ts';
import { fullDdl, MIGRATIONS } from './schema.ts';
import { Store } from './store.ts';

let store: Store;

beforeAll(async () => {
  store = await Store.open({ dataDir: mkdtempSync(join(tmpdir(), 'store-test-')), database: 'otel_audit' });
});
afterAll(async () => {
  await store?.close();
});

export function sampleEvent(i: number): AuditEvent {
  return {
    event_id: `e${i}`.padEnd(32, '0'),
    tenant: 'acme',
    event_time: '2026-11-22 08:00:00.123456789',
    ingest_time: '2026-11-22 08:00:01.000000001',
    duration_ns: 1_500_000_000_123,
    event_type: 'retrieval',
    name: 'retrieval kb',
    operation: 'retrieval',
    trace_id: 'ab'.repeat(16),
    span_id: 'cd'.repeat(8),
    parent_span_id: '',
    correlation_id: 'CASE-1',
    correlation_source: 'attribute',
    links: [{ trace_id: 'ef'.repeat(16), span_id: '12'.repeat(8) }],
    actor_id: 'alice',
    actor_type: 'human',
    actor_role: 'agent',
    on_behalf_of: '',
    initiation: 'ai_assisted',
    service_name: 'svc',
    environment: 'test',
    purpose: 'answer',
    risk: 'medium',
    provider: '',
    request_model: '',
    response_model: '',
    input_tokens: i % 2 ? null : 12345678901,
    output_tokens: null,
    prompt_version: '',
    tool_name: '',
    tool_call_id: '',
    action: '',
    target_system: '',
    target_id: '',
    permission: '',
    approval_required: false,
    sources: [{ id: 'KB-1', uri: 'kb://1', version: '3', sensitivity: 'internal', score: 0.8125 }, { id: 'KB-2', uri: '', version: '', sensitivity: '', score: null }],
    decision: '',
    reviewer_id: '',
    reviewer_role: '',
    rationale: 'unicode ✓ "quoted" \\ back',
    edited: false,
    effect: '',
    outcome: '',
    status: 'ok',
    error_type: '',
    input_digest: 'f'.repeat(64),
    output_digest: '',
    content: '{"query":"refund policy"}',
    attributes: { 'z.key': '1', 'a.key': 'two', 'resource.service.name': 'svc' },
    conventions: ['otel_genai', 'audit'],
    redactions: 0,
    truncated: [],
    chain_id: '',
    seq: 0,
    prev_hash: '',
    hash: '',
  };
}

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
    new ChainWriter('dedup-test', null).seal(events);
    const body = events.map((e) => JSON.stringify(e)).join('\n') + '\n';
    await store.insertJsonEachRow('events', body, 'dedup-test:1-2');
    await store.insertJsonEachRow('events', body, 'dedup-test:1-2');
    const [{ n }] = await store.rows<{ n: string }>("SELECT count() AS n FROM otel_audit.events WHERE chain_id = 'dedup-test'");
    expect(Number(n)).toBe(2);
  });

  it('a row read back from ClickHouse hashes to the hash computed before insert', async () => {
    const events = [sampleEvent(3), sampleEvent(4)];
    new ChainWriter('hash-test', null).seal(events);
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
});
