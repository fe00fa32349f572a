/**
 * Sealed content, reviewer access and crypto-shredding through the real CLI: high-risk content
 * is sealed per subject, read back by a content_reader (401/403 without the token or the role;
 * each reading stored as an `access` event), and after
 * `otel-audit erase` it is gone (410) while `otel-audit verify` still passes. Also: the policy
 * file on the command line (rules applied, bad files refused with the path of the bad field),
 * and the retention TTL in the printed DDL.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { flush, runCli, sql, startBridge, tempDir, writeAuthFile, type BridgeProcess } from './helpers/bridge-process.ts';
import { sendSpans, spanId, traceId, type SpanSpec } from './helpers/otlp.ts';

const TOKEN = 'reviewer-' + 'x1y2z3'.repeat(6);
const APP = 'app-' + 'a1b2c3'.repeat(6);
const READER = 'reader-' + 'r1s2t3'.repeat(6);
const GLOBEX = 'globex-' + 'g1h2i3'.repeat(6);
const GLOBEX_APP = { 'service.name': 'globex-bot', 'audit.tenant': 'globex' };
let work: string;
let authFile: string;
let policyFile: string;
let bridge: BridgeProcess;
const ids: Record<string, string> = {};

const auth = { authorization: `Bearer ${TOKEN}` };
const content = (eventId: string, headers: Record<string, string> = auth) => fetch(`${bridge.apiUrl}/api/v1/events/${eventId}/content`, { headers });

/** Events matching `where`, by name: whether their content is sealed, and the note on it. */
async function sealing(where: string): Promise<Array<{ name: string; event_id: string; sealed: number; note: string }>> {
  const rows = await sql<{ name: string; event_id: string; sealed: number; note: string }>(
    bridge.apiUrl,
    `SELECT name, event_id, content_sealed != '' AS sealed, attributes['otel_audit.content_sealed'] AS note FROM otel_audit.events WHERE ${where} ORDER BY name`,
    TOKEN,
  );
  return rows.map((r) => ({ ...r, sealed: Number(r.sealed) }));
}

function toolSpan(name: string, attrs: Record<string, string>): SpanSpec {
  return {
    traceId: traceId(),
    spanId: spanId(),
    name,
    attributes: {
      'gen_ai.operation.name': 'execute_tool',
      'gen_ai.tool.name': 'refund',
      'audit.correlation_id': 'CASE-ERASE',
      'audit.actor.id': 'support-bot',
      'http.request.header.authorization': 'Basic dXNlcjpwYXNz',
      'http.request.header.x-request-id': 'r-1',
      ...attrs,
    },
  };
}

beforeAll(async () => {
  work = tempDir('erase-e2e-');
  authFile = writeAuthFile(work, [
    { name: 'app', token: APP, roles: ['ingest'], tenants: ['acme'] },
    { name: 'reviewer-1', token: TOKEN, roles: ['content_reader', 'admin'], tenants: ['*'] },
    { name: 'reader-1', token: READER, roles: ['reader'], tenants: ['acme'] },
    { name: 'globex-app', token: GLOBEX, roles: ['ingest'], tenants: ['globex'] },
  ]);
  policyFile = join(work, 'policy.json');
  writeFileSync(
    policyFile,
    JSON.stringify({
      attributes: [
        { key: 'http.request.header.*', action: 'drop' },
        { key: 'customer.email', action: 'pseudonymize' },
      ],
      retention_days: { low: 30 },
    }),
  );
  bridge = await startBridge({ args: ['--policy', policyFile, '--auth-file', authFile, '--checkpoint-every-events', '2'] });
  const spans = [
    toolSpan('jane high', {
      'audit.risk': 'high',
      'audit.on_behalf_of': 'jane@example.com',
      'customer.email': 'jane@example.com',
      'gen_ai.tool.call.arguments': JSON.stringify({ card: '4111 1111 1111 1111', amount: 40 }),
    }),
    toolSpan('jane medium', { 'audit.risk': 'medium', 'audit.on_behalf_of': 'jane@example.com', 'gen_ai.tool.call.arguments': '{"amount": 5}' }),
    toolSpan('bob high', { 'audit.risk': 'high', 'audit.on_behalf_of': 'bob@example.com', 'gen_ai.tool.call.arguments': '{"iban": "DE89 3704 0044 0532 0130 00"}' }),
  ];
  await sendSpans(bridge.otlpUrl, spans, undefined, APP);
  await flush(bridge.apiUrl, TOKEN);
  for (const r of await sql<{ name: string; event_id: string }>(bridge.apiUrl, "SELECT name, event_id FROM otel_audit.events WHERE correlation_id = 'CASE-ERASE'", TOKEN)) {
    ids[r.name] = r.event_id;
  }
}, 60_000);

afterAll(async () => {
  if (bridge && bridge.child.exitCode === null) expect(await bridge.stop()).toBe(0);
});

describe('policy file', () => {
  it('applies its attribute rules: headers dropped, an e-mail attribute pseudonymized like the identity columns', async () => {
    const [row] = await sql<{ attributes: Record<string, string>; on_behalf_of: string; content: string }>(
      bridge.apiUrl,
      `SELECT attributes, on_behalf_of, content FROM otel_audit.events WHERE event_id = '${ids['jane high']}'`,
      TOKEN,
    );
    expect(Object.keys(row.attributes).filter((k) => k.startsWith('http.'))).toEqual([]);
    expect(row.on_behalf_of).toMatch(/^pii:[0-9a-f]{16}$/);
    expect(row.attributes['customer.email']).toBe(row.on_behalf_of);
    expect(JSON.parse(row.content)).toEqual({ arguments: { card: '[card …1111]', amount: 40 } });
    expect(bridge.log()).toContain('"retention_days":{"low":30,"medium":365,"high":2190}');
  });

  it('a bad policy file is refused at start (exit 2) with the path of the bad field and what is expected', async () => {
    const bad = join(work, 'bad.json');
    writeFileSync(bad, JSON.stringify({ attributes: [{ key: 'user.*', action: 'encrypt' }], content: { high: 'raw' } }));
    const r = await runCli(['serve', '--data-dir', join(work, 'never'), '--policy', bad]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('attributes[0].action: expected one of allow, drop, mask, hash, pseudonymize, got "encrypt"');
    expect(r.stderr).toContain('content.high: expected one of digests, redacted, sealed, got "raw"');
  });

  it('search by the clear value finds the pseudonymized subject (across tenants)', async () => {
    const r = await runCli(['search', '--actor', 'jane@example.com', '--format', 'jsonl', '--api-url', bridge.apiUrl], { OTEL_AUDIT_TOKEN: READER });
    expect(r.code).toBe(0);
    const names = r.stdout.trim().split('\n').map((l) => JSON.parse(l).name).sort();
    expect(names).toEqual(['jane high', 'jane medium']);
  });
});

describe('sealed content and erasure', () => {
  it('a content_reader reads the raw content of a high-risk event; 401 without a valid token, 403 without the role', async () => {
    const none = await content(ids['jane high'], {});
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect((await content(ids['jane high'], { authorization: 'Bearer not-the-token-at-all' })).status).toBe(401);
    const reader = await content(ids['jane high'], { authorization: `Bearer ${READER}` });
    expect(reader.status).toBe(403);
    expect((await reader.json()).error).toMatch(/token "reader-1" may not open sealed content: it needs the "content_reader" role/);
    const ok = await content(ids['jane high']);
    expect(ok.status).toBe(200);
    expect(ok.headers.get('cache-control')).toBe('no-store');
    const body = await ok.json();
    expect(body).toMatchObject({ event_id: ids['jane high'], tenant: 'acme', risk: 'high', content: { arguments: { card: '4111 1111 1111 1111', amount: 40 } } });
    const medium = await content(ids['jane medium']);
    expect(medium.status).toBe(404);
    expect((await medium.json()).error).toMatch(/has no sealed content.*risk medium/);
    // The log says who read what by id, never the content.
    expect(bridge.log()).toContain(`"msg":"sealed content read by a reviewer","event_id":"${ids['jane high']}"`);
    expect(bridge.log()).not.toContain('4111');
    expect(bridge.log()).not.toContain(TOKEN);
    // The reading is itself in the trail: who read which event, in the case's timeline.
    await flush(bridge.apiUrl, TOKEN);
    const access = await sql<Record<string, string>>(
      bridge.apiUrl,
      "SELECT actor_id, target_system, target_id, tenant, ingest_principal, correlation_id FROM otel_audit.events WHERE event_type = 'access'",
      TOKEN,
    );
    expect(access).toEqual([
      { actor_id: 'reviewer-1', target_system: 'otel-audit', target_id: `event:${ids['jane high']}`, tenant: 'acme', ingest_principal: 'reviewer-1', correlation_id: 'CASE-ERASE' },
    ]);
  });

  it('otel-audit erase needs an admin token, deletes the subject key, and the content answers 410', async () => {
    const noToken = await runCli(['erase', '--subject', 'jane@example.com', '--api-url', bridge.apiUrl], { OTEL_AUDIT_TOKEN: '' });
    expect(noToken.code).toBe(1);
    expect(noToken.stderr).toContain('a token is required');
    expect(noToken.stderr).toContain('pass --token or set OTEL_AUDIT_TOKEN');
    const wrong = await runCli(['erase', '--subject', 'jane@example.com', '--api-url', bridge.apiUrl], { OTEL_AUDIT_TOKEN: 'wrong-token-0123456789' });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain('the token is not valid on this bridge');
    const reader = await runCli(['erase', '--subject', 'jane@example.com', '--api-url', bridge.apiUrl, '--token', READER]);
    expect(reader.code).toBe(1);
    expect(reader.stderr).toContain('it needs the "admin" role');

    const r = await runCli(['erase', '--subject', 'jane@example.com', '--token', TOKEN, '--api-url', bridge.apiUrl]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^erased 1 data key \(tenant acme\): the sealed content of 1 stored event can no longer be read/);
    // The erasure is in the trail: one access event per tenant it covered, the subject as its events name it.
    await flush(bridge.apiUrl, TOKEN);
    const [{ subject }] = await sql<{ subject: string }>(bridge.apiUrl, `SELECT on_behalf_of AS subject FROM otel_audit.events WHERE event_id = '${ids['jane high']}'`, TOKEN);
    expect(subject).toMatch(/^pii:[0-9a-f]{16}$/);
    const erasures = await sql<Record<string, string>>(
      bridge.apiUrl,
      "SELECT tenant, actor_id, action, target_system, target_id FROM otel_audit.events WHERE event_type = 'access' AND purpose = 'erase' ORDER BY tenant",
      TOKEN,
    );
    expect(erasures.find((e) => e.tenant === 'acme')).toEqual({ tenant: 'acme', actor_id: 'reviewer-1', action: 'delete', target_system: 'otel-audit', target_id: `subject:${subject}` });
    expect(erasures.map((e) => e.tenant)).toContain('default');
    expect(JSON.stringify(erasures)).not.toContain('jane');
    const gone = await content(ids['jane high']);
    expect(gone.status).toBe(410);
    expect((await gone.json()).error).toMatch(/its subject's data key was erased .*the hash chain still verifies/);
    expect((await content(ids['bob high'])).status).toBe(200);
    // Idempotent: nothing left to erase.
    const again = await runCli(['erase', '--subject', 'jane@example.com', '--format', 'json', '--api-url', bridge.apiUrl], { OTEL_AUDIT_TOKEN: TOKEN });
    expect(JSON.parse(again.stdout)).toEqual({ keys_erased: 0, tenants: [], sealed_events: 1 });
    expect(bridge.log()).not.toContain('jane');
  });

  it('verify still passes: the chain commits to the ciphertext and digests, which are unchanged', async () => {
    const v = await runCli(['verify', '--format', 'json', '--api-url', bridge.apiUrl], { OTEL_AUDIT_TOKEN: READER });
    expect(v.code).toBe(0);
    const report = JSON.parse(v.stdout);
    expect(report).toMatchObject({ ok: true, findings: [] });
    expect(report.events_checked).toBeGreaterThanOrEqual(3);
    const [{ n }] = await sql<{ n: string }>(bridge.apiUrl, `SELECT count() AS n FROM otel_audit.events WHERE content_sealed != ''`, TOKEN);
    expect(Number(n)).toBe(2);
  });

  it('content on its way when its subject is erased is never sealed (410), while what arrives after is sealed under a new key', async () => {
    const trace = traceId();
    const rootId = spanId();
    const mary = (name: string, note: string): SpanSpec => ({
      ...toolSpan(name, { 'audit.risk': 'high', 'audit.on_behalf_of': 'mary@example.com', 'gen_ai.tool.call.arguments': JSON.stringify({ note }) }),
      traceId: trace,
    });
    // The child arrives first and waits for its parent (its ancestry decides its context).
    await sendSpans(bridge.otlpUrl, [{ ...mary('mary child', 'before the erasure'), parentSpanId: rootId }], undefined, APP);
    const r = await runCli(['erase', '--subject', 'mary@example.com', '--format', 'json', '--token', TOKEN, '--api-url', bridge.apiUrl]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ keys_erased: 0, tenants: [], sealed_events: 0 });
    await sendSpans(bridge.otlpUrl, [{ ...mary('mary root', 'after the erasure'), spanId: rootId }], undefined, APP);
    await flush(bridge.apiUrl, TOKEN);
    const rows = await sealing("name LIKE 'mary %'");
    expect(rows.map(({ name, sealed, note }) => ({ name, sealed, note }))).toEqual([
      { name: 'mary child', sealed: 0, note: 'erased' },
      { name: 'mary root', sealed: 1, note: '' },
    ]);
    const child = await content(rows[0].event_id);
    expect(child.status).toBe(410);
    expect((await child.json()).error).toMatch(/was never sealed: its subject was erased .* after the event arrived/);
    const root = await content(rows[1].event_id);
    expect(root.status).toBe(200);
    expect(JSON.stringify(await root.json())).toContain('after the erasure');
  });

  it('an erasure without a tenant covers a tenant with nothing stored yet: its content on the way is never sealed', async () => {
    const trace = traceId();
    const rootId = spanId();
    const ann = (name: string): SpanSpec => ({
      ...toolSpan(name, { 'audit.risk': 'high', 'audit.on_behalf_of': 'ann@example.com', 'gen_ai.tool.call.arguments': '{"note":"globex"}' }),
      traceId: trace,
    });
    // The first events of tenant globex: a child waiting for its parent, nothing of globex stored.
    await sendSpans(bridge.otlpUrl, [{ ...ann('ann child'), parentSpanId: rootId }], GLOBEX_APP, GLOBEX);
    const [{ n }] = await sql<{ n: string }>(bridge.apiUrl, "SELECT count() AS n FROM otel_audit.events WHERE tenant = 'globex'", TOKEN);
    expect(Number(n)).toBe(0);
    const r = await runCli(['erase', '--subject', 'ann@example.com', '--format', 'json', '--token', TOKEN, '--api-url', bridge.apiUrl]);
    expect(r.code).toBe(0);
    await sendSpans(bridge.otlpUrl, [{ ...ann('ann root'), spanId: rootId }], GLOBEX_APP, GLOBEX);
    await flush(bridge.apiUrl, TOKEN);
    // The child arrived before the erasure (never sealed); the root after it (a new key).
    expect((await sealing("name LIKE 'ann %'")).map(({ name, sealed, note }) => ({ name, sealed, note }))).toEqual([
      { name: 'ann child', sealed: 0, note: 'erased' },
      { name: 'ann root', sealed: 1, note: '' },
    ]);
  });

  it('after a restart, keys persist and the erasure holds; --reviewer-token-file is refused with the way to migrate', async () => {
    expect(await bridge.stop()).toBe(0);
    bridge = await startBridge({ dataDir: bridge.dataDir, args: ['--auth-file', authFile] });
    expect((await content(ids['jane high'])).status).toBe(410);
    expect((await content(ids['bob high'])).status).toBe(200);
    const tokenFile = join(work, 'reviewer.token');
    writeFileSync(tokenFile, TOKEN + '\n');
    const r = await runCli(['serve', '--data-dir', join(work, 'never'), '--reviewer-token-file', tokenFile]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('was folded into --auth-file');
    expect(r.stderr).toContain('"roles": ["content_reader", "admin"]');
  });
});

describe('retention', () => {
  it('migrate --print holds the TTL by risk level and the content_sealed column', async () => {
    const r = await runCli(['migrate', '--print']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('ALTER TABLE otel_audit.events ADD COLUMN IF NOT EXISTS content_sealed String');
    expect(r.stdout).toContain(
      "ALTER TABLE otel_audit.events MODIFY TTL toDateTime(ingest_time) + toIntervalDay(multiIf(risk = 'low', 90, risk = 'medium', 365, 2190)) DELETE WHERE endsWith(chain_id, concat('-', risk))",
    );
  });
});
