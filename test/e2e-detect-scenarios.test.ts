// The detection rules' scenarios sent through the real OTel SDK (sdk-trace with the OTLP/HTTP
// protobuf exporter) to a real bridge, as an application would send them: for permission-denied,
// blocked, repeated-corrections, sensitive-source-in-low-risk-flow and four coverage checks, a
// case the rule is for and a near miss beside it. `otel-audit detect` over the scenario's range,
// then `otel-audit alerts --format jsonl`, must show an alert on exactly each FIRES case and on
// nothing else; `otel-audit report --framework eu-ai-act` over the same range names the gaps the
// scenario holds. Spans carry explicit times (an hour ago), so the evaluation waits on nothing.
// (approval-bypass and its near misses through the SDK: test/e2e-detect.test.ts.)
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SpanStatusCode, type Attributes, type Link, type Span } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, flush, runCli, sql, startBridge, tempDir, type BridgeProcess } from './helpers/bridge-process.ts';

let bridge: BridgeProcess;
let work: string;

/**
 * Every event lies within 14 minutes of T0, which is 5 minutes past the hour before this one:
 * all in one clock hour (one UTC day, one 24 h correction window), at least 40 minutes old
 * (older than the review timeout of the policy below).
 */
const HOUR = 3_600_000;
const T0 = Math.floor(Date.now() / HOUR) * HOUR - HOUR + 5 * 60_000;
const at = (seconds: number) => T0 + seconds * 1000;
const FROM = new Date(T0 - 60_000).toISOString();
let TO: string;

const text = (role: string, content: string) => JSON.stringify([{ role, parts: [{ type: 'text', content }] }]);
const CONTENT: Attributes = { 'gen_ai.input.messages': text('user', 'Where is my parcel?'), 'gen_ai.output.messages': text('assistant', 'It ships tomorrow.') };
const source = (id: string, sensitivity: string) => ({ id, uri: `kb://${id}`, version: '3', sensitivity, score: 0.8 });

/** What the scenario sends: one tracer per service, every span a root with its own attributes and times. */
async function sendScenario(otlpUrl: string): Promise<number> {
  const providers: TracerProvider[] = [];
  const tracerOf = (service: string) => {
    const provider = new TracerProvider({
      resource: resourceFromAttributes({ 'service.name': service }),
      spanProcessors: [new BatchSpanProcessor({ exporter: new OTLPTraceExporter({ url: `${otlpUrl}/v1/traces` }), maxExportBatchSize: 512, scheduledDelayMillis: 50 })],
    });
    providers.push(provider);
    return provider.getTracer('e2e-detect-scenarios');
  };
  let spans = 0;
  const span = (tracer: ReturnType<typeof tracerOf>, name: string, seconds: number, attributes: Attributes, links: Link[] = []): Span => {
    const s = tracer.startSpan(name, { root: true, startTime: at(seconds), attributes, links });
    if (attributes['error.type'] !== undefined) s.setStatus({ code: SpanStatusCode.ERROR, message: String(attributes['error.type']) });
    s.end(at(seconds) + 200);
    spans++;
    return s;
  };
  const app = tracerOf('support-assistant');
  const who = (caseId: string, extra: Attributes = {}): Attributes => ({ 'audit.correlation_id': caseId, 'audit.actor.id': 'agent-42', ...extra });
  const chat = (caseId: string, extra: Attributes = {}) => who(caseId, { 'gen_ai.operation.name': 'chat', 'gen_ai.provider.name': 'openai', 'gen_ai.request.model': 'gpt-4o-mini', ...extra });
  const tool = (caseId: string, toolName: string, extra: Attributes) => who(caseId, { 'gen_ai.operation.name': 'execute_tool', 'gen_ai.tool.name': toolName, ...extra });

  // permission-denied: two denied checks of one actor and tool in a case; the near miss: the same actor and tool, granted or not checked.
  for (const s of [0, 5]) span(app, 'execute_tool crm_export', s, tool('SCN-DENIED', 'crm_export', { 'audit.actor.id': 'bot-7', 'audit.tool.action': 'read', 'audit.target.system': 'crm', 'audit.permission': 'denied' }));
  span(app, 'execute_tool crm_export', 10, tool('SCN-GRANTED', 'crm_export', { 'audit.actor.id': 'bot-7', 'audit.tool.action': 'read', 'audit.target.system': 'crm', 'audit.permission': 'granted' }));
  span(app, 'execute_tool crm_export', 12, tool('SCN-GRANTED', 'crm_export', { 'audit.actor.id': 'bot-7', 'audit.tool.action': 'read', 'audit.target.system': 'crm', 'audit.permission': 'not_checked' }));

  // blocked: the provider's content filter stopped an answer; the near miss: a model call that failed on a timeout.
  span(app, 'chat gpt-4o-mini', 20, chat('SCN-BLOCKED', { 'gen_ai.input.messages': text('user', 'Write the insult for me'), 'gen_ai.response.finish_reasons': ['content_filter'] }));
  span(app, 'chat gpt-4o-mini', 25, chat('SCN-MODEL-TIMEOUT', { ...CONTENT, 'error.type': 'timeout' }));
  // An identified model call with its content: quiet on every rule.
  span(app, 'chat gpt-4o-mini', 30, chat('SCN-IDENTIFIED', CONTENT));

  // repeated-corrections (the unit tests' cases): 3 of 5 outcomes corrected or rolled back fires
  // (3, 60 %); 2 of 3 is just under the count (3); 3 of 16 (18.75 %) just under the rate (20 %).
  const outcomes = (version: string, corrected: number, total: number, from: number) => {
    for (let i = 0; i < total; i++) {
      const outcome = i < corrected ? (i % 2 ? 'rolled_back' : 'corrected') : 'completed';
      span(app, `outcome ${outcome}`, from + i, who(`SCN-${version}-${i}`, { 'audit.outcome': outcome, 'audit.prompt.version': version }));
    }
  };
  outcomes('reply-v1', 3, 5, 100);
  outcomes('reply-v2', 2, 3, 200);
  outcomes('reply-v3', 3, 16, 300);

  // sensitive-source-in-low-risk-flow: a confidential document in a low-risk flow; near misses: an
  // internal one in a low-risk flow (the most it allows), a confidential one in a medium-risk flow.
  const retrieval = (caseId: string, risk: string, sources: object[], s: number) =>
    span(app, 'retrieval kb', s, who(caseId, { 'gen_ai.operation.name': 'retrieval', 'gen_ai.data_source.id': 'kb', 'audit.risk': risk, 'audit.sources': JSON.stringify(sources) }));
  retrieval('SCN-SENSITIVE-LOW', 'low', [source('FAQ-1', 'public'), source('HR-9', 'confidential')], 400);
  retrieval('SCN-INTERNAL-LOW', 'low', [source('FAQ-2', 'internal')], 405);
  retrieval('SCN-CONFIDENTIAL-MEDIUM', 'medium', [source('HR-9', 'confidential')], 410);

  // coverage, high-risk-without-review: a high-risk case nobody reviewed; the near miss: one with an approval.
  span(app, 'execute_tool patient_lookup', 500, tool('SCN-HIGH-UNREVIEWED', 'patient_lookup', { 'audit.risk': 'high', 'audit.tool.action': 'read', 'audit.target.system': 'ehr' }));
  const reviewed = span(app, 'execute_tool patient_lookup', 505, tool('SCN-HIGH-REVIEWED', 'patient_lookup', { 'audit.risk': 'high', 'audit.tool.action': 'read', 'audit.target.system': 'ehr' }));
  span(app, 'approval approved', 510, { 'audit.correlation_id': 'SCN-HIGH-REVIEWED', 'audit.actor.id': 'lead-7', 'audit.approval.decision': 'approved', 'audit.approval.reviewer.id': 'lead-7' }, [{ context: reviewed.spanContext() }]);

  // coverage, proposal-without-result: a proposal needing approval that nothing followed; the near miss: one a reviewer rejected.
  span(app, 'execute_tool refund', 600, tool('SCN-OPEN-PROPOSAL', 'refund', { 'audit.tool.action': 'write', 'audit.approval.required': true }));
  const decided = span(app, 'execute_tool refund', 605, tool('SCN-PROPOSAL-DECIDED', 'refund', { 'audit.tool.action': 'write', 'audit.approval.required': true }));
  span(app, 'approval rejected', 610, { 'audit.correlation_id': 'SCN-PROPOSAL-DECIDED', 'audit.actor.id': 'lead-7', 'audit.approval.decision': 'rejected', 'audit.approval.reviewer.id': 'lead-7' }, [{ context: decided.spanContext() }]);

  // coverage, model-call-identity: a service whose model calls name no actor, or no case of their own.
  const anon = tracerOf('anon-svc');
  span(anon, 'chat gpt-4o-mini', 700, { 'gen_ai.operation.name': 'chat', 'gen_ai.request.model': 'gpt-4o-mini', 'audit.correlation_id': 'SCN-ANON', ...CONTENT });
  span(anon, 'chat gpt-4o-mini', 705, { 'gen_ai.operation.name': 'chat', 'gen_ai.request.model': 'gpt-4o-mini', 'audit.actor.id': 'agent-9', ...CONTENT });

  // coverage, content-not-captured: model calls without content where the policy keeps it (medium:
  // redacted); the near miss: the same at low risk, where the policy keeps digests only.
  span(tracerOf('no-content-svc'), 'chat gpt-4o-mini', 800, chat('SCN-NO-CONTENT'));
  span(tracerOf('digest-svc'), 'chat gpt-4o-mini', 805, chat('SCN-DIGESTS-ONLY', { 'audit.risk': 'low' }));

  for (const p of providers) await p.shutdown();
  return spans;
}

interface AlertLine {
  alert_id: string;
  rule: string;
  severity: string;
  correlation_id: string;
  subject: string;
  event_ids: string[];
  explanation: string;
  details: Record<string, unknown> | string;
}
const parse = (stdout: string) => stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as AlertLine);
const checkOf = (a: AlertLine) => (typeof a.details === 'string' ? (JSON.parse(a.details) as { check?: string }) : (a.details as { check?: string })).check;
/** An alert as `rule [check] case-or-subject`. */
const label = (a: AlertLine) => [a.rule, checkOf(a), a.correlation_id || a.subject].filter(Boolean).join(' ');

const EXPECTED = [
  'blocked SCN-BLOCKED',
  'coverage content-not-captured no-content-svc',
  'coverage high-risk-without-review SCN-HIGH-UNREVIEWED',
  'coverage model-call-identity anon-svc',
  'coverage proposal-without-result SCN-OPEN-PROPOSAL',
  'permission-denied SCN-DENIED',
  'repeated-corrections prompt version reply-v1',
  'sensitive-source-in-low-risk-flow SCN-SENSITIVE-LOW',
];

let detected: { code: number | null; stdout: string; stderr: string };
let alerts: AlertLine[];

beforeAll(async () => {
  work = tempDir('e2e-detect-scenarios-');
  const policy = join(work, 'policy.json');
  // The bridge does not evaluate on its own here: `otel-audit detect` raises what there is. Reviews
  // and results are called missing after a minute (the scenario is older than that).
  writeFileSync(policy, JSON.stringify({ detections: { enabled: false, rules: { coverage: { review_timeout: '1m' } } } }));
  bridge = await startBridge({ dataDir: join(work, 'data'), args: ['--policy', policy] });
  const sent = await sendScenario(bridge.otlpUrl);
  await flush(bridge.apiUrl);
  await eventually(async () => {
    const [{ n }] = await sql<{ n: string }>(bridge.apiUrl, `SELECT count() AS n FROM otel_audit.events WHERE event_time >= parseDateTime64BestEffort('${FROM}', 3)`);
    return Number(n) === sent;
  }, 20_000, `the ${sent} events of the scenario to be stored`);
  TO = new Date().toISOString();
  detected = await runCli(['detect', '--api-url', bridge.apiUrl, '--from', FROM, '--to', TO, '--format', 'jsonl']);
  const listed = await runCli(['alerts', '--api-url', bridge.apiUrl, '--format', 'jsonl']);
  if (listed.code !== 0) throw new Error(`alerts exited ${listed.code}: ${listed.stderr}`);
  alerts = parse(listed.stdout);
}, 60_000);

afterAll(async () => {
  if (bridge) expect(await bridge.stop()).toBe(0);
});

describe('each rule fires exactly on its case, through the real SDK, and stays quiet on the near misses', () => {
  const only = (rule: string) => alerts.filter((a) => a.rule === rule);

  it('otel-audit detect raises one alert per FIRES case; otel-audit alerts lists exactly those', () => {
    expect(detected.code, detected.stderr).toBe(0);
    expect(detected.stderr).toMatch(new RegExp(`^detect: ${EXPECTED.length} incidents from .* to .*; ${EXPECTED.length} new alerts\\n$`));
    expect(parse(detected.stdout).map(label).sort()).toEqual(EXPECTED);
    // Nothing else: no alert on a near miss, none from another rule (approval-bypass, unusual-volume).
    expect(alerts.map(label).sort()).toEqual(EXPECTED);
  });

  it('permission-denied: the two denied checks of bot-7 with crm_export; quiet on granted and not_checked', () => {
    const [a] = only('permission-denied');
    expect(a.correlation_id).toBe('SCN-DENIED');
    expect(a.event_ids).toHaveLength(2);
    expect(a.explanation).toMatch(/^2 denied permission checks for actor bot-7 with tool crm_export in case SCN-DENIED between .* \(targets: crm\)\.$/);
  });

  it('blocked: the content-filtered answer; quiet on a model call that timed out', () => {
    const [a] = only('blocked');
    expect([a.correlation_id, a.event_ids.length]).toEqual(['SCN-BLOCKED', 1]);
    expect(a.explanation).toMatch(/^1 blocked action \(content filter\) for actor agent-42 in case SCN-BLOCKED at /);
  });

  it('repeated-corrections: 3 of 5 fires; 2 of 3 (under the count) and 3 of 16 (under the rate) stay quiet', () => {
    const [a] = only('repeated-corrections');
    expect(a.subject).toBe('prompt version reply-v1');
    expect(a.event_ids).toHaveLength(3);
    expect(a.explanation).toMatch(/^3 outcomes of prompt version reply-v1 were corrected or rolled back out of 5 \(60 %\) in the window from .*, at or above the thresholds \(3 and 20 %\)\.$/);
  });

  it('sensitive-source-in-low-risk-flow: a confidential document in a low-risk flow; quiet on internal at low, confidential at medium', () => {
    const [a] = only('sensitive-source-in-low-risk-flow');
    expect(a.correlation_id).toBe('SCN-SENSITIVE-LOW');
    expect(a.explanation).toMatch(/ in case SCN-SENSITIVE-LOW returned HR-9 \(confidential\), more sensitive than a low-risk flow allows \(at most internal\)\.$/);
  });

  it('coverage: four checks, each on its case only', () => {
    const by = (check: string) => only('coverage').find((a) => checkOf(a) === check)!;
    expect(by('model-call-identity').explanation).toMatch(/^Model calls of service anon-svc on \d{4}-\d\d-\d\d cannot all be tied to who or what they served: 1 with no actor, 1 with no correlation id of their own\.$/);
    expect(by('model-call-identity').event_ids).toHaveLength(2);
    expect(by('high-risk-without-review').explanation).toMatch(/^High-risk case SCN-HIGH-UNREVIEWED \(1 high-risk event from .*\) has no human review at all/);
    expect(by('proposal-without-result').explanation).toMatch(/^Proposed tool call "execute_tool refund" at .* by agent-42 in case SCN-OPEN-PROPOSAL needed approval and has no result/);
    expect(by('content-not-captured').explanation).toMatch(/^1 model call of service no-content-svc at medium risk on .* arrived without content, where the policy keeps it \(redacted\)/);
  });

  it('the near misses are stored as sent, each one step from its rule (so the quiet is the rule\'s, not a lost event)', async () => {
    const rows = await sql<Record<string, string | string[]>>(
      bridge.apiUrl,
      "SELECT correlation_id AS c, event_type, risk, permission, status, error_type, decision, actor_id, service_name, correlation_source, toString(approval_required) AS approval_required, " +
        "arrayMap(s -> tupleElement(s, 'sensitivity'), sources) AS sensitivity, attributes['otel_audit.content'] AS content " +
        `FROM otel_audit.events WHERE event_time >= parseDateTime64BestEffort('${FROM}', 3) AND correlation_id NOT LIKE 'SCN-reply-%' ORDER BY event_time`,
    );
    const of = (c: string) => rows.filter((r) => r.c === c).map(({ c: _c, ...r }) => r);
    expect(of('SCN-GRANTED').map((r) => [r.event_type, r.actor_id, r.permission, r.status])).toEqual([
      ['tool_call', 'bot-7', 'granted', 'ok'],
      ['tool_call', 'bot-7', 'not_checked', 'ok'],
    ]);
    expect(of('SCN-DENIED').map((r) => [r.permission, r.status])).toEqual([['denied', 'denied'], ['denied', 'denied']]);
    expect(of('SCN-BLOCKED').map((r) => [r.event_type, r.status, r.error_type])).toEqual([['model_call', 'denied', 'content_filter']]);
    expect(of('SCN-MODEL-TIMEOUT').map((r) => [r.event_type, r.status, r.error_type])).toEqual([['model_call', 'timeout', 'timeout']]);
    expect(of('SCN-INTERNAL-LOW').map((r) => [r.event_type, r.risk, r.sensitivity])).toEqual([['retrieval', 'low', ['internal']]]);
    expect(of('SCN-CONFIDENTIAL-MEDIUM').map((r) => [r.event_type, r.risk, r.sensitivity])).toEqual([['retrieval', 'medium', ['confidential']]]);
    expect(of('SCN-HIGH-REVIEWED').map((r) => [r.event_type, r.risk, r.decision])).toEqual([['tool_call', 'high', ''], ['approval', 'medium', 'approved']]);
    expect(of('SCN-PROPOSAL-DECIDED').map((r) => [r.event_type, r.approval_required, r.decision])).toEqual([['tool_call', 'true', ''], ['approval', 'false', 'rejected']]);
    expect(of('SCN-DIGESTS-ONLY').map((r) => [r.event_type, r.service_name, r.risk, r.content])).toEqual([['model_call', 'digest-svc', 'low', 'not_captured']]);
    expect(of('SCN-NO-CONTENT').map((r) => [r.event_type, r.service_name, r.risk, r.content])).toEqual([['model_call', 'no-content-svc', 'medium', 'not_captured']]);
    expect(of('SCN-IDENTIFIED').map((r) => [r.event_type, r.actor_id, r.correlation_source, r.content])).toEqual([['model_call', 'agent-42', 'attribute', '']]);
    const anon = rows.filter((r) => r.service_name === 'anon-svc').map((r) => [r.actor_id, r.correlation_source]);
    expect(anon).toEqual([['', 'attribute'], ['agent-9', 'trace']]);
    const outcomes = await sql<{ v: string; corrected: string; n: string }>(
      bridge.apiUrl,
      "SELECT prompt_version AS v, countIf(outcome IN ('corrected', 'rolled_back')) AS corrected, count() AS n FROM otel_audit.events " +
        `WHERE event_time >= parseDateTime64BestEffort('${FROM}', 3) AND event_type = 'outcome' GROUP BY v ORDER BY v`,
    );
    expect(outcomes.map((o) => [o.v, Number(o.corrected), Number(o.n)])).toEqual([
      ['reply-v1', 3, 5],
      ['reply-v2', 2, 3],
      ['reply-v3', 3, 16],
    ]);
  });

  it('the alerts cite events of their case, as stored', async () => {
    const ids = alerts.filter((a) => a.correlation_id).flatMap((a) => a.event_ids.map((id) => [id, a.correlation_id]));
    const rows = await sql<{ event_id: string; correlation_id: string }>(
      bridge.apiUrl,
      `SELECT event_id, correlation_id FROM otel_audit.events WHERE event_id IN (${ids.map(([id]) => `'${id}'`).join(',')})`,
    );
    const caseOf = new Map(rows.map((r) => [r.event_id, r.correlation_id]));
    for (const [id, c] of ids) expect(caseOf.get(id), id).toBe(c);
  });

  it('a second detect over the same range raises nothing new', async () => {
    const again = await runCli(['detect', '--api-url', bridge.apiUrl, '--from', FROM, '--to', TO, '--format', 'jsonl']);
    expect([again.code, again.stdout]).toEqual([0, '']);
    expect(again.stderr).toMatch(new RegExp(`; 0 new alerts\\n$`));
  });
});

describe('otel-audit report over the scenario', () => {
  it('names the gaps the scenario holds, and no gap it does not hold', async () => {
    const out = join(work, 'eu-ai-act.md');
    const r = await runCli(['report', '--api-url', bridge.apiUrl, '--framework', 'eu-ai-act', '--from', FROM, '--to', TO, '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    const gaps = r.stderr
      .split('\n')
      .filter((l) => l.startsWith('  - '))
      .map((l) => l.slice(4))
      // Whether the bridge has signed a checkpoint of the period yet depends on when the report runs.
      .filter((g) => !g.includes('No signed checkpoint was made in the period'));
    expect(gaps).toEqual([
      'Art. 12(2)(c): 1 of 7 model calls (14 %) name no actor: who or what they served cannot be shown.',
      'Art. 12(2)(c): 1 of 7 model calls (14 %) carry no case id of their own: they can be tied to their trace only.',
      'Art. 14: 1 of 2 high-risk cases have no human decision recorded at all.',
      'Art. 14: 1 of 2 proposals that required approval have no decision linked to them.',
      'Art. 19(1), Art. 26(6): Events of low risk are kept 90 days, less than the 184 days Art. 19 and 26(6) require (retention_days.low in the policy file).',
      expect.stringMatching(/^Art\. 19\(1\), Art\. 26\(6\): Checkpoints are anchored only in local directories \(file:\/\/.*\/anchors; chains .*\): an administrator of this host could rewrite both the store and the anchor\./),
    ]);
    const md = readFileSync(out, 'utf8');
    expect(md).toContain('- **Retention regime:** none chosen in the policy file (retention_regime), so the bridge enforces no minimum\n');
    // The alerts the scenario raised are the report's evidence for Art. 12(2)(a).
    expect(md).toMatch(/\| coverage \| low \| 4 \|/);
    expect(md).toMatch(/\| repeated-corrections \| medium \| 1 \|/);
  });
});
