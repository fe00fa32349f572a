/**
 * Self time per function (and per file) from a V8 .cpuprofile, as written by
 * `node --cpu-prof`. Usable on its own:
 *
 *   node bench/profile.ts /tmp/prof/CPU.*.cpuprofile [--top 25]
 */
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

interface CpuProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  hitCount?: number;
  children?: number[];
}
interface CpuProfile {
  nodes: CpuProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface HotSpot {
  fn: string;
  where: string;
  selfMs: number;
  /** Share of the busy (non-idle) time. */
  pct: number;
}

export interface ProfileSummary {
  totalMs: number;
  idleMs: number;
  busyMs: number;
  gcMs: number;
  functions: HotSpot[];
  files: Array<{ file: string; selfMs: number; pct: number }>;
}

const REPO = fileURLToPath(new URL('..', import.meta.url));

function shortUrl(url: string): string {
  if (!url) return '';
  let p = url.startsWith('file://') ? fileURLToPath(url) : url;
  if (p.startsWith(REPO)) p = relative(REPO, p);
  return p.replace(/^packages\/bridge\/src\//, 'bridge/').replace(/^node_modules\//, '');
}

export function summarizeProfile(file: string, top = 10): ProfileSummary {
  const prof = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map<number, CpuProfileNode>();
  for (const n of prof.nodes) byId.set(n.id, n);
  const selfUs = new Map<number, number>();
  // timeDeltas[i] is the time before sample i; attribute it to sample i (as DevTools does).
  for (let i = 0; i < prof.samples.length; i++) {
    const d = prof.timeDeltas[i] ?? 0;
    selfUs.set(prof.samples[i], (selfUs.get(prof.samples[i]) ?? 0) + Math.max(0, d));
  }
  const fns = new Map<string, { fn: string; where: string; us: number }>();
  const files = new Map<string, number>();
  let total = 0;
  let idle = 0;
  let gc = 0;
  for (const [id, us] of selfUs) {
    const n = byId.get(id)!;
    const cf = n.callFrame;
    total += us;
    if (cf.functionName === '(idle)') {
      idle += us;
      continue;
    }
    if (cf.functionName === '(garbage collector)') gc += us;
    const fn = cf.functionName || '(anonymous)';
    const url = shortUrl(cf.url);
    const where = url ? `${url}:${cf.lineNumber + 1}` : '';
    const key = `${fn}@${where}`;
    const e = fns.get(key) ?? { fn, where, us: 0 };
    e.us += us;
    fns.set(key, e);
    const fileKey = url || fn;
    files.set(fileKey, (files.get(fileKey) ?? 0) + us);
  }
  const busy = total - idle;
  const pct = (us: number) => (busy > 0 ? (100 * us) / busy : 0);
  return {
    totalMs: total / 1000,
    idleMs: idle / 1000,
    busyMs: busy / 1000,
    gcMs: gc / 1000,
    functions: [...fns.values()]
      .sort((a, b) => b.us - a.us)
      .slice(0, top)
      .map((e) => ({ fn: e.fn, where: e.where, selfMs: e.us / 1000, pct: pct(e.us) })),
    files: [...files.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([file, us]) => ({ file, selfMs: us / 1000, pct: pct(us) })),
  };
}

export function formatProfile(s: ProfileSummary): string {
  const lines: string[] = [];
  lines.push(
    `CPU profile of the bridge main thread: ${(s.totalMs / 1000).toFixed(1)} s sampled, ` +
      `busy ${(s.busyMs / 1000).toFixed(1)} s (${((100 * s.busyMs) / s.totalMs).toFixed(0)} %), GC ${((100 * s.gcMs) / s.busyMs).toFixed(1)} % of busy`,
  );
  lines.push('', 'top self time (share of busy time):');
  for (const h of s.functions) lines.push(`  ${h.pct.toFixed(1).padStart(5)} %  ${h.fn.padEnd(36)} ${h.where}`);
  lines.push('', 'self time by file:');
  for (const f of s.files) lines.push(`  ${f.pct.toFixed(1).padStart(5)} %  ${f.file}`);
  return lines.join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { top: { type: 'string', default: '25' } } });
  if (positionals.length === 0) {
    console.error('usage: node bench/profile.ts FILE.cpuprofile [--top N]');
    process.exit(2);
  }
  for (const f of positionals) console.log(formatProfile(summarizeProfile(f, Number(values.top))) + '\n');
}
