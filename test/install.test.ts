// The packages as users get them: `npm pack` makes the three tarballs, which are installed with
// npm (their dependencies from the registry) into apps and a global prefix outside the
// workspace, in a temp dir, and run there on the Node versions users have:
//   - an app on Node 20 with the OpenTelemetry JS 2.x SDK line (API 1.9, sdk-node 0.200),
//   - an app with the 3.x line (API 1.10, sdk-node 0.301), run on Node 22 and on Node 24,
//   - the bridge installed with `npm i -g --prefix`, serving on Node 22 and on Node 24,
// each app storing the support assistant's events (test/fixtures/installed-app.mjs). An app
// whose helpers load another, newer copy of @opentelemetry/api than its SDK registered through
// (what installing the package from a folder did) gets a warning, not a silent no-op.
//
// Node 20 and 22 come from the `node` package of the npm registry, installed as a dependency of
// the temp apps: as the root's devDependencies they would fight over the `node` bin with the
// node@24 the project's scripts run on, and every `npm ci` would fetch two more Node binaries.
// Installs take 1–2 minutes with a warm npm cache (much longer the first time on a machine).
import { cpSync, mkdirSync, readlinkSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { flush, REPO_ROOT, startBridge, tempDir, type BridgeProcess } from './helpers/bridge-process.ts';
import { run, runOk } from './helpers/run.ts';

const SEVEN = ['approval', 'model_call', 'outcome', 'request', 'retrieval', 'system_effect', 'tool_call'];
const PACKAGES = ['semconv', 'instrumentation', 'bridge'] as const;
const INSTALL_TIMEOUT = 600_000;

/** The 2.x SDK line as its first release shipped it (processors take the exporter positionally). */
const SDK_2X = [
  '@opentelemetry/api@1.9.0',
  '@opentelemetry/sdk-node@0.200.0',
  '@opentelemetry/sdk-trace-base@2.0.0',
  '@opentelemetry/sdk-logs@0.200.0',
  '@opentelemetry/core@2.0.0',
  '@opentelemetry/resources@2.0.0',
  '@opentelemetry/exporter-trace-otlp-proto@0.200.0',
  '@opentelemetry/exporter-logs-otlp-proto@0.200.0',
];
const SDK_3X = [
  '@opentelemetry/api@^1.10.0',
  '@opentelemetry/sdk-node@^0.301.0',
  '@opentelemetry/sdk-trace@^3.1.0',
  '@opentelemetry/sdk-logs@^3.1.0',
  '@opentelemetry/core@^3.1.0',
  '@opentelemetry/resources@^3.1.0',
  '@opentelemetry/exporter-trace-otlp-proto@^0.301.0',
  '@opentelemetry/exporter-logs-otlp-proto@^0.301.0',
];

const root = tempDir('otel-audit-install-');
const tarballs = join(root, 'tarballs');
const app2x = join(root, 'app-2x');
const app3x = join(root, 'app-3x');
const prefix = join(root, 'global');
const tarball = (name: (typeof PACKAGES)[number]) => join(tarballs, `otel-audit-${name}-0.1.0.tgz`);
const npmEnv = { ...process.env, npm_config_audit: 'false', npm_config_fund: 'false', npm_config_update_notifier: 'false' };
const bin = (app: string) => join(app, 'node_modules/.bin');
const node20 = () => join(bin(app2x), 'node');
const node22 = () => join(bin(app3x), 'node');
const node24 = process.execPath;
const withPath = (dir: string) => ({ ...process.env, PATH: `${dir}${delimiter}${process.env.PATH}` });

async function makeApp(dir: string, deps: string[]): Promise<void> {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'installed-app', version: '1.0.0', private: true, type: 'module' }));
  cpSync(join(REPO_ROOT, 'test/fixtures/installed-app.mjs'), join(dir, 'app.mjs'));
  await runOk('npm', ['install', ...deps, tarball('semconv'), tarball('instrumentation')], { cwd: dir, env: npmEnv, timeoutMs: INSTALL_TIMEOUT });
}

beforeAll(async () => {
  mkdirSync(tarballs);
  // prepack builds each package (tsc -b) before it is packed.
  await runOk('npm', ['pack', ...PACKAGES.flatMap((p) => ['-w', `packages/${p}`]), '--pack-destination', tarballs], { cwd: REPO_ROOT, env: npmEnv });
  await Promise.all([
    makeApp(app2x, ['node@20', ...SDK_2X]),
    makeApp(app3x, ['node@22', ...SDK_3X]),
    runOk('npm', ['install', '-g', '--prefix', prefix, tarball('semconv'), tarball('bridge')], { cwd: root, env: npmEnv, timeoutMs: INSTALL_TIMEOUT }),
  ]);
}, INSTALL_TIMEOUT + 60_000);

afterAll(() => rmSync(root, { recursive: true, force: true }));

interface AppResult {
  node: string;
  ref: string;
  tracing: { usable: boolean; problem?: string; message?: string };
  approval: { linked: boolean; error?: string };
}

async function runApp(node: string, app: string, otlp: string, caseId: string): Promise<{ result: AppResult; stderr: string }> {
  const r = await runOk(node, ['app.mjs', otlp, caseId], { cwd: app, timeoutMs: 60_000 });
  return { result: JSON.parse(r.stdout.trim()) as AppResult, stderr: r.stderr };
}

/** The installed CLI, on the given Node, reads the case back. */
async function timelineTypes(node: string, bridge: BridgeProcess, caseId: string): Promise<string[]> {
  await flush(bridge.apiUrl);
  const r = await runOk(join(prefix, 'bin/otel-audit'), ['timeline', caseId, '--format', 'jsonl', '--api-url', bridge.apiUrl], { env: withPath(dirname(node)) });
  const types = r.stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => (JSON.parse(l) as { event_type: string }).event_type);
  return [...new Set(types)].sort();
}

describe('the packed packages, installed from their tarballs outside the workspace', () => {
  it('ship built JavaScript, declarations and source maps, and no TypeScript sources', async () => {
    for (const name of PACKAGES) {
      const files = (await runOk('tar', ['tzf', tarball(name)])).stdout.split('\n').filter(Boolean);
      expect(files).toContain('package/dist/index.js');
      expect(files).toContain('package/dist/index.d.ts');
      expect(files).toContain('package/dist/index.js.map');
      expect(files.filter((f) => /\.ts$/.test(f) && !f.endsWith('.d.ts'))).toEqual([]);
      expect(files.filter((f) => /test|testdata|bench/.test(f))).toEqual([]);
    }
  });

  it('run on Node 22 and 24 (the bridge), 20, 22 and 24 (apps with the 2.x and 3.x SDK lines)', async () => {
    expect((await runOk(node20(), ['--version'])).stdout).toMatch(/^v20\./);
    expect((await runOk(node22(), ['--version'])).stdout).toMatch(/^v22\./);
    expect(process.version).toMatch(/^v24\./);

    const on22 = await startBridge({ command: [join(prefix, 'bin/otel-audit')], env: { PATH: withPath(dirname(node22())).PATH! } });
    try {
      expect(readlinkSync(`/proc/${on22.child.pid}/exe`)).toBe(realpathSync(node22()));
      const version = await runOk(join(prefix, 'bin/otel-audit'), ['--version'], { env: withPath(dirname(node22())) });
      expect(version.stdout.trim()).toBe('0.1.0');
      // The installed bridge serves the web UI it was packed with, not the "UI not built" page.
      const page = await (await fetch(`${on22.apiUrl}/`)).text();
      expect(page).toMatch(/<script[^>]+src="\/assets\//);
      expect(page).not.toMatch(/not built/i);

      const a20 = await runApp(node20(), app2x, on22.otlpUrl, 'CASE-NODE20');
      expect(a20.result.node).toMatch(/^v20\./);
      expect(a20.result.tracing).toEqual({ usable: true });
      expect(a20.result.approval).toEqual({ linked: true });
      expect(a20.result.ref).toMatch(/^otel-audit-ref:v1:[0-9a-f]{32}:[0-9a-f]{16}:CASE-NODE20$/);
      expect(await timelineTypes(node22(), on22, 'CASE-NODE20')).toEqual(SEVEN);

      const a22 = await runApp(node22(), app3x, on22.otlpUrl, 'CASE-NODE22');
      expect(a22.result.node).toMatch(/^v22\./);
      expect(a22.result.approval).toEqual({ linked: true });
      expect(await timelineTypes(node22(), on22, 'CASE-NODE22')).toEqual(SEVEN);
    } finally {
      expect(await on22.stop()).toBe(0);
    }

    const on24 = await startBridge({ command: [join(prefix, 'bin/otel-audit')], env: { PATH: withPath(dirname(node24)).PATH! } });
    try {
      expect(readlinkSync(`/proc/${on24.child.pid}/exe`)).toBe(realpathSync(node24));
      const a24 = await runApp(node24, app3x, on24.otlpUrl, 'CASE-NODE24');
      expect(a24.result.node).toMatch(/^v24\./);
      expect(a24.result.approval).toEqual({ linked: true });
      expect(await timelineTypes(node24, on24, 'CASE-NODE24')).toEqual(SEVEN);
    } finally {
      expect(await on24.stop()).toBe(0);
    }
  }, 300_000);

  it('warns, instead of doing nothing, when the helpers load a newer @opentelemetry/api than the SDK registered through', async () => {
    // What installing the package from the repository's folder did: the helpers resolved the
    // repository's API 1.10 while the app's 2.x SDK registered through its API 1.9.
    const nested = join(app2x, 'node_modules/@otel-audit/instrumentation/node_modules/@opentelemetry/api');
    cpSync(join(REPO_ROOT, 'node_modules/@opentelemetry/api'), nested, { recursive: true });
    try {
      const bridge = await startBridge();
      try {
        const { result, stderr } = await runApp(node20(), app2x, bridge.otlpUrl, 'CASE-SKEW');
        expect(result.tracing.usable).toBe(false);
        expect(result.tracing.problem).toBe('incompatible_api');
        expect(result.tracing.message).toContain('@opentelemetry/api 1.9.0');
        // What the issue saw: no span ids, and not even the case (the audit context lives in the
        // same unusable copy). The difference now: it is said, not silent.
        expect(result.ref).toBe('otel-audit-ref:v1:::');
        // Said once, on stderr (no diag logger in this app: a process warning).
        expect(stderr.match(/cannot use an older API's globals/g)).toHaveLength(1);
        expect(stderr).toContain('OTEL_AUDIT_INCOMPATIBLE_API');
      } finally {
        await bridge.stop();
      }
    } finally {
      rmSync(dirname(nested), { recursive: true, force: true });
    }
  }, 120_000);
});
