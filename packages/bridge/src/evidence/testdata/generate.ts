/**
 * Makes testdata/valid-pack.zip: a small, valid evidence pack of case CASE-TESTDATA, with no store
 * and no bridge, through the same writer the bridge uses (pack.ts evidenceZip):
 *
 *  - two chains (`testdata-medium`, 11 events; `testdata-high`, 5 events) of synthetic events
 *    (chain/testdata/synthetic.ts), 6 of them in the case: a request, a retrieval, a model call, a
 *    tool call that needs approval, its approval (a span link to the tool call) and the effect;
 *  - rows in the shape ClickHouse reads them back in (UInt64 as strings, tuples as objects);
 *  - one signed checkpoint per chain over all its events, with a fixed key derived from a public
 *    seed (a TEST key: anyone can sign with it);
 *  - a fixed creation time, so that the contents are the same on every run.
 *
 *   node packages/bridge/src/evidence/testdata/generate.ts     rewrites valid-pack.zip
 *
 * evidence/verify.test.ts checks that the committed pack verifies and that this script still
 * makes the same files (compared entry by entry: deflate output may differ between zlib versions).
 */
import { createHash, createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { AnchorRecord } from '../../chain/anchor.ts';
import { ANCHOR_FORMAT } from '../../chain/anchor.ts';
import { ChainWriter } from '../../chain/chain-writer.ts';
import { keyId, signCheckpoint } from '../../chain/checkpoint.ts';
import { MerkleAccumulator } from '../../chain/merkle.ts';
import { eventLeafHash } from '../../chain/checkpoint.ts';
import { syntheticEvent } from '../../chain/testdata/synthetic.ts';
import type { AuditEvent } from '../../model.ts';
import { AuditPaths } from '../audit-paths.ts';
import { evidenceZip, type ProofEntry } from '../pack.ts';

export const TESTDATA_CASE = 'CASE-TESTDATA';
export const TESTDATA_PACK = fileURLToPath(new URL('./valid-pack.zip', import.meta.url));
export const TESTDATA_CREATED_AT = new Date('2026-11-22T10:00:00.000Z');

/** The test key: Ed25519 from SHA-256 of a public phrase. Never use it for anything else. */
export function testdataKey(): { privateKey: KeyObject; publicKey: KeyObject; keyId: string } {
  const seed = createHash('sha256').update('otel-audit evidence testdata key (public, tests only)').digest();
  const privateKey = createPrivateKey({ key: Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), seed]), format: 'der', type: 'pkcs8' });
  const publicKey = createPublicKey(privateKey);
  return { privateKey, publicKey, keyId: keyId(publicKey) };
}

/** ClickHouse's JSONEachRow shape of a row (output_format_json_quote_64bit_integers=1). */
function readBack(e: AuditEvent): Record<string, unknown> {
  const row = { ...(e as unknown as Record<string, unknown>) };
  for (const k of ['duration_ns', 'input_tokens', 'output_tokens', 'seq']) row[k] = row[k] === null ? null : String(row[k]);
  row.content_sealed = '';
  row.ingest_principal = 'app-acme';
  return row;
}

interface Chain {
  id: string;
  rows: Array<Record<string, unknown>>;
  record: AnchorRecord;
}

function chain(id: string, events: AuditEvent[], key: ReturnType<typeof testdataKey>): Chain {
  // ingest_principal is part of the hash: set before sealing, as the pipeline does.
  for (const e of events) (e as unknown as Record<string, unknown>).ingest_principal = 'app-acme';
  new ChainWriter(id, null).append(events);
  const acc = new MerkleAccumulator();
  for (const e of events) acc.append(eventLeafHash(e.hash));
  const last = events[events.length - 1];
  const checkpoint = signCheckpoint(
    {
      version: 1,
      chain_id: id,
      tree_size: events.length,
      root_hash: acc.root().toString('hex'),
      head_seq: last.seq,
      head_hash: last.hash,
      created_at: '2026-11-22T09:59:00.000Z',
      prev_tree_size: 0,
      prev_root_hash: '',
    },
    key.privateKey,
  );
  return { id, rows: events.map(readBack), record: { format: ANCHOR_FORMAT, checkpoint, accumulator: acc.toJSON() } };
}

/** The pack's bytes. */
export async function generateTestPack(): Promise<Buffer> {
  const key = testdataKey();
  const medium = Array.from({ length: 11 }, (_, i) => syntheticEvent(i, 'td-m'));
  const high = Array.from({ length: 5 }, (_, i) => syntheticEvent(100 + i, 'td-h'));
  for (const e of [...medium, ...high]) e.tenant = 'acme';
  // The case: a request (medium 0), a model call (medium 1), a retrieval (medium 2), a tool call
  // needing approval (high 1), its approval (medium 4) linking to it, and the effect (medium 5).
  const inCase = [medium[0], medium[1], medium[2], high[1], medium[4], medium[5]];
  inCase.forEach((e, i) => {
    e.correlation_id = TESTDATA_CASE;
    e.event_time = `2026-11-22 09:58:0${i}.000000000`;
  });
  high[1].approval_required = true;
  high[1].risk = 'high';
  medium[4].links = [{ trace_id: high[1].trace_id, span_id: high[1].span_id }];
  medium[4].rationale = '=HYPERLINK("http://example.invalid") looks right, "quoted", with a comma';
  const chains = [chain('testdata-high', high, key), chain('testdata-medium', medium, key)];

  const rows = chains.flatMap((c) => c.rows.filter((r) => r.correlation_id === TESTDATA_CASE));
  rows.sort((a, b) => (String(a.event_time) < String(b.event_time) ? -1 : 1));
  const paths = new Map<string, AuditPaths>();
  for (const c of chains) {
    const ap = new AuditPaths(c.rows.length, rows.filter((r) => r.chain_id === c.id).map((r) => Number(r.seq) - 1));
    for (const r of c.rows) ap.append(String(r.hash));
    ap.finish();
    paths.set(c.id, ap);
  }
  const proofs: ProofEntry[] = rows.map((r) => ({
    event_id: String(r.event_id),
    chain_id: String(r.chain_id),
    seq: Number(r.seq),
    event_hash: String(r.hash),
    tree_size: paths.get(String(r.chain_id))!.size,
    path: paths.get(String(r.chain_id))!.path(Number(r.seq) - 1),
  }));
  const chunks: Uint8Array[] = [];
  for await (const c of evidenceZip({
    correlationId: TESTDATA_CASE,
    createdAt: TESTDATA_CREATED_AT,
    createdBy: 'testdata',
    bridgeVersion: 'testdata',
    tenants: ['acme'],
    key,
    chains: chains.map((c) => ({ record: c.record, events: rows.filter((r) => r.chain_id === c.id).length })),
    proofs,
    async *events() {
      yield* rows;
    },
  })) {
    chunks.push(c);
  }
  return Buffer.concat(chunks);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  writeFileSync(TESTDATA_PACK, await generateTestPack());
  process.stderr.write(`wrote ${TESTDATA_PACK}\n`);
}
