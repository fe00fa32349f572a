import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { REPO_ROOT } from './bridge-process.ts';

export interface CrashLoad {
  child: ChildProcess;
  /** Span ids whose export the official exporter reported as successful. */
  acked: Set<string>;
  /** The loader's final summary line (after it was stopped). */
  summary(): Record<string, number>;
  /** Everything the loader wrote to stderr. */
  stderr(): string;
  /** SIGTERM and wait for the loader to exit. */
  stop(): Promise<void>;
}

/**
 * Runs test/fixtures/crash-load.ts (the official OTLP exporter under sustained load) against a
 * bridge, collecting the acknowledged span ids it reports, one JSON line at a time.
 */
export function startCrashLoad(otlpUrl: string, concurrency: string, batch: string): CrashLoad {
  const child = spawn(process.execPath, [join(REPO_ROOT, 'test/fixtures/crash-load.ts'), otlpUrl, concurrency, batch], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const acked = new Set<string>();
  let summary: Record<string, number> = {};
  let buf = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = JSON.parse(buf.slice(0, nl)) as { acked?: string[]; done?: boolean };
      buf = buf.slice(nl + 1);
      if (line.acked) for (const id of line.acked) acked.add(id);
      if (line.done) summary = line as unknown as Record<string, number>;
    }
  });
  child.stderr!.on('data', (d) => (err += d));
  const exited = new Promise((r) => child.once('exit', r));
  return {
    child,
    acked,
    summary: () => summary,
    stderr: () => err,
    async stop() {
      child.kill('SIGTERM');
      await exited;
    },
  };
}
