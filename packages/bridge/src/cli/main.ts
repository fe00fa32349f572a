import { parseArgs } from 'node:util';
import { ConfigError } from '../internal/config-error.ts';
import { completionCommand } from './commands/completion.ts';
import { packageVersion } from '../internal/version.ts';
import { EXIT, InputError, UsageError, type Command } from './shared.ts';

export { EXIT } from './shared.ts';

/**
 * One entry per command, each in its own module under commands/, loaded when it runs: a query
 * command then starts without loading the bridge (serve's modules took most of a second).
 */
const COMMANDS: Record<string, () => Promise<Command>> = {
  serve: async () => (await import('./commands/serve.ts')).serve,
  timeline: async () => (await import('./commands/query.ts')).timeline,
  trace: async () => (await import('./commands/query.ts')).trace,
  event: async () => (await import('./commands/event.ts')).event,
  search: async () => (await import('./commands/query.ts')).search,
  export: async () => (await import('./commands/query.ts')).exportEvents,
  sql: async () => (await import('./commands/query.ts')).sql,
  migrate: async () => (await import('./commands/migrate.ts')).migrate,
  verify: async () => (await import('./commands/verify.ts')).verify,
  prove: async () => (await import('./commands/prove.ts')).prove,
  'verify-proof': async () => (await import('./commands/verify-proof.ts')).verifyProof,
  'public-key': async () => (await import('./commands/public-key.ts')).publicKey,
  evidence: async () => (await import('./commands/evidence.ts')).evidence,
  'verify-evidence': async () => (await import('./commands/evidence.ts')).verifyEvidence,
  erase: async () => (await import('./commands/erase.ts')).erase,
  alerts: async () => (await import('./commands/alerts.ts')).alerts,
  detect: async () => (await import('./commands/detect.ts')).detect,
  report: async () => (await import('./commands/report.ts')).report,
  ready: async () => (await import('./commands/service.ts')).ready,
  version: async () => (await import('./commands/service.ts')).version,
  completion: async () => completionCommand(allCommands),
};

/** Every command, loaded (the overall help and the completion scripts list them all). */
async function allCommands(): Promise<Record<string, Command>> {
  const entries = await Promise.all(Object.entries(COMMANDS).map(async ([name, load]) => [name, await load()] as const));
  return Object.fromEntries(entries);
}

async function mainHelp(): Promise<string> {
  const commands = await allCommands();
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length));
  return `otel-audit: an audit trail from the OpenTelemetry traces of AI applications

Usage: otel-audit <command> [options]

Commands:
${Object.entries(commands)
  .map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`)
  .join('\n')}

Run "otel-audit <command> --help" for a command's options. Commands other than serve and
migrate talk to a running bridge at --api-url / OTEL_AUDIT_API_URL (default http://127.0.0.1:4319),
with the bearer token of --token / OTEL_AUDIT_TOKEN when the bridge has an auth file.
`;
}

function commandHelp(name: string, c: Command): string {
  return `otel-audit ${name}: ${c.summary}\n\nUsage: ${c.usage}\n${c.details ? `\n${c.details}\n` : ''}`;
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name) {
    // No command is a usage error: the help goes where errors go.
    process.stderr.write(await mainHelp());
    return EXIT.USAGE;
  }
  if (name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(await mainHelp());
    return EXIT.OK;
  }
  if (name === '--version' || name === '-V') {
    process.stdout.write(`${packageVersion()}\n`);
    return EXIT.OK;
  }
  const load = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (!load) {
    process.stderr.write(`otel-audit: unknown command "${name}"\n\n${await mainHelp()}`);
    return EXIT.USAGE;
  }
  const command = await load();
  try {
    const { values, positionals } = parseArgs({
      args: rest,
      options: { ...command.options, help: { type: 'boolean', short: 'h' } },
      allowPositionals: true,
      strict: true,
    });
    if (values.help) {
      process.stdout.write(commandHelp(name, command));
      return EXIT.OK;
    }
    return await command.run(values as Record<string, unknown>, positionals);
  } catch (err) {
    const e = err as Error & { code?: string };
    if (err instanceof UsageError || err instanceof ConfigError || e.code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`otel-audit ${name}: ${e.message}\nUsage: ${command.usage}\n`);
      return EXIT.USAGE;
    }
    if (err instanceof InputError) {
      process.stderr.write(`otel-audit ${name}: ${e.message}\n`);
      return EXIT.USAGE;
    }
    process.stderr.write(`otel-audit ${name}: ${e.message}\n`);
    return EXIT.FAILED;
  }
}
