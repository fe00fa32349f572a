/**
 * `prepack` of the published packages (semconv, instrumentation, bridge): builds the package
 * in the working directory with `tsc -b` (JavaScript, declarations and source maps in dist/)
 * and removes from dist/ what no source produces any more (files left by a deleted or renamed
 * module), so that the tarball holds exactly the current build.
 *
 *   node ../../scripts/build-package.ts      (from a package directory; npm pack runs it)
 *
 * Outputs are never deleted and rebuilt wholesale: other processes (tests, a running bridge)
 * may be loading them while a pack runs.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, readdirSync, rmSync } from 'node:fs';
import { join, relative } from 'node:path';

const pkgDir = process.cwd();
const srcDir = join(pkgDir, 'src');
const distDir = join(pkgDir, 'dist');
if (!existsSync(join(pkgDir, 'tsconfig.json')) || !existsSync(srcDir)) {
  process.stderr.write(`build-package: ${pkgDir} is not a package of this repository (no tsconfig.json and src/)\n`);
  process.exit(2);
}

execFileSync('tsc', ['-b', pkgDir], { stdio: 'inherit' });

/**
 * Built assets that live in src/ and ship as they are, at the same place under dist/: the web
 * UI (packages/ui builds into the bridge's src/ui/dist, which the API serves from `ui/dist`
 * beside its own folder, in a checkout and in a build alike).
 */
const ASSET_DIRS = ['ui/dist'];
for (const dir of ASSET_DIRS) {
  if (!existsSync(join(srcDir, dir))) continue;
  rmSync(join(distDir, dir), { recursive: true, force: true });
  cpSync(join(srcDir, dir), join(distDir, dir), { recursive: true });
}
const isAsset = (rel: string) => ASSET_DIRS.some((d) => rel === d || rel.startsWith(`${d}/`));

/** The source a dist file was built from: dist/a/b.js, .d.ts, .js.map → src/a/b.ts. */
function sourceOf(distFile: string): string | undefined {
  const m = /^(.*?)(\.d\.ts|\.js\.map|\.js|\.d\.ts\.map)$/.exec(distFile);
  return m === null ? undefined : join(srcDir, `${m[1]}.ts`);
}

let pruned = 0;
for (const entry of readdirSync(distDir, { recursive: true, withFileTypes: true })) {
  if (!entry.isFile()) continue;
  const rel = relative(distDir, join(entry.parentPath, entry.name));
  if (isAsset(rel)) continue;
  const source = sourceOf(rel);
  if (source !== undefined && !existsSync(source)) {
    rmSync(join(distDir, rel));
    pruned++;
  }
}
if (pruned > 0) process.stderr.write(`build-package: removed ${pruned} file(s) from dist/ whose source is gone\n`);
