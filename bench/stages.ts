/**
 * `node bench/stages.ts`: the bridge's per-span CPU cost by stage, in one process, on the
 * bench payload (bench/payload.ts): decode → intake → correlate + finalize → chain + RowBinary
 * (one serialization; `--hash-version 1` for the two of before) → Merkle leaves. No sockets, no write-ahead log, no ClickHouse: a quick check of what a
 * change to the hot path costs, before the end-to-end `npm run bench`.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ChainWriter } from '../packages/bridge/src/chain/chain-writer.ts';
import { eventLeafHash } from '../packages/bridge/src/chain/checkpoint.ts';
import { Correlator } from '../packages/bridge/src/correlate/correlator.ts';
import { nanosToDateTime64, nowNanos } from '../packages/bridge/src/internal/time.ts';
import { intakeSpans } from '../packages/bridge/src/intake/index.ts';
import { deriveSubjectIdKey, PrivacyFilter } from '../packages/bridge/src/policy/privacy.ts';
import { SubjectVault } from '../packages/bridge/src/policy/vault.ts';
import { decodeRequest } from '../packages/bridge/src/otlp/index.ts';
import { RowWriter, rowEncoder } from '../packages/bridge/src/store/rowbinary.ts';
import { EVENT_COLUMNS } from '../packages/bridge/src/store/schema.ts';
import type { AuditEvent } from '../packages/bridge/src/model.ts';
import { buildTemplate, PayloadFactory } from './payload.ts';

const { values } = parseArgs({ options: { requests: { type: 'string' }, rounds: { type: 'string' }, 'hash-version': { type: 'string' } } });
const requests = Number(values.requests ?? 200);
const rounds = Number(values.rounds ?? 5);
// 2 (what the bridge seals): one RowBinary serialization that the hash covers. 1: canonical JSON
// hashed, then RowBinary encoded, as before hash_version 2 (to compare).
const hashVersion = values['hash-version'] === '1' ? 1 : 2;

const dir = mkdtempSync(join(tmpdir(), 'otel-audit-stages-'));
const master = randomBytes(16);
const privacy = new PrivacyFilter(master, { vault: new SubjectVault(join(dir, 'subjects'), deriveSubjectIdKey(master)) });
const factory = new PayloadFactory(buildTemplate(102), 1);
const encode = rowEncoder(EVENT_COLUMNS);
const writer = new RowWriter();
const chain = new ChainWriter('bench-high', null, { hashVersion });
const correlator = new Correlator({ finalizer: privacy });

const totals: number[] = [];
const stages = ['decode', 'intake', 'correlate+finalize', 'chain+rowbinary', 'merkle leaf'] as const;
for (let round = 0; round < rounds; round++) {
  const t: Record<string, number> = Object.fromEntries(stages.map((s) => [s, 0]));
  let spans = 0;
  const bodies = Array.from({ length: requests }, () => factory.next());
  const gc0 = performance.now();
  for (const body of bodies) {
    let a = performance.now();
    const decoded = decodeRequest({ signal: 'traces', encoding: 'protobuf', body });
    if (decoded.signal !== 'traces') throw new Error('expected traces');
    let b = performance.now();
    t.decode += b - a;
    spans += decoded.spans.length;
    const now = Date.now();
    const intake = intakeSpans(decoded.spans, privacy, { defaultRisk: 'medium', now, ingestTime: nanosToDateTime64(nowNanos()) });
    a = performance.now();
    t.intake += a - b;
    for (const n of intake.nodes) correlator.addSpan(n, null, now);
    for (const e of intake.events) correlator.addSpan(e.node, e, now);
    const ready = correlator.takeReady(now).map((p) => p.event as AuditEvent);
    b = performance.now();
    t['correlate+finalize'] += b - a;
    if (hashVersion === 2) {
      chain.seal(ready, writer);
      writer.take();
      a = performance.now();
      t['chain+rowbinary'] += a - b;
      b = a;
    } else {
      chain.seal(ready);
      a = performance.now();
      t['chain+rowbinary'] += a - b;
      for (const e of ready) encode(writer, e as unknown as Record<string, unknown>);
      writer.take();
      b = performance.now();
      t['chain+rowbinary'] += b - a;
    }
    for (const e of ready) eventLeafHash(e.hash);
    t['merkle leaf'] += performance.now() - b;
  }
  const total = performance.now() - gc0;
  totals.push((total * 1000) / spans);
  const line = stages.map((s) => `${s} ${((t[s] * 1000) / spans).toFixed(1)}`).join(' · ');
  console.log(`round ${round + 1}: ${((total * 1000) / spans).toFixed(1)} µs/span (${Math.round(spans / (total / 1000))} spans/s) — ${line} µs/span`);
}
totals.sort((a, b) => a - b);
console.log(`median ${totals[totals.length >> 1].toFixed(1)} µs/span, best ${totals[0].toFixed(1)}`);
rmSync(dir, { recursive: true, force: true });
