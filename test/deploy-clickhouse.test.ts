/**
 * deploy/clickhouse/users.sql and tenant-reader.sql, the users and roles of a ClickHouse server
 * deployment, checked by the real engine's parser (there is no ClickHouse server here to run
 * them on): each statement parses, is the kind of statement it should be, and the writer and
 * readers hold no privilege beyond their part.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { quoteString, Store, type ReaderSession } from '../packages/bridge/src/store/index.ts';
import { REPO_ROOT, tempDir } from './helpers/bridge-process.ts';

let store: Store;
let parser: ReaderSession;

beforeAll(async () => {
  store = await Store.open({ dataDir: tempDir('deploy-sql-test-'), database: 'otel_audit' });
  await store.migrate();
  parser = await store.openReader({});
});
afterAll(async () => {
  parser?.close();
  await store?.close();
});

function statements(file: string): string[] {
  const text = readFileSync(join(REPO_ROOT, 'deploy/clickhouse', file), 'utf8');
  return text
    .split('\n')
    .filter((l) => !l.startsWith('--'))
    .join('\n')
    .split(/;\s*(?:\n|$)/)
    .map((s) => s.trim())
    .filter(Boolean);
}

/** ClickHouse's rendering of one statement and the root of its parse (read-only session: nothing runs). */
async function parse(stmt: string): Promise<{ formatted: string; root: string }> {
  const formatted = (await parser.text(`SELECT formatQuery(${quoteString(stmt)})`)).trimEnd();
  const root = (await parser.text(`EXPLAIN AST ${formatted}`)).split('\n')[0];
  return { formatted, root };
}

const KINDS: Array<[RegExp, RegExp]> = [
  [/^CREATE ROLE /, /^CreateRoleQuery/],
  [/^CREATE USER /, /^CreateUserQuery/],
  [/^CREATE SETTINGS PROFILE /, /^CreateSettingsProfileQuery/],
  [/^CREATE ROW POLICY /, /^CREATE ROW POLICY/],
  [/^GRANT /, /^GrantQuery/],
];

describe.each(['users.sql', 'tenant-reader.sql'])('deploy/clickhouse/%s', (file) => {
  it('every statement parses, as the kind of statement it starts with', async () => {
    const stmts = statements(file);
    expect(stmts.length).toBeGreaterThan(5);
    for (const stmt of stmts) {
      const { formatted, root } = await parse(stmt);
      const kind = KINDS.find(([text]) => text.test(formatted));
      expect(kind, formatted).toBeDefined();
      expect(root, formatted).toMatch(kind![1]);
    }
  });
});

describe('privileges', () => {
  /** The privileges granted to a role, from ClickHouse's rendering of the GRANT statements. */
  async function grantsTo(file: string, role: string): Promise<string[]> {
    const out: string[] = [];
    for (const stmt of statements(file)) {
      const { formatted } = await parse(stmt);
      const m = /^GRANT (.+) ON (\S+) TO (.+)$/.exec(formatted);
      if (m && m[3].split(/,\s*/).includes(role)) out.push(...m[1].split(/,\s*/).map((p) => `${p} ON ${m[2]}`));
    }
    return out.sort();
  }

  it('the writer appends to events and checkpoints and reads; it cannot alter, delete, update, truncate or drop', async () => {
    expect(await grantsTo('users.sql', 'otel_audit_writer_role')).toEqual([
      'CREATE DATABASE ON otel_audit.*',
      'CREATE TABLE ON otel_audit.schema_migrations',
      'INSERT ON otel_audit.alerts',
      'INSERT ON otel_audit.checkpoints',
      'INSERT ON otel_audit.events',
      'SELECT ON otel_audit.*',
    ]);
  });

  it('the readers select, nothing else', async () => {
    const reader = await grantsTo('users.sql', 'otel_audit_reader_role');
    expect(reader.every((g) => g.startsWith('SELECT ON '))).toBe(true);
    expect(reader).toContain('SELECT ON otel_audit.*');
    const tenant = await grantsTo('tenant-reader.sql', 'otel_audit_tenant_reader_role');
    expect(tenant.every((g) => g.startsWith('SELECT ON otel_audit.'))).toBe(true);
    expect(tenant).not.toContain('SELECT ON otel_audit.checkpoints');
  });

  it('the reader profile bounds every limit the bridge sets, and the tenant reader is read-only', async () => {
    const profile = (await Promise.all(statements('users.sql').map(parse))).find((p) => p.formatted.startsWith('CREATE SETTINGS PROFILE'))!.formatted;
    for (const s of ['max_execution_time', 'max_memory_usage', 'max_result_rows', 'max_result_bytes', 'max_threads', 'max_query_size']) {
      expect(profile).toMatch(new RegExp(`${s} = \\S+ MIN \\S+ MAX \\S+`));
    }
    expect(profile).toMatch(/result_overflow_mode = 'throw' CONST/);
    const tenant = (await Promise.all(statements('tenant-reader.sql').map(parse))).find((p) => p.formatted.startsWith('CREATE SETTINGS PROFILE'))!.formatted;
    expect(tenant).toMatch(/readonly = 1/);
  });
});
