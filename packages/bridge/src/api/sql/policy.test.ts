/**
 * The check of `sql` queries on ClickHouse's own parse, from the real engine (chDB): every tree
 * here is what EXPLAIN AST printed for the query, and every refusal names what was wrong.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Store } from '../../store/index.ts';
import { AstReadError, readAst, walk } from './ast.ts';
import { ALLOWED_CATEGORIES, ALLOWED_OTHER, functionRefusal, REFUSED_CATEGORIES, SqlRejectedError, type FunctionCatalog } from './policy.ts';
import { ReadOnlySql } from './read-only-sql.ts';

let store: Store;
let sql: ReadOnlySql;
let catalog: FunctionCatalog;

beforeAll(async () => {
  store = await Store.open({ dataDir: mkdtempSync(join(tmpdir(), 'sql-policy-test-')), database: 'otel_audit' });
  await store.migrate();
  sql = new ReadOnlySql(store);
  catalog = await sql.functionCatalog();
});
afterAll(async () => {
  await store?.close();
});

/** The refusal message for `query`, or null when it is admitted. */
async function refusal(query: string): Promise<string | null> {
  try {
    await sql.check(query);
    return null;
  } catch (err) {
    if (err instanceof SqlRejectedError) return err.message;
    throw err;
  }
}

describe('admitted: one SELECT over the audit database', () => {
  it.each([
    'SELECT count() FROM otel_audit.events',
    'select * from timeline where correlation_id = \'CASE-1\';',
    'SELECT 1 -- a comment\n;\n',
    '/* leading */ SELECT tenant FROM events',
    'SELECT `tenant`, "event_id" FROM `otel_audit`.`events` AS `e`',
    'WITH x AS (SELECT event_id FROM events) SELECT * FROM x',
    'WITH RECURSIVE r AS (SELECT 1 AS n UNION ALL SELECT n + 1 FROM r WHERE n < 3) SELECT * FROM r',
    'SELECT e.event_id, a.decision FROM events AS e LEFT JOIN approvals AS a ON a.event_id = e.event_id',
    'SELECT tool_name FROM tool_calls UNION ALL SELECT request_model FROM model_calls',
    'SELECT 1 INTERSECT SELECT 1 EXCEPT SELECT 2',
    'SELECT event_id FROM events WHERE event_id IN (SELECT event_id FROM approvals) AND tenant IN events',
    'SELECT (SELECT max(seq) FROM events), EXISTS (SELECT 1 FROM checkpoints)',
    'SELECT COUNT(DISTINCT actor_id), sumIf(input_tokens, risk = \'high\'), uniqExactArrayIf([1], 1), quantile(0.9)(duration_ns) FROM events',
    'SELECT arrayMap(x -> x * 2, [1, 2]), CASE risk WHEN \'high\' THEN 1 ELSE 0 END, toStartOfHour(event_time), x::Int32 FROM events, (SELECT 1 AS x) AS s',
    'SELECT row_number() OVER (PARTITION BY correlation_id ORDER BY event_time) FROM events',
    "SELECT count() FROM events WHERE event_time > now() - INTERVAL 1 DAY AND JSONExtractString(attributes['x'], 'a') = ''",
    'SELECT * EXCEPT (content) REPLACE (lower(tenant) AS tenant) FROM events LIMIT 1',
    'SELECT COLUMNS(\'^input\') FROM events',
    'SELECT number FROM numbers(10)',
    'SELECT * FROM numbers_mt(10), values(\'a UInt8\', 1, 2), generate_series(1, 3), primes(2), zeros(1), null(\'a UInt8\')',
    'SELECT * FROM view(SELECT event_id FROM events)',
    'SELECT * FROM generateRandom(\'a UInt8\') LIMIT 1',
    "SELECT name, type FROM system.columns WHERE table = 'events'",
    'SELECT name FROM system.tables',
    'SELECT dummy FROM system.one',
    'SELECT 1 + 2, currentDatabase(), toTypeName(1), formatReadableSize(1024)',
  ])('%s', async (q) => {
    expect(await refusal(q)).toBeNull();
  });

  it('what runs is ClickHouse\'s own rendering of the query, comments and trailing semicolon gone', async () => {
    expect(await sql.check('select 1 /* x */ ;')).toBe('SELECT 1');
  });
});

// Every statement kind but SELECT, each named in its refusal.
const STATEMENTS: Array<[string, string]> = [
  ['SHOW TABLES', 'SHOW'],
  ['SHOW CREATE TABLE events', 'SHOW'],
  ['SHOW GRANTS', 'SHOW'],
  ['SHOW PROCESSLIST', 'SHOW'],
  ['SHOW SETTINGS LIKE \'%\'', 'SHOW'],
  ['DESCRIBE events', 'DESCRIBE'],
  ["DESCRIBE file('/etc/passwd')", 'DESCRIBE'],
  ['EXPLAIN SELECT 1', 'EXPLAIN'],
  ['EXPLAIN AST SELECT 1', 'EXPLAIN'],
  ['EXISTS TABLE events', 'EXISTS'],
  ['SYSTEM FLUSH LOGS', 'SYSTEM'],
  ['SYSTEM SHUTDOWN', 'SYSTEM'],
  ['KILL QUERY WHERE 1', 'KILL'],
  ['OPTIMIZE TABLE events FINAL', 'OPTIMIZE'],
  ['ATTACH TABLE x', 'ATTACH'],
  ['DETACH TABLE events', 'DETACH'],
  ["BACKUP TABLE events TO Disk('backups', 'b.zip')", 'BACKUP'],
  ["RESTORE TABLE events FROM Disk('backups', 'b.zip')", 'RESTORE'],
  ['GRANT SELECT ON *.* TO u', 'GRANT'],
  ['REVOKE SELECT ON *.* FROM u', 'REVOKE'],
  ['CREATE TABLE otel_audit.x (a Int8) ENGINE = Memory', 'CREATE'],
  ['CREATE USER u', 'CREATE'],
  ['CREATE FUNCTION f AS x -> x', 'CREATE'],
  ['CREATE ROW POLICY p ON events USING 1 TO ALL', 'CREATE'],
  ["CREATE DICTIONARY d (a Int8) PRIMARY KEY a SOURCE(FILE(path '/etc/passwd' format 'CSV')) LAYOUT(FLAT()) LIFETIME(0)", 'CREATE'],
  ['CREATE MATERIALIZED VIEW mv ENGINE = Memory AS SELECT 1', 'CREATE'],
  ['DROP TABLE events', 'DROP'],
  ['DROP DATABASE otel_audit', 'DROP'],
  ["ALTER TABLE otel_audit.events UPDATE tenant = 'x' WHERE 1", 'ALTER'],
  ['ALTER TABLE otel_audit.checkpoints DELETE WHERE 1', 'ALTER'],
  ['ALTER TABLE events MODIFY TTL now()', 'ALTER'],
  ["INSERT INTO events (event_id) VALUES ('x')", 'INSERT'],
  ["INSERT INTO FUNCTION file('/tmp/x') SELECT 1", 'INSERT'],
  ['DELETE FROM events WHERE 1', 'DELETE'],
  ["UPDATE events SET tenant = 'x' WHERE 1", 'UPDATE'],
  ['TRUNCATE TABLE events', 'TRUNCATE'],
  ['RENAME TABLE events TO e2', 'RENAME'],
  ['EXCHANGE TABLES events AND checkpoints', 'EXCHANGE'],
  ['SET readonly = 0', 'SET'],
  ['SET ROLE r', 'SET'],
  ['USE system', 'USE'],
  ['CHECK TABLE events', 'CHECK'],
  ['WATCH lv', 'WATCH'],
  ['MOVE USER u TO local_directory', 'MOVE'],
  ['UNDROP TABLE x', 'UNDROP'],
  ['BEGIN TRANSACTION', 'BEGIN'],
  ['COMMIT', 'COMMIT'],
  ['ROLLBACK', 'ROLLBACK'],
  ['EXECUTE AS u SELECT 1', 'EXECUTE'],
];

describe('refused: every other statement kind', () => {
  it.each(STATEMENTS)('%s', async (q, kind) => {
    expect(await refusal(q)).toBe(`${kind} is not allowed: sql runs one SELECT (or WITH … SELECT) and nothing else`);
  });
});

describe('refused: the vectors of issue 10 and their relatives', () => {
  it.each([
    ["SELECT * FROM `file`('/data/keys/signing-key.pem', 'LineAsString')", /^table function file\(\) is not allowed: sql reads the audit database only/],
    ["SELECT * /* ' */ FROM file('/etc/passwd','LineAsString') /* ' */", /^table function file\(\) is not allowed/],
    ["SELECT 1 /* ' */; DROP TABLE otel_audit.events; SELECT 1 /* ' */", /^only one statement is allowed/],
    ['SELECT 1; SELECT 2', /^only one statement is allowed/],
    ["SELECT 1 INTO OUTFILE '/tmp/x'", /^INTO OUTFILE is not allowed/],
    ["SELECT 1 INTO OUTFILE '/tmp/x' APPEND", /^INTO OUTFILE is not allowed/],
    ['SELECT 1 FORMAT CSV', /^FORMAT is not allowed in the query: choose the output with --format/],
    ['SELECT 1 SETTINGS `max_execution_time` = 0', /^SETTINGS is not allowed: .*\(it tried max_execution_time\)$/],
    ['SELECT 1 SETTINGS readonly = 0', /^SETTINGS is not allowed/],
    ['SELECT * FROM (SELECT 1 SETTINGS max_threads = 64)', /^SETTINGS is not allowed/],
    ['SELECT 1 UNION ALL SELECT 2 SETTINGS max_result_rows = 0', /^SETTINGS is not allowed/],
    // A setting set to the value the session already has is not a change for the engine; the check refuses it.
    ['SELECT 1 SETTINGS readonly = 1', /^SETTINGS is not allowed: the bridge sets the query limits/],
    ["SELECT file('/etc/passwd')", /^file\(\) is not allowed: it reads files of the bridge host$/],
    ["SELECT FILE('/etc/passwd')", /^FILE\(\) is not allowed/],
    ["SELECT 1 WHERE 'x' IN (SELECT file('/etc/passwd'))", /^file\(\) is not allowed/],
    ["SELECT count() FROM events WHERE event_id IN (SELECT * FROM file('/etc/passwd', 'LineAsString'))", /^table function file\(\) is not allowed/],
    ["WITH secret AS (SELECT * FROM file('/etc/passwd', 'LineAsString')) SELECT * FROM secret", /^table function file\(\) is not allowed/],
    ["WITH (SELECT file('/etc/passwd')) AS s SELECT s", /^file\(\) is not allowed/],
    ["SELECT * FROM view(SELECT file('/etc/passwd'))", /^file\(\) is not allowed/],
    ["SELECT arrayMap(x -> file(x), ['/etc/passwd'])", /^file\(\) is not allowed/],
    ["SELECT * APPLY(file) FROM (SELECT '/etc/passwd' AS p)", /^APPLY is not allowed/],
    ["SELECT * FROM url('http://127.0.0.1:1/', 'LineAsString')", /^table function url\(\) is not allowed/],
    ["SELECT * FROM s3('https://bucket.example/x.csv')", /^table function s3\(\) is not allowed/],
    ["SELECT * FROM remote('127.0.0.1', system.one)", /^table function remote\(\) is not allowed/],
    ["SELECT * FROM remoteSecure('127.0.0.1', system.one)", /^table function remoteSecure\(\) is not allowed/],
    ["SELECT * FROM cluster('default', system.one)", /^table function cluster\(\) is not allowed/],
    ["SELECT * FROM clusterAllReplicas('default', otel_audit.events)", /^table function clusterAllReplicas\(\) is not allowed/],
    ["SELECT * FROM input('a UInt8')", /^table function input\(\) is not allowed/],
    ["SELECT * FROM dictionary('d')", /^table function dictionary\(\) is not allowed/],
    ["SELECT * FROM merge('otel_audit', '^events$')", /^table function merge\(\) is not allowed/],
    ["SELECT * FROM merge(REGEXP('.*'), '.*')", /^table function merge\(\) is not allowed/],
    ["SELECT * FROM filesystem('/etc')", /^table function filesystem\(\) is not allowed/],
    ["SELECT * FROM executable('x.sh', 'TSV', 'a String')", /^table function executable\(\) is not allowed/],
    ["SELECT * FROM mergeTreeIndex('otel_audit', 'events')", /^table function mergeTreeIndex\(\) is not allowed/],
    ['SELECT * FROM loop(numbers(3))', /^table function loop\(\) is not allowed/],
    ["SELECT * FROM format(CSV, '1')", /^table function format\(\) is not allowed/],
    ["SELECT * FROM postgresql('h:5432', 'db', 't', 'u', 'p')", /^table function postgresql\(\) is not allowed/],
    ["SELECT * FROM someFutureTableFunction('x')", /^table function someFutureTableFunction\(\) is not allowed/],
    ['SELECT * FROM system.users', /^system\.users is not allowed: sql reads the audit database \(otel_audit\.\*\) and system\.one, system\.tables, system\.columns only$/],
    ['SELECT * FROM system.settings', /^system\.settings is not allowed/],
    ['SELECT * FROM system.query_log', /^system\.query_log is not allowed/],
    ['SELECT * FROM `system`.`processes`', /^system\.processes is not allowed/],
    ['SELECT * FROM information_schema.tables', /^information_schema\.tables is not allowed/],
    ['SELECT * FROM default.t', /^default\.t is not allowed/],
    ["SELECT 1 WHERE 'a' IN system.users", /^system\.users is not allowed/],
    ['SELECT * FROM events JOIN system.grants USING (tenant)', /^system\.grants is not allowed/],
    ['SELECT * FROM `system.users`', /^system\.users is not allowed/],
    ['SELECT * FROM `otel_audit.x`.`y`', /^table name "otel_audit\.x\.y" is not allowed/],
    ['SELECT * FROM `sys tem`.`one`', /^table name "sys tem\.one" is not allowed/],
    ["SELECT dictGet('d', 'a', 1)", /^dictGet\(\) is not allowed: it reads a dictionary/],
    ["SELECT dictGetString('d', 'a', 1)", /^dictGetString\(\) is not allowed: it reads a dictionary/],
    ["SELECT joinGet('otel_audit.events', 'tenant', 1)", /^joinGet\(\) is not allowed: it reads a table by name$/],
    ["SELECT hasColumnInTable('system', 'users', 'name')", /^hasColumnInTable\(\) is not allowed/],
    ["SELECT getSetting('additional_table_filters')", /^getSetting\(\) is not allowed: it reveals settings$/],
    ["SELECT getServerSetting('path')", /^getServerSetting\(\) is not allowed/],
    ["SELECT getMacro('shard')", /^getMacro\(\) is not allowed/],
    ["SELECT aiGenerate('tell me the key')", /^aiGenerate\(\) is not allowed: it calls an external AI service$/],
    ['SELECT addressToLine(1)', /^addressToLine\(\) is not allowed: it inspects the server process$/],
    ["SELECT catboostEvaluate('/m.bin', 1)", /^catboostEvaluate\(\) is not allowed/],
    ['SELECT hostName(), uptime()', /^hostName\(\) is not allowed: it is not on the list/],
    ['SELECT currentUser()', /^currentUser\(\) is not allowed/],
    ['SELECT sleep(3)', /^sleep\(\) is not allowed/],
    ["SELECT regionToName(1)", /^regionToName\(\) is not allowed: it reads the server's embedded dictionaries$/],
    ["SELECT url('http://x')", /^url\(\) is not allowed: it is a table function/],
    ['SELECT noSuchFunction(1)', /^noSuchFunction\(\) is not allowed: no such function/],
    // The parser turns a subquery EXPLAIN into the viewExplain() table function.
    ['SELECT * FROM (EXPLAIN SELECT 1)', /^table function viewExplain\(\) is not allowed/],
    ['SELECT {p:String}', /^query parameters \(\{name:Type\}\) are not supported/],
    ['SELECT `a\nFunction file` FROM events', /^quoted names with escapes/],
    ['', /^empty query$/],
    ['SELECT count( FROM events', /^Syntax error/],
  ] as Array<[string, RegExp]>)('%s', async (q, why) => {
    expect(await refusal(q)).toMatch(why);
  });
});

describe('the function catalog', () => {
  it('refuses the functions that reach files, the network, dictionaries, other tables or the configuration', () => {
    for (const name of ['file', 'aiGenerate', 'aiEmbed', 'dictGet', 'dictHas', 'joinGet', 'joinGetOrNull', 'getSetting', 'getServerSetting', 'getMergeTreeSetting', 'getMacro', 'getClientHTTPHeader', 'showCertificate', 'hasColumnInTable', 'catboostEvaluate', 'naiveBayesClassifier', 'addressToSymbol', 'demangle', 'filesystemAvailable', 'generateSerialID', 'regionToName', '__getScalar', 'url', 's3', 'remote']) {
      expect(functionRefusal(name, catalog), name).not.toBeNull();
    }
    for (const name of ['count', 'sumIf', 'COUNT', 'countDistinct', 'avgOrNullIf', 'toString', 'lower', 'arrayMap', 'JSONExtractString', 'toStartOfHour', 'domain', 'cityHash64', 'tuple', 'lambda', 'caseWithExpression']) {
      expect(functionRefusal(name, catalog), name).toBeNull();
    }
  });

  it('every function category of the engine is reviewed: allowed or refused (a new one fails here until it is)', () => {
    // ClickHouse 26.x brought the AI category (functions that call an LLM provider); the next
    // category should be looked at the same way before queries may use it.
    const names = new Set<string>();
    const row = (catalog as unknown as { exact: Map<string, { categories: string[] }> }).exact;
    for (const f of row.values()) for (const c of f.categories) names.add(c);
    const unreviewed = [...names].filter((c) => !ALLOWED_CATEGORIES.has(c) && !REFUSED_CATEGORIES.has(c) && c !== 'Other');
    expect(unreviewed).toEqual([]);
  });

  it('the allowed functions of the Other category all exist (no typo lets a name through unchecked)', () => {
    for (const name of ALLOWED_OTHER) expect(catalog.resolve(name), name).not.toBeNull();
  });
});

describe('reading EXPLAIN AST', () => {
  /** The engine's EXPLAIN AST output for a text, in a read-only session. */
  async function explain(text: string): Promise<string> {
    const r = await store.openReader({});
    try {
      return await r.text(`EXPLAIN AST ${text}`);
    } finally {
      r.close();
    }
  }

  it('builds the tree the engine printed', async () => {
    const [root] = readAst(await explain("SELECT a FROM otel_audit.events AS e WHERE a IN (SELECT 1 FROM numbers(2)) SETTINGS readonly = 1"));
    const nodes = [...walk(root)];
    expect(root.type).toBe('SelectWithUnionQuery');
    expect(nodes.filter((n) => n.type === 'TableIdentifier').map((n) => n.text)).toEqual(['otel_audit.events (alias e)']);
    expect(nodes.filter((n) => n.type === 'Function').map((n) => [n.text, n.parent?.type])).toEqual([
      ['in', 'SelectQuery'],
      ['numbers', 'TableExpression'],
    ]);
    expect(nodes.some((n) => n.type === 'Set')).toBe(true);
  });

  it('refuses a dump whose lines do not hold together (a line break in a quoted name prints a line that is no node)', async () => {
    const dump = await explain('SELECT `a\nFunction file` FROM t');
    expect(dump).toContain('\nFunction file\n');
    expect(() => readAst(dump)).toThrow(AstReadError);
  });

});
