// The bridge as a service: `npm start` and the systemd unit's command line stop it cleanly on
// SIGTERM and SIGINT (exit 0, no process left behind, its ports and the store free again).
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT, startBridge, tempDir, waitForStarted } from './helpers/bridge-process.ts';
import { alive, run } from './helpers/run.ts';

const EPHEMERAL = ['--otlp-http', '127.0.0.1:0', '--otlp-grpc', '127.0.0.1:0', '--api', '127.0.0.1:0'];

interface Started {
  child: ChildProcess;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  log: () => string;
  api: string;
  otlp: string;
}

/** Spawns a command that runs the bridge and waits for its "started" log line (on stderr). */
async function spawnBridge(command: string, args: string[], options: { env?: NodeJS.ProcessEnv; detached?: boolean } = {}): Promise<Started> {
  const child = spawn(command, args, { cwd: REPO_ROOT, env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'], detached: options.detached });
  child.stdout!.resume();
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('close', (code, signal) => resolve({ code, signal })));
  const { started, log } = await waitForStarted(child);
  return { child, exit, log, api: started.api, otlp: started.otlp_http };
}

/** The process's children (pids), from ps. */
function childrenOf(pid: number): number[] {
  try {
    return execFileSync('ps', ['-o', 'pid=', '--ppid', String(pid)], { encoding: 'utf8' })
      .split('\n')
      .map((s) => Number(s.trim()))
      .filter((n) => n > 0);
  } catch {
    return [];
  }
}

function portFree(url: string): Promise<boolean> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = connect({ host: hostname, port: Number(port) });
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(true));
  });
}

async function gone(pid: number, timeoutMs = 5_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (alive(pid)) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
  return true;
}

describe('npm start', () => {
  it.each([
    ['SIGTERM to npm (a supervisor stopping `npm start`)', 'SIGTERM', false],
    ['SIGINT to npm', 'SIGINT', false],
    ['Ctrl-C: SIGINT to the whole process group, npm and the bridge alike', 'SIGINT', true],
  ] as Array<[string, NodeJS.Signals, boolean]>)('%s: the bridge stops, npm exits 0, nothing is left running', async (_name, signal, group) => {
    const dataDir = tempDir();
    const npm = await spawnBridge('npm', ['start', '--', '--data-dir', dataDir, ...EPHEMERAL], { detached: group });
    const bridges = childrenOf(npm.child.pid!);
    // `exec` in the start script: npm's child is the bridge itself, so signals reach it.
    expect(bridges).toHaveLength(1);
    expect(readFileSync(`/proc/${bridges[0]}/cmdline`, 'utf8')).toContain('otel-audit.js\0serve');
    if (group) process.kill(-npm.child.pid!, signal);
    else npm.child.kill(signal);
    const { code, signal: killedBy } = await npm.exit;
    expect({ code, killedBy }).toEqual({ code: 0, killedBy: null });
    expect(await gone(bridges[0])).toBe(true);
    expect(npm.log()).toContain('"otel-audit bridge stopped"');
    expect(await portFree(npm.api)).toBe(true);
    expect(await portFree(npm.otlp)).toBe(true);
    if (signal === 'SIGTERM') {
      // The embedded store's lock is released: another bridge opens the same data directory.
      const next = await startBridge({ dataDir });
      expect(await next.stop()).toBe(0);
    }
  }, 120_000);
});

/** The [Service] settings of the unit file that make a command line: Environment=, ExecStart=, ExecStartPost=. */
function parseUnit(text: string): { env: Record<string, string>; execStart: string[]; execStartPost: string[] } {
  const env: Record<string, string> = {};
  let execStart: string[] = [];
  let execStartPost: string[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    const m = /^(Environment|ExecStart|ExecStartPost)=(.*)$/.exec(line);
    if (!m) continue;
    if (m[1] === 'Environment') {
      const [k, ...v] = m[2].split('=');
      env[k] = v.join('=');
    } else {
      // No quoting or specifiers in these lines (a test below keeps it so); a leading -, @, + or ! is systemd's.
      const words = m[2].replace(/^[-@+!]+/, '').split(/\s+/).filter(Boolean);
      if (m[1] === 'ExecStart') execStart = words;
      else execStartPost = words;
    }
  }
  return { env, execStart, execStartPost };
}

describe('the systemd unit (deploy/systemd/otel-audit.service)', () => {
  const unitFile = join(REPO_ROOT, 'deploy/systemd/otel-audit.service');
  const unit = readFileSync(unitFile, 'utf8');

  it('passes systemd-analyze verify and keeps the hardening the docs promise', async () => {
    const verify = await run('systemd-analyze', ['verify', unitFile]);
    expect(verify.stderr).toBe('');
    expect(verify.code).toBe(0);
    for (const setting of ['User=otel-audit', 'StateDirectory=otel-audit', 'ProtectSystem=strict', 'NoNewPrivileges=yes', 'Restart=on-failure', 'KillSignal=SIGTERM']) {
      expect(unit).toContain(`\n${setting}\n`);
    }
    // Exec lines without quoting or specifiers: parseUnit (below) splits them on spaces.
    expect(unit).not.toMatch(/^Exec\w*=.*[%$"'\\]/m);
  });

  it('its ExecStart, run as written, serves; ExecStartPost sees it ready; SIGTERM stops it with exit 0', async () => {
    const { env, execStart, execStartPost } = parseUnit(unit);
    const stateDir = tempDir();
    // The unit's paths, here: node, the package (the repository's bridge), the state directory.
    const subst = (w: string) =>
      w === '/usr/bin/node' ? process.execPath : w.replace('/usr/lib/node_modules/@otel-audit/bridge', join(REPO_ROOT, 'packages/bridge')).replace('/var/lib/otel-audit', stateDir);
    expect(execStart.slice(0, 2)).toEqual(['/usr/bin/node', '--max-semi-space-size=16']);
    const [command, ...args] = execStart.map(subst);
    const serviceEnv: Record<string, string | undefined> = {
      PATH: process.env.PATH,
      ...Object.fromEntries(Object.entries(env).map(([k, v]) => [k, subst(v)])),
      // As /etc/otel-audit/otel-audit.env would set them: ephemeral loopback ports for the test.
      OTEL_AUDIT_OTLP_HTTP: '127.0.0.1:0',
      OTEL_AUDIT_OTLP_GRPC: '127.0.0.1:0',
      OTEL_AUDIT_API: '127.0.0.1:0',
    };
    expect(serviceEnv.OTEL_AUDIT_DATA_DIR).toBe(stateDir);
    const service = await spawnBridge(command, args, { env: serviceEnv });
    try {
      expect(readFileSync(`/proc/${service.child.pid}/environ`, 'utf8').split('\0')).toEqual(
        expect.arrayContaining(['MALLOC_MMAP_THRESHOLD_=131072', 'MALLOC_TRIM_THRESHOLD_=1048576']),
      );
      const [postCommand, ...postArgs] = execStartPost.map(subst);
      const post = await run(postCommand, postArgs, { env: { ...serviceEnv, OTEL_AUDIT_API_URL: service.api } });
      expect(post.stderr).toBe('');
      expect(post.code).toBe(0);
    } finally {
      service.child.kill('SIGTERM');
    }
    const { code, signal } = await service.exit;
    expect({ code, signal }).toEqual({ code: 0, signal: null });
    expect(childrenOf(service.child.pid!)).toEqual([]);
    expect(await portFree(service.api)).toBe(true);
    // Its log, ClickHouse client's lines included, is one JSON object per line.
    for (const line of service.log().split('\n').filter(Boolean)) expect(() => JSON.parse(line), line).not.toThrow();
  }, 120_000);

  it('ExecStartPost fails (exit 1, with the reason) when no bridge answers', async () => {
    const { execStartPost } = parseUnit(unit);
    const post = await run(process.execPath, [...execStartPost.slice(1).map((w) => w.replace('/usr/lib/node_modules/@otel-audit/bridge', join(REPO_ROOT, 'packages/bridge'))).filter((w) => w !== '110s' && w !== '--wait'), '--wait', '1s', '--api-url', 'http://127.0.0.1:9']);
    expect(post.code).toBe(1);
    expect(post.stderr).toMatch(/the bridge at http:\/\/127\.0\.0\.1:9 is not ready/);
  });
});
