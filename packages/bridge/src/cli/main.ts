import { parseArgs } from 'node:util';
import { ConfigError } from '../config.ts';
import { alerts } from './commands/alerts.ts';
import { detect } from './commands/detect.ts';
import { report } from './commands/report.ts';
import { erase } from './commands/erase.ts';
import { evidence, verifyEvidence } from './commands/evidence.ts';
import { event } from './commands/event.ts';
import { migrate } from './commands/migrate.ts';
import { prove } from './commands/prove.ts';
import { publicKey } from './commands/public-key.ts';
import { verifyProof } from './commands/verify-proof.ts';
import { verify } from './commands/verify.ts';
import { exportEvents, search, sql, timeline, trace } from './commands/query.ts';
import { serve } from './commands/serve.ts';
import { completionCommand } from './commands/completion.ts';
import { ready, version } from './commands/service.ts';
import { packageVersion } from '../internal/version.ts';
import { EXIT, InputError, UsageError, type Command } from './shared.ts';

export { EXIT } from './shared.ts';

/** One entry per command, each in its own module under commands/. */
const COMMANDS: Record<string, Command> = {
  serve,
  timeline,
  trace,
  event,
  search,
  export: exportEvents,
  sql,
  migrate,
  verify,
  prove,
  'verify-proof': verifyProof,
  'public-key': publicKey,
  evidence, 'verify-evidence': verifyEvidence,
  erase,
  alerts,
  detect,
  report,
  ready,
  version,
  completion: completionCommand(() => COMMANDS),
};

function mainHelp(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length));
  return `otel-audit: an audit trail from the OpenTelemetry traces of AI applications

Usage: otel-audit <command> [options]

Commands:
${Object.entries(COMMANDS)
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
    process.stderr.write(mainHelp());
    return EXIT.USAGE;
  }
  if (name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(mainHelp());
    return EXIT.OK;
  }
  if (name === '--version' || name === '-V') {
    process.stdout.write(`${packageVersion()}\n`);
    return EXIT.OK;
  }
  const command = COMMANDS[name];
  if (!command) {
    process.stderr.write(`otel-audit: unknown command "${name}"\n\n${mainHelp()}`);
    return EXIT.USAGE;
  }
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
