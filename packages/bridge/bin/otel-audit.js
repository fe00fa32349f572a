#!/usr/bin/env node
// The otel-audit CLI. Installed from npm it runs the JavaScript build (dist/); in a checkout of
// the repository, where src/ is beside it, Node 24 runs the TypeScript sources directly.
const [major] = process.versions.node.split('.').map(Number);
if (major < 22) {
  process.stderr.write(`otel-audit needs Node 22 or newer (this is ${process.version}).\n`);
  process.exit(2);
}
// Cache compiled code between runs: a CLI call starts in about a third of the time.
(await import('node:module')).enableCompileCache?.();
const { existsSync } = await import('node:fs');
const fromSource = major >= 24 && existsSync(new URL('../src/cli/main.ts', import.meta.url));
const { main } = await import(fromSource ? '../src/cli/main.ts' : '../dist/cli/main.js');
process.exitCode = await main(process.argv.slice(2));
