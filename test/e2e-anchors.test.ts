/**
 * External anchors end to end: the real bridge (CLI), a real S3-compatible server (S3rver behind
 * a request-logging proxy) and a real RFC 3161 authority (openssl), against the insider of
 * chain/README.md, played by test/fixtures/insider.ts on the stopped bridge's data directory:
 *
 *  (a) deletes the newest events, their checkpoint row, the in-data-dir anchor file and the WAL;
 *  (b) rewrites history from seq 7 and lets a restarted bridge sign it again.
 *
 * With only the in-data-dir anchor both pass verify; with S3 or a TSA configured they do not.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, flush, REPO_ROOT, runCli, startBridge, tempDir, type BridgeProcess } from './helpers/bridge-process.ts';
import { objectPuts, startS3, type LocalS3 } from './helpers/s3.ts';
import { startTsa, type LocalTsa } from './helpers/tsa.ts';

const exec = promisify(execFile);
const CHAIN = 'main-medium'; // spans without audit.risk: default risk medium

let s3: LocalS3;
let tsa: LocalTsa;
const running = new Set<BridgeProcess>();

const attr = (key: string, v: string) => ({ key, value: { stringValue: v } });

async function sendSpans(bridge: BridgeProcess, n: number): Promise<void> {
  const spans = Array.from({ length: n }, (_, i) => {
    const start = BigInt(Date.now()) * 1_000_000n + BigInt(i);
    return {
      traceId: randomBytes(16).toString('hex'),
      spanId: randomBytes(8).toString('hex'),
      name: `lookup ${i}`,
      kind: 1,
      startTimeUnixNano: String(start),
      endTimeUnixNano: String(start + 5_000_000n),
      attributes: [attr('audit.correlation_id', 'CASE-ANCHOR'), attr('audit.actor.id', 'agent-7'), attr('audit.actor.type', 'agent'), attr('audit.tool.action', 'read')],
      status: {},
    };
  });
  const res = await fetch(`${bridge.otlpUrl}/v1/traces`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ resourceSpans: [{ resource: { attributes: [attr('service.name', 'anchors-e2e')] }, scopeSpans: [{ scope: { name: 'e2e' }, spans }] }] }),
  });
  expect(res.status).toBe(200);
  await flush(bridge.apiUrl);
}

async function status(bridge: BridgeProcess): Promise<{ halted: string | null; latest_checkpoint: { tree_size: number } | null; anchors: string[] }> {
  const res = await fetch(`${bridge.apiUrl}/api/v1/checkpoints/latest`);
  return (await res.json())[CHAIN];
}

async function start(dataDir: string, args: string[], env: Record<string, string> = {}): Promise<BridgeProcess> {
  const b = await startBridge({ dataDir, args: ['--checkpoint-every-events', '5', ...args], env });
  running.add(b);
  return b;
}

async function stop(b: BridgeProcess): Promise<void> {
  // One API round trip first: serve installs its SIGTERM handler just after logging "started",
  // and a SIGTERM in between ends the process without its final checkpoint.
  await status(b);
  const code = await b.stop();
  if (code !== 0) console.error(b.log());
  expect(code).toBe(0);
  running.delete(b);
}

/** Rounds of spans, each waited for until its checkpoint is signed; then the bridge stops (final checkpoint). */
async function history(b: BridgeProcess, rounds: number[]): Promise<void> {
  let total = 0;
  for (const n of rounds) {
    await sendSpans(b, n);
    total += n;
    if (n >= 5) await eventually(async () => (await status(b)).latest_checkpoint?.tree_size === total, 20_000, `checkpoint ${total}`);
  }
  await stop(b);
}

async function insider(dataDir: string, action: 'truncate' | 'rewrite', seq: number): Promise<void> {
  const { stdout } = await exec(process.execPath, [join(REPO_ROOT, 'test/fixtures/insider.ts'), dataDir, action, CHAIN, String(seq)]);
  expect(JSON.parse(stdout)).toMatchObject({ action, chain_id: CHAIN });
}

async function verify(b: BridgeProcess, extra: string[] = []) {
  const r = await runCli(['verify', '--chain', CHAIN, '--format', 'json', '--api-url', b.apiUrl, ...extra]);
  return { code: r.code, stderr: r.stderr, report: r.stdout ? JSON.parse(r.stdout) : null };
}

const kinds = (report: { findings: Array<{ kind: string; tree_size?: number; where?: string; seq?: number; seq_to?: number }> }) =>
  report.findings.map((f) => `${f.kind} ${f.tree_size ?? ''}${f.where ? ` ${f.where}` : ''}${f.seq ? ` seq ${f.seq}..${f.seq_to ?? f.seq}` : ''}`.trim());

beforeAll(async () => {
  s3 = await startS3();
  tsa = await startTsa();
});
afterAll(async () => {
  for (const b of running) await b.kill();
  await s3?.close();
  await tsa?.close();
});

describe('insider (a): the newest events, their checkpoint and local anchor deleted', () => {
  it('goes unnoticed with the in-data-dir anchor alone, and is reported against S3', async () => {
    const dataDir = tempDir('anchors-a-');
    const s3Anchor = `s3://${s3.bucket}/e2e-a?endpoint=${encodeURIComponent(s3.endpoint)}&retention=2d`;
    await history(await start(dataDir, ['--anchor', s3Anchor], s3.env), [5, 5, 2]);

    // Every checkpoint went to S3 as its own object, locked in compliance mode.
    const puts = objectPuts(s3).filter((p) => p.path.includes(`/e2e-a/${CHAIN}/`));
    expect(puts.map((p) => Number(/\/(\d{20})-/.exec(p.path)![1]))).toEqual([5, 10, 12]);
    for (const p of puts) {
      expect(p.headers['x-amz-object-lock-mode']).toBe('COMPLIANCE');
      expect(Date.parse(String(p.headers['x-amz-object-lock-retain-until-date']))).toBeGreaterThan(Date.now() + 86_400_000);
      expect(p.headers['if-none-match']).toBe('*');
    }

    await insider(dataDir, 'truncate', 10);

    // The insider's view: without the external anchor, everything checks out.
    let b = await start(dataDir, []);
    let v = await verify(b);
    expect(v.code).toBe(0);
    expect(v.report).toMatchObject({ ok: true, last_seq: 10 });
    const text = await runCli(['verify', '--chain', CHAIN, '--api-url', b.apiUrl]);
    expect(text.stdout.split('\n')[0]).toMatch(/^OK: .*the only anchor is inside the data directory: this does not protect against anyone with write access to it/);
    await stop(b);

    // The operator's bridge, with S3: refuses to sign on a truncated chain, and verify says why.
    b = await start(dataDir, ['--anchor', s3Anchor], s3.env);
    expect((await status(b)).halted).toMatch(/holds 10 events .* checkpoint 12 is anchored/);
    v = await verify(b);
    expect(v.code).toBe(3);
    expect(kinds(v.report)).toEqual(['missing_checkpoint 12 anchor', 'missing_checkpoint 12 table', 'truncated 12 seq 11..12']);
    expect(v.report.findings[0].anchor).toMatch(/^file:\/\/.*\/anchors$/);
    expect(v.report.findings[0].detail).toMatch(new RegExp(`checkpoint 12 \\(in s3://${s3.bucket}/e2e-a\\) is missing from the anchor file://`));
    await stop(b);
  });
});

describe('insider (b): history rewritten from seq 7 and signed again', () => {
  it('S3 keeps the original checkpoints beside the re-signed ones: a conflict', async () => {
    const dataDir = tempDir('anchors-b-');
    const s3Anchor = `s3://${s3.bucket}/e2e-b?endpoint=${encodeURIComponent(s3.endpoint)}`;
    await history(await start(dataDir, ['--anchor', s3Anchor], s3.env), [5, 5, 5]);
    await insider(dataDir, 'rewrite', 7);

    // The insider restarts the bridge without the external anchor: it signs the rewrite (15').
    let b = await start(dataDir, []);
    await stop(b);
    b = await start(dataDir, []);
    expect((await verify(b)).code).toBe(0);
    await stop(b);

    // S3 never saw 15'; the operator's bridge with S3 halts, and verify reports the conflict.
    expect(objectPuts(s3).filter((p) => p.path.includes(`/e2e-b/${CHAIN}/`)).length).toBe(3);
    b = await start(dataDir, ['--anchor', s3Anchor], s3.env);
    expect((await status(b)).halted).toMatch(/the anchors disagree on chain main-medium/);
    expect(b.log()).toContain('checkpointer halted');
    const v = await verify(b);
    expect(v.code).toBe(3);
    expect(kinds(v.report)).toEqual([
      'missing_checkpoint 10 anchor',
      'missing_checkpoint 10 table',
      'conflicting_checkpoint 15',
      'rewritten 10 seq 6..10',
      'rewritten 15 seq 11..15',
    ]);
    expect(v.report.findings[2].detail).toMatch(/checkpoint 15 exists in 2 different signed versions: .*\(in s3:\/\/anchors\/e2e-b\) and .*\(in file:\/\/.*, the checkpoints table\): history was rewritten and signed again/);
    await stop(b);
  });

  it('an RFC 3161 timestamp shows the re-signed checkpoint came late', async () => {
    const dataDir = tempDir('anchors-tsa-');
    const tsaAnchor = `${tsa.anchorUrl}?ca=${tsa.caFile}`;
    const before = tsa.requests;
    await history(await start(dataDir, ['--anchor', tsaAnchor]), [5, 5]);
    expect(tsa.requests - before).toBe(2);
    await sleep(4_000);
    await insider(dataDir, 'rewrite', 7);
    let b = await start(dataDir, ['--anchor', tsaAnchor]);
    await stop(b); // signs and timestamps the rewrite (10')
    expect(tsa.requests - before).toBe(3);

    b = await start(dataDir, ['--anchor', tsaAnchor]);
    const v = await verify(b, ['--timestamp-tolerance', '3s']);
    expect(v.code).toBe(3);
    expect(kinds(v.report)).toEqual(['late_checkpoint 10 seq 6..10']);
    expect(v.report.findings[0].detail).toMatch(/checkpoint 10 was timestamped at .* after the first event it newly covers \(seq 6/);
    // Within the default tolerance (1 h) it passes, and the OK line says what is not covered.
    const text = await runCli(['verify', '--chain', CHAIN, '--api-url', b.apiUrl]);
    expect(text.code).toBe(0);
    expect(text.stdout.split('\n')[0]).toMatch(/anchor records are kept only inside the data directory: timestamps catch history signed again later, not the removal of the newest events/);
    await stop(b);
  });
});
