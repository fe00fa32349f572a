import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const CLI = join(REPO_ROOT, 'packages/bridge/bin/otel-audit.js');

export interface BridgeProcess {
  otlpUrl: string;
  /** The OTLP/gRPC receiver, HOST:PORT ('off' when started with `--otlp-grpc off`). */
  grpcAddress: string;
  apiUrl: string;
  dataDir: string;
  child: ChildProcess;
  /** Everything the bridge wrote to stderr (its log). */
  log(): string;
  /** SIGTERM and wait for exit; returns the exit code. */
  stop(): Promise<number | null>;
  /** SIGKILL and wait. */
  kill(): Promise<void>;
  /** Resolves with the exit code once the process has exited. */
  exited: Promise<number | null>;
}

/**
 * How `npm start` runs the bridge (package.json `scripts.start`): its environment assignments and
 * node flags, so that benches measure the bridge as users run it. BRIDGE_NODE_FLAGS, when set,
 * replaces the node flags (to compare settings).
 */
export function npmStartLaunch(): { env: Record<string, string>; nodeArgs: string[] } {
  const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { scripts: { start: string } };
  const words = pkg.scripts.start.split(/\s+/).filter(Boolean);
  const env: Record<string, string> = {};
  let i = 0;
  for (; i < words.length && /^[A-Z_][A-Z0-9_]*=/.test(words[i]); i++) {
    const at = words[i].indexOf('=');
    env[words[i].slice(0, at)] = words[i].slice(at + 1);
  }
  if (words[i] === 'exec') i++;
  if (words[i] !== 'node') throw new Error(`package.json scripts.start: expected "[VAR=value ...] [exec] node [flags] script", got "${pkg.scripts.start}"`);
  const nodeArgs: string[] = [];
  for (i++; i < words.length && words[i].startsWith('--'); i++) nodeArgs.push(words[i]);
  const override = process.env.BRIDGE_NODE_FLAGS;
  return { env, nodeArgs: override === undefined ? nodeArgs : override.split(' ').filter(Boolean) };
}

export function tempDir(prefix = 'otel-audit-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export interface TestToken {
  name: string;
  token: string;
  roles: string[];
  tenants: string[];
}

/** Writes an auth file (DESIGN 3.4) with these tokens into dir; returns its path. */
export function writeAuthFile(dir: string, tokens: TestToken[]): string {
  const file = join(dir, 'auth.json');
  writeFileSync(file, JSON.stringify({ tokens }));
  return file;
}

/**
 * Runs the real CLI (`otel-audit serve`) on ephemeral ports and waits until it listens.
 * `command` replaces `node [nodeArgs] <repo CLI>`, e.g. an installed `otel-audit` bin.
 */
export async function startBridge(
  opts: { dataDir?: string; args?: string[]; env?: Record<string, string>; nodeArgs?: string[]; command?: string[] } = {},
): Promise<BridgeProcess> {
  const dataDir = opts.dataDir ?? tempDir();
  const [command, ...commandArgs] = opts.command ?? [process.execPath, ...(opts.nodeArgs ?? []), CLI];
  const child = spawn(
    command,
    [...commandArgs, 'serve', '--data-dir', dataDir, '--otlp-http', '127.0.0.1:0', '--otlp-grpc', '127.0.0.1:0', '--api', '127.0.0.1:0', ...(opts.args ?? [])],
    { env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const { started, log } = await waitForStarted(child);
  return {
    otlpUrl: started.otlp_http,
    grpcAddress: started.otlp_grpc,
    apiUrl: started.api,
    dataDir,
    child,
    exited,
    log,
    async stop() {
      child.kill('SIGTERM');
      return exited;
    },
    async kill() {
      child.kill('SIGKILL');
      await exited;
    },
  };
}

export interface StartedLine {
  otlp_http: string;
  otlp_grpc: string;
  api: string;
}

/**
 * Waits for the "otel-audit bridge started" log line on a child's stderr (whatever started the
 * bridge: the CLI, `npm start`, a service's command line); `log()` is all its stderr so far.
 */
export async function waitForStarted(child: ChildProcess, timeoutMs = 60_000): Promise<{ started: StartedLine; log: () => string }> {
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const started = await new Promise<StartedLine>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`bridge did not start within ${timeoutMs / 1000} s; log:\n${stderr}`)), timeoutMs);
    const check = () => {
      const line = stderr.split('\n').find((l) => l.includes('"otel-audit bridge started"'));
      if (line === undefined) return;
      clearTimeout(timer);
      child.stderr!.off('data', check);
      resolve(JSON.parse(line) as StartedLine);
    };
    child.stderr!.on('data', check);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`bridge exited with ${code} before it started; log:\n${stderr}`));
    });
  });
  return { started, log: () => stderr };
}

/** Runs the CLI to completion. */
export async function runCli(args: string[], env: Record<string, string> = {}, input?: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  // A command that exits without reading its input (a usage error) closes the pipe first.
  child.stdin.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') stderr += `\n[test: writing the CLI's input failed: ${err.message}]`;
  });
  child.stdin.end(input ?? '');
  // 'close', not 'exit': the process can exit before its output is read to the end.
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
  return { code, stdout, stderr };
}

/** Asks the bridge to decide every pending event and store it now. */
export async function flush(apiUrl: string, token?: string): Promise<void> {
  const res = await fetch(`${apiUrl}/api/v1/flush`, { method: 'POST', headers: token ? { authorization: `Bearer ${token}` } : {} });
  if (!res.ok) throw new Error(`flush failed: ${res.status} ${await res.text()}`);
}

export async function sql<T = Record<string, unknown>>(apiUrl: string, query: string, token?: string): Promise<T[]> {
  const res = await fetch(`${apiUrl}/api/v1/sql?format=jsonl`, { method: 'POST', body: query, headers: token ? { authorization: `Bearer ${token}` } : {} });
  const text = await res.text();
  if (!res.ok) throw new Error(`sql failed: ${res.status} ${text}`);
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as T);
}

/** Polls until `check` returns a truthy value or the timeout passes. */
export async function eventually<T>(check: () => Promise<T | undefined | false>, timeoutMs = 20_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
