import { createHmac, hkdfSync, randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Correlator, type PendingEvent, type StoredEvent } from '../correlate/index.ts';
import type { Attributes } from '../model.ts';
import { makeSpan } from '../normalize/testdata/load.ts';
import { parsePolicy, type PrivacyPolicy } from './policy.ts';
import { SubjectVault } from './vault.ts';
import { intakeSpans } from '../intake/index.ts';
import { deriveSubjectIdKey, PrivacyFilter } from './privacy.ts';

const MASTER = Buffer.from('0123456789abcdef0123456789abcdef', 'hex');

function filter(policy?: PrivacyPolicy, withVault = true): PrivacyFilter {
  const vault = withVault ? new SubjectVault(join(mkdtempSync(join(tmpdir(), 'privacy-')), 'subjects'), deriveSubjectIdKey(MASTER)) : null;
  return new PrivacyFilter(MASTER, { policy, vault });
}

/** Spans through intake and the correlator with this filter as finalizer: the stored events. */
function run(privacy: PrivacyFilter, spans: Array<{ name: string; attributes: Attributes; resource?: Attributes; parent?: string }>): StoredEvent[] {
  const telemetry = spans.map((s) =>
    makeSpan({ name: s.name, attributes: s.attributes, resource: s.resource ?? { 'service.name': 'svc', 'audit.tenant': 'acme' }, parentSpanId: s.parent ?? '' }),
  );
  const intake = intakeSpans(telemetry, privacy, { defaultRisk: 'medium', now: 0, ingestTime: '2026-01-01 00:00:00.000000000' });
  const c = new Correlator<PendingEvent>({}, { finalizer: privacy });
  for (const n of intake.nodes) c.addSpan(n, null, 0);
  for (const e of intake.events) c.addSpan(e.node, e, 0);
  return c.drain(0).map((p) => p.event as StoredEvent);
}

const tool = (attrs: Attributes): Attributes => ({ 'gen_ai.operation.name': 'execute_tool', 'gen_ai.tool.name': 'crm_update', ...attrs });

describe('pseudonyms', () => {
  it('are HMAC-SHA256 under a per-tenant key: HKDF-SHA256(master, salt "otel-audit/pseudonym/v1", info tenant)', () => {
    const p = filter();
    const key = Buffer.from(hkdfSync('sha256', MASTER, 'otel-audit/pseudonym/v1', 'acme', 32));
    const expected = 'pii:' + createHmac('sha256', key).update('jane@example.com').digest('hex').slice(0, 16);
    expect(p.pseudonym('jane@example.com', 'acme')).toBe(expected);
    expect(p.pseudonym('jane@example.com', 'globex')).not.toBe(expected);
    expect(p.pseudonym('jane@example.com', 'acme')).toMatch(/^pii:[0-9a-f]{16}$/);
    expect(p.hashValue('jane@example.com', 'acme')).toMatch(/^hmac:[0-9a-f]{32}$/);
    expect(p.hashValue('x', 'acme')).not.toBe(p.hashValue('x', 'globex'));
    // Search by clear value: the value, its pre-tenant pseudonym and its pseudonym in each tenant.
    expect(p.searchForms('jane@example.com', ['acme', 'globex'])).toEqual([
      'jane@example.com',
      p.legacyPseudonym('jane@example.com'),
      expected,
      p.pseudonym('jane@example.com', 'globex'),
    ]);
    // A tenant name longer than HKDF's 1024-byte info limit still gets a key.
    expect(p.pseudonym('v', 't'.repeat(5000))).toMatch(/^pii:/);
  });

  it('identity columns with personal data get the pseudonym of their decided tenant, also when inherited', () => {
    const p = filter();
    const [root, child] = run(p, [
      { name: 'root', attributes: { 'audit.correlation_id': 'jane@example.com', 'audit.actor.id': 'jane@example.com', 'audit.on_behalf_of': 'support-bot', 'audit.risk': 'low' } },
      { name: 'child', parent: makeSpan({ name: 'root' }).spanId, attributes: tool({}), resource: { 'service.name': 'other' } },
    ]).sort((a, b) => a.name.localeCompare(b.name));
    expect(root.tenant).toBe('acme');
    expect(root.actor_id).toBe(p.pseudonym('jane@example.com', 'acme'));
    expect(root.correlation_id).toBe(p.pseudonym('jane@example.com', 'acme'));
    expect(root.on_behalf_of).toBe('support-bot');
    // The child's service states no tenant: it inherits acme, and so do its pseudonyms.
    expect(child.tenant).toBe('acme');
    expect(child.actor_id).toBe(root.actor_id);
  });
});

describe('the floor on every stored string', () => {
  it('masks secrets and personal data in every free-text column, sources, and attribute keys and values', () => {
    const p = filter();
    const [e] = run(p, [
      {
        name: 'execute_tool mail jane@example.com',
        attributes: tool({
          'gen_ai.tool.name': 'send_to jane@example.com',
          'gen_ai.tool.call.id': 'call for jane@example.com',
          'audit.target.system': 'crm',
          'audit.target.id': 'john.doe@example.org',
          'audit.prompt.version': 'v1 ghp_abcdefghijklmnopqrstuvwxyz0123456789',
          'gen_ai.retrieval.documents': JSON.stringify([{ id: 'doc-jane@example.com', uri: 'https://u:hunter22@kb.example.com/a', version: '1', score: 0.5 }]),
          'app.note': 'IBAN DE89 3704 0044 0532 0130 00',
          'jane@example.com': 'key holds an email',
        }),
      },
    ]);
    const all = JSON.stringify(e);
    for (const secret of ['jane@example.com', 'john.doe@example.org', 'abcdefghijklmnopqrstuvwxyz0', 'hunter22', 'DE89 3704']) expect(all).not.toContain(secret);
    expect(e.name).toBe('execute_tool mail [email]');
    expect(e.tool_name).toBe('send_to [email]');
    expect(e.target_id).toBe('[email]');
    expect(e.sources[0].id).toBe('[email]');
    expect(e.sources[0].uri).toContain('[password]');
    expect(e.attributes['app.note']).toBe('IBAN [iban]');
    expect(e.redactions).toBeGreaterThanOrEqual(8);
  });
});

describe('content policy by risk', () => {
  const content = tool({ 'gen_ai.tool.call.arguments': JSON.stringify({ card: '4111 1111 1111 1111', note: 'refund' }) });

  it('low: digests only; medium: redacted; high: redacted plus the raw content sealed for the subject', () => {
    const p = filter();
    const events = run(p, [
      { name: 'low', attributes: { ...content, 'audit.risk': 'low' } },
      { name: 'medium', attributes: { ...content, 'audit.risk': 'medium' } },
      { name: 'high', attributes: { ...content, 'audit.risk': 'high', 'audit.actor.id': 'agent-7', 'audit.on_behalf_of': 'jane@example.com' } },
    ]);
    const by = Object.fromEntries(events.map((e) => [e.name, e]));
    const digest = by.medium.input_digest;
    expect(digest).toMatch(/^[0-9a-f]{64}$/);
    expect(by.low).toMatchObject({ content: '', input_digest: digest });
    expect(by.low.attributes['otel_audit.content']).toBe('withheld');
    expect(by.low.content_sealed).toBeUndefined();
    expect(JSON.parse(by.medium.content)).toEqual({ arguments: { card: '[card …1111]', note: 'refund' } });
    expect(by.medium.content_sealed).toBeUndefined();
    expect(by.high.content).toBe(by.medium.content);
    expect(by.high.input_digest).toBe(digest);
    const opened = p.vault!.open(by.high.content_sealed!, by.high.event_id);
    expect(opened.status).toBe('ok');
    expect(opened.status === 'ok' && JSON.parse(opened.plaintext.toString())).toEqual({ arguments: { card: '4111 1111 1111 1111', note: 'refund' } });
    // Sealed for the person acted for, in its stored (pseudonymized) form.
    expect(p.vault!.has('acme', p.pseudonym('jane@example.com', 'acme'))).toBe(true);
  });

  it('per-tenant overrides; without a key store, sealed falls back to redacted; raw never stays on the pieces', () => {
    const policy = parsePolicy({ content: { medium: 'digests' }, tenants: { acme: { content: { medium: 'sealed' } } } });
    const p = filter(policy);
    const [acme] = run(p, [{ name: 'a', attributes: content }]);
    expect(acme.content_sealed).toMatch(/^[A-Za-z0-9+/]+=*$/);
    const [globex] = run(p, [{ name: 'g', attributes: content, resource: { 'audit.tenant': 'globex' } }]);
    expect(globex.content).toBe('');
    const noVault = filter(undefined, false);
    expect(noVault.keepsRaw).toBe(false);
    const [high] = run(noVault, [{ name: 'h', attributes: { ...content, 'audit.risk': 'high' } }]);
    expect(high.content_sealed).toBeUndefined();
    expect(JSON.parse(high.content).arguments.card).toBe('[card …1111]');
  });
});

describe('attribute policy', () => {
  it('drop, mask, hash, pseudonymize and allow by key glob, risk and tenant; identity columns by name', () => {
    const policy = parsePolicy({
      attributes: [
        { key: 'http.request.header.*', action: 'drop' },
        { key: 'customer.tier', action: 'mask', mask: '[tier]' },
        { key: 'order.id', action: 'hash', risk: 'high' },
        { key: 'user.email', action: 'pseudonymize' },
        { key: 'resource.host.name', action: 'drop' },
        { key: 'actor_id', action: 'pseudonymize' },
        { key: 'debug.*', action: 'allow' },
      ],
      tenants: { globex: { attributes: [{ key: 'customer.tier', action: 'allow' }] } },
    });
    const p = filter(policy);
    const attrs = tool({
      'http.request.header.authorization': 'Basic dXNlcjpwYXNz',
      'http.request.header.x-trace': 'abc',
      'customer.tier': 'gold',
      'order.id': 'ORD-1',
      'user.email': 'jane@example.com',
      'debug.note': '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',
      'audit.actor.id': 'agent-7',
    });
    const resource = { 'service.name': 'svc', 'audit.tenant': 'acme', 'host.name': 'db-1' };
    const [medium] = run(p, [{ name: 'm', attributes: attrs, resource }]);
    expect(Object.keys(medium.attributes).filter((k) => k.startsWith('http.') || k === 'resource.host.name')).toEqual([]);
    expect(medium.attributes['customer.tier']).toBe('[tier]');
    expect(medium.attributes['order.id']).toBe('ORD-1');
    expect(medium.attributes['user.email']).toBe(p.pseudonym('jane@example.com', 'acme'));
    expect(medium.attributes['debug.note']).toBe('[openai-key]'); // allow keeps the floor
    expect(medium.actor_id).toBe(p.pseudonym('agent-7', 'acme'));
    const [high] = run(p, [{ name: 'h', attributes: { ...attrs, 'audit.risk': 'high' }, resource }]);
    expect(high.attributes['order.id']).toBe(p.hashValue('ORD-1', 'acme'));
    const [globex] = run(p, [{ name: 'g', attributes: attrs, resource: { 'audit.tenant': 'globex' } }]);
    expect(globex.attributes['customer.tier']).toBe('gold');
    expect(globex.attributes['user.email']).toBe(p.pseudonym('jane@example.com', 'globex'));
  });
});
