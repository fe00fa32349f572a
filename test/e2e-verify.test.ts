/**
 * Tamper evidence end to end through the real CLI: spans in over OTLP/HTTP JSON, then
 * `otel-audit verify`, `prove` → `verify-proof` (offline), `public-key`, and the anchor the
 * bridge leaves behind when it stops.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { flush, runCli, sql, startBridge, tempDir, type BridgeProcess } from './helpers/bridge-process.ts';

let bridge: BridgeProcess;
let work: string;
const CASE = 'CASE-VERIFY-1';

const attr = (key: string, v: string | boolean) => ({ key, value: typeof v === 'boolean' ? { boolValue: v } : { stringValue: v } });

function toolSpan(i: number) {
  const start = BigInt(Date.now()) * 1_000_000n + BigInt(i);
  return {
    traceId: randomBytes(16).toString('hex'),
    spanId: randomBytes(8).toString('hex'),
    name: `lookup ${i}`,
    kind: 1,
    startTimeUnixNano: String(start),
    endTimeUnixNano: String(start + 5_000_000n),
    attributes: [
      attr('audit.correlation_id', CASE),
      attr('audit.actor.id', 'agent-7'),
      attr('audit.actor.type', 'agent'),
      attr('audit.tool.action', 'read'),
      attr('audit.target.system', 'crm'),
      attr('audit.target.id', `ACC-${i}`),
    ],
    status: {},
  };
}

async function sendSpans(n: number): Promise<void> {
  const body = {
    resourceSpans: [
      {
        resource: { attributes: [attr('service.name', 'verify-e2e')] },
        scopeSpans: [{ scope: { name: 'e2e' }, spans: Array.from({ length: n }, (_, i) => toolSpan(i)) }],
      },
    ],
  };
  const res = await fetch(`${bridge.otlpUrl}/v1/traces`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  expect(res.status).toBe(200);
}

beforeAll(async () => {
  work = tempDir('verify-e2e-');
  bridge = await startBridge();
  await sendSpans(6);
  await flush(bridge.apiUrl);
});

afterAll(async () => {
  const code = await bridge?.stop();
  expect(code).toBe(0);
});

describe('otel-audit verify, prove, verify-proof through the real CLI', () => {
  it('verify exits 0 on an intact chain (text and json)', async () => {
    const [{ n }] = await sql<{ n: string }>(bridge.apiUrl, `SELECT count() AS n FROM otel_audit.events WHERE correlation_id = '${CASE}'`);
    expect(Number(n)).toBe(6);
    const text = await runCli(['verify', '--api-url', bridge.apiUrl]);
    expect(text.stderr).toBe('');
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^OK: chain main, 6 events checked in 3 chains \(main-low 0, main-medium 6, main-high 0\)/);
    expect(text.stdout).toMatch(/^OK: chain main-medium, 6 events checked/m);
    const json = await runCli(['verify', '--format', 'json', '--api-url', bridge.apiUrl]);
    expect(json.code).toBe(0);
    const report = JSON.parse(json.stdout);
    expect(report).toMatchObject({ ok: true, chain_id: 'main', events_checked: 6, findings: [] });
    // No audit.risk on these spans: default risk medium, so all six are in the medium chain.
    expect(report.chains.map((c: { chain_id: string; events_checked: number }) => [c.chain_id, c.events_checked])).toEqual([
      ['main-low', 0],
      ['main-medium', 6],
      ['main-high', 0],
    ]);
    const one = await runCli(['verify', '--chain', 'main-medium', '--format', 'json', '--api-url', bridge.apiUrl]);
    expect(one.code).toBe(0);
    expect(JSON.parse(one.stdout)).toMatchObject({ ok: true, chain_id: 'main-medium', events_checked: 6, first_seq: 1, last_seq: 6 });
  });

  it('prove + verify-proof round-trip offline; a tampered bundle fails', async () => {
    const [row] = await sql<{ event_id: string }>(bridge.apiUrl, `SELECT event_id FROM otel_audit.events WHERE correlation_id = '${CASE}' ORDER BY seq LIMIT 1 OFFSET 2`);
    const proof = await runCli(['prove', row.event_id, '--api-url', bridge.apiUrl]);
    expect(proof.stderr).toBe('');
    expect(proof.code).toBe(0);
    const bundle = JSON.parse(proof.stdout);
    expect(bundle.format).toBe('otel-audit-inclusion-proof/v1');
    expect(bundle.event.event_id).toBe(row.event_id);
    const bundleFile = join(work, 'proof.json');
    writeFileSync(bundleFile, proof.stdout);

    const pub = await runCli(['public-key', '--api-url', bridge.apiUrl]);
    expect(pub.code).toBe(0);
    expect(pub.stdout).toMatch(/^-----BEGIN PUBLIC KEY-----/);
    const fromFile = await runCli(['public-key', '--data-dir', bridge.dataDir]);
    expect(fromFile.stdout).toBe(pub.stdout);
    const keyFile = join(work, 'key.pub.pem');
    writeFileSync(keyFile, pub.stdout);

    const ok = await runCli(['verify-proof', bundleFile, '--public-key', keyFile]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain(`OK: event ${row.event_id}`);

    const tampered = { ...bundle, event: { ...bundle.event, target_id: 'ACC-999' } };
    const badFile = join(work, 'tampered.json');
    writeFileSync(badFile, JSON.stringify(tampered));
    const bad = await runCli(['verify-proof', badFile, '--public-key', keyFile, '--format', 'json']);
    expect(bad.code).toBe(3);
    expect(JSON.parse(bad.stdout)).toMatchObject({ ok: false, event_id: row.event_id });

    const other = generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }) as string;
    const otherFile = join(work, 'other.pub.pem');
    writeFileSync(otherFile, other);
    expect((await runCli(['verify-proof', bundleFile, '--public-key', otherFile])).code).toBe(3);
  });

  it('verify against a key the checkpoints were not signed with reports forged checkpoints (exit 3)', async () => {
    const other = generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }) as string;
    const otherFile = join(work, 'other2.pub.pem');
    writeFileSync(otherFile, other);
    const r = await runCli(['verify', '--public-key', otherFile, '--format', 'json', '--api-url', bridge.apiUrl]);
    expect(r.code).toBe(3);
    const report = JSON.parse(r.stdout);
    expect(report.ok).toBe(false);
    expect(report.counts.forged_checkpoint).toBeGreaterThanOrEqual(1);
  });

  it('the OK line says the in-data-dir anchor does not protect against whoever can write the data directory', async () => {
    const text = await runCli(['verify', '--api-url', bridge.apiUrl]);
    expect(text.code).toBe(0);
    expect(text.stdout.split('\n')[0]).toMatch(
      /^OK: chain main, .*; the only anchor is inside the data directory: this does not protect against anyone with write access to it \(add an external anchor: serve --anchor s3:\/\/… or rfc3161\+https:\/\/…\)$/,
    );
    const json = JSON.parse((await runCli(['verify', '--format', 'json', '--api-url', bridge.apiUrl])).stdout);
    expect(json.anchors).toEqual([{ url: `file://${bridge.dataDir}/anchors`, kind: 'file', external: false }]);
  });

  it('the API verifies against the configured anchors only: anchor_dir is refused, nothing is probed or logged', async () => {
    const logBefore = bridge.log().length;
    for (const anchor_dir of ['/etc', '/nonexistent', 'relative', '']) {
      const res = await fetch(`${bridge.apiUrl}/api/v1/verify`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ anchor_dir }) });
      expect(res.status).toBe(400);
      expect((await res.json()).error).toMatch(/anchor_dir is not accepted: verify checks the anchors this bridge is configured with \(serve --anchor URL\)/);
    }
    expect(bridge.log().slice(logBefore)).not.toMatch(/integrity problems|verification done/);
    const cli = await runCli(['verify', '--anchor-dir', work, '--api-url', bridge.apiUrl]);
    expect(cli.code).toBe(2);
    expect(cli.stderr).toMatch(/verify --anchor-dir is no longer accepted: the bridge verifies against the anchors it is configured with \(serve --anchor URL/);
    expect((await runCli(['verify', '--timestamp-tolerance', 'soon', '--api-url', bridge.apiUrl])).code).toBe(2);
  });

  it('bad input is a usage error; an unknown event is not found', async () => {
    expect((await runCli(['verify', '--from', 'x', '--api-url', bridge.apiUrl])).code).toBe(2);
    expect((await runCli(['verify-proof', join(work, 'proof.json')])).code).toBe(2);
    const missing = await runCli(['prove', 'no-such-event', '--api-url', bridge.apiUrl]);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toContain('no stored event');
  });

  it('the stopped bridge leaves a final checkpoint over every event in the anchor', async () => {
    await sendSpans(3);
    await flush(bridge.apiUrl);
    expect(await bridge.stop()).toBe(0);
    const dir = join(bridge.dataDir, 'anchors', 'main-medium');
    const files = readdirSync(dir).filter((f) => f.endsWith('.json')).sort();
    const last = JSON.parse(readFileSync(join(dir, files.at(-1)!), 'utf8'));
    expect(last.checkpoint.tree_size).toBe(9);
    bridge = await startBridge({ dataDir: bridge.dataDir });
    const r = await runCli(['verify', '--format', 'json', '--api-url', bridge.apiUrl]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: true, events_checked: 9, checkpoints: { verified: files.length } });
  });
});
