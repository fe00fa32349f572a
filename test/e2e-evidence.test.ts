/**
 * Evidence packs end to end (DESIGN 3.5), with the real CLI, a real bridge on chDB, an auth file
 * and a real RFC 3161 timestamp authority: a case (a request, a retrieval, a model call, a tool
 * call that needs approval, the approval in another trace linked to it, the effect) →
 * `otel-audit evidence` → a zip; the reading is stored as an access event; then, with the bridge
 * stopped, `otel-audit verify-evidence` passes offline and names every alteration (exit 3), and
 * refuses what is not a pack (exit 2). A reader of another tenant gets 404.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { unzipSync, zipSync } from 'fflate';
import { generateKeyPairSync } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { flush, runCli, sql, startBridge, tempDir, writeAuthFile, type BridgeProcess, type TestToken } from './helpers/bridge-process.ts';
import { openssl, startTsa, type LocalTsa } from './helpers/tsa.ts';
import { bearer, sendSpans, spanId, traceId, type SpanSpec } from './helpers/otlp.ts';

const tok = (name: string) => `${name}-${'0123456789abcdef'.repeat(2)}`;
const TOKENS: TestToken[] = [
  { name: 'app-acme', token: tok('app-acme'), roles: ['ingest'], tenants: ['acme'] },
  { name: 'app-globex', token: tok('app-globex'), roles: ['ingest'], tenants: ['globex'] },
  { name: 'reviewer-acme', token: tok('reviewer-acme'), roles: ['reader'], tenants: ['acme'] },
  { name: 'ops', token: tok('ops'), roles: ['admin'], tenants: ['*'] },
];
const T = Object.fromEntries(TOKENS.map((t) => [t.name, t.token]));
const CASE = 'CASE-EVIDENCE 1/ü'; // a space, a slash and non-ASCII: the path is percent-encoded
const OTHER = 'CASE-GLOBEX';

let work: string;
let bridge: BridgeProcess;
let tsa: LocalTsa;
let pack: string;
let keyFile: string;
const proposal = { traceId: traceId(), spanId: spanId() };

type Files = Record<string, Uint8Array>;
const text = (b: Uint8Array) => Buffer.from(b).toString('utf8');

function caseSpans(): SpanSpec[] {
  const t = traceId();
  const root = spanId();
  const now = Date.now() - 60_000;
  const c = { 'audit.correlation_id': CASE, 'audit.actor.id': 'agent-42', 'audit.actor.type': 'agent' };
  return [
    { traceId: t, spanId: root, name: 'POST /support/answer', startMs: now, durationMs: 900, attributes: { ...c, 'audit.event.type': 'request', 'audit.purpose': 'answer' } },
    { traceId: t, spanId: spanId(), parentSpanId: root, name: 'retrieval kb', startMs: now + 10, attributes: { ...c, 'gen_ai.operation.name': 'retrieval', 'gen_ai.data_source.id': 'kb' } },
    {
      traceId: t,
      spanId: spanId(),
      parentSpanId: root,
      name: 'chat gpt-4o-mini',
      startMs: now + 20,
      attributes: { ...c, 'gen_ai.operation.name': 'chat', 'gen_ai.provider.name': 'openai', 'gen_ai.request.model': 'gpt-4o-mini', 'gen_ai.usage.input_tokens': 42, 'gen_ai.usage.output_tokens': 12 },
    },
    {
      traceId: t,
      spanId: proposal.spanId,
      parentSpanId: root,
      name: 'execute_tool crm_update',
      startMs: now + 30,
      attributes: {
        ...c,
        'gen_ai.operation.name': 'execute_tool',
        'gen_ai.tool.name': 'crm_update',
        'audit.tool.action': 'update',
        'audit.target.system': 'crm',
        'audit.target.id': 'ACC-9',
        'audit.approval.required': true,
        'audit.risk': 'high',
      },
    },
  ].map((s) => (s.spanId === proposal.spanId ? { ...s, traceId: proposal.traceId, parentSpanId: undefined } : s));
}

function approvalSpans(): SpanSpec[] {
  const t = traceId();
  const approval = spanId();
  const now = Date.now() - 30_000;
  const c = { 'audit.correlation_id': CASE, 'audit.actor.id': 'lead-7', 'audit.actor.type': 'human' };
  return [
    {
      traceId: t,
      spanId: approval,
      name: 'approval',
      startMs: now,
      attributes: { ...c, 'audit.approval.decision': 'approved', 'audit.approval.reviewer.id': 'lead-7', 'audit.approval.rationale': '=1+1 looks right, "ok"' },
      links: [proposal],
    },
    { traceId: t, spanId: spanId(), parentSpanId: approval, name: 'crm.update ACC-9', startMs: now + 5, attributes: { ...c, 'audit.event.type': 'system_effect', 'audit.effect': 'record_updated', 'audit.target.system': 'crm', 'audit.target.id': 'ACC-9' } },
  ];
}

/** A copy of the pack with its files changed by `edit`. */
function alter(name: string, edit: (f: Files) => void): string {
  const files = unzipSync(readFileSync(pack));
  edit(files);
  const out = join(work, name);
  writeFileSync(out, zipSync(files));
  return out;
}

async function verifyJson(file: string, ...args: string[]) {
  const r = await runCli(['verify-evidence', file, '--format', 'json', ...args]);
  return { code: r.code, stderr: r.stderr, report: r.stdout ? JSON.parse(r.stdout) : null };
}

beforeAll(async () => {
  work = tempDir('evidence-e2e-');
  tsa = await startTsa();
  bridge = await startBridge({ args: ['--auth-file', writeAuthFile(work, TOKENS), '--anchor', tsa.anchorUrl] });
  // The proposal is a root span of its own trace, so the approval trace can link to it.
  await sendSpans(bridge.otlpUrl, caseSpans(), { 'service.name': 'support-app' }, T['app-acme']);
  await sendSpans(bridge.otlpUrl, approvalSpans(), { 'service.name': 'review-app' }, T['app-acme']);
  await sendSpans(bridge.otlpUrl, [{ traceId: traceId(), spanId: spanId(), name: 'globex call', attributes: { 'audit.correlation_id': OTHER, 'gen_ai.operation.name': 'execute_tool', 'gen_ai.tool.name': 'lookup' } }], { 'service.name': 'globex-app' }, T['app-globex']);
  await flush(bridge.apiUrl, T.ops);
  pack = join(work, 'pack.zip');
  keyFile = join(work, 'operator-key.pem');
}, 120_000);

afterAll(async () => {
  if (bridge && bridge.child.exitCode === null) await bridge.stop();
  await tsa?.close();
});

describe('otel-audit evidence', () => {
  it('writes the pack of a case: every event, CSV and JSON lines, a proof each, the checkpoints with their timestamps', async () => {
    const r = await runCli(['evidence', CASE, '--out', pack, '--api-url', bridge.apiUrl, '--token', T['reviewer-acme']]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^wrote .*pack\.zip: case "CASE-EVIDENCE 1\/ü", 6 events, proved against checkpoints main-high@1, main-medium@6, signed by key [0-9a-f]{16} \(\d+ KiB\)\n$/);
    const files = unzipSync(readFileSync(pack));
    expect(Object.keys(files).sort()).toEqual(
      [
        'README.md',
        'checkpoints/main-high/00000000000000000001.json',
        'checkpoints/main-high/00000000000000000001.sig',
        'checkpoints/main-high/00000000000000000001.signed.txt',
        'checkpoints/main-high/00000000000000000001.timestamp-1.tst',
        'checkpoints/main-medium/00000000000000000006.json',
        'checkpoints/main-medium/00000000000000000006.sig',
        'checkpoints/main-medium/00000000000000000006.signed.txt',
        'checkpoints/main-medium/00000000000000000006.timestamp-1.tst',
        'events.csv',
        'events.jsonl',
        'manifest.json',
        'manifest.sig',
        'proofs.jsonl',
        'public-key.pem',
        'schema.json',
      ].sort(),
    );
    const events = text(files['events.jsonl']).trim().split('\n').map((l) => JSON.parse(l));
    expect(events.map((e) => e.event_type).sort()).toEqual(['approval', 'model_call', 'request', 'retrieval', 'system_effect', 'tool_call']);
    expect(new Set(events.map((e) => e.correlation_id))).toEqual(new Set([CASE]));
    const approval = events.find((e) => e.event_type === 'approval');
    expect(approval.links).toEqual([{ trace_id: proposal.traceId, span_id: proposal.spanId }]);
    expect(events.find((e) => e.event_type === 'tool_call')).toMatchObject({ chain_id: 'main-high', approval_required: true, span_id: proposal.spanId });
    expect(text(files['proofs.jsonl']).trim().split('\n')).toHaveLength(6);
    expect(text(files['events.csv']).split('\r\n').filter(Boolean)).toHaveLength(7);
    const manifest = JSON.parse(text(files['manifest.json']));
    expect(manifest).toMatchObject({ format: 'otel-audit-evidence/v1', correlation_id: CASE, created_by: 'reviewer-acme', tenants: ['acme'], events: 6, bridge: { name: '@otel-audit/bridge' } });
    expect(manifest.bridge.version).toMatch(/^\d+\.\d+\.\d+/);
    const readme = text(files['README.md']);
    expect(readme).toContain('# Evidence pack: case "CASE-EVIDENCE 1/ü"');
    expect(readme).toContain('What it does not prove');
    expect(JSON.parse(text(files['checkpoints/main-high/00000000000000000001.json'])).timestamps).toHaveLength(1);
  });

  it('records the reading in the trail before answering: an access event per tenant, in the case', async () => {
    await flush(bridge.apiUrl, T.ops);
    const rows = await sql<Record<string, string>>(
      bridge.apiUrl,
      "SELECT actor_id, tenant, purpose, target_id, correlation_id, ingest_principal FROM otel_audit.events WHERE event_type = 'access'",
      T.ops,
    );
    expect(rows).toEqual([{ actor_id: 'reviewer-acme', tenant: 'acme', purpose: 'evidence', target_id: `case:${CASE}`, correlation_id: CASE, ingest_principal: 'reviewer-acme' }]);
    // The next pack of the case shows that reading (and records its own).
    const again = join(work, 'again.zip');
    const r = await runCli(['evidence', CASE, '-o', again, '--api-url', bridge.apiUrl, '--token', T['reviewer-acme']]);
    expect(r.code).toBe(0);
    const events = text(unzipSync(readFileSync(again))['events.jsonl']).trim().split('\n').map((l) => JSON.parse(l));
    expect(events.filter((e) => e.event_type === 'access').map((e) => e.actor_id)).toEqual(['reviewer-acme']);
    expect(events).toHaveLength(7);
  });

  it("a reader gets 404 for another tenant's case, as if it did not exist; an admin gets it", async () => {
    const res = await fetch(`${bridge.apiUrl}/api/v1/cases/${OTHER}/evidence`, { headers: bearer(T['reviewer-acme']) });
    expect(res.status).toBe(404);
    expect((await res.json()).error).toBe(`no case "${OTHER}": no stored event has this correlation id in your tenants`);
    const cli = await runCli(['evidence', OTHER, '--out', join(work, 'globex.zip'), '--api-url', bridge.apiUrl, '--token', T['reviewer-acme']]);
    expect(cli.code).toBe(2);
    expect(cli.stderr).toContain(`no case "${OTHER}"`);
    expect((await fetch(`${bridge.apiUrl}/api/v1/cases/${OTHER}/evidence`)).status).toBe(401);
    expect((await fetch(`${bridge.apiUrl}/api/v1/cases/${OTHER}/evidence`, { headers: bearer(T['app-acme']) })).status).toBe(403);
    const admin = await runCli(['evidence', OTHER, '--out', join(work, 'globex.zip'), '--api-url', bridge.apiUrl, '--token', T.ops]);
    expect(admin.code).toBe(0);
    expect(admin.stdout).toContain('1 event,');
  });

  it('fetches the operator key while the bridge runs', async () => {
    const pub = await runCli(['public-key', '--api-url', bridge.apiUrl, '--token', T['reviewer-acme']]);
    expect(pub.code).toBe(0);
    writeFileSync(keyFile, pub.stdout);
    expect((await runCli(['evidence', CASE, '--api-url', bridge.apiUrl])).code).toBe(2); // --out is required
  });
});

describe('otel-audit verify-evidence, offline (the bridge stopped)', () => {
  beforeAll(async () => {
    expect(await bridge.stop()).toBe(0);
  });

  it('exit 0 with the key inside the pack, saying it trusted it; exit 0 with the operator key', async () => {
    const own = await runCli(['verify-evidence', pack]);
    expect(own.stderr).toBe('');
    expect(own.code).toBe(0);
    expect(own.stdout).toMatch(/^OK: .*pack\.zip: evidence pack of case "CASE-EVIDENCE 1\/ü", 6 events: /);
    expect(own.stdout).toContain('which was trusted as is. Compare it with the public key the operator published (otel-audit public-key)');
    const given = await runCli(['verify-evidence', pack, '--public-key', keyFile, '--tsa-ca', tsa.caFile]);
    expect(given.code).toBe(0);
    expect(given.stdout).toContain('Key: checked with the key you gave');
    expect(given.stdout).toMatch(/Timestamp: main-high@1 existed at \S+ on the word of .*test TSA.*; its certificate chains to the CA you gave\./);
    // The same key is readable offline from the data directory.
    expect((await runCli(['public-key', '--data-dir', bridge.dataDir])).stdout).toBe(readFileSync(keyFile, 'utf8'));
    const json = await verifyJson(pack, '--public-key', keyFile);
    expect(json.report).toMatchObject({ ok: true, events: 6, proofs_verified: 6, key: { source: 'given' }, findings: [] });
  });

  it("the README's openssl commands work on the real pack, the RFC 3161 token included", async () => {
    const dir = join(work, 'unzipped');
    for (const [name, b] of Object.entries(unzipSync(readFileSync(pack)))) {
      mkdirSync(dirname(join(dir, name)), { recursive: true });
      writeFileSync(join(dir, name), b);
    }
    writeFileSync(join(dir, 'operator-key.pem'), readFileSync(keyFile));
    const readme = readFileSync(join(dir, 'README.md'), 'utf8');
    for (const line of readme.match(/^openssl pkeyutl .*$/gm)!) {
      expect(await openssl(line.split(' ').slice(1), dir)).toContain('Signature Verified Successfully');
    }
    const cp = 'checkpoints/main-high/00000000000000000001';
    expect(await openssl(['ts', '-verify', '-in', `${cp}.timestamp-1.tst`, '-token_in', '-data', `${cp}.signed.txt`, '-CAfile', tsa.caFile], dir)).toContain('Verification: OK');
  });

  it('an altered event, proof, checkpoint signature, CSV or manifest: exit 3, naming it', async () => {
    const files = unzipSync(readFileSync(pack));
    const lines = text(files['events.jsonl']).trim().split('\n');
    const tool = lines.findIndex((l) => JSON.parse(l).event_type === 'tool_call');
    const toolEvent = JSON.parse(lines[tool]);

    const byte = await verifyJson(
      alter('event.zip', (f) => {
        f['events.jsonl'] = Buffer.from(text(f['events.jsonl']).replace('"target_id":"ACC-9"', '"target_id":"ACC-8"'));
      }),
      '--public-key',
      keyFile,
    );
    expect(byte.code).toBe(3);
    expect(byte.report.findings.find((x: { kind: string }) => x.kind === 'event_hash')).toMatchObject({
      file: 'events.jsonl',
      line: tool + 1,
      seq: Number(toolEvent.seq),
      event_id: toolEvent.event_id,
      chain_id: 'main-high',
    });
    const text3 = await runCli(['verify-evidence', join(work, 'event.zip'), '--public-key', keyFile]);
    expect(text3.code).toBe(3);
    expect(text3.stdout).toMatch(new RegExp(`^ALTERED: .*: evidence pack of case "CASE-EVIDENCE 1/ü": \\d+ findings\\n`));
    expect(text3.stdout).toContain(`- event_hash: event ${toolEvent.event_id} (chain main-high, seq ${toolEvent.seq}, events.jsonl line ${tool + 1}): its columns hash to`);

    const proof = await verifyJson(
      alter('proof.zip', (f) => {
        const p = text(f['proofs.jsonl']).trim().split('\n').map((l) => JSON.parse(l));
        const i = p.findIndex((x) => x.audit_path.length > 0);
        p[i].audit_path[0] = (p[i].audit_path[0][0] === '0' ? '1' : '0') + p[i].audit_path[0].slice(1);
        f['proofs.jsonl'] = Buffer.from(p.map((x) => JSON.stringify(x)).join('\n') + '\n');
      }),
      '--public-key',
      keyFile,
    );
    expect(proof.code).toBe(3);
    expect(proof.report.findings.map((x: { kind: string; file: string }) => `${x.kind} ${x.file}`).sort()).toEqual(['file_digest proofs.jsonl', 'proof proofs.jsonl']);
    expect(proof.report.findings.find((x: { kind: string }) => x.kind === 'proof').detail).toMatch(/does not lead to the root of checkpoint main-medium@6/);

    const sig = await verifyJson(
      alter('signature.zip', (f) => {
        const name = 'checkpoints/main-medium/00000000000000000006.json';
        const rec = JSON.parse(text(f[name]));
        rec.checkpoint.signature = Buffer.from(rec.checkpoint.signature, 'base64').reverse().toString('base64');
        f[name] = Buffer.from(JSON.stringify(rec, null, 2) + '\n');
      }),
      '--public-key',
      keyFile,
    );
    expect(sig.code).toBe(3);
    expect(sig.report.findings.find((x: { kind: string }) => x.kind === 'checkpoint_signature')).toMatchObject({ chain_id: 'main-medium', tree_size: 6 });
    // The token is over the signed text, not the signature: it still vouches for the checkpoint's fields.
    expect(sig.report.findings.map((x: { kind: string }) => x.kind).sort()).toEqual(['checkpoint', 'checkpoint_signature', 'file_digest']);

    const csv = await verifyJson(
      alter('csv.zip', (f) => {
        f['events.csv'] = Buffer.from(text(f['events.csv']).replace('ACC-9', 'ACC-8'));
      }),
      '--public-key',
      keyFile,
    );
    expect(csv.code).toBe(3);
    const c = csv.report.findings.find((x: { kind: string }) => x.kind === 'csv');
    expect(c).toMatchObject({ file: 'events.csv' });
    expect(c.detail).toMatch(/^events\.csv line \d+ disagrees with events\.jsonl line \d+ \(event [0-9a-f]{32} \(chain main-\w+, seq \d+, events\.jsonl line \d+\)\) in target_id$/);

    const manifest = await verifyJson(
      alter('manifest.zip', (f) => {
        f['manifest.json'] = Buffer.from(text(f['manifest.json']).replace('"created_by": "reviewer-acme"', '"created_by": "reviewer-acmf"'));
      }),
      '--public-key',
      keyFile,
    );
    expect(manifest.code).toBe(3);
    expect(manifest.report.findings).toEqual([expect.objectContaining({ kind: 'manifest_signature', file: 'manifest.sig' })]);

    const other = join(work, 'other.pem');
    writeFileSync(other, generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }) as string);
    const wrongKey = await verifyJson(pack, '--public-key', other);
    expect(wrongKey.code).toBe(3);
    expect(wrongKey.report.findings.map((x: { kind: string }) => x.kind)).toContain('key_mismatch');
  });

  it('not a zip, a file missing, an unreadable key: exit 2', async () => {
    const notZip = join(work, 'not.zip');
    writeFileSync(notZip, 'this is not a zip');
    const a = await runCli(['verify-evidence', notZip]);
    expect(a.code).toBe(2);
    expect(a.stderr).toContain('not a zip archive');
    const b = await runCli(['verify-evidence', alter('missing.zip', (f) => delete f['proofs.jsonl'])]);
    expect(b.code).toBe(2);
    expect(b.stderr).toContain('not a complete evidence pack: proofs.jsonl missing');
    const c = await runCli(['verify-evidence', pack, '--public-key', notZip]);
    expect(c.code).toBe(2);
    expect((await runCli(['verify-evidence', join(work, 'nope.zip')])).code).toBe(2);
    expect((await runCli(['verify-evidence'])).code).toBe(2);
  });
});
