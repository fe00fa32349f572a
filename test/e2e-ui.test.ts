/**
 * The reviewer's desk (the web UI, packages/ui) end to end: Debian's Chromium driven by
 * playwright-core against a real bridge process with an auth file, on chDB.
 *
 * A support case is sent over OTLP as an app would: a request, the knowledge-base sources it
 * used, a high-risk model call (its raw content sealed), a CRM update proposed for approval,
 * and, in another trace, the team lead's approval (edited) linked to the proposal, the update it
 * caused and the outcome. Then, in the browser:
 *  - sign in with a token (the bridge's session cookie; the page keeps no token), find the case
 *    by id, read its story with the approval drawn under its proposal and the identity on every
 *    step; keyboard only;
 *  - search with labelled filters, page by next_cursor, export CSV (the page, client-side, and
 *    the whole filter through the API) and check the rows against SQL;
 *  - a content reader opens the sealed content in one click (the opening is in the trail); a
 *    reader cannot (the button says why), and a 403 is explained;
 *  - a reader of one tenant never sees another's events, in search or as a case;
 *  - the evidence pack downloads and `otel-audit verify-evidence` passes;
 *  - axe-core finds no serious or critical violation on the search and case pages;
 *  - one row altered in the store (bridge stopped) is flagged on the case page and in search;
 *  - a case of 50,000 events stays responsive: only visible rows are rendered, pages load as it
 *    is scrolled, jumping to its end renders the last event (it prints what it measured).
 *
 * UPDATE_SCREENSHOTS=1 writes the screenshots of the README to docs/screenshots/ (1280×800).
 * Cost on this 2-core machine: 1 to 2.5 minutes (with other work running), half of it the
 * 50,000-event case.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Locator, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Store } from '../packages/bridge/src/store/index.ts';
import { parseCsv } from '../packages/ui/src/csv.ts';
import { eventually, flush, REPO_ROOT, runCli, sql, startBridge, tempDir, writeAuthFile, type BridgeProcess, type TestToken } from './helpers/bridge-process.ts';
import { encodeTraces, postOtlp, sendSpans, spanId, traceId, type SpanSpec } from './helpers/otlp.ts';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const VIEWPORT = { width: 1280, height: 800 };
const SHOTS = process.env.UPDATE_SCREENSHOTS ? join(REPO_ROOT, 'docs/screenshots') : tempDir('ui-shots-');
const TRACE_URL = 'https://tracing.example.com/trace/{trace_id}';

const tok = (name: string) => `${name}-${'0123456789abcdef'.repeat(2)}`;
const TOKENS: TestToken[] = [
  { name: 'app-acme', token: tok('app-acme'), roles: ['ingest'], tenants: ['acme'] },
  { name: 'app-globex', token: tok('app-globex'), roles: ['ingest'], tenants: ['globex'] },
  { name: 'reviewer-acme', token: tok('reviewer-acme'), roles: ['reader'], tenants: ['acme'] },
  { name: 'auditor-acme', token: tok('auditor-acme'), roles: ['reader', 'content_reader'], tenants: ['acme'] },
  { name: 'reviewer-globex', token: tok('reviewer-globex'), roles: ['reader'], tenants: ['globex'] },
  { name: 'ops', token: tok('ops'), roles: ['admin'], tenants: ['*'] },
];
const T = Object.fromEntries(TOKENS.map((t) => [t.name, t.token]));

const CASE = 'CASE-123';
const GLOBEX_CASE = 'CASE-G-77';
const FILLER_CASE = 'CASE-124';
const BIG_CASE = 'CASE-BIG';
const BIG = 50_000;

let work: string;
let authFile: string;
let bridge: BridgeProcess;
let browser: Browser;
const bridgeArgs = () => ['--auth-file', authFile, '--checkpoint-every-events', '1', '--trace-url-template', TRACE_URL, '--otlp-grpc', 'off'];

/** The ids of the case's spans, to find its events. */
const ids = { t1: traceId(), t2: traceId(), request: spanId(), retrieval: spanId(), model: spanId(), tool: spanId(), approval: spanId(), effect: spanId(), outcome: spanId() };
const eventIds: Record<string, string> = {};

const USER_TEXT = 'Hello, I was charged twice for order 1182. Please refund the duplicate charge to my card 4111 1111 1111 1111. You can reach me at jane.doe@example.com.';

function supportCase(): SpanSpec[] {
  const t0 = Date.now() - 15 * 60_000;
  const who = { 'audit.correlation_id': CASE, 'audit.actor.id': 'support-assistant', 'audit.actor.type': 'agent', 'audit.on_behalf_of': 'cust-1042', 'audit.initiation': 'ai_assisted' };
  const lead = { 'audit.correlation_id': CASE, 'audit.actor.id': 'lead-7', 'audit.actor.type': 'human', 'audit.actor.role': 'team_lead', 'audit.initiation': 'human' };
  const args = { case_id: CASE, customer_id: 'cust-1042', status: 'refund_pending', note: 'Refund duplicate charge on order 1182 (KB-101)' };
  return [
    { traceId: ids.t1, spanId: ids.request, name: 'handle ticket', kind: 1, startMs: t0, durationMs: 420, attributes: { ...who, 'audit.event.type': 'request', 'audit.purpose': 'answer' } },
    {
      traceId: ids.t1,
      spanId: ids.retrieval,
      parentSpanId: ids.request,
      name: 'retrieval support-kb',
      startMs: t0 + 12,
      attributes: {
        ...who,
        'gen_ai.operation.name': 'retrieval',
        'gen_ai.data_source.id': 'support-kb',
        'gen_ai.retrieval.query.text': USER_TEXT,
        'audit.sources': JSON.stringify([
          { id: 'KB-101', uri: 'kb://billing/duplicate-charges', version: '7', sensitivity: 'public', score: 0.583 },
          { id: 'KB-102', uri: 'kb://billing/refund-approval', version: '3', sensitivity: 'internal', score: 0.412 },
        ]),
      },
    },
    {
      traceId: ids.t1,
      spanId: ids.model,
      parentSpanId: ids.request,
      name: 'chat gpt-4o-mini',
      startMs: t0 + 40,
      durationMs: 900,
      attributes: {
        ...who,
        'audit.risk': 'high',
        'gen_ai.operation.name': 'chat',
        'gen_ai.provider.name': 'openai',
        'gen_ai.request.model': 'gpt-4o-mini',
        'gen_ai.response.model': 'gpt-4o-mini-2024-07-18',
        'gen_ai.usage.input_tokens': 185,
        'gen_ai.usage.output_tokens': 72,
        'gen_ai.input.messages': JSON.stringify([{ role: 'user', parts: [{ type: 'text', content: USER_TEXT }] }]),
        'gen_ai.output.messages': JSON.stringify([
          {
            role: 'assistant',
            parts: [
              { type: 'text', content: 'Sorry about the double charge on order 1182. I have asked for the duplicate charge to be refunded to your card; a team lead approves it first.' },
              { type: 'tool_call', id: 'call_crm_1', name: 'update_crm_case', arguments: args },
            ],
            finish_reason: 'tool_calls',
          },
        ]),
      },
    },
    {
      traceId: ids.t1,
      spanId: ids.tool,
      parentSpanId: ids.request,
      name: 'execute_tool update_crm_case',
      startMs: t0 + 960,
      attributes: {
        ...who,
        'gen_ai.operation.name': 'execute_tool',
        'gen_ai.tool.name': 'update_crm_case',
        'gen_ai.tool.call.id': 'call_crm_1',
        'gen_ai.tool.call.arguments': JSON.stringify(args),
        'gen_ai.tool.call.result': JSON.stringify({ status: 'pending_approval' }),
        'audit.tool.action': 'update',
        'audit.target.system': 'crm',
        'audit.target.id': 'ACC-9',
        'audit.approval.required': true,
      },
    },
    // The team lead, four minutes later, in the review console's own trace.
    {
      traceId: ids.t2,
      spanId: ids.approval,
      name: 'approval edited',
      kind: 1,
      startMs: t0 + 4 * 60_000,
      links: [{ traceId: ids.t1, spanId: ids.tool }],
      attributes: {
        ...lead,
        'audit.approval.decision': 'edited',
        'audit.approval.reviewer.id': 'lead-7',
        'audit.approval.reviewer.role': 'team_lead',
        'audit.approval.rationale': 'Duplicate charge confirmed on order 1182; refund within policy KB-102. Note reworded for the customer file.',
        'audit.approval.edited': true,
        'audit.approval.edits': JSON.stringify({ note: { from: 'Refund duplicate charge on order 1182 (KB-101)', to: 'Duplicate charge on order 1182 refunded (KB-101, approved by lead-7)' } }),
      },
    },
    {
      traceId: ids.t2,
      spanId: ids.effect,
      parentSpanId: ids.approval,
      name: 'crm.update ACC-9',
      startMs: t0 + 4 * 60_000 + 150,
      attributes: { ...lead, 'audit.event.type': 'system_effect', 'audit.effect': 'record_updated', 'audit.tool.action': 'update', 'audit.target.system': 'crm', 'audit.target.id': 'ACC-9' },
    },
    {
      traceId: ids.t2,
      spanId: ids.outcome,
      parentSpanId: ids.approval,
      name: 'case closed',
      startMs: t0 + 4 * 60_000 + 300,
      attributes: { ...lead, 'audit.event.type': 'outcome', 'audit.outcome': 'completed' },
    },
  ];
}

/** 30 lookups of another acme case: something to page through. */
function filler(): SpanSpec[] {
  const t0 = Date.now() - 20 * 60_000;
  return Array.from({ length: 30 }, (_, i) => ({
    traceId: traceId(),
    spanId: spanId(),
    name: `execute_tool kb_search`,
    startMs: t0 + i * 1000,
    attributes: { 'audit.correlation_id': FILLER_CASE, 'audit.actor.id': 'support-assistant', 'audit.actor.type': 'agent', 'gen_ai.operation.name': 'execute_tool', 'gen_ai.tool.name': 'kb_search', 'audit.tool.action': 'search' },
  }));
}

function globexCase(): SpanSpec[] {
  const t = traceId();
  const root = spanId();
  const who = { 'audit.correlation_id': GLOBEX_CASE, 'audit.actor.id': 'globex-bot', 'audit.actor.type': 'agent' };
  return [
    { traceId: t, spanId: root, name: 'globex request', kind: 1, startMs: Date.now() - 10 * 60_000, attributes: { ...who, 'audit.event.type': 'request' } },
    { traceId: t, spanId: spanId(), parentSpanId: root, name: 'execute_tool globex_refund', startMs: Date.now() - 10 * 60_000 + 5, attributes: { ...who, 'gen_ai.operation.name': 'execute_tool', 'gen_ai.tool.name': 'globex_refund' } },
  ];
}

const api = async <R = Record<string, unknown>>(path: string, token: string): Promise<R> => {
  const r = await fetch(`${bridge.apiUrl}${path}`, { headers: { authorization: `Bearer ${token}` } });
  if (r.status !== 200) throw new Error(`${path}: ${r.status} ${await r.text()}`);
  return (await r.json()) as R;
};

async function caseVerified(caseId: string): Promise<boolean> {
  const s = await api<{ integrity: { status: string } }>(`/api/v1/cases/${encodeURIComponent(caseId)}`, T.ops);
  return s.integrity.status === 'verified';
}

beforeAll(async () => {
  // The UI as `npm ci` builds it (packages/ui's prepare), from the current sources.
  execFileSync(process.execPath, [join(REPO_ROOT, 'packages/ui/build.mjs')], { stdio: 'pipe' });
  work = tempDir('ui-e2e-');
  authFile = writeAuthFile(work, TOKENS);
  mkdirSync(SHOTS, { recursive: true });
  bridge = await startBridge({ args: bridgeArgs() });
  const spans = supportCase();
  // The assistant's trace, then the review console's.
  await sendSpans(bridge.otlpUrl, spans.filter((s) => s.traceId === ids.t1), { 'service.name': 'support-assistant' }, T['app-acme']);
  await sendSpans(bridge.otlpUrl, spans.filter((s) => s.traceId === ids.t2), { 'service.name': 'support-review-console' }, T['app-acme']);
  await sendSpans(bridge.otlpUrl, filler(), { 'service.name': 'support-assistant' }, T['app-acme']);
  await sendSpans(bridge.otlpUrl, globexCase(), { 'service.name': 'globex-app' }, T['app-globex']);
  await flush(bridge.apiUrl, T.ops);
  for (const r of await sql<{ span_id: string; event_id: string }>(bridge.apiUrl, `SELECT span_id, event_id FROM otel_audit.events WHERE correlation_id = '${CASE}'`, T.ops)) {
    const name = Object.entries(ids).find(([, v]) => v === r.span_id)?.[0];
    if (name) eventIds[name] = r.event_id;
  }
  expect(Object.keys(eventIds).sort()).toEqual(['approval', 'effect', 'model', 'outcome', 'request', 'retrieval', 'tool']);
  await eventually(() => caseVerified(CASE), 30_000, 'a signed checkpoint to cover the case');
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  if (bridge && bridge.child.exitCode === null) expect(await bridge.stop()).toBe(0);
});

/** A browser tab (1280×800) that saves downloads; errors in the page fail the test. */
async function tab(o: { bypassCSP?: boolean } = {}): Promise<{ context: BrowserContext; page: Page; errors: string[] }> {
  const context = await browser.newContext({ viewport: VIEWPORT, acceptDownloads: true, bypassCSP: o.bypassCSP ?? false, reducedMotion: 'reduce' });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => {
    // A refused API call shows as a failed resource load; the UI handles those.
    if (m.type() === 'error' && !/Failed to load resource/.test(m.text())) errors.push(m.text());
  });
  return { context, page, errors };
}

/** Opens the UI and signs in through the form. */
async function signIn(page: Page, token: string, path = '/'): Promise<void> {
  await page.goto(`${bridge.apiUrl}${path}`);
  await page.getByLabel('Access token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByText('Signed in as').waitFor();
}

const storyRows = (page: Page) => page.locator('[role="feed"] article:not(.placeholder)');

/** Waits until the element's text has `want` (a string it contains, or a pattern). */
async function seeText(l: Locator, want: string | RegExp, timeout = 15_000): Promise<void> {
  const check = (t: string) => (typeof want === 'string' ? t.includes(want) : want.test(t));
  let last = '(no such element)';
  const ok = async () => {
    if (!(await l.count())) return false;
    last = await l.first().innerText();
    return check(last);
  };
  await expect.poll(ok, { timeout }).toBe(true).catch(() => {
    throw new Error(`expected the text of ${l} to ${typeof want === 'string' ? 'contain' : 'match'} ${JSON.stringify(String(want))}; it is ${JSON.stringify(last)}`);
  });
}

async function seeCount(l: Locator, n: number, timeout = 15_000): Promise<void> {
  await expect.poll(() => l.count(), { timeout }).toBe(n);
}

async function download(page: Page, click: () => Promise<void>): Promise<{ name: string; text: string; path: string }> {
  const [d] = await Promise.all([page.waitForEvent('download'), click()]);
  const path = join(work, `${Date.now()}-${d.suggestedFilename()}`);
  await d.saveAs(path);
  return { name: d.suggestedFilename(), text: readFileSync(path, 'utf8'), path };
}

const records = (csv: string) => {
  const [header, ...rows] = parseCsv(csv);
  return rows.map((r) => Object.fromEntries(header.map((h, i) => [h, r[i]])));
};

describe('signing in, and a case as a story', () => {
  it('asks for a sign-in, refuses a wrong token, and then holds a session cookie, never the token', async () => {
    const { context, page, errors } = await tab();
    await page.goto(`${bridge.apiUrl}/cases/${CASE}`);
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    await page.screenshot({ path: join(work, 'sign-in.png') });
    await page.getByLabel('Access token').fill('not-a-token-of-this-bridge');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await seeText(page.getByRole('alert'), 'That token was not accepted by this bridge.');
    await page.getByLabel('Access token').fill(T['reviewer-acme']);
    await page.getByRole('button', { name: 'Sign in' }).click();
    // The page asked for (the case) opens after signing in.
    await page.getByRole('heading', { name: CASE, level: 1 }).waitFor();
    // The bridge holds the session; the page keeps no token anywhere.
    const cookies = await context.cookies();
    expect(cookies.map((c) => c.name).sort()).toEqual(['otel_audit_csrf', 'otel_audit_session']);
    expect(cookies.find((c) => c.name === 'otel_audit_session')).toMatchObject({ httpOnly: true, sameSite: 'Strict' });
    expect(JSON.stringify(cookies)).not.toContain(T['reviewer-acme']);
    expect(await page.evaluate(() => [sessionStorage.length, localStorage.length])).toEqual([0, 0]);
    expect(await page.evaluate(() => document.documentElement.outerHTML)).not.toContain(T['reviewer-acme']);
    // A reload stays signed in; signing out ends the session (DELETE with the CSRF token).
    await page.reload();
    await page.getByRole('heading', { name: CASE, level: 1 }).waitFor();
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    await seeText(page.getByRole('alert'), 'Signed out.');
    expect((await context.cookies()).map((c) => c.name)).toEqual([]);
    await page.reload();
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    expect(errors).toEqual([]);
    await context.close();
  });

  it('finds the case by id, keyboard only, and tells it in order with the approval drawn under its proposal', async () => {
    const { context, page, errors } = await tab();
    await signIn(page, T['reviewer-acme']);
    // Keyboard: Tab to "Open a case", type the id, Enter.
    await page.locator('body').focus();
    for (let i = 0; i < 12 && (await page.evaluate(() => document.activeElement?.id)) !== 'open-case-id'; i++) await page.keyboard.press('Tab');
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('open-case-id');
    await page.keyboard.type(CASE);
    await page.keyboard.press('Enter');
    await page.waitForURL(`**/cases/${CASE}`);
    await page.getByRole('heading', { name: CASE, level: 1 }).waitFor();

    // The header: integrity up to a signed checkpoint, and when it was signed (one time for the
    // risk chains' checkpoints when they were signed in the same second, else each its own).
    const banner = page.locator('.integrity-banner');
    const at = String.raw`\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC`;
    await seeText(
      banner,
      new RegExp(String.raw`Verified up to checkpoint \d+ (at|\(main-\w+\) and checkpoint \d+ \(main-\w+\), signed|\(main-\w+\) at ${at} and checkpoint \d+ \(main-\w+\) at) ${at}`),
    );
    await storyRows(page).nth(6).waitFor();
    const rows = await storyRows(page).evaluateAll((els) =>
      els.map((el) => ({ id: el.getAttribute('data-event-id'), title: el.querySelector('h3')?.textContent, nested: el.classList.contains('nested'), text: (el as HTMLElement).innerText })),
    );
    // request → sources → model output → proposal → its approval (nested under it) → effect → outcome.
    expect(rows.map((r) => r.id)).toEqual(['request', 'retrieval', 'model', 'tool', 'approval', 'effect', 'outcome'].map((k) => eventIds[k]));
    expect(rows.map((r) => r.title)).toEqual(['Request', 'Sources retrieved', 'Model call', 'Tool call proposed, needs approval', 'Approval: edited', 'System effect', 'Outcome: completed']);
    expect(rows.map((r) => r.nested)).toEqual([false, false, false, false, true, false, false]);
    const [request, sources, model, proposal, approval, effect] = rows.map((r) => r.text);
    // Identity on every step: actor, on behalf of, initiation.
    for (const r of rows.slice(0, 4)) expect(r.text).toMatch(/ACTOR\s*support-assistant \(agent\)\s*ON BEHALF OF\s*cust-1042\s*INITIATION\s*AI-assisted/i);
    for (const r of rows.slice(4)) expect(r.text).toMatch(/ACTOR\s*lead-7 \(human, team lead\)\s*INITIATION\s*human/i);
    expect(request).toContain('handle ticket');
    // Sources used: id, version, sensitivity.
    expect(sources).toMatch(/KB-101\s*7\s*public/);
    expect(sources).toMatch(/KB-102\s*3\s*internal/);
    // The model's output, redacted (the card number and e-mail are masked wherever they appear).
    expect(model).toContain('Sorry about the double charge on order 1182');
    expect(model).toContain('Asks to call update_crm_case');
    expect(await page.content()).not.toContain('4111 1111 1111 1111');
    expect(await page.content()).not.toContain('jane.doe@example.com');
    expect(proposal).toMatch(/NEEDS APPROVAL\s*yes/i);
    expect(proposal).toContain('Decided below by lead-7 (edited)');
    // The approval against its proposal: decision, reviewer, role, rationale, what was edited.
    expect(approval).toMatch(/Decides the proposal above: update_crm_case update crm\/ACC-9 · needs approval, 4 min later, in another trace\./);
    expect(approval).toMatch(/DECISION\s*edited/i);
    expect(approval).toMatch(/REVIEWER\s*lead-7 \(team lead\)/i);
    expect(approval).toContain('Duplicate charge confirmed on order 1182');
    expect(approval).toMatch(/what was edited/i);
    expect(approval).toContain('approved by lead-7');
    expect(effect).toMatch(/EFFECT\s*record updated\s*IN\s*crm \/ ACC-9/i);
    // Integrity on every row, and a link to each trace through the configured template.
    const badges = await page.locator('[role="feed"] article .step-head .badge').allInnerTexts();
    expect(badges.map((b) => b.replace(/\s+/g, ' ').trim())).toEqual(Array(7).fill('✓ Verified'));
    const details = await page.locator('[role="feed"] article .integrity-detail').allInnerTexts();
    expect(details).toHaveLength(7);
    for (const d of details) expect(d).toMatch(/^INTEGRITY hash verifies; included in checkpoint \d+ of chain main-(medium|high), signed \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$/);
    expect(await page.locator(`article[data-event-id="${eventIds.approval}"] a.trace-ref`).getAttribute('href')).toBe(`https://tracing.example.com/trace/${ids.t2}`);

    // Feed keys: Page Down moves from one step to the next.
    await page.locator(`article[data-event-id="${eventIds.tool}"]`).focus();
    await page.keyboard.press('PageDown');
    await expect.poll(() => page.evaluate(() => document.activeElement?.getAttribute('data-event-id'))).toBe(eventIds.approval);

    await page.evaluate(() => window.scrollTo(0, 0));
    await page.screenshot({ path: join(SHOTS, 'case.png') });
    // The proposal and, under it, its approval.
    await page.evaluate(() => (document.activeElement as HTMLElement | null)?.blur());
    await page.locator(`article[data-event-id="${eventIds.tool}"]`).evaluate((el) => window.scrollTo(0, el.getBoundingClientRect().top + window.scrollY - 60));
    await page.screenshot({ path: join(SHOTS, 'case-approval.png') });
    expect(errors).toEqual([]);
    await context.close();
  });
});

describe('search and export', () => {
  it('filters with labelled controls, shows a readable table, pages by next_cursor', async () => {
    const { context, page, errors } = await tab();
    await signIn(page, T['reviewer-acme']);
    for (const label of ['Text', 'Case ID', 'Event type', 'Actor or on behalf of', 'Reviewer', 'Tool', 'Target', 'Status', 'Risk', 'From (UTC)', 'To (UTC)']) {
      await page.getByLabel(label, { exact: true }).waitFor();
    }
    // Every acme event, 25 a page: 7 + 30 events, two pages.
    await page.goto(`${bridge.apiUrl}/?limit=25`);
    const table = page.getByRole('table');
    await table.waitFor();
    expect(await table.locator('thead th').allInnerTexts()).toEqual(['TIME (UTC)', 'TYPE', 'WHAT', 'ACTOR / ON BEHALF OF', 'STATUS', 'CASE', 'INTEGRITY']);
    await seeCount(table.locator('tbody tr'), 25);
    await page.getByRole('button', { name: 'Next page →' }).click();
    await seeCount(table.locator('tbody tr'), 37 - 25);
    expect(await page.getByRole('button', { name: 'Next page →' }).isDisabled()).toBe(true);
    await page.getByRole('button', { name: '← Previous page' }).click();
    await seeCount(table.locator('tbody tr'), 25);

    // Approvals by lead-7: one row, which leads to its case.
    await page.goto(`${bridge.apiUrl}/`);
    await page.getByLabel('Event type').selectOption('approval');
    await page.getByLabel('Reviewer').fill('lead-7');
    await page.getByRole('button', { name: 'Search', exact: true }).click();
    await page.waitForURL(/type=approval/);
    await seeCount(table.locator('tbody tr'), 1);
    const row = await table.locator('tbody tr').first().innerText();
    expect(row).toContain('Approval');
    expect(row).toContain('edited by lead-7 (team lead)');
    expect(row).toMatch(/Verified[\s\S]*checkpoint \d+ · main-medium/);
    await table.getByRole('link', { name: CASE }).click();
    await page.waitForURL(`**/cases/${CASE}?event=${eventIds.approval}`);
    await page.getByRole('heading', { name: CASE, level: 1 }).waitFor();

    // The screenshot: the case's events.
    await page.goto(`${bridge.apiUrl}/?correlation_id=${CASE}`);
    await seeCount(table.locator('tbody tr'), 7);
    await page.screenshot({ path: join(SHOTS, 'search.png') });
    expect(errors).toEqual([]);
    await context.close();
  });

  it("exports CSV of the page (in the browser) and of the whole filter (the API's, recorded in the trail); both match SQL", async () => {
    const { context, page, errors } = await tab();
    await signIn(page, T['reviewer-acme'], `/?correlation_id=${CASE}`);
    await seeCount(page.getByRole('table').locator('tbody tr'), 7);
    const fromSql = await sql<{ event_id: string; event_type: string; event_time: string; actor_id: string; trace_id: string }>(
      bridge.apiUrl,
      `SELECT event_id, event_type, event_time, actor_id, trace_id FROM otel_audit.events WHERE correlation_id = '${CASE}' ORDER BY event_time, chain_id, seq`,
      T['reviewer-acme'],
    );
    expect(fromSql).toHaveLength(7);

    const onScreen = await download(page, () => page.getByRole('button', { name: 'CSV of this page' }).click());
    expect(onScreen.name).toBe(`${CASE}-page.csv`);
    const screenRows = records(onScreen.text);
    expect(screenRows.map((r) => r['Event ID'])).toEqual(fromSql.map((r) => r.event_id));
    expect(screenRows.map((r) => r['Time (UTC)'])).toEqual(fromSql.map((r) => r.event_time.slice(0, 23)));
    expect(screenRows.map((r) => r.Actor)).toEqual(fromSql.map((r) => r.actor_id));
    expect(screenRows.map((r) => r['Trace ID'])).toEqual(fromSql.map((r) => r.trace_id));
    expect(new Set(screenRows.map((r) => r.Integrity))).toEqual(new Set(['Verified']));

    const before = (await sql(bridge.apiUrl, `SELECT event_id FROM otel_audit.events WHERE event_type = 'access' AND purpose = 'export'`, T.ops)).length;
    const whole = await download(page, () => page.getByRole('button', { name: 'Export all matching (CSV)' }).click());
    expect(whole.name).toBe(`${CASE}.csv`);
    const wholeRows = records(whole.text);
    expect(wholeRows.map((r) => r['Event ID'])).toEqual(fromSql.map((r) => r.event_id));
    expect(wholeRows.map((r) => r['Event type'])).toEqual(fromSql.map((r) => r.event_type));
    expect(wholeRows.map((r) => r['Time (UTC)'])).toEqual(fromSql.map((r) => r.event_time));
    await page.getByRole('status').filter({ hasText: 'recorded in the audit trail' }).waitFor();
    await flush(bridge.apiUrl, T.ops);
    const after = await sql<{ actor_id: string; target_id: string }>(bridge.apiUrl, `SELECT actor_id, target_id FROM otel_audit.events WHERE event_type = 'access' AND purpose = 'export'`, T.ops);
    expect(after.length).toBe(before + 1);
    expect(after.some((r) => r.actor_id === 'reviewer-acme' && r.target_id.includes(`correlation_id=${CASE}`))).toBe(true);
    expect(errors).toEqual([]);
    await context.close();
  });
});

describe('sealed raw content', () => {
  it('a content reader opens it in one click; the opening is recorded in the trail, in the case', async () => {
    const { context, page, errors } = await tab();
    await signIn(page, T['auditor-acme'], `/cases/${CASE}`);
    const model = page.locator(`article[data-event-id="${eventIds.model}"]`);
    await model.waitFor();
    // Only the sealed (high-risk) model call has raw content.
    await seeCount(page.getByRole('button', { name: 'Open raw content…' }), 1);
    await model.getByRole('button', { name: 'Open raw content…' }).click();
    const dialog = page.getByRole('dialog', { name: /Raw content/ });
    await seeText(dialog, 'This opening is recorded in the audit trail');
    await seeText(dialog.getByLabel('Raw content'), '4111 1111 1111 1111');
    await dialog.getByRole('button', { name: 'Close' }).click();
    await dialog.waitFor({ state: 'hidden' });
    await flush(bridge.apiUrl, T.ops);
    const access = await sql<{ actor_id: string; target_id: string; correlation_id: string }>(
      bridge.apiUrl,
      `SELECT actor_id, target_id, correlation_id FROM otel_audit.events WHERE event_type = 'access' AND purpose = 'read_content'`,
      T.ops,
    );
    expect(access).toEqual([{ actor_id: 'auditor-acme', target_id: `event:${eventIds.model}`, correlation_id: CASE }]);
    expect(errors).toEqual([]);
    await context.close();
  });

  it('a reader without content_reader cannot: the button is disabled and says why; a 403 is explained, not thrown', async () => {
    const { context, page, errors } = await tab();
    await signIn(page, T['reviewer-acme'], `/cases/${CASE}`);
    const model = page.locator(`article[data-event-id="${eventIds.model}"]`);
    await model.waitFor();
    const button = model.getByRole('button', { name: 'Open raw content' });
    expect(await button.isDisabled()).toBe(true);
    await seeText(model, 'Opening it needs the content_reader role; your token has reader.');
    expect((await fetch(`${bridge.apiUrl}/api/v1/events/${eventIds.model}/content`, { headers: { authorization: `Bearer ${T['reviewer-acme']}` } })).status).toBe(403);

    // The role taken away while the auditor's page is open: the click gets a 403, which the dialog explains.
    const auditor = await tab();
    await signIn(auditor.page, T['auditor-acme'], `/cases/${CASE}`);
    const open = auditor.page.locator(`article[data-event-id="${eventIds.model}"]`).getByRole('button', { name: 'Open raw content…' });
    await open.waitFor();
    writeAuthFile(work, TOKENS.map((t) => (t.name === 'auditor-acme' ? { ...t, roles: ['reader'] } : t)));
    bridge.child.kill('SIGHUP');
    await eventually(
      async () => (await fetch(`${bridge.apiUrl}/api/v1/events/${eventIds.model}/content`, { headers: { authorization: `Bearer ${T['auditor-acme']}` } })).status === 403,
      10_000,
      'the reloaded auth file',
    );
    await open.click();
    const dialog = auditor.page.getByRole('dialog', { name: /Raw content/ });
    await seeText(dialog.getByRole('alert'), 'Your token may not open sealed content: it needs the content_reader role.');
    await dialog.getByRole('button', { name: 'Close' }).click();
    writeAuthFile(work, TOKENS);
    bridge.child.kill('SIGHUP');
    await eventually(
      async () => (await fetch(`${bridge.apiUrl}/api/v1/ui-config`, { headers: { authorization: `Bearer ${T['auditor-acme']}` } }).then((r) => r.json())).roles.includes('content_reader'),
      10_000,
      'the auth file restored',
    );
    expect([...errors, ...auditor.errors]).toEqual([]);
    await auditor.context.close();
    await context.close();
  });
});

describe('tenants', () => {
  it("a reader of globex sees globex's events only, in search and as a case; acme's reader never sees globex's", async () => {
    const { context, page, errors } = await tab();
    await signIn(page, T['reviewer-globex']);
    const table = page.getByRole('table');
    await table.waitFor();
    const cases = await table.locator('tbody td.case').allInnerTexts();
    expect(cases.length).toBe(2);
    expect(new Set(cases)).toEqual(new Set([GLOBEX_CASE]));
    await page.goto(`${bridge.apiUrl}/?q=${CASE}`);
    await page.getByText('No event matches these filters.').waitFor();
    await page.goto(`${bridge.apiUrl}/cases/${CASE}`);
    await seeText(page.getByRole('alert'), 'No events are stored under this case id in the tenants you may read.');
    await seeCount(page.locator('[role="feed"]'), 0);

    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('Access token').fill(T['reviewer-acme']);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.goto(`${bridge.apiUrl}/cases/${GLOBEX_CASE}`);
    await seeText(page.getByRole('alert'), 'No events are stored under this case id');
    await page.goto(`${bridge.apiUrl}/?limit=250`);
    await table.locator('tbody tr').first().waitFor();
    expect(await table.locator('tbody td.case').allInnerTexts()).not.toContain(GLOBEX_CASE);
    expect(errors).toEqual([]);
    await context.close();
  });
});

describe('evidence pack', () => {
  it('downloads from the case page and verifies offline with otel-audit verify-evidence', async () => {
    const { context, page, errors } = await tab();
    await signIn(page, T['reviewer-acme'], `/cases/${CASE}`);
    await page.getByRole('heading', { name: CASE, level: 1 }).waitFor();
    const pack = await download(page, () => page.getByRole('button', { name: 'Evidence pack (.zip)' }).click());
    expect(pack.name).toMatch(/\.zip$/);
    await seeText(page.getByRole('status').filter({ hasText: 'Evidence pack' }), `otel-audit verify-evidence ${pack.name}`);
    const key = join(work, 'public-key.pem');
    writeFileSync(key, (await api<{ public_key: string }>('/api/v1/public-key', T['reviewer-acme'])).public_key);
    const r = await runCli(['verify-evidence', pack.path, '--public-key', key]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(errors).toEqual([]);
    await context.close();
  });
});

describe('accessibility', () => {
  const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

  async function axe(page: Page): Promise<Array<{ id: string; impact: string; help: string; nodes: string[] }>> {
    await page.evaluate(axeSource);
    const result = await page.evaluate(async () => {
      const r = await (window as unknown as { axe: { run: (o: unknown) => Promise<{ violations: Array<{ id: string; impact: string; help: string; nodes: Array<{ target: string[] }> }> }> } }).axe.run({
        runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] },
      });
      return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => n.target.join(' ')) }));
    });
    return result.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  }

  it('has no serious or critical axe-core violation on the sign-in, search and case pages', async () => {
    // axe is injected as a script: the shell's CSP (script-src 'self') would refuse it otherwise.
    const { context, page } = await tab({ bypassCSP: true });
    await page.goto(`${bridge.apiUrl}/`);
    await page.getByLabel('Access token').waitFor();
    expect(await axe(page)).toEqual([]);
    await signIn(page, T['auditor-acme'], `/?correlation_id=${CASE}`);
    await page.getByRole('table').locator('tbody tr').first().waitFor();
    expect(await axe(page)).toEqual([]);
    await page.goto(`${bridge.apiUrl}/cases/${CASE}`);
    await storyRows(page).nth(6).waitFor();
    await seeText(page.locator('.integrity-banner'), 'Verified');
    // With the folded parts open too.
    for (const d of await page.locator('[role="feed"] details').all()) await d.locator('summary').click();
    expect(await axe(page)).toEqual([]);
    await context.close();
  });
});

describe('a row altered in the store', () => {
  it('is flagged on the case page and in search, never shown as if nothing happened', async () => {
    // The bridge stopped; the store edited directly, as an insider with the data directory could.
    expect(await bridge.stop()).toBe(0);
    const store = await Store.open({ dataDir: bridge.dataDir, database: 'otel_audit' });
    try {
      await store.command(`ALTER TABLE otel_audit.events UPDATE name = 'retrieval (nothing to see)' WHERE event_id = '${eventIds.retrieval}' SETTINGS mutations_sync = 1`);
    } finally {
      await store.close();
    }
    bridge = await startBridge({ dataDir: bridge.dataDir, args: bridgeArgs() });

    const { context, page, errors } = await tab();
    await signIn(page, T['reviewer-acme'], `/cases/${CASE}`);
    const banner = page.locator('.integrity-banner');
    await seeText(banner, 'Integrity broken: 1 of', 30_000);
    await seeText(banner, eventIds.retrieval);
    const row = page.locator(`article[data-event-id="${eventIds.retrieval}"]`);
    await row.waitFor();
    expect(await row.getAttribute('class')).toMatch(/tampered/);
    await seeText(row, 'This event fails its integrity check.');
    await seeText(row, 'no longer hash to its hash');
    await seeText(row.locator('.step-head .badge'), /^✗\s*Modified$/);
    expect(await row.locator('.step-head .badge').getAttribute('class')).toMatch(/tone-bad/);
    // Its neighbours still verify.
    await seeText(page.locator(`article[data-event-id="${eventIds.request}"] .step-head .badge`), /^✓\s*Verified/);
    // "Show this event" brings it into view.
    await page.getByRole('button', { name: 'Show this event' }).click();
    await expect.poll(() => page.evaluate(() => document.activeElement?.getAttribute('data-event-id'))).toBe(eventIds.retrieval);
    // The header's verdict and the flagged event, on one screen.
    await page.locator('.integrity-banner').evaluate((el) => window.scrollTo(0, el.getBoundingClientRect().top + window.scrollY - 56));
    await page.screenshot({ path: join(SHOTS, 'tampered.png') });

    await page.goto(`${bridge.apiUrl}/?correlation_id=${CASE}`);
    const flagged = page.locator('tbody tr.row-bad');
    await seeCount(flagged, 1);
    await seeText(flagged, 'Modified');
    expect(await flagged.getAttribute('data-event-id')).toBe(eventIds.retrieval);
    expect(errors).toEqual([]);
    await context.close();
  }, 120_000);
});

/** The 50,000 spans of one case, as 50 OTLP requests of 1,000: every tenth an approval of the proposal before it. */
function bigCase(): SpanSpec[][] {
  const t0 = Date.now() - 3 * 3_600_000;
  const out: SpanSpec[][] = [];
  let tr = traceId();
  let proposal = { traceId: '', spanId: '' };
  for (let i = 0; i < BIG; i++) {
    const k = i % 10;
    if (k === 0) tr = traceId();
    const a = { 'audit.correlation_id': BIG_CASE, 'audit.actor.id': 'support-bot', 'audit.actor.type': 'agent', 'audit.on_behalf_of': `cust-${Math.floor(i / 10)}`, 'audit.initiation': 'ai_assisted' };
    const lead = { ...a, 'audit.actor.id': 'lead-7', 'audit.actor.type': 'human', 'audit.on_behalf_of': '', 'audit.initiation': 'human' };
    const s: SpanSpec = { traceId: tr, spanId: spanId(), name: '', startMs: t0 + i * 100 };
    if (k === 0) Object.assign(s, { name: 'POST /support/answer', kind: 1, attributes: { ...a, 'audit.event.type': 'request', 'audit.purpose': 'answer' } });
    else if (k === 1 || k === 9) Object.assign(s, { name: 'retrieval kb', attributes: { ...a, 'gen_ai.operation.name': 'retrieval', 'gen_ai.data_source.id': 'kb', 'audit.sources': JSON.stringify([{ id: `KB-${i % 97}`, version: '3', sensitivity: 'internal', score: 0.8 }]) } });
    else if (k === 2 || k === 7) Object.assign(s, { name: 'chat gpt-4o-mini', attributes: { ...a, 'gen_ai.operation.name': 'chat', 'gen_ai.provider.name': 'openai', 'gen_ai.request.model': 'gpt-4o-mini', 'gen_ai.usage.input_tokens': 120, 'gen_ai.usage.output_tokens': 30 } });
    else if (k === 3) {
      proposal = { traceId: tr, spanId: s.spanId };
      Object.assign(s, { name: 'execute_tool crm_update', attributes: { ...a, 'gen_ai.operation.name': 'execute_tool', 'gen_ai.tool.name': 'crm_update', 'audit.tool.action': 'update', 'audit.target.system': 'crm', 'audit.target.id': `ACC-${i}`, 'audit.approval.required': true } });
    } else if (k === 4)
      Object.assign(s, { traceId: traceId(), name: 'approval approved', links: [proposal], attributes: { ...lead, 'audit.approval.decision': 'approved', 'audit.approval.reviewer.id': 'lead-7', 'audit.approval.reviewer.role': 'team_lead', 'audit.approval.rationale': 'within policy' } });
    else if (k === 5) Object.assign(s, { name: 'crm.update', attributes: { ...lead, 'audit.event.type': 'system_effect', 'audit.effect': 'record_updated', 'audit.target.system': 'crm', 'audit.target.id': `ACC-${i - 2}` } });
    else if (k === 6) Object.assign(s, { name: 'case closed', attributes: { ...lead, 'audit.event.type': 'outcome', 'audit.outcome': 'completed' } });
    else Object.assign(s, { name: 'execute_tool kb_search', attributes: { ...a, 'gen_ai.operation.name': 'execute_tool', 'gen_ai.tool.name': 'kb_search', 'audit.tool.action': 'search' } });
    if (i % 1000 === 0) out.push([]);
    out[out.length - 1].push(s);
  }
  return out;
}

describe('a case of 50,000 events', () => {
  it('renders only the rows in view, loads pages as it is scrolled, and shows its last event after a jump to the end', async () => {
    const t0 = performance.now();
    for (const batch of bigCase()) {
      const r = await postOtlp(bridge.otlpUrl, 'traces', encodeTraces(batch, 'protobuf', { 'service.name': 'support-assistant' }), {
        format: 'protobuf',
        headers: { authorization: `Bearer ${T['app-acme']}` },
      });
      expect(r.status).toBe(200);
    }
    await flush(bridge.apiUrl, T.ops);
    const seeded = performance.now() - t0;
    expect((await api<{ events: number }>(`/api/v1/cases/${BIG_CASE}?integrity=0`, T.ops)).events).toBe(BIG);

    const { context, page, errors } = await tab();
    await signIn(page, T['reviewer-acme']);
    const open = performance.now();
    await page.goto(`${bridge.apiUrl}/cases/${BIG_CASE}`);
    await storyRows(page).first().waitFor();
    const firstRows = performance.now() - open;
    await seeText(page.locator('.story-head'), 'of 50,000 events loaded');
    const domRows = async () => page.locator('[role="feed"] article').count();
    expect(await domRows()).toBeLessThan(40);

    // Scrolling: frames while the page scrolls down by a screen every 30 ms, 40 times.
    const frames = await page.evaluate(async () => {
      const gaps: number[] = [];
      let last = performance.now();
      let on = true;
      const tick = (now: number) => {
        gaps.push(now - last);
        last = now;
        if (on) requestAnimationFrame(tick);
      };
      requestAnimationFrame(tick);
      for (let i = 0; i < 40; i++) {
        window.scrollBy(0, 700);
        await new Promise((r) => setTimeout(r, 30));
      }
      on = false;
      return gaps.sort((a, b) => a - b);
    });
    expect(await domRows()).toBeLessThan(40);

    // A jump to the end (the pages before it load back to back), then the last event is drawn.
    const jump = performance.now();
    await page.getByRole('button', { name: 'Last event' }).click();
    await page.locator(`[role="feed"] article[aria-posinset="${BIG}"]:not(.placeholder)`).waitFor({ timeout: 120_000 });
    const toEnd = performance.now() - jump;
    await expect.poll(() => page.evaluate(() => document.activeElement?.getAttribute('aria-posinset'))).toBe(String(BIG));
    expect(await domRows()).toBeLessThan(40);
    await seeText(page.locator('.story-head'), '50,000 events; approvals are drawn under the proposals they decide.');
    // The last story rows: an approval under its proposal.
    const last = await storyRows(page).evaluateAll((els) => els.slice(-7).map((el) => `${el.querySelector('h3')?.textContent}${el.classList.contains('nested') ? ' (nested)' : ''}`));
    expect(last).toContain('Approval: approved (nested)');

    // To the middle: rows render from what is loaded, at once.
    const up = performance.now();
    await page.evaluate(() => window.scrollTo(0, document.documentElement.scrollHeight / 2));
    await page.waitForFunction(() =>
      [...document.querySelectorAll('[role="feed"] article:not(.placeholder)')].some((a) => Math.abs(Number(a.getAttribute('aria-posinset')) - 25_000) < 5_000),
    );
    const toMiddle = performance.now() - up;
    const pct = (p: number) => frames[Math.min(frames.length - 1, Math.floor(frames.length * p))].toFixed(0);
    console.log(
      `50,000-event case: seeded over OTLP in ${(seeded / 1000).toFixed(1)} s; first rows ${Math.round(firstRows)} ms; ` +
        `scrolling frames median ${pct(0.5)} ms, p95 ${pct(0.95)} ms, max ${frames[frames.length - 1].toFixed(0)} ms; ` +
        `jump to the end ${(toEnd / 1000).toFixed(1)} s (${BIG / 1000} pages by cursor); back to the middle ${Math.round(toMiddle)} ms; ${await domRows()} rows in the DOM`,
    );
    expect(errors).toEqual([]);
    await context.close();
  }, 300_000);
});
