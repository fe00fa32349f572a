// The CLI as a user meets it: versions, exit codes, errors that name the real cause, nothing
// but data on stdout, shell completion; and the npm scripts around it (example, demo, npx).
import { execFileSync } from 'node:child_process';
import { accessSync, chmodSync, constants, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, REPO_ROOT, runCli, startBridge, tempDir, type BridgeProcess } from './helpers/bridge-process.ts';
import { freePort, run } from './helpers/run.ts';

const VERSION = (JSON.parse(readFileSync(join(REPO_ROOT, 'packages/bridge/package.json'), 'utf8')) as { version: string }).version;

let bridge: BridgeProcess;
beforeAll(async () => {
  bridge = await startBridge();
}, 120_000);
afterAll(async () => {
  await bridge?.stop();
});

describe('version', () => {
  it('--version, -V and version print the package version', async () => {
    for (const args of [['--version'], ['-V'], ['version']]) {
      const r = await runCli(args);
      expect(r.code, args[0]).toBe(0);
      expect(r.stdout).toBe(`${VERSION}\n`);
      expect(r.stderr).toBe('');
    }
  });
});

describe('errors that name the real cause', () => {
  it('--api-url at the OTLP/HTTP or OTLP/gRPC port: "not an otel-audit query API", exit 1', async () => {
    const grpc = `http://${bridge.grpcAddress}`;
    for (const url of [bridge.otlpUrl, grpc]) {
      const r = await runCli(['timeline', 'X', '--api-url', url]);
      expect(r.code, url).toBe(1);
      expect(r.stderr).toContain(`${url} is not an otel-audit query API`);
      expect(r.stderr).toContain('--api');
      expect(r.stderr).not.toMatch(/[\u0000-\u0008\u000e-\u001f]/); // no protobuf bytes
      expect(r.stdout).toBe('');
    }
  });

  it('a query the engine cannot run exits 1 with its message and no usage; a refused one exits 2', async () => {
    for (const query of ['SELEC 1', 'SELECT no_such_column FROM otel_audit.events']) {
      const r = await runCli(['sql', query, '--api-url', bridge.apiUrl, '--format', 'jsonl']);
      expect(r.code, query).toBe(1);
      expect(r.stderr).not.toContain('Usage:');
      expect(r.stdout).toBe('');
    }
    const refused = await runCli(['sql', 'DROP TABLE otel_audit.events', '--api-url', bridge.apiUrl]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).not.toContain('Usage:');
  });

  it('a data directory that cannot be created or written: a clear message and exit 1, never a spin', async () => {
    const file = join(tempDir(), 'a-file');
    writeFileSync(file, '');
    const cases: Array<[string, RegExp]> = [
      // Recursive mkdir under /proc spun at 100 % CPU (libuv retries ENOENT forever).
      ['/proc/otel-audit-test/data', /cannot create the data directory \(--data-dir\) \/proc\/otel-audit-test: \/proc exists but takes no new directories/],
      [join(file, 'data'), /a part of that path is a file, not a directory/],
    ];
    for (const [dir, why] of cases) {
      const started = Date.now();
      const r = await run(process.execPath, [CLI, 'serve', '--data-dir', dir, '--otlp-http', '127.0.0.1:0', '--otlp-grpc', 'off', '--api', '127.0.0.1:0'], { timeoutMs: 30_000 });
      expect(r.signal, dir).toBeNull();
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr).toMatch(why);
      expect(Date.now() - started).toBeLessThan(20_000);
    }
  });

  it('a data directory this user may not write: named, with the user, exit 1', async () => {
    const parent = tempDir();
    chmodSync(parent, 0o555);
    const asNobody = process.getuid?.() === 0;
    if (asNobody) {
      // Root writes anywhere: run the bridge as nobody (it must be able to read the checkout).
      try {
        accessSync(CLI, constants.R_OK);
        execFileSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'test', '-r', CLI]);
      } catch {
        throw new Error('setpriv cannot run the CLI as nobody here');
      }
    }
    const argv = [process.execPath, CLI, 'serve', '--data-dir', join(parent, 'data'), '--otlp-http', '127.0.0.1:0', '--otlp-grpc', 'off', '--api', '127.0.0.1:0'];
    const r = asNobody ? await run('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', ...argv], { timeoutMs: 30_000 }) : await run(argv[0], argv.slice(1), { timeoutMs: 30_000 });
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/cannot create the data directory \(--data-dir\) .*\/data: this user \(uid \d+\) may not create it/);
  });
});

describe('shell completion', () => {
  it('bash: sourcing the script completes commands, flags and their values', async () => {
    const script = join(tempDir(), 'otel-audit.bash');
    const gen = await runCli(['completion', 'bash']);
    expect(gen.code).toBe(0);
    writeFileSync(script, gen.stdout);
    const complete = async (...words: string[]) => {
      const r = await run('bash', [
        '-c',
        `source ${script}; COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _otel_audit; printf '%s\\n' "\${COMPREPLY[@]}"`,
      ]);
      expect(r.stderr).toBe('');
      return r.stdout.split('\n').filter(Boolean).sort();
    };
    expect(await complete('otel-audit', 'ti')).toEqual(['timeline']);
    expect(await complete('otel-audit', 'ver')).toEqual(['verify', 'verify-evidence', 'verify-proof', 'version']);
    expect(await complete('otel-audit', 'sql', '--f')).toEqual(['--file', '--format']);
    expect(await complete('otel-audit', 'export', '--format', '')).toEqual(['csv', 'jsonl']);
    expect(await complete('otel-audit', 'serve', '--otlp-')).toEqual(['--otlp-grpc', '--otlp-http']);
    expect(await complete('otel-audit', 'search', '--type', 'tool')).toEqual(['tool_call']);
    const registered = await run('bash', ['-c', `source ${script}; complete -p otel-audit`]);
    expect(registered.stdout).toContain('-F _otel_audit otel-audit');
  });

  it('zsh: a script with a #compdef line and every command; an unknown shell is a usage error', async () => {
    const zsh = await runCli(['completion', 'zsh']);
    expect(zsh.code).toBe(0);
    expect(zsh.stdout.split('\n')[0]).toBe('#compdef otel-audit');
    for (const c of ['serve', 'timeline', 'sql', 'erase', 'completion']) expect(zsh.stdout).toContain(`'${c}:`);
    const bad = await runCli(['completion', 'fish']);
    expect(bad.code).toBe(2);
  });
});

describe('npm around the CLI', () => {
  it('npx otel-audit under the system Node prints the answer and no npm warning', async () => {
    // The system Node (not the project's node@24) runs npx, as for a user who has not put
    // node_modules/.bin on PATH; the bin itself then runs on the project's Node 24.
    const system = process.env.PATH!.split(':').filter((d) => !d.startsWith(REPO_ROOT)).join(':');
    const r = await run('npx', ['otel-audit', '--version'], { cwd: REPO_ROOT, env: { ...process.env, PATH: system } });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(`${VERSION}\n`);
    expect(r.stderr).not.toContain('EBADENGINE');
    expect(r.stderr).toBe('');
  });

  it('npm run example -- --otlp URL --case ID: a clear message and exit 1 when nothing listens', async () => {
    const url = `http://127.0.0.1:${await freePort()}`;
    const r = await run('npm', ['run', 'example', '--', '--otlp', url, '--case', 'CASE-NOBODY'], { cwd: REPO_ROOT });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`example: no OTLP receiver answers at ${url} (ECONNREFUSED)`);
    expect(r.stderr).not.toMatch(/^\s+at /m);
    // Nothing of the example's on stdout; npm (json=true in .npmrc) reports the failed script there as JSON.
    if (r.stdout !== '') expect(JSON.parse(r.stdout)).toMatchObject({ error: { code: 1 } });
  });

  it('npm run example -- --otlp URL --case ID sends the case to that bridge', async () => {
    const r = await run('npm', ['run', 'example', '--', '--otlp', bridge.otlpUrl, '--case', 'CASE-EXAMPLE'], { cwd: REPO_ROOT });
    expect(r.code, r.stderr).toBe(0);
    expect(Object.keys(JSON.parse(r.stdout) as object)).toContain('approval_trace_id');
  });

  it('npm run demo | jq: every line on stdout is JSON, one per event of the case', async () => {
    // No bridge at these ports: the demo starts its own (temporary) one.
    const ports = `${await freePort()},${await freePort()}`;
    const demo = await run('bash', ['-c', 'set -o pipefail; npm run demo | jq -c .'], { cwd: REPO_ROOT, env: { ...process.env, OTEL_AUDIT_DEMO_PORTS: ports }, timeoutMs: 120_000 });
    expect(demo.code, demo.stderr).toBe(0);
    const lines = demo.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { event_type: string; correlation_id: string; span_id: string });
    // The demo's story (packages/example-support-assistant/README.md): nine events, the
    // evaluation of the draft reply among them, and two approvals (the lead's decision on the
    // proposal and the override of the draft reply); each once, all under the one case.
    expect(lines.map((l) => l.event_type).sort()).toEqual(['approval', 'approval', 'evaluation', 'model_call', 'outcome', 'request', 'retrieval', 'system_effect', 'tool_call']);
    expect(new Set(lines.map((l) => l.correlation_id)).size).toBe(1);
    expect(new Set(lines.map((l) => l.span_id)).size).toBe(lines.length);
  }, 150_000);
});

describe('the ClickHouse client log', () => {
  it('goes through the bridge log: one JSON object per line', async () => {
    // migrate against a ClickHouse URL where nothing answers: the client's own logger used to
    // write multi-line plain text here.
    const r = await runCli(['migrate', '--clickhouse-url', `http://127.0.0.1:${await freePort()}`]);
    expect(r.code).toBe(1);
    for (const line of r.stderr.split('\n').filter((l) => l.startsWith('{') || l.startsWith('['))) expect(() => JSON.parse(line), line).not.toThrow();
    expect(r.stderr).not.toMatch(/^\[\d{4}-\d\d-\d\dT.*\]\[(WARN|ERROR)\]/m);
  });
});

