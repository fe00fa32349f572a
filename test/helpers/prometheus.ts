// Shared by test/prometheus.test.ts and test/grafana.test.ts: the metric names a real bridge
// serves, and the metric names a PromQL expression reads.
import { spawnSync } from 'node:child_process';
import { startBridge } from './bridge-process.ts';

/** True when Debian's `prometheus` package (prometheus and promtool) is installed. */
export function havePrometheus(): boolean {
  return ['prometheus', 'promtool'].every((bin) => spawnSync(bin, ['--version'], { stdio: 'ignore' }).status === 0);
}

/** Metric names from a text exposition's `# TYPE` lines. */
export function exposedNames(exposition: string): Set<string> {
  return new Set([...exposition.matchAll(/^# TYPE (\S+) \S+$/gm)].map((m) => m[1]));
}

/**
 * Every metric name a bridge serves at GET /metrics: a real bridge, started with `--forward`
 * (to a port nothing listens on) so that the forwarding metrics are there too.
 */
export async function bridgeMetricNames(): Promise<Set<string>> {
  const bridge = await startBridge({ args: ['--forward', 'http://127.0.0.1:9/'] });
  try {
    return exposedNames(await (await fetch(`${bridge.apiUrl}/metrics`)).text());
  } finally {
    await bridge.stop();
  }
}

const KEYWORDS = new Set(['and', 'or', 'unless', 'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'offset', 'inf', 'nan']);

/**
 * The metric names a PromQL expression reads: identifiers outside label matchers, ranges and
 * strings that are not functions (followed by `(`), keywords, or labels of by/without/on/ignoring
 * lists. Grafana's `$__rate_interval`-style variables are left out with the ranges.
 */
export function promqlMetricNames(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  const names: string[] = [];
  for (const m of bare.matchAll(/(?<![A-Za-z0-9_:.])[A-Za-z_:][A-Za-z0-9_:]*/g)) {
    const after = bare.slice(m.index! + m[0].length).trimStart();
    if (after.startsWith('(') || KEYWORDS.has(m[0].toLowerCase())) continue;
    names.push(m[0]);
  }
  return names;
}
