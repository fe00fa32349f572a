// @ts-check
/**
 * Builds the web UI into the folder the bridge serves (packages/bridge/src/ui/dist/, the API's
 * default `uiDir`):
 *
 *   dist/index.html                 the shell, naming the current assets
 *   dist/assets/app-<hash>.js       the app (Preact, bundled and minified by esbuild)
 *   dist/assets/app-<hash>.css      its styles
 *
 * It runs as this workspace's `prepare` script, so `npm ci` (and `npm install`) build it: `npm ci
 * && npm start` serves the UI with no extra step. It takes well under a second.
 *
 *   node packages/ui/build.mjs [--out DIR] [--watch] [--no-minify]
 *
 * Plain JavaScript, not TypeScript like the rest of the repository: it runs inside `npm ci`,
 * possibly under the system's Node (before the project's Node 24 is in place), which may not strip
 * types.
 *
 * Assets carry a content hash in their names (the bridge caches them for good); index.html is
 * replaced atomically, and assets of earlier builds are removed after it.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const HERE = fileURLToPath(new URL('.', import.meta.url));
const DEFAULT_OUT = resolve(HERE, '../bridge/src/ui/dist');

const { values: flags } = parseArgs({
  options: { out: { type: 'string' }, watch: { type: 'boolean' }, 'no-minify': { type: 'boolean' } },
});
const outDir = resolve(flags.out ?? DEFAULT_OUT);
const assetsDir = join(outDir, 'assets');

/** @type {typeof import('esbuild')} */
let esbuild;
try {
  esbuild = await import('esbuild');
} catch {
  // An install without this workspace's dependencies (never the case with `npm ci`): the bridge
  // then serves a page saying the UI is not built, and everything else works.
  process.stderr.write('@otel-audit/ui: esbuild is not installed, the web UI is not built (run `npm ci`)\n');
  process.exit(0);
}

/** @type {import('esbuild').BuildOptions} */
const options = {
  entryPoints: { app: join(HERE, 'src/main.tsx') },
  bundle: true,
  format: 'esm',
  target: ['es2022', 'chrome110', 'firefox115', 'safari16'],
  jsx: 'automatic',
  jsxImportSource: 'preact',
  minify: !flags['no-minify'],
  sourcemap: 'linked',
  outdir: assetsDir,
  entryNames: '[name]-[hash]',
  assetNames: '[name]-[hash]',
  metafile: true,
  legalComments: 'linked',
  logLevel: 'warning',
  define: { 'process.env.NODE_ENV': '"production"' },
};

/** Writes index.html for a build's outputs and removes the assets of earlier builds. */
/** @param {import('esbuild').BuildResult} result */
function finish(result) {
  const outputs = Object.keys(/** @type {import('esbuild').Metafile} */ (result.metafile).outputs).map((f) => resolve(f));
  const js = outputs.find((f) => f.endsWith('.js'));
  const css = outputs.find((f) => f.endsWith('.css'));
  if (!js || !css) throw new Error('build: esbuild produced no app script or stylesheet');
  const url = (/** @type {string} */ f) => `/assets/${relative(assetsDir, f).split('\\').join('/')}`;
  const html = readFileSync(join(HERE, 'src/index.html'), 'utf8').replace(
    '<!-- assets -->',
    `<link rel="stylesheet" href="${url(css)}">\n    <script type="module" src="${url(js)}"></script>`,
  );
  const tmp = join(outDir, `.index.html.${process.pid}`);
  writeFileSync(tmp, html);
  renameSync(tmp, join(outDir, 'index.html'));
  const keep = new Set(outputs.map((f) => basename(f)));
  for (const f of readdirSync(assetsDir)) if (!keep.has(f)) rmSync(join(assetsDir, f), { force: true });
  const size = (/** @type {string} */ f) => `${(readFileSync(f).length / 1024).toFixed(1)} KiB`;
  process.stderr.write(`@otel-audit/ui: built ${relative(process.cwd(), outDir) || '.'} (${basename(js)} ${size(js)}, ${basename(css)} ${size(css)})\n`);
}

mkdirSync(assetsDir, { recursive: true });
if (!existsSync(join(HERE, 'src/main.tsx'))) throw new Error(`build: no ${join(HERE, 'src/main.tsx')}`);

if (flags.watch) {
  const ctx = await esbuild.context({
    ...options,
    plugins: [{ name: 'index-html', setup: (b) => b.onEnd((r) => (r.errors.length ? undefined : finish(r))) }],
  });
  await ctx.watch();
  process.stderr.write('@otel-audit/ui: watching src/ (Ctrl-C to stop)\n');
} else {
  finish(await esbuild.build(options));
}
