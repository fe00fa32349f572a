/**
 * `node bench/stages.ts`: the bridge's per-span CPU cost by stage, in one process, on the
 * bench payload (bench/payload.ts): decode → intake → correlate + finalize → chain + RowBinary
 * (one serialization; `--hash-version 1` for the two of before) → Merkle leaves. No sockets, no write-ahead log, no ClickHouse: a quick check of what a
 * change to the hot path costs, before the end-to-end `npm run bench`.
 *
 * `runStages()` is the same measurement as a function; `npm run bench` runs this file as a
 * child process (`--json`: the summary as one JSON line at the end of stdout) for its stage line.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ChainWriter, eventLeafHash } from '../packages/bridge/src/chain/index.ts';
import { Correlator, type PendingEvent } from '../packages/bridge/src/correlate/index.ts';
import { nanosToDateTime64, nowNanos } from '../packages/bridge/src/internal/index.ts';
import { intakeSpans } from '../packages/bridge/src/intake/index.ts';
import { deriveSubjectIdKey, PrivacyFilter, SubjectVault } from '../packages/bridge/src/policy/index.ts';
import { decodeRequest } from '../packages/bridge/src/otlp/index.ts';
import { RowWriter, rowEncoder, EVENT_COLUMNS } from '../packages/bridge/src/store/index.ts';
import type { AuditEvent } from '../packages/bridge/src/index.ts';
import { buildTemplate, PayloadFactory } from './payload.ts';

export const STAGES = ['decode', 'intake', 'correlate+finalize', 'chain+rowbinary', 'merkle leaf'] as const;
export type Stage = (typeof STAGES)[number];

export interface StagesOptions {
  /** Requests of 510 spans per round (default 200). */
  requests?: number;
  /** Rounds (default 5); the summary takes the median round (the first one also warms the JIT up). */
  rounds?: number;
  /** 2 (default, what the bridge seals) or 1 (canonical JSON hashed, then RowBinary: before). */
  hashVersion?: 1 | 2;
  /** Called with each round's line (default: none). */
  log?: (line: string) => void;
}

export interface StagesRound {
  spans: number;
  microsPerSpan: number;
  spansPerSecond: number;
  stages: Record<Stage, number>;
}

export interface StagesResult {
  requests: number;
  rounds: StagesRound[];
  hashVersion: 1 | 2;
  /** Median round's total, best round's total, µs per span. */
  medianMicrosPerSpan: number;
  bestMicrosPerSpan: number;
  /** µs per span per stage in the median round (they add up to its total, within the timer's resolution). */
  medianStages: Record<Stage, number>;
}

/** The bridge's per-span work on this thread, stage by stage (see the file comment). */
export function runStages(opts: StagesOptions = {}): StagesResult {
  const requests = opts.requests ?? 200;
  const rounds = opts.rounds ?? 5;
  // 2 (what the bridge seals): one RowBinary serialization that the hash covers. 1: canonical JSON
  // hashed, then RowBinary encoded, as before hash_version 2 (to compare).
  const hashVersion = opts.hashVersion ?? 2;
  const log = opts.log ?? (() => {});

  const dir = mkdtempSync(join(tmpdir(), 'otel-audit-stages-'));
  try {
    const master = randomBytes(16);
    const privacy = new PrivacyFilter(master, { vault: new SubjectVault(join(dir, 'subjects'), deriveSubjectIdKey(master)) });
    const factory = new PayloadFactory(buildTemplate(102), 1);
    const encode = rowEncoder(EVENT_COLUMNS);
    const writer = new RowWriter();
    const chain = new ChainWriter('bench-high', null, { hashVersion });
    const correlator = new Correlator<PendingEvent>({}, { finalizer: privacy });

    const out: StagesRound[] = [];
    for (let round = 0; round < rounds; round++) {
      const t = Object.fromEntries(STAGES.map((s) => [s, 0])) as Record<Stage, number>;
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
          chain.append(ready, writer);
          writer.take();
          a = performance.now();
          t['chain+rowbinary'] += a - b;
          b = a;
        } else {
          chain.append(ready);
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
      const r: StagesRound = {
        spans,
        microsPerSpan: (total * 1000) / spans,
        spansPerSecond: spans / (total / 1000),
        stages: Object.fromEntries(STAGES.map((s) => [s, (t[s] * 1000) / spans])) as Record<Stage, number>,
      };
      out.push(r);
      const line = STAGES.map((s) => `${s} ${r.stages[s].toFixed(1)}`).join(' · ');
      log(`round ${round + 1}: ${r.microsPerSpan.toFixed(1)} µs/span (${Math.round(r.spansPerSecond)} spans/s) — ${line} µs/span`);
    }
    const medianRound = [...out].sort((x, y) => x.microsPerSpan - y.microsPerSpan)[out.length >> 1];
    return {
      requests,
      rounds: out,
      hashVersion,
      medianMicrosPerSpan: medianRound.microsPerSpan,
      bestMicrosPerSpan: Math.min(...out.map((r) => r.microsPerSpan)),
      medianStages: { ...medianRound.stages },
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: { requests: { type: 'string' }, rounds: { type: 'string' }, 'hash-version': { type: 'string' }, json: { type: 'boolean' } },
  });
  const count = (name: string, v: string | undefined, def: number) => {
    const n = v === undefined ? def : Number(v);
    if (!Number.isInteger(n) || n < 1) {
      console.error(`stages: --${name} expects a whole number ≥ 1, got "${v}"`);
      process.exit(2);
    }
    return n;
  };
  const r = runStages({
    requests: count('requests', values.requests, 200),
    rounds: count('rounds', values.rounds, 5),
    hashVersion: values['hash-version'] === '1' ? 1 : 2,
    log: (line) => console.log(line),
  });
  console.log(`median ${r.medianMicrosPerSpan.toFixed(1)} µs/span, best ${r.bestMicrosPerSpan.toFixed(1)}`);
  if (values.json) console.log(JSON.stringify(r));
}
