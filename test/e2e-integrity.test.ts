/**
 * Integrity on the reviewer's desk (chain/integrity.ts) against a store edited behind the
 * bridge's back: with the bridge stopped, one row is changed in place (its hash left as it
 * was) and another changed with its hash recomputed; after a restart the event routes and the
 * case summary flag both, exactly, and vouch for the untouched events around them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventHash } from '../packages/bridge/src/chain/index.ts';
import { Store } from '../packages/bridge/src/store/index.ts';
import { flush, runCli, sql, startBridge, type BridgeProcess } from './helpers/bridge-process.ts';
import { sendSpans, spanId, traceId, type SpanSpec } from './helpers/otlp.ts';

const CASE = 'CASE-TAMPER';
let bridge: BridgeProcess;
const ids = new Map<number, string>();
const api = async (path: string) => {
  const r = await fetch(`${bridge.apiUrl}${path}`);
  if (r.status !== 200) throw new Error(`${path}: ${r.status} ${await r.text()}`);
  return r.json();
};

beforeAll(async () => {
  bridge = await startBridge({ args: ['--checkpoint-every-events', '4', '--otlp-grpc', 'off'] });
  const t0 = Date.now() - 60_000;
  const spans: SpanSpec[] = Array.from({ length: 10 }, (_, i) => ({
    traceId: traceId(),
    spanId: spanId(),
    name: `lookup ${i + 1}`,
    startMs: t0 + i * 1000,
    attributes: { 'gen_ai.operation.name': 'execute_tool', 'gen_ai.tool.name': 'lookup', 'audit.correlation_id': CASE, 'audit.actor.id': 'agent-7' },
  }));
  // One request per span: seq follows the order sent.
  for (const s of spans) await sendSpans(bridge.otlpUrl, [s]);
  await flush(bridge.apiUrl);
  for (const r of await sql<{ seq: string; event_id: string }>(bridge.apiUrl, `SELECT seq, event_id FROM otel_audit.events WHERE chain_id = 'main-medium'`)) ids.set(Number(r.seq), r.event_id);
  expect([...ids.keys()].sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
}, 90_000);

afterAll(async () => {
  if (bridge && bridge.child.exitCode === null) expect(await bridge.stop()).toBe(0);
});

/** The checkpoint each event was verified in before the edit, by seq. */
const coveredBy = new Map<number, number>();

describe('before anyone touched it', () => {
  it('every event of the case is verified in a signed checkpoint, or newer than the newest', async () => {
    const s = await api(`/api/v1/cases/${CASE}`);
    const c = s.integrity.counts;
    expect(c.verified + c.unanchored).toBe(10);
    expect(c.verified).toBeGreaterThanOrEqual(4);
    expect(s.integrity.summary).toMatch(/^(all 10 events verified|\d+ events verified) up to checkpoint \d+ of chain main-medium \(.+\)/);
    for (let seq = 1; seq <= 10; seq++) {
      const e = await api(`/api/v1/events/${ids.get(seq)}`);
      if (e.integrity.status === 'verified') {
        expect(e.integrity).toMatchObject({ hash_ok: true, link_ok: true, included: true, checkpoint: { chain_id: 'main-medium' } });
        expect(e.integrity.checkpoint.tree_size).toBeGreaterThanOrEqual(seq);
        coveredBy.set(seq, e.integrity.checkpoint.tree_size);
      } else {
        expect(e.integrity).toMatchObject({ status: 'unanchored', hash_ok: true, link_ok: true, included: null, checkpoint: null });
      }
    }
    expect(coveredBy.has(3)).toBe(true);
  });
});

describe('after the store was edited with the bridge stopped', () => {
  beforeAll(async () => {
    // The bridge signs a last checkpoint (10) as it stops.
    expect(await bridge.stop()).toBe(0);
    const store = await Store.open({ dataDir: bridge.dataDir, database: 'otel_audit' });
    try {
      // Seq 3: a column changed in place, its hash left as it was.
      await store.command(`ALTER TABLE otel_audit.events UPDATE name = 'nothing to see' WHERE event_id = '${ids.get(3)}' SETTINGS mutations_sync = 1`);
      // Seq 6: changed, and its hash recomputed so that the row hashes correctly again.
      const [row] = await store.rows<Record<string, unknown>>(`SELECT * FROM otel_audit.events WHERE event_id = '${ids.get(6)}'`);
      const forged = { ...row, target_id: 'ACC-FORGED' };
      await store.command(
        `ALTER TABLE otel_audit.events UPDATE target_id = 'ACC-FORGED', hash = '${eventHash(forged)}' WHERE event_id = '${ids.get(6)}' SETTINGS mutations_sync = 1`,
      );
    } finally {
      await store.close();
    }
    bridge = await startBridge({ dataDir: bridge.dataDir, args: ['--checkpoint-every-events', '4', '--otlp-grpc', 'off'] });
  }, 90_000);

  it('the row changed in place no longer hashes to its hash', async () => {
    const e = await api(`/api/v1/events/${ids.get(3)}`);
    expect(e.event.name).toBe('nothing to see');
    expect(e.integrity).toMatchObject({ status: 'modified', hash_ok: false, included: true, checkpoint: { chain_id: 'main-medium', tree_size: coveredBy.get(3) } });
    expect(e.integrity.reason).toMatch(/no longer hash to its hash/);
  });

  it('the row re-hashed is not the one the checkpoint signed', async () => {
    const e = await api(`/api/v1/events/${ids.get(6)}`);
    expect(e.event.target_id).toBe('ACC-FORGED');
    const n = e.integrity.checkpoint.tree_size;
    expect(n).toBeGreaterThanOrEqual(6);
    expect(e.integrity).toMatchObject({ status: 'modified', hash_ok: true, included: false, checkpoint: { chain_id: 'main-medium' } });
    expect(e.integrity.reason).toBe(`its hash is not the one checkpoint ${n} of chain main-medium signed for seq 6: the row was rewritten and re-hashed`);
  });

  it('the events around them are still verified, now up to the checkpoint signed at stop', async () => {
    for (const seq of [1, 2, 4, 5, 7, 8, 9, 10]) {
      const e = await api(`/api/v1/events/${ids.get(seq)}`);
      expect(e.integrity.status, `seq ${seq}`).toBe('verified');
    }
  });

  it('the case says what is broken; its pages flag each event', async () => {
    const s = await api(`/api/v1/cases/${CASE}`);
    expect(s.integrity.status).toBe('broken');
    expect(s.integrity.counts).toEqual({ verified: 8, unanchored: 0, unchecked: 0, modified: 2, broken: 0 });
    expect(s.integrity.summary).toMatch(/^2 of 10 events fail their integrity check \(2 modified, 0 broken\); first: seq \d+ of chain main-medium: /);
    expect(s.integrity.problems.map((p: { seq: number }) => p.seq).sort()).toEqual([3, 6]);
    const page = await api(`/api/v1/cases/${CASE}/events?limit=100`);
    const flagged = page.events.filter((e: { integrity: { status: string } }) => e.integrity.status !== 'verified').map((e: { seq: string }) => Number(e.seq));
    expect(flagged.sort()).toEqual([3, 6]);
  });

  it('otel-audit event shows it, and verify agrees (exit 3)', async () => {
    const r = await runCli(['event', ids.get(6)!, '--format', 'table', '--api-url', bridge.apiUrl]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^integrity\s+modified: checkpoint \d+ of chain main-medium \(.+\)\n\s+its hash is not the one checkpoint/m);
    const v = await runCli(['verify', '--format', 'json', '--api-url', bridge.apiUrl]);
    expect(v.code).toBe(3);
  });
});
