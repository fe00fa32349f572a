// The example app (packages/example-support-assistant) end to end: `npm run demo` runs the
// assistant and, in another process, the reviewer, against a real bridge; every event type of
// the story lands under one case id, with the approval linked to its proposal across traces, the
// evaluation of the draft reply and the reviewer's override of it linked to the model call.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, sql, startBridge, type BridgeProcess } from './helpers/bridge-process.ts';

const DEMO = join(REPO_ROOT, 'packages/example-support-assistant/src/demo.ts');
/** One event each, but two approvals: the decision on the CRM change, and the override of the draft reply. */
const STORY = ['approval', 'approval', 'evaluation', 'model_call', 'outcome', 'request', 'retrieval', 'system_effect', 'tool_call'];

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(command: string, args: string[], env: Record<string, string> = {}): Promise<Run> {
  const child = spawn(command, args, { cwd: REPO_ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), 50_000);
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    // 'close', not 'exit': the process can exit before its output is read to the end.
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

const demo = (args: string[], env: Record<string, string> = {}) => run(process.execPath, [DEMO, ...args], env);

/** Two ports nothing listens on (bound once, then released). */
async function freePorts(): Promise<[number, number]> {
  const one = () =>
    new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const { port } = s.address() as { port: number };
        s.close(() => resolve(port));
      });
    });
  return [await one(), await one()];
}

interface Row {
  event_type: string;
  correlation_id: string;
  trace_id: string;
  span_id: string;
  parent_span_id: string;
  name: string;
  service_name: string;
  links: Array<{ trace_id: string; span_id: string }>;
  attributes: Record<string, string>;
  [k: string]: unknown;
}

let bridge: BridgeProcess;
beforeAll(async () => {
  bridge = await startBridge();
});
afterAll(async () => {
  await bridge?.stop();
});

describe('npm run demo -- --otlp URL --api-url URL --case CASE-E2E', () => {
  let result: Run;
  let lines: Array<Record<string, unknown>>;
  let rows: Row[];
  const byType = (t: string) => rows.find((r) => r.event_type === t)!;
  const byDecision = (d: string) => rows.find((r) => r.event_type === 'approval' && r.decision === d)!;

  beforeAll(async () => {
    result = await run('npm', ['run', '--silent', 'demo', '--', '--otlp', bridge.otlpUrl, '--api-url', bridge.apiUrl, '--case', 'CASE-E2E']);
    lines = result.stdout.trim().split('\n').map((l) => JSON.parse(l));
    rows = await sql<Row>(bridge.apiUrl, "SELECT * FROM otel_audit.events WHERE correlation_id = 'CASE-E2E' ORDER BY event_time, seq");
  });

  it('prints exactly one JSON line per event of the case, and nothing else', () => {
    expect(result.code, result.stderr).toBe(0);
    expect(lines.map((l) => l.event_type).sort()).toEqual(STORY);
    for (const l of lines) {
      expect(l.correlation_id).toBe('CASE-E2E');
      expect(l.trace_id).toMatch(/^[0-9a-f]{32}$/);
      expect(l.span_id).toMatch(/^[0-9a-f]{16}$/);
      expect(l.time).toBeTruthy();
    }
    expect(lines.map((l) => l.span_id)).toEqual(rows.map((r) => r.span_id));
    expect(result.stderr).toContain('[assistant]');
    expect(result.stderr).toContain('[reviewer]');
  });

  it('stores every event type of the story under the case id, once each (approvals: the decision and the override)', () => {
    expect(rows.map((r) => r.event_type).sort()).toEqual(STORY);
    expect(rows.filter((r) => r.event_type === 'approval').map((r) => r.decision).sort()).toEqual(['approved', 'overridden']);
    const request = byType('request');
    expect(request).toMatchObject({ name: 'handle ticket', parent_span_id: '', actor_id: 'support-assistant', actor_type: 'agent', initiation: 'ai_assisted', purpose: 'answer', risk: 'medium', tenant: 'acme-support' });
    expect(byType('retrieval').sources).toEqual(expect.arrayContaining([expect.objectContaining({ id: 'KB-101', uri: 'kb://billing/duplicate-charges' })]));
    expect(byType('tool_call')).toMatchObject({ tool_name: 'update_crm_case', action: 'update', approval_required: true, target_system: 'crm', target_id: 'CASE-E2E' });
    expect(byType('system_effect')).toMatchObject({ effect: 'record_updated', target_system: 'crm', target_id: 'CASE-E2E' });
    expect(byType('outcome').outcome).toBe('completed');
  });

  it('links the approval to the proposing tool call, from another trace', () => {
    const tool = byType('tool_call');
    const approval = byDecision('approved');
    expect(approval).toMatchObject({ decision: 'approved', reviewer_id: 'lead-7', reviewer_role: 'team_lead', actor_type: 'human' });
    expect(approval.links).toContainEqual({ trace_id: tool.trace_id, span_id: tool.span_id });
    expect(approval.trace_id).not.toBe(tool.trace_id);
    // The effect and the outcome follow the decision, in the reviewer's trace.
    expect(byType('system_effect').trace_id).toBe(approval.trace_id);
    expect(byType('outcome').trace_id).toBe(approval.trace_id);
  });

  it('the reviewer ran in another process and service', () => {
    const assistant = rows.filter((r) => ['request', 'retrieval', 'model_call', 'evaluation', 'tool_call'].includes(r.event_type));
    const reviewer = rows.filter((r) => ['approval', 'system_effect', 'outcome'].includes(r.event_type));
    const pids = (rs: Row[]) => new Set(rs.map((r) => r.attributes['resource.process.pid']));
    expect(pids(assistant).size).toBe(1);
    expect(pids(reviewer).size).toBe(1);
    const [a] = pids(assistant);
    const [b] = pids(reviewer);
    expect(a).toMatch(/^\d+$/);
    expect(b).toMatch(/^\d+$/);
    expect(a).not.toBe(b);
    expect(new Set(assistant.map((r) => r.service_name))).toEqual(new Set(['support-assistant']));
    expect(new Set(reviewer.map((r) => r.service_name))).toEqual(new Set(['support-review-console']));
  });

  it('the model call comes from the openai instrumentation, with tokens and redacted content', () => {
    const model = byType('model_call');
    expect(model).toMatchObject({ provider: 'openai', request_model: 'gpt-4o-mini', response_model: 'gpt-4o-mini-2024-07-18' });
    expect(Number(model.input_tokens)).toBeGreaterThan(0);
    expect(Number(model.output_tokens)).toBeGreaterThan(0);
    expect(model.parent_span_id).toBe(byType('request').span_id);
    const content = String(model.content);
    expect(content).toContain('charged twice for order 1182');
    expect(content).toContain('update_crm_case');
    expect(content).not.toContain('4111 1111 1111 1111');
    expect(content).not.toContain('jane.doe@example.com');
    expect(Number(model.redactions)).toBeGreaterThanOrEqual(2);
    expect(model.input_digest).toMatch(/^[0-9a-f]{64}$/);
    expect(model.output_digest).toMatch(/^[0-9a-f]{64}$/);
    // The card number and the e-mail never reach storage, in any event of the case.
    expect(JSON.stringify(rows)).not.toMatch(/4111 1111 1111 1111|jane\.doe@example\.com/);
  });

  it('the draft reply is evaluated: an evaluation event linked to the model call, in the evaluations view', async () => {
    const model = byType('model_call');
    const evaluation = byType('evaluation');
    expect(evaluation).toMatchObject({ name: 'evaluation kb_consistency', actor_id: 'support-assistant', trace_id: model.trace_id, parent_span_id: byType('request').span_id });
    expect(evaluation.links).toEqual([{ trace_id: model.trace_id, span_id: model.span_id }]);
    // The judge's explanation is content (captureContent is on in the example).
    expect(String(evaluation.content)).toContain('the one KB-101 states');
    const view = await sql<Row>(
      bridge.apiUrl,
      "SELECT evaluation_name, evaluation_score, evaluation_label, evaluated_span_id, response_id FROM otel_audit.evaluations WHERE correlation_id = 'CASE-E2E'",
    );
    expect(view).toEqual([{ evaluation_name: 'kb_consistency', evaluation_score: 1, evaluation_label: 'consistent', evaluated_span_id: model.span_id, response_id: expect.stringMatching(/^chatcmpl-/) }]);
    const [call] = await sql<Row>(bridge.apiUrl, `SELECT response_id FROM otel_audit.model_calls WHERE span_id = '${model.span_id}'`);
    expect(view[0].response_id).toBe(call.response_id);
  });

  it('the reviewer overrides the draft reply: the AI original beside the human final, linked to the model call', () => {
    const model = byType('model_call');
    const override = byDecision('overridden');
    expect(override).toMatchObject({ name: 'approval overridden', reviewer_id: 'lead-7', reviewer_role: 'team_lead', actor_type: 'human', service_name: 'support-review-console', edited: true });
    expect(override.links).toEqual([{ trace_id: model.trace_id, span_id: model.span_id }]);
    expect(override.trace_id).not.toBe(model.trace_id);
    const content = JSON.parse(String(override.content)) as { input: Array<{ role: string; parts: Array<{ content: string }> }>; output: Array<{ role: string; parts: Array<{ content: string }> }> };
    const original = content.input[0].parts[0].content;
    const final = content.output[0].parts[0].content;
    expect(content.input[0].role).toBe('assistant');
    expect(content.output[0].role).toBe('human');
    // The original is what the model answered; the final is the lead's own.
    expect(JSON.parse(String(model.content)).output[0].parts).toContainEqual({ type: 'text', content: original });
    expect(original).toContain('once a team lead has approved it');
    expect(final).toContain('has been approved and issued under case CASE-E2E');
    expect(override.attributes['audit.override.original_output.sha256']).toBe(createHash('sha256').update(original).digest('hex'));
    expect(override.input_digest).toMatch(/^[0-9a-f]{64}$/);
    expect(override.output_digest).toMatch(/^[0-9a-f]{64}$/);
    expect(override.input_digest).not.toBe(override.output_digest);
  });
});

describe('npm run demo with no arguments', () => {
  it('starts its own bridge when none runs on the default ports, and prints the timeline table (--format table; piped, the default is JSON lines)', async () => {
    const [otlpPort, apiPort] = await freePorts();
    const r = await run('npm', ['run', '--silent', 'demo', '--', '--format', 'table'], { OTEL_AUDIT_DEMO_PORTS: `${otlpPort},${apiPort}`, COLUMNS: '1000' });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`no bridge at http://127.0.0.1:${apiPort}: starting one`);
    expect(r.stderr).toContain('stopping the bridge it started');
    const table = r.stdout.trim().split('\n');
    expect(table[0]).toMatch(/^time\s+type\s+/);
    expect(table.length).toBe(2 + STORY.length);
    for (const t of STORY) expect(r.stdout).toContain(t);
    // The override: the model's draft beside the lead's reply, each cut to 60 characters.
    expect(r.stdout).toMatch(/overridden by lead-7 \(edited\): "[^"\n]{1,59}…" → "Your refund of the duplicate charge has been approved and i…"/);
    expect(r.stdout).toContain('kb_consistency score 1 consistent');
    expect(r.stderr).toMatch(/\[demo\] case CASE-[0-9A-F]{6}\n/);
  });

  it('uses the bridge already running on those ports', async () => {
    const ports = `${new URL(bridge.otlpUrl).port},${new URL(bridge.apiUrl).port}`;
    const r = await demo(['--case', 'CASE-REUSE'], { OTEL_AUDIT_DEMO_PORTS: ports });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`using the bridge running at ${bridge.apiUrl}`);
    const types = await sql<{ event_type: string }>(bridge.apiUrl, "SELECT event_type FROM otel_audit.events WHERE correlation_id = 'CASE-REUSE'");
    expect(types.map((t) => t.event_type).sort()).toEqual(STORY);
  });
});

describe('bad input', () => {
  it('--help prints the usage', async () => {
    const r = await demo(['--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('usage: npm run demo');
  });

  it('rejects bad flags and URLs with exit code 2', async () => {
    const half = await demo(['--otlp', 'http://127.0.0.1:4318']);
    expect(half.code).toBe(2);
    expect(half.stderr).toContain('--otlp and --api-url go together');
    const bad = await demo(['--otlp', 'not a url', '--api-url', 'http://127.0.0.1:4319']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--otlp: not a URL');
    const unknown = await demo(['--frobnicate']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("Unknown option '--frobnicate'");
    const ports = await demo([], { OTEL_AUDIT_DEMO_PORTS: '4318' });
    expect(ports.code).toBe(2);
    expect(ports.stderr).toContain('OTEL_AUDIT_DEMO_PORTS');
  });

  it('says so when the bridge is unreachable, with exit code 1', async () => {
    const [p1, p2] = await freePorts();
    const r = await demo(['--otlp', `http://127.0.0.1:${p1}`, '--api-url', `http://127.0.0.1:${p2}`]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(`no otel-audit bridge answers at --api-url http://127.0.0.1:${p2} (ECONNREFUSED)`);
    const otlp = await demo(['--otlp', `http://127.0.0.1:${p1}`, '--api-url', bridge.apiUrl]);
    expect(otlp.code).toBe(1);
    expect(otlp.stderr).toContain(`no OTLP/HTTP receiver answers at --otlp http://127.0.0.1:${p1}`);
  });
});
