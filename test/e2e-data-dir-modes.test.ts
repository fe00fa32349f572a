/**
 * The data directory is owner only (internal/data-dir.ts): a real bridge started from a shell
 * with the usual umask 022 creates its keys, write-ahead log, local anchor and embedded store
 * 0700 / 0600, and narrows what an older version left 0755 / 0644.
 */
import { chmodSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { flush, startBridge, tempDir } from './helpers/bridge-process.ts';

const mode = (p: string) => statSync(p).mode & 0o777;

/** Every path under dir (files and directories), at most `limit`. */
function walk(dir: string, limit = 5000): string[] {
  const out: string[] = [];
  const stack = [dir];
  while (stack.length && out.length < limit) {
    const d = stack.pop()!;
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      out.push(p);
      if (e.isDirectory()) stack.push(p);
    }
  }
  return out;
}

describe('data directory modes', () => {
  it('a fresh bridge creates everything owner only, and narrows what an older version left open', async () => {
    const previous = process.umask(0o022);
    try {
      const dataDir = join(tempDir('modes-'), 'data');
      // As an older version left it: 0755 directories, 0644 files.
      mkdirSync(join(dataDir, 'wal'), { recursive: true, mode: 0o755 });
      chmodSync(dataDir, 0o755);
      writeFileSync(join(dataDir, 'clickhouse.xml'), '<clickhouse/>', { mode: 0o644 });
      const bridge = await startBridge({ dataDir, args: ['--checkpoint-every-events', '1'] });
      const res = await fetch(`${bridge.otlpUrl}/v1/traces`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          resourceSpans: [{ scopeSpans: [{ spans: [{ traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', name: 'tool', startTimeUnixNano: String(Date.now() * 1e6), endTimeUnixNano: String(Date.now() * 1e6 + 1e6), attributes: [{ key: 'audit.tool.action', value: { stringValue: 'read' } }] }] }] }],
        }),
      });
      expect(res.status).toBe(200);
      await flush(bridge.apiUrl);
      await fetch(`${bridge.apiUrl}/api/v1/checkpoints/latest`);
      expect(await bridge.stop()).toBe(0);
      expect(bridge.log()).toMatch(/data directory entries were readable by others; now owner only/);

      expect(mode(dataDir)).toBe(0o700);
      for (const d of ['clickhouse', 'wal', 'anchors', 'keys']) expect([d, mode(join(dataDir, d))]).toEqual([d, 0o700]);
      const files = (d: string) => walk(join(dataDir, d)).filter((p) => statSync(p).isFile());
      expect(files('wal').length).toBeGreaterThan(0);
      expect(files('anchors').length).toBeGreaterThan(0);
      for (const f of [...files('wal'), ...files('anchors'), join(dataDir, 'keys', 'signing-key.pem'), join(dataDir, 'keys', 'wal.key'), join(dataDir, 'clickhouse.xml')]) {
        expect([f, mode(f)]).toEqual([f, 0o600]);
      }
      // The embedded engine's own files (created under the process umask 077 that serve sets).
      const engine = walk(join(dataDir, 'clickhouse'));
      expect(engine.length).toBeGreaterThan(20);
      const open = engine.filter((p) => (mode(p) & 0o077) !== 0);
      expect(open).toEqual([]);
    } finally {
      process.umask(previous);
    }
  });
});
