/**
 * `npm run demo`: the support assistant and its reviewer, end to end, against an otel-audit
 * bridge. See ../README.md and `npm run demo -- --help`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { httpUrl, info, parseFlags, runMain, UsageError } from './cli.ts';

const HERE = fileURLToPath(new URL('.', import.meta.url));
const CLI = fileURLToPath(new URL('../../bridge/bin/otel-audit.js', import.meta.url));
/**
 * The events a run stores, from what the two scripts report: the request, the retrieval and the
 * model call; the evaluation of the draft reply (when there is a reply); and, when the model
 * proposed a CRM change, the tool call, the decision, the override of the draft reply (when there
 * was one to replace), the effect and the outcome. (A real model may answer without the tool.)
 */
function expectedEvents(assistant: { proposal_ref: string | null; evaluation: unknown }, reviews: Array<{ override_span_id: string | null }>): string[] {
  const out = ['request', 'retrieval', 'model_call'];
  if (assistant.evaluation !== null) out.push('evaluation');
  if (assistant.proposal_ref !== null) out.push('tool_call', 'approval', 'system_effect', 'outcome');
  for (const r of reviews) if (r.override_span_id !== null) out.push('approval');
  return out;
}

const USAGE = `usage: npm run demo -- [options]

Runs the example support assistant (retrieval, an OpenAI call, a check of its draft reply, a
CRM update proposed for approval) and, in a separate process, the team lead who approves and
applies it and replaces the draft reply with their own; then shows the case's audit trail.

  (no options)            use the bridge at 127.0.0.1:4318/4319 if one runs, else start one
                          (temporary data dir, ephemeral ports, stopped at the end), and print
                          the timeline: a table on a terminal, else one JSON line per event
  --otlp URL              OTLP/HTTP endpoint of a running bridge, e.g. http://127.0.0.1:4318
  --api-url URL           its query API, e.g. http://127.0.0.1:4319
  --format table|jsonl    the timeline as a table, or exactly one JSON line per event of the
                          case on stdout and nothing else (default: table on a terminal, jsonl
                          otherwise or with --otlp)
  --case ID               the case (correlation) id; default CASE-<random>
  --openai-base-url URL   an OpenAI-compatible API (key in OPENAI_API_KEY) instead of the
                          built-in local stand-in
  --work-dir DIR          keep the review queue and the CRM file there (default: a temp dir,
                          removed at the end)
  -h, --help              this text

Environment: OTEL_AUDIT_DEMO_PORTS=OTLP_PORT,API_PORT, where to look for a running bridge
(default 4318,4319).
Exit codes: 0 done, 1 failed (bridge unreachable, a step failed), 2 bad arguments.
`;

interface Bridge {
  otlp: string;
  api: string;
  stop?: () => Promise<void>;
}

interface TimelineRow {
  event_type: string;
  correlation_id: string;
  event_time: string;
  trace_id: string;
  span_id: string;
  parent_span_id: string;
  name: string;
  service_name: string;
  actor_id: string;
  links: Array<{ trace_id: string; span_id: string }>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function reason(err: unknown): string {
  const e = err as Error & { cause?: { code?: string; message?: string } };
  return e.cause?.code ?? e.cause?.message ?? e.message;
}

async function healthy(api: string): Promise<boolean> {
  try {
    const res = await fetch(`${api}/healthz`, { signal: AbortSignal.timeout(2000) });
    return res.ok;
  } catch {
    return false;
  }
}

/** Checks that both URLs answer like a bridge, with an error that says which one does not. */
async function checkBridge(otlp: string, api: string): Promise<void> {
  try {
    const res = await fetch(`${api}/healthz`, { signal: AbortSignal.timeout(5000) });
    if (!res.ok) throw new Error(`GET ${api}/healthz answered ${res.status}`);
  } catch (err) {
    throw new Error(`no otel-audit bridge answers at --api-url ${api} (${reason(err)}). Start one with \`npm start\`, or run the demo without --otlp/--api-url to let it start its own.`);
  }
  try {
    // An empty export request: a no-op for an OTLP receiver.
    const res = await fetch(`${otlp}/v1/traces`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"resourceSpans":[]}', signal: AbortSignal.timeout(5000) });
    if (!res.ok) throw new Error(`POST ${otlp}/v1/traces answered ${res.status}`);
  } catch (err) {
    throw new Error(`no OTLP/HTTP receiver answers at --otlp ${otlp} (${reason(err)})`);
  }
}

function defaultPorts(): [number, number] {
  const raw = process.env.OTEL_AUDIT_DEMO_PORTS?.trim();
  if (!raw) return [4318, 4319];
  const ports = raw.split(',').map((p) => Number(p.trim()));
  if (ports.length !== 2 || !ports.every((p) => Number.isInteger(p) && p > 0 && p < 65536)) {
    throw new UsageError(`OTEL_AUDIT_DEMO_PORTS must be OTLP_PORT,API_PORT (e.g. 4318,4319), got ${JSON.stringify(raw)}`);
  }
  return ports as [number, number];
}

/** `otel-audit serve` on a temporary data dir and ephemeral ports; resolves once it listens. */
async function startBridge(): Promise<Bridge> {
  const dataDir = mkdtempSync(join(tmpdir(), 'otel-audit-demo-bridge-'));
  const child = spawn(process.execPath, [CLI, 'serve', '--data-dir', dataDir, '--otlp-http', '127.0.0.1:0', '--otlp-grpc', '127.0.0.1:0', '--api', '127.0.0.1:0'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stopOnSignal = () => child.kill('SIGTERM');
  process.once('SIGINT', stopOnSignal);
  process.once('SIGTERM', stopOnSignal);
  const stop = async () => {
    process.off('SIGINT', stopOnSignal);
    process.off('SIGTERM', stopOnSignal);
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
    rmSync(dataDir, { recursive: true, force: true });
  };
  let log = '';
  try {
    const started = await new Promise<{ otlp_http: string; api: string }>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the bridge did not start within 60 s; its log:\n${log}`)), 60_000);
      child.stderr!.on('data', (d: Buffer) => {
        log += d.toString();
        const line = log.split('\n').find((l) => l.includes('"otel-audit bridge started"'));
        if (line === undefined) return;
        clearTimeout(timer);
        resolve(JSON.parse(line) as { otlp_http: string; api: string });
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`the bridge exited with ${code} before it started; its log:\n${log}`));
      });
    });
    // Keep draining its log so that the pipe never fills up.
    child.stderr!.resume();
    return { otlp: started.otlp_http, api: started.api, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** Runs one of the example's scripts as its own process; its stderr (progress) passes through. */
async function runScript(script: string, args: string[]): Promise<string> {
  const child: ChildProcess = spawn(process.execPath, [join(HERE, script), ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  let stdout = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', resolve);
  });
  if (code !== 0) throw new Error(`${script} exited with code ${code}`);
  return stdout;
}

async function flush(api: string): Promise<void> {
  const res = await fetch(`${api}/api/v1/flush`, { method: 'POST' });
  if (!res.ok) throw new Error(`POST ${api}/api/v1/flush answered ${res.status}: ${await res.text()}`);
}

async function timeline(api: string, caseId: string): Promise<TimelineRow[]> {
  const res = await fetch(`${api}/api/v1/timeline/${encodeURIComponent(caseId)}?format=jsonl`);
  const text = await res.text();
  if (!res.ok) throw new Error(`GET ${api}/api/v1/timeline answered ${res.status}: ${text}`);
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as TimelineRow);
}

/** Flushes and reads the case back until the expected events (as many of each type) are stored (or 20 s pass). */
async function waitForTrail(api: string, caseId: string, expected: string[]): Promise<TimelineRow[]> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    await flush(api);
    const rows = await timeline(api, caseId);
    const missing = [...new Set(expected)].filter((t) => rows.filter((r) => r.event_type === t).length < expected.filter((x) => x === t).length);
    if (missing.length === 0) return rows;
    if (Date.now() > deadline) throw new Error(`the bridge stored ${rows.length} events for ${caseId} but too few of type ${missing.join(', ')} (see the bridge's log)`);
    await sleep(300);
  }
}

async function printTable(api: string, caseId: string): Promise<void> {
  const child = spawn(process.execPath, [CLI, 'timeline', caseId, '--format', 'table', '--api-url', api], { stdio: ['ignore', 'inherit', 'inherit'] });
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  if (code !== 0) throw new Error(`otel-audit timeline exited with code ${code}`);
}

await runMain('demo', USAGE, async () => {
  const flags = parseFlags(process.argv.slice(2), {
    otlp: { type: 'string' },
    'api-url': { type: 'string' },
    case: { type: 'string' },
    'openai-base-url': { type: 'string' },
    'work-dir': { type: 'string' },
    format: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
  if (flags.format !== undefined && flags.format !== 'table' && flags.format !== 'jsonl') throw new UsageError(`--format must be table or jsonl, got ${JSON.stringify(flags.format)}`);
  const otlp = httpUrl('--otlp', flags.otlp);
  const api = httpUrl('--api-url', flags['api-url']);
  if ((otlp === undefined) !== (api === undefined)) throw new UsageError('--otlp and --api-url go together: give both to use a running bridge, or neither');
  const openaiBaseUrl = httpUrl('--openai-base-url', flags['openai-base-url']);
  const caseId = flags.case ?? `CASE-${randomBytes(3).toString('hex').toUpperCase()}`;
  if (caseId.trim() === '' || caseId.length > 200) throw new UsageError('--case must be a non-empty id of at most 200 characters');
  // Like the otel-audit CLI: a table for a person at a terminal, JSON lines for a pipe (| jq).
  const jsonl = flags.format !== undefined ? flags.format === 'jsonl' : otlp !== undefined || !process.stdout.isTTY;

  let bridge: Bridge;
  if (otlp !== undefined && api !== undefined) {
    await checkBridge(otlp, api);
    bridge = { otlp, api };
  } else {
    const [otlpPort, apiPort] = defaultPorts();
    const running = { otlp: `http://127.0.0.1:${otlpPort}`, api: `http://127.0.0.1:${apiPort}` };
    if (await healthy(running.api)) {
      await checkBridge(running.otlp, running.api);
      info('demo', `using the bridge running at ${running.api}`);
      bridge = running;
    } else {
      info('demo', `no bridge at ${running.api}: starting one (temporary data dir, stopped at the end)`);
      bridge = await startBridge();
      info('demo', `bridge started: OTLP ${bridge.otlp}, API ${bridge.api}`);
    }
  }

  const workDir = flags['work-dir'] ?? mkdtempSync(join(tmpdir(), 'otel-audit-demo-'));
  const queue = join(workDir, 'review-queue.json');
  const crm = join(workDir, 'crm.json');
  try {
    info('demo', `case ${caseId}`);
    const assistant = JSON.parse((await runScript('assistant.ts', ['--otlp', bridge.otlp, '--case', caseId, '--queue', queue, ...(openaiBaseUrl ? ['--openai-base-url', openaiBaseUrl] : [])])).trim()) as {
      proposal_ref: string | null;
      evaluation: unknown;
    };
    let reviews: Array<{ override_span_id: string | null }> = [];
    if (assistant.proposal_ref === null) info('demo', 'the model proposed no CRM change: nothing for the reviewer');
    else {
      const out = await runScript('reviewer.ts', ['--otlp', bridge.otlp, '--queue', queue, '--crm', crm, '--case', caseId]);
      reviews = out.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { override_span_id: string | null });
    }

    const rows = await waitForTrail(bridge.api, caseId, expectedEvents(assistant, reviews));
    info('demo', `${rows.length} events stored under ${caseId}, across ${new Set(rows.map((r) => r.trace_id)).size} traces and ${new Set(rows.map((r) => r.service_name)).size} services`);
    if (jsonl) {
      for (const r of rows) {
        const line = { event_type: r.event_type, correlation_id: r.correlation_id, time: r.event_time, trace_id: r.trace_id, span_id: r.span_id, parent_span_id: r.parent_span_id, name: r.name, service_name: r.service_name, actor_id: r.actor_id, links: r.links };
        process.stdout.write(JSON.stringify(line) + '\n');
      }
    } else {
      await printTable(bridge.api, caseId);
      info(
        'demo',
        bridge.stop
          ? 'to keep the trail and browse it, start a bridge with `npm start` in another terminal first: the demo then uses it'
          : `more: npx otel-audit timeline ${caseId} --format jsonl --api-url ${bridge.api}, or the web UI at ${bridge.api}`,
      );
    }
  } finally {
    if (flags['work-dir'] === undefined) rmSync(workDir, { recursive: true, force: true });
    if (bridge.stop) {
      info('demo', 'stopping the bridge it started');
      await bridge.stop();
    }
  }
});
