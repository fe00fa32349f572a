/**
 * Map columns read back through a real chDB store come back with the names they were stored
 * with, even where V8's JSON.parse gets an object key wrong (see json-rows.ts): two events whose
 * attribute names differ only in a last character written as an escape.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chainRows, eventHash } from '../chain/index.ts';
import { mapFromPairs, parseJsonSafeKeys, parseRow } from './json-rows.ts';
import { Store } from './store.ts';

const FAMILY = '\u{1F469}\u200d\u{1F469}\u200d\u{1F467}';
/** Parsed first, then SECOND, whose last character JSON writes as an escape. */
const FIRST = `k.${FAMILY}\\`;
const SECOND = `k.${FAMILY}\u0006`;

let store: Store;
let dataDir: string;

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'json-rows-test-'));
  store = await Store.open({ dataDir, database: 'otel_audit' });
  await store.migrate();
});
afterAll(async () => {
  await store?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('map columns read as pairs', () => {
  it('the engine trap is real on this Node: JSON.parse returns the first key for the second (in a fresh process)', () => {
    const script = `JSON.parse(${JSON.stringify(JSON.stringify({ [FIRST]: 1 }))});
      const k = Object.keys(JSON.parse(${JSON.stringify(JSON.stringify({ [SECOND]: 1 }))}))[0];
      process.stdout.write(String(k.charCodeAt(k.length - 1)));`;
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' });
    // 92 ('\\') where V8 has the bug, 6 once it is fixed; either way the reads below must be right.
    expect(['92', '6']).toContain(r.stdout);
    if (r.stdout === '6') console.warn(`JSON.parse key bug not present on ${process.version}: json-rows.ts may be simplified`);
  });

  it('every event of a chain hashes to its stored hash, and keeps its attribute names', async () => {
    // The events are built and sealed in another process: here, the second name must not be
    // made an object key (V8 would then keep the right string) before the rows are read back.
    const script = `
      import { ChainWriter } from ${JSON.stringify(new URL('../chain/chain-writer.ts', import.meta.url).href)};
      import { syntheticEvent } from ${JSON.stringify(new URL('../chain/testdata/synthetic.ts', import.meta.url).href)};
      const FAMILY = '\u{1F469}\u200d\u{1F469}\u200d\u{1F467}';
      const names = [['k.' + FAMILY + '\\\\'], ['k.' + FAMILY + '\\u0006'], ['k.' + FAMILY + '\\u0006', 'k.' + FAMILY + '\\\\']];
      const events = names.map((ks, i) => { const e = syntheticEvent(i, 'keys'); e.attributes = {}; for (const k of ks) e.attributes[k] = 'v' + i; return e; });
      new ChainWriter('keys', null).append(events);
      process.stdout.write(events.map((e) => JSON.stringify(e)).join('\\n') + '\\n');`;
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    expect(child.stderr).toBe('');
    await store.insertJsonEachRow('events', child.stdout, 'keys');
    // Read back in a fresh process too, where V8's string table holds only what the read puts there.
    await store.close();
    const reader = `
      import { Store } from ${JSON.stringify(new URL('./store.ts', import.meta.url).href)};
      import { chainRows } from ${JSON.stringify(new URL('../chain/source.ts', import.meta.url).href)};
      import { eventHash } from ${JSON.stringify(new URL('../chain/canonical.ts', import.meta.url).href)};
      const store = await Store.open({ dataDir: ${JSON.stringify(dataDir)}, database: 'otel_audit' });
      const out = [];
      for await (const r of chainRows(store, { chainId: 'keys' })) {
        out.push({ last: Object.keys(r.attributes).map((k) => k.charCodeAt(k.length - 1)).sort(), hashes: eventHash(r) === r.hash });
      }
      await store.close();
      process.stdout.write(JSON.stringify(out));`;
    const read = spawnSync(process.execPath, ['--input-type=module', '-e', reader], { encoding: 'utf8' });
    expect(read.stderr).toBe('');
    expect(JSON.parse(read.stdout)).toEqual([
      { last: [92], hashes: true },
      { last: [6], hashes: true },
      { last: [6, 92], hashes: true },
    ]);
    store = await Store.open({ dataDir, database: 'otel_audit' });
  });

  it('a __proto__ attribute stays data', () => {
    const m = mapFromPairs([{ keys: '__proto__', values: 'x' }, { keys: 'a', values: 'b' }]);
    expect(Object.getPrototypeOf(m)).toBe(Object.prototype);
    expect(Object.keys(m)).toEqual(['__proto__', 'a']);
    expect(parseRow('{"attributes":[{"keys":"a","values":"1"}],"links":[]}')).toEqual({ attributes: { a: '1' }, links: [] });
  });

  it('parseJsonSafeKeys: the same value as JSON.parse, keys made from string values', () => {
    const docs = [
      '{}', '[]', '0', '-1.5e-3', 'true', 'null', '"x"', ' { "a" : [ 1 , 2 , { } ] , "b" : null } ',
      JSON.stringify({ [FIRST]: 1, [SECOND]: { [SECOND]: [FIRST, SECOND] }, __proto__x: 'y', '\u2028': '\ud83d\ude00', esc: '\\"/\b\f\n\r\t\u0000' }),
      JSON.stringify({ seq: '34', attributes: { 'k.\u{1F469}\u200d\u{1F467}\\': 'a', 'k.\u{1F469}\u200d\u{1F467}\u0006': 'b' }, score: 0.1 + 0.2, n: 1e21 }),
      '{"__proto__":{"polluted":1},"a":1}',
    ];
    for (const d of docs) expect(parseJsonSafeKeys(d)).toEqual(JSON.parse(d));
    const proto = parseJsonSafeKeys('{"__proto__":{"polluted":1}}') as Record<string, unknown>;
    expect(Object.getPrototypeOf(proto)).toBe(Object.prototype);
    expect(Object.keys(proto)).toEqual(['__proto__']);
    const keys = Object.keys((parseJsonSafeKeys(JSON.stringify({ a: { [FIRST]: 1, [SECOND]: 2 } })) as { a: object }).a);
    expect(keys.map((k) => k.charCodeAt(k.length - 1))).toEqual([92, 6]);
    const BS = '\\';
    const bads = ['', '{', '{"a"}', '{"a":1,}', '[1,]', `"${BS}u12"`, '01', '{"a":1} x', "{'a':1}", `"a${String.fromCharCode(1)}b"`, `"${BS}x"`];
    for (const bad of bads) {
      expect(() => parseJsonSafeKeys(bad), bad).toThrow(SyntaxError);
      expect(() => JSON.parse(bad), bad).toThrow(SyntaxError);
    }
  });
});
