// The docs against the code: every command and flag in the README's tables, every metric the
// bridge exports in docs/operations.md (with its type), and links only to files users have.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { API_URL_OPTION, serve } from '../packages/bridge/src/cli/index.ts';
import { flush, REPO_ROOT, runCli, startBridge } from './helpers/bridge-process.ts';

const read = (path: string) => readFileSync(join(REPO_ROOT, path), 'utf8');
const README = read('README.md');

/** The rows of the markdown table under a heading (up to the next heading). */
function tableRows(markdown: string, heading: string): string[][] {
  const at = markdown.indexOf(`\n${heading}\n`);
  if (at < 0) throw new Error(`no heading "${heading}"`);
  const section = markdown.slice(at + heading.length + 2).split(/\n#{1,6} /)[0];
  return section
    .split('\n')
    .filter((l) => l.startsWith('|') && !/^\|[-| ]+\|$/.test(l))
    .slice(1)
    .map((l) => l.split(/(?<!\\)\|/).slice(1, -1).map((c) => c.trim()));
}

describe('README', () => {
  it('the Commands table lists exactly the commands of `otel-audit --help`', async () => {
    const help = await runCli(['--help']);
    const commands = [...help.stdout.matchAll(/^ {2}(\S+)\s{2,}\S/gm)].map((m) => m[1]).sort();
    const documented = tableRows(README, '## Commands').map((r) => /^`otel-audit ([a-z-]+)/.exec(r[0])?.[1]);
    expect(documented.every(Boolean)).toBe(true);
    expect([...new Set(documented)].sort()).toEqual(commands);
  });

  it('the Configuration table lists every flag of `otel-audit serve`, and the CLI flags', () => {
    const rows = tableRows(README, '## Configuration');
    const flags = rows.map((r) => /^`(--[a-z-]+)/.exec(r[0])?.[1]).filter(Boolean).sort();
    const expected = [...Object.keys(serve.options), ...Object.keys(API_URL_OPTION)].map((o) => `--${o}`).sort();
    expect(flags).toEqual(expected);
    // And every flag `serve --help` explains is in the table.
    for (const flag of serve.details!.matchAll(/^(--[a-z-]+)/gm)) expect(flags).toContain(flag[1]);
  });
});

/** Markdown files a user reads: the README, docs/, the packages' READMEs. */
function userDocs(): string[] {
  const docs = readdirSync(join(REPO_ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`);
  const packages = readdirSync(join(REPO_ROOT, 'packages')).map((p) => `packages/${p}/README.md`).filter((p) => existsSync(join(REPO_ROOT, p)));
  // docs/security.md still names "DESIGN 3.4" (its owner's to change): checked for links only.
  return ['README.md', 'DEVELOPERS.md', ...docs, ...packages];
}

describe('links', () => {
  it('point only at files of the repository; the published packages\' READMEs at none outside the package', () => {
    const published = new Set(['packages/bridge/README.md', 'packages/semconv/README.md', 'packages/instrumentation/README.md']);
    for (const doc of userDocs()) {
      for (const [, target] of read(doc).matchAll(/\]\(([^)\s]+)\)/g)) {
        if (/^(https?:|mailto:|#)/.test(target)) continue;
        const path = target.split('#')[0];
        const abs = resolve(dirname(join(REPO_ROOT, doc)), path);
        expect(abs.startsWith(REPO_ROOT), `${doc} links outside the repository: ${target}`).toBe(true);
        expect(existsSync(abs), `${doc} links to a missing file: ${target}`).toBe(true);
        if (published.has(doc)) expect(abs.startsWith(dirname(join(REPO_ROOT, doc))), `${doc} (shipped alone on npm) links to ${target}`).toBe(true);
      }
      if (doc !== 'docs/security.md') expect(read(doc), doc).not.toMatch(/shared\/DESIGN|DESIGN\.md|DESIGN \d/);
    }
  });
});

describe('docs/operations.md, Metrics', () => {
  it('names every metric /metrics exports, with its type, and no other; the chain head is per chain', async () => {
    const bridge = await startBridge();
    try {
      // One event, so that a chain has a head (README's curl example).
      const res = await fetch(`${bridge.otlpUrl}/v1/traces`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          resourceSpans: [
            {
              resource: { attributes: [{ key: 'service.name', value: { stringValue: 'docs-test' } }] },
              scopeSpans: [
                {
                  spans: [
                    {
                      traceId: '5b8efff798038103d269b633813fc60c',
                      spanId: 'eee19b7ec3c1b174',
                      name: 'execute_tool refund',
                      startTimeUnixNano: '1763800000000000000',
                      endTimeUnixNano: '1763800000500000000',
                      attributes: [
                        { key: 'gen_ai.operation.name', value: { stringValue: 'execute_tool' } },
                        { key: 'gen_ai.tool.name', value: { stringValue: 'refund' } },
                        { key: 'audit.correlation_id', value: { stringValue: 'CASE-DOCS' } },
                      ],
                    },
                  ],
                },
              ],
            },
          ],
        }),
      });
      expect(res.status).toBe(200);
      await flush(bridge.apiUrl);
      const text = await (await fetch(`${bridge.apiUrl}/metrics`)).text();
      const exported = new Map([...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => [m[1], m[2]]));
      expect(text).toMatch(/^otel_audit_chain_head_seq\{chain="main-medium"\} 1$/m);

      const rows = tableRows(read('docs/operations.md'), '## Metrics');
      const documented = new Map<string, string>();
      for (const [names, type] of rows) {
        for (const [, name] of names.matchAll(/`([a-z_]+)(?:\{[^}]*\})?`/g)) documented.set(name, type);
      }
      expect([...documented.keys()].sort()).toEqual([...exported.keys()].sort());
      for (const [name, type] of exported) expect(documented.get(name), name).toBe(type);
    } finally {
      await bridge.stop();
    }
  });
});
