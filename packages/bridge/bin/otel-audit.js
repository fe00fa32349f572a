#!/usr/bin/env node
// The CLI is TypeScript run by Node's type stripping (Node 24); see README, "Node 24".
const [major] = process.versions.node.split('.').map(Number);
if (major < 24) {
  process.stderr.write(
    `otel-audit needs Node 24 or newer (this is ${process.version}). ` +
      `Run it through npm (npm start, npx otel-audit), which uses the node@24 devDependency.\n`,
  );
  process.exit(2);
}
// Cache compiled code between runs: a CLI call starts in about a third of the time.
(await import('node:module')).enableCompileCache?.();
const { main } = await import('../src/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
