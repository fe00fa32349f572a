// Hot and cold storage (#14): `--hot-days N` puts `events` on the storage policy of
// deploy/clickhouse/storage-s3.xml and adds "… TO VOLUME 'cold'" to its TTL, the TTL by risk kept.
// There is no ClickHouse server or S3 here: the embedded engine (chDB) loads the real XML file
// from its conf.d/ (the s3 disk pointed at a closed port, its start-up access check off), and the
// generated DDL runs against it: the policy is created from, refused by and moved to as a server
// would. The cluster DDL (ON CLUSTER, which needs a cluster) goes through the engine's parser.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { ConfigError, resolveConfig } from '../packages/bridge/src/index.ts';
import { silentLogger } from '../packages/bridge/src/internal/index.ts';
import { applyHotDays, applyRetention, checkStoragePolicy, currentTtl, StoragePolicyError } from '../packages/bridge/src/policy/index.ts';
import { COLD_VOLUME, DEFAULT_STORAGE_POLICY, eventsTtl, fullDdl, hotDaysOf } from '../packages/bridge/src/store/index.ts';
import { quoteString, Store, type ReaderSession } from '../packages/bridge/src/store/index.ts';
import { REPO_ROOT, runCli, tempDir } from './helpers/bridge-process.ts';

const XML_FILE = join(REPO_ROOT, 'deploy/clickhouse/storage-s3.xml');
const xmlText = readFileSync(XML_FILE, 'utf8');
const RISK_TTL = "toDateTime(ingest_time) + toIntervalDay(multiIf(risk = 'low', 90, risk = 'medium', 365, 2190)) DELETE WHERE endsWith(chain_id, concat('-', risk))";

const server = { OTEL_AUDIT_CLICKHOUSE_URL: 'http://u:p@clickhouse:8123' };

/**
 * `--hot-days` / `--storage-policy` as a bridge or migrate on a ClickHouse server resolves them
 * (config.ts): flags, then the environment; undefined when off.
 */
function tieringOnServer(o: { hotDays?: string; storagePolicy?: string }, env: Record<string, string>) {
  return resolveConfig(o, { ...server, ...env }).tiering;
}

/** The statements of a generated DDL script (comment lines dropped). */
function statements(text: string): string[] {
  return text
    .split('\n')
    .filter((l) => !l.startsWith('--'))
    .join('\n')
    .split(/;\s*(?:\n|$)/)
    .map((s) => s.trim())
    .filter(Boolean);
}

describe('the DDL of --hot-days', () => {
  it('puts events on the storage policy and adds the move to its TTL, the risk TTL unchanged', () => {
    for (const cluster of [undefined, 'c']) {
      const ddl = fullDdl({ database: 'otel_audit', cluster, hotDays: 30 });
      const table = cluster ? "otel_audit.events_local ON CLUSTER 'c'" : 'otel_audit.events';
      expect(ddl).toContain(`ALTER TABLE ${table} MODIFY TTL ${RISK_TTL}, toDateTime(ingest_time) + toIntervalDay(30) TO VOLUME 'cold';`);
      const create = statements(ddl).find((s) => s.startsWith(`CREATE TABLE IF NOT EXISTS ${table} (`))!;
      expect(create).toMatch(/SETTINGS index_granularity = 8192.*, storage_policy = 'otel_audit_tiered'$/);
      // Only events moves: checkpoints, alerts and the migrations table stay on the default policy.
      expect(ddl.match(/storage_policy/g)).toHaveLength(1);
      expect(fullDdl({ database: 'otel_audit', cluster, hotDays: 30, storagePolicy: 'mine' })).toContain("storage_policy = 'mine'");
    }
  });

  it('without --hot-days: no storage policy, no move, the same DDL as before', () => {
    for (const cluster of [undefined, 'c']) {
      const ddl = fullDdl({ database: 'otel_audit', cluster });
      expect(ddl).not.toMatch(/storage_policy|TO VOLUME/);
      expect(ddl).toContain(`MODIFY TTL ${RISK_TTL};`);
      expect(fullDdl({ database: 'otel_audit', cluster, storagePolicy: 'mine' })).toBe(ddl);
    }
  });

  it('the TTL states the retention and the move together, on the column the deletes use', () => {
    const ttl = eventsTtl({ low: 7, medium: 30, high: 400 }, 14);
    expect(ttl).toBe(
      "toDateTime(ingest_time) + toIntervalDay(multiIf(risk = 'low', 7, risk = 'medium', 30, 400)) DELETE WHERE endsWith(chain_id, concat('-', risk)), " +
        "toDateTime(ingest_time) + toIntervalDay(14) TO VOLUME 'cold'",
    );
    expect(eventsTtl(undefined, undefined)).toBe(RISK_TTL);
    // As system.tables.engine_full shows it (JSON, and TSV's escaped quotes).
    expect(hotDaysOf("MergeTree ORDER BY a TTL toDateTime(ingest_time) + toIntervalDay(14) TO VOLUME 'cold' SETTINGS x = 1")).toBe(14);
    expect(hotDaysOf("TTL toDateTime(ingest_time) + toIntervalDay(14) TO VOLUME \\'cold\\'")).toBe(14);
    expect(hotDaysOf(`TTL ${RISK_TTL}`)).toBeNull();
  });

  it('deploy/clickhouse/schema-cluster-tiered.sql is exactly what its header command prints, and differs from schema-cluster.sql only there', async () => {
    const text = readFileSync(join(REPO_ROOT, 'deploy/clickhouse/schema-cluster-tiered.sql'), 'utf8');
    const lines = text.split('\n');
    const header = lines.slice(0, lines.findIndex((l) => !l.startsWith('--')));
    const command = /`otel-audit (migrate --print[^`]*)`/.exec(header[0])?.[1];
    expect(command).toBe('migrate --print --cluster otel_audit_cluster --hot-days 90');
    const r = await runCli(command!.split(' '));
    expect(r.code, r.stderr).toBe(0);
    expect(lines.slice(header.length).join('\n'), `regenerate it with otel-audit ${command}`).toBe(r.stdout);
    const plain = statements(readFileSync(join(REPO_ROOT, 'deploy/clickhouse/schema-cluster.sql'), 'utf8'));
    const tiered = statements(text);
    expect(tiered).toHaveLength(plain.length);
    const differ = tiered.filter((s, i) => s !== plain[i]);
    expect(differ).toHaveLength(2);
    expect(differ[0]).toMatch(/^CREATE TABLE IF NOT EXISTS otel_audit\.events_local ON CLUSTER 'otel_audit_cluster' \(/);
    expect(differ[1]).toBe(`ALTER TABLE otel_audit.events_local ON CLUSTER 'otel_audit_cluster' MODIFY TTL ${RISK_TTL}, toDateTime(ingest_time) + toIntervalDay(90) TO VOLUME 'cold'`);
  });
});

describe('--hot-days and --storage-policy', () => {
  it('a positive whole number of days; the policy name only with it; flags win over the environment', () => {
    expect(tieringOnServer({}, {})).toBeUndefined();
    expect(tieringOnServer({ hotDays: '90' }, {})).toEqual({ hotDays: 90, storagePolicy: DEFAULT_STORAGE_POLICY });
    expect(tieringOnServer({}, { OTEL_AUDIT_HOT_DAYS: '30', OTEL_AUDIT_STORAGE_POLICY: 'tiered_2' })).toEqual({ hotDays: 30, storagePolicy: 'tiered_2' });
    expect(tieringOnServer({ hotDays: '7' }, { OTEL_AUDIT_HOT_DAYS: '30' })).toEqual({ hotDays: 7, storagePolicy: DEFAULT_STORAGE_POLICY });
    for (const bad of ['0', '-1', '1.5', '1e3', 'ninety', ' ', '9007199254740993']) {
      expect(() => tieringOnServer({ hotDays: bad }, {}), bad).toThrow(bad.trim() ? /invalid --hot-days .*positive whole number/ : ConfigError);
    }
    expect(() => tieringOnServer({ storagePolicy: 'x' }, {})).toThrow(/--storage-policy "x" needs --hot-days N/);
    expect(() => tieringOnServer({ hotDays: '9', storagePolicy: "x'; DROP" }, {})).toThrow(/invalid --storage-policy/);
  });

  it('serve takes it with a ClickHouse server only: the embedded store has no S3 disk', () => {
    expect(resolveConfig({}, {}).tiering).toBeUndefined();
    expect(resolveConfig({ hotDays: '90' }, server).tiering).toEqual({ hotDays: 90, storagePolicy: 'otel_audit_tiered' });
    expect(() => resolveConfig({ hotDays: '90' }, {})).toThrow(/--hot-days needs a ClickHouse server \(--clickhouse-url\).*embedded store has no S3 disk/);
    expect(() => resolveConfig({}, { OTEL_AUDIT_HOT_DAYS: '90' })).toThrow(/--hot-days needs a ClickHouse server/);
  });

  it('through the real CLI: migrate --print with it, usage errors (exit 2) with what is wrong', async () => {
    const ok = await runCli(['migrate', '--print', '--hot-days', '45']);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toContain("storage_policy = 'otel_audit_tiered'");
    expect(ok.stdout).toContain("toIntervalDay(45) TO VOLUME 'cold'");
    const env = await runCli(['migrate', '--print'], { OTEL_AUDIT_HOT_DAYS: '60', OTEL_AUDIT_STORAGE_POLICY: 'tiers' });
    expect(env.stdout).toContain("storage_policy = 'tiers'");
    expect(env.stdout).toContain('toIntervalDay(60) TO VOLUME');
    const cases: Array<[string[], RegExp, Record<string, string>?]> = [
      [['migrate', '--print', '--hot-days', '0'], /invalid --hot-days "0": expected a positive whole number of days/],
      [['migrate', '--print', '--hot-days', '2.5'], /invalid --hot-days "2\.5"/],
      [['migrate', '--print'], /invalid --hot-days "soon"/, { OTEL_AUDIT_HOT_DAYS: 'soon' }],
      [['migrate', '--print', '--storage-policy', 'tiers'], /--storage-policy "tiers" needs --hot-days N/],
      [['migrate', '--hot-days', '30', '--data-dir', tempDir('hot-days-cli-')], /--hot-days needs a ClickHouse server/],
      [['serve', '--hot-days', '30', '--data-dir', tempDir('hot-days-cli-')], /--hot-days needs a ClickHouse server \(--clickhouse-url\)/],
      [['serve', '--hot-days=-4', '--clickhouse-url', 'http://127.0.0.1:1'], /invalid --hot-days "-4"/],
    ];
    for (const [args, message, e] of cases) {
      const r = await runCli(args, e);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(r.stdout).toBe('');
    }
  });

  it('serve and migrate --help explain both flags', async () => {
    for (const cmd of ['serve', 'migrate']) {
      const r = await runCli([cmd, '--help']);
      expect(r.stdout).toMatch(/^--hot-days N .*OTEL_AUDIT_HOT_DAYS/ms);
      expect(r.stdout).toMatch(/^--storage-policy NAME .*OTEL_AUDIT_STORAGE_POLICY/ms);
    }
  });
});

/** The policies of storage-s3.xml: policy → volume → disks. */
function xmlPolicies(): Map<string, Map<string, string[]>> {
  const doc = new XMLParser({ ignoreAttributes: false, isArray: (name) => name === 'disk' }).parse(xmlText) as {
    clickhouse: { storage_configuration: { policies: Record<string, { volumes: Record<string, { disk: string[] }> }> } };
  };
  const out = new Map<string, Map<string, string[]>>();
  for (const [policy, p] of Object.entries(doc.clickhouse.storage_configuration.policies)) {
    if (typeof p !== 'object') continue;
    out.set(policy, new Map(Object.entries(p.volumes).map(([v, vol]) => [v, vol.disk])));
  }
  return out;
}

describe('deploy/clickhouse/storage-s3.xml', () => {
  it('is well-formed XML (comments without "--", which fast-xml-parser lets through and ClickHouse does not)', () => {
    expect(XMLValidator.validate(xmlText)).toBe(true);
    for (const [, body] of xmlText.matchAll(/<!--([\s\S]*?)-->/g)) expect(body, body).not.toContain('--');
  });

  it('defines the s3 disk from the environment, and the policies with the volumes the DDL names', () => {
    const doc = new XMLParser({ ignoreAttributes: false }).parse(xmlText) as {
      clickhouse: { storage_configuration: { disks: { s3: Record<string, unknown> } } };
    };
    const s3 = doc.clickhouse.storage_configuration.disks.s3;
    expect(s3.type).toBe('s3');
    for (const key of ['endpoint', 'access_key_id', 'secret_access_key']) expect((s3[key] as Record<string, string>)['@_from_env'], key).toMatch(/^CLICKHOUSE_S3_/);
    const policies = xmlPolicies();
    const ddl = fullDdl({ database: 'otel_audit', cluster: 'c', hotDays: 90 });
    const named = /storage_policy = '(\w+)'/.exec(ddl)![1];
    const volume = /TO VOLUME '(\w+)'/.exec(ddl)![1];
    expect(named).toBe(DEFAULT_STORAGE_POLICY);
    expect(volume).toBe(COLD_VOLUME);
    // New installs: hot on the server's disk, cold on S3, in that order (parts are written to the first).
    expect([...policies.get(named)!]).toEqual([['hot', ['default']], [volume, ['s3']]]);
    // Existing installs: the volume of ClickHouse's default policy kept by name, cold on S3.
    expect([...policies.get('otel_audit_tiered_upgrade')!]).toEqual([['default', ['default']], [volume, ['s3']]]);
    expect(xmlText).toMatch(/<move_factor>0\.1<\/move_factor>/);
  });

  it('deploy/compose/compose.s3.yaml mounts it into the server\'s config.d with the variables it reads, and migrates with --hot-days 90', () => {
    const text = readFileSync(join(REPO_ROOT, 'deploy/compose/compose.s3.yaml'), 'utf8');
    const schema = JSON.parse(readFileSync(join(REPO_ROOT, 'test/fixtures/compose-spec.json'), 'utf8')) as Record<string, unknown>;
    schema.$schema = 'http://json-schema.org/draft-07/schema#';
    const validate = new Ajv({ allErrors: true, strict: false, validateFormats: false }).compile(schema);
    const overlay = parse(text) as { services: Record<string, { environment: Record<string, string>; volumes?: string[] }> };
    expect(validate(overlay), JSON.stringify(validate.errors)).toBe(true);
    const base = parse(readFileSync(join(REPO_ROOT, 'deploy/compose/compose.yaml'), 'utf8'), { merge: true }) as { services: Record<string, unknown> };
    for (const name of Object.keys(overlay.services)) expect(base.services, name).toHaveProperty(name);
    const ch = overlay.services.clickhouse;
    expect(ch.volumes).toEqual(['../clickhouse/storage-s3.xml:/etc/clickhouse-server/config.d/otel-audit-storage-s3.xml:ro']);
    const fromEnv = [...xmlText.matchAll(/from_env="(\w+)"/g)].map((m) => m[1]).sort();
    expect(Object.keys(ch.environment).sort()).toEqual(fromEnv);
    const env = Object.fromEntries(Object.entries(overlay.services.migrate.environment).map(([k, v]) => [k, v.replace(/\$\{\w+:-([^}]*)\}/, '$1')]));
    expect(tieringOnServer({}, env)).toEqual({ hotDays: 90, storagePolicy: 'otel_audit_tiered' });
    expect(readFileSync(join(REPO_ROOT, 'deploy/compose/.env.example'), 'utf8')).toMatch(/^CLICKHOUSE_S3_ENDPOINT=$/m);
  });
});

describe('on the engine, with storage-s3.xml loaded', () => {
  let store: Store;
  let parser: ReaderSession;
  const dir = tempDir('deploy-storage-test-');
  const saved = { ...process.env };

  beforeAll(async () => {
    // The server's config.d/, as the embedded engine reads it next to its clickhouse.xml: the file
    // as shipped, its metadata under the test directory, and the s3 disk's start-up check off
    // (nothing answers at the endpoint). The engine reads from_env in this process.
    mkdirSync(join(dir, 'conf.d'));
    writeFileSync(join(dir, 'conf.d/storage-s3.xml'), xmlText.replace('/var/lib/clickhouse/disks/s3/', join(dir, 's3-metadata/')));
    writeFileSync(join(dir, 'conf.d/zz-test.xml'), '<clickhouse><storage_configuration><disks><s3><skip_access_check>true</skip_access_check></s3></disks></storage_configuration></clickhouse>\n');
    Object.assign(process.env, { CLICKHOUSE_S3_ENDPOINT: 'http://127.0.0.1:9/otel-audit/node1/', CLICKHOUSE_S3_ACCESS_KEY_ID: 'k', CLICKHOUSE_S3_SECRET_ACCESS_KEY: 's' });
    store = await Store.open({ dataDir: dir, database: 'tiered', hotDays: 30 });
  });
  afterAll(async () => {
    parser?.close();
    await store?.close();
    process.env = saved;
  });

  it('the engine has the s3 disk and both policies of the file', async () => {
    const disks = await store.rows<{ name: string; type: string }>("SELECT name, toString(object_storage_type) AS type FROM system.disks WHERE name = 's3'");
    expect(disks).toEqual([{ name: 's3', type: 'S3' }]);
    const rows = await store.rows<{ policy_name: string; volume_name: string; disks: string[]; move_factor: number }>(
      "SELECT policy_name, volume_name, disks, move_factor FROM system.storage_policies WHERE policy_name LIKE 'otel_audit%' ORDER BY policy_name, volume_priority",
    );
    const engine = new Map<string, Map<string, string[]>>();
    for (const r of rows) engine.set(r.policy_name, (engine.get(r.policy_name) ?? new Map()).set(r.volume_name, r.disks));
    expect(engine).toEqual(xmlPolicies());
  });

  it('a fresh install: migrate creates events on the policy, with the move and the risk TTL', async () => {
    await checkStoragePolicy(store);
    await store.migrate();
    const [t] = await store.rows<{ storage_policy: string; engine_full: string }>("SELECT storage_policy, engine_full FROM system.tables WHERE database = 'tiered' AND name = 'events'");
    expect(t.storage_policy).toBe('otel_audit_tiered');
    expect(t.engine_full).toContain("TTL toDateTime(ingest_time) + toIntervalDay(multiIf(risk = 'low', 90, risk = 'medium', 365, 2190)) WHERE endsWith(chain_id, concat('-', risk)), toDateTime(ingest_time) + toIntervalDay(30) TO VOLUME 'cold'");
    expect(await currentTtl(store)).toEqual({ retention: { low: 90, medium: 365, high: 2190 }, hotDays: 30, storagePolicy: 'otel_audit_tiered' });
    // The other tables stay on the default policy.
    const others = await store.rows<{ name: string }>("SELECT name FROM system.tables WHERE database = 'tiered' AND engine LIKE '%MergeTree' AND storage_policy != 'default'");
    expect(others.map((r) => r.name)).toEqual(['events']);
    // New rows land on the hot volume.
    await store.command("INSERT INTO tiered.events (event_id, ingest_time, event_time, chain_id, risk) VALUES ('e1', now64(9), now64(9), 'main-low', 'low')");
    expect(await store.rows("SELECT disk_name FROM system.parts WHERE database = 'tiered' AND table = 'events' AND active")).toEqual([{ disk_name: 'default' }]);
  });

  it('the policy retention (MODIFY TTL at serve start) keeps the move; a serve without --hot-days keeps it too', async () => {
    expect(await applyRetention(store, { low: 90, medium: 365, high: 2190 }, silentLogger)).toBe(false);
    expect(await applyRetention(store, { low: 30, medium: 400, high: 3650 }, silentLogger)).toBe(true);
    expect(await currentTtl(store)).toEqual({ retention: { low: 30, medium: 400, high: 3650 }, hotDays: 30, storagePolicy: 'otel_audit_tiered' });
    // A bridge started without the flag: the table's move stays.
    expect(await applyRetention(store, { low: 60, medium: 400, high: 3650 }, silentLogger, { database: 'tiered' })).toBe(true);
    expect(await currentTtl(store)).toEqual({ retention: { low: 60, medium: 400, high: 3650 }, hotDays: 30, storagePolicy: 'otel_audit_tiered' });
    // A new --hot-days: the move changes, the retention stays.
    expect(await applyHotDays(store, silentLogger, { database: 'tiered', hotDays: 45 })).toBe(true);
    expect(await currentTtl(store)).toEqual({ retention: { low: 60, medium: 400, high: 3650 }, hotDays: 45, storagePolicy: 'otel_audit_tiered' });
    expect(await applyHotDays(store, silentLogger, { database: 'tiered', hotDays: 45 })).toBe(false);
  });

  it('an existing install: otel_audit_tiered is refused with the way on, otel_audit_tiered_upgrade is taken', async () => {
    for (const stmt of statements(fullDdl({ database: 'legacy' }))) await store.command(stmt);
    const o = { database: 'legacy', hotDays: 90 };
    // ClickHouse itself refuses the change (what the bridge checks first).
    await expect(store.command("ALTER TABLE legacy.events MODIFY SETTING storage_policy = 'otel_audit_tiered'")).rejects.toThrow(/shall contain volumes of the old storage policy/);
    await expect(checkStoragePolicy(store, o)).resolves.toBeUndefined();
    const refused = applyHotDays(store, silentLogger, o);
    await expect(refused).rejects.toThrow(StoragePolicyError);
    await expect(applyHotDays(store, silentLogger, o)).rejects.toThrow(
      /legacy\.events is on storage policy "default" \(volumes default\).*"otel_audit_tiered" lacks volume "default" on default\. Use --storage-policy otel_audit_tiered_upgrade/,
    );
    expect(await currentTtl(store, o)).toEqual({ retention: { low: 90, medium: 365, high: 2190 }, hotDays: null, storagePolicy: 'default' });
    const upgrade = { ...o, storagePolicy: 'otel_audit_tiered_upgrade' };
    expect(await applyHotDays(store, silentLogger, upgrade)).toBe(true);
    expect(await currentTtl(store, o)).toEqual({ retention: { low: 90, medium: 365, high: 2190 }, hotDays: 90, storagePolicy: 'otel_audit_tiered_upgrade' });
  });

  it('refuses a policy the server lacks, or one without the cold volume, before any DDL', async () => {
    await expect(checkStoragePolicy(store, { database: 'fresh', hotDays: 30, storagePolicy: 'nope' })).rejects.toThrow(
      /the ClickHouse server has no storage policy "nope": install deploy\/clickhouse\/storage-s3\.xml/,
    );
    await expect(checkStoragePolicy(store, { database: 'fresh', hotDays: 30, storagePolicy: 'default' })).rejects.toThrow(/storage policy "default" has no volume "cold"/);
    // And the engine agrees: a TTL move to a volume the policy lacks fails.
    await expect(store.command(`ALTER TABLE legacy.checkpoints MODIFY TTL toDateTime(created_at) + toIntervalDay(1) TO VOLUME 'cold'`)).rejects.toThrow(/No such volume `cold`/);
  });

  it('every statement of schema-cluster-tiered.sql parses (ON CLUSTER needs a cluster: parsed, not run)', async () => {
    parser = await store.openReader({});
    const stmts = statements(readFileSync(join(REPO_ROOT, 'deploy/clickhouse/schema-cluster-tiered.sql'), 'utf8'));
    expect(stmts.length).toBeGreaterThan(20);
    for (const stmt of stmts) {
      const formatted = (await parser.text(`SELECT formatQuery(${quoteString(stmt)})`)).trimEnd();
      const root = (await parser.text(`EXPLAIN AST ${formatted}`)).split('\n')[0];
      expect(root, formatted.slice(0, 200)).toMatch(/^(CreateQuery|AlterQuery)/);
    }
    const events = stmts.find((s) => s.startsWith('CREATE TABLE IF NOT EXISTS otel_audit.events_local'))!;
    expect(await parser.text(`SELECT formatQuery(${quoteString(events)})`)).toContain("storage_policy = 'otel_audit_tiered'");
  });
});
