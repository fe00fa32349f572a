/**
 * The ClickHouse schema, as versioned migrations. One source for the single-node DDL (embedded
 * chDB or a server) and the cluster variant (ReplicatedMergeTree + Distributed); the files in
 * deploy/clickhouse/ are generated from here (`otel-audit migrate --print`).
 */

export interface SchemaOptions {
  database: string;
  /** When set, the cluster variant: local Replicated tables + Distributed tables ON CLUSTER. */
  cluster?: string;
  /** How many recent insert blocks the dedup window remembers (non-replicated tables). */
  dedupWindow?: number;
  /** Retention by risk level (the TTL of `events`); DEFAULT_RETENTION_DAYS when absent. */
  retention?: RetentionDays;
  /**
   * `--hot-days N` (server or cluster only): `events` parts move to the storage policy's `cold`
   * volume (S3, deploy/clickhouse/storage-s3.xml) N days after arrival; the risk TTLs stay.
   */
  hotDays?: number;
  /** The storage policy `events` is created on with hotDays (`--storage-policy`); DEFAULT_STORAGE_POLICY. */
  storagePolicy?: string;
}

/** The policy of deploy/clickhouse/storage-s3.xml that `--hot-days` puts `events` on by default. */
export const DEFAULT_STORAGE_POLICY = 'otel_audit_tiered';
/** The volume of that policy that parts older than `--hot-days` move to (S3). */
export const COLD_VOLUME = 'cold';

export interface Migration {
  version: number;
  name: string;
  statements(o: Required<Pick<SchemaOptions, 'database'>> & SchemaOptions): string[];
}

/**
 * The `events` columns of the first schema (DESIGN 3.2), in table order, ending with `hash`.
 * Migration 1 creates exactly these; later columns are added by later migrations (below).
 */
export const EVENT_COLUMNS_V1: ReadonlyArray<readonly [name: string, type: string]> = [
  ['event_id', 'String'],
  ['tenant', 'LowCardinality(String)'],
  ['event_time', "DateTime64(9, 'UTC')"],
  ['ingest_time', "DateTime64(9, 'UTC')"],
  ['duration_ns', 'UInt64'],
  ['event_type', 'LowCardinality(String)'],
  ['name', 'String'],
  ['operation', 'LowCardinality(String)'],
  ['trace_id', 'String'],
  ['span_id', 'String'],
  ['parent_span_id', 'String'],
  ['correlation_id', 'String'],
  ['correlation_source', 'LowCardinality(String)'],
  ['links', 'Array(Tuple(trace_id String, span_id String))'],
  ['actor_id', 'String'],
  ['actor_type', 'LowCardinality(String)'],
  ['actor_role', 'LowCardinality(String)'],
  ['on_behalf_of', 'String'],
  ['initiation', 'LowCardinality(String)'],
  ['service_name', 'LowCardinality(String)'],
  ['environment', 'LowCardinality(String)'],
  ['purpose', 'LowCardinality(String)'],
  ['risk', 'LowCardinality(String)'],
  ['provider', 'LowCardinality(String)'],
  ['request_model', 'LowCardinality(String)'],
  ['response_model', 'LowCardinality(String)'],
  ['input_tokens', 'Nullable(UInt64)'],
  ['output_tokens', 'Nullable(UInt64)'],
  ['prompt_version', 'String'],
  ['tool_name', 'LowCardinality(String)'],
  ['tool_call_id', 'String'],
  ['action', 'LowCardinality(String)'],
  ['target_system', 'LowCardinality(String)'],
  ['target_id', 'String'],
  ['permission', 'LowCardinality(String)'],
  ['approval_required', 'Bool'],
  ['sources', 'Array(Tuple(id String, uri String, version String, sensitivity String, score Nullable(Float64)))'],
  ['decision', 'LowCardinality(String)'],
  ['reviewer_id', 'String'],
  ['reviewer_role', 'LowCardinality(String)'],
  ['rationale', 'String'],
  ['edited', 'Bool'],
  ['effect', 'LowCardinality(String)'],
  ['outcome', 'LowCardinality(String)'],
  ['status', 'LowCardinality(String)'],
  ['error_type', 'LowCardinality(String)'],
  ['input_digest', 'String'],
  ['output_digest', 'String'],
  ['content', 'String CODEC(ZSTD(3))'],
  ['attributes', 'Map(LowCardinality(String), String) CODEC(ZSTD(1))'],
  ['conventions', 'Array(LowCardinality(String))'],
  ['redactions', 'UInt32'],
  ['truncated', 'Array(String)'],
  ['chain_id', 'LowCardinality(String)'],
  ['seq', 'UInt64'],
  ['prev_hash', 'String'],
  ['hash', 'String'],
];

/**
 * Columns added after the first schema, each by its own migration (`ADD COLUMN` appends, so the
 * table order stays EVENT_COLUMNS). The hash chain covers them too, but only when they are not
 * empty, so rows stored before a column existed still hash as they did (chain/canonical.ts).
 */
export const EVENT_COLUMNS_ADDED: ReadonlyArray<readonly [name: string, type: string]> = [
  // Raw content of high-risk events, encrypted under the subject's data key (policy/vault.ts).
  ['content_sealed', 'String CODEC(ZSTD(1))'],
  // Who sent the event: the ingest token's name from the auth file, or `local` (auth/).
  ['ingest_principal', 'LowCardinality(String)'],
  // Which serialization the row's hash covers: 0 for rows stored before it existed (version 1),
  // 2 for the row's own RowBinary bytes (chain/canonical.ts).
  ['hash_version', 'UInt8'],
];

/**
 * Columns computed by ClickHouse from `attributes` (MATERIALIZED, migration 6): cache and
 * reasoning tokens, model lineage, evaluation results. They are not inserted (no part of
 * EVENT_COLUMNS, the RowBinary rows or the hash) and need no intake code: the hash covers the
 * attributes they are read from, and rows stored before migration 6 get them too. `SELECT *`
 * leaves them out; name them, or use the views (model_calls, evaluations, deployments).
 * Token counts only on model calls: agent and workflow spans carry aggregates of their calls.
 */
export const EVENT_COLUMNS_DERIVED: ReadonlyArray<readonly [name: string, type: string, expression: string]> = [
  ['cache_read_input_tokens', 'Nullable(UInt64)', modelCallCount('gen_ai.usage.cache_read.input_tokens', 'gen_ai.usage.cache_read_input_tokens', 'llm.token_count.prompt_details.cache_read', 'ai.usage.cachedInputTokens')],
  ['cache_write_input_tokens', 'Nullable(UInt64)', modelCallCount('gen_ai.usage.cache_write.input_tokens', 'gen_ai.usage.cache_creation.input_tokens', 'gen_ai.usage.cache_write_input_tokens', 'gen_ai.usage.cache_creation_input_tokens', 'llm.token_count.prompt_details.cache_write')],
  ['reasoning_output_tokens', 'Nullable(UInt64)', modelCallCount('gen_ai.usage.reasoning.output_tokens', 'llm.token_count.completion_details.reasoning', 'ai.usage.reasoningTokens')],
  ['model_registry', 'LowCardinality(String)', "attributes['audit.model.registry']"],
  ['model_name', 'String', "attributes['audit.model.name']"],
  ['model_version', 'String', "attributes['audit.model.version']"],
  ['model_run_id', 'String', "attributes['audit.model.run_id']"],
  ['evaluation_name', 'LowCardinality(String)', "attributes['gen_ai.evaluation.name']"],
  ['evaluation_score', 'Nullable(Float64)', "toFloat64OrNull(attributes['gen_ai.evaluation.score.value'])"],
  ['evaluation_label', 'LowCardinality(String)', "attributes['gen_ai.evaluation.score.label']"],
];

/** The first of these attribute keys that holds a count, on model calls only. */
function modelCallCount(...keys: string[]): string {
  const values = keys.map((k) => `toUInt64OrNull(attributes['${k}'])`);
  return `if(event_type = 'model_call', coalesce(${values.join(', ')}), NULL)`;
}

/** The `events` columns, in table order. The hash chain canonicalizes in this order. */
export const EVENT_COLUMNS: ReadonlyArray<readonly [name: string, type: string]> = [...EVENT_COLUMNS_V1, ...EVENT_COLUMNS_ADDED];

/** Days each risk level is kept (TTL); overridable with `retention_days` in the policy file. */
export interface RetentionDays {
  low: number;
  medium: number;
  high: number;
}

export const DEFAULT_RETENTION_DAYS: RetentionDays = { low: 90, medium: 365, high: 2190 };

/**
 * The row TTL of `events`: each row is deleted `retention[risk]` days after it arrived (an
 * unknown risk gets the longest), but only in a chain that holds a single risk level (chain id
 * `<chain>-<risk>`): TTL then removes a prefix of each chain, never a hole (policy/README.md).
 */
export function eventsTtl(r: RetentionDays = DEFAULT_RETENTION_DAYS, hotDays?: number): string {
  return (
    `toDateTime(ingest_time) + toIntervalDay(multiIf(risk = 'low', ${r.low}, risk = 'medium', ${r.medium}, ${r.high})) ` +
    `DELETE WHERE endsWith(chain_id, concat('-', risk))` +
    // The move by age, on the same clock as the deletes: one TTL holds both, so whatever sets
    // the retention (MODIFY TTL, policy/retention.ts) states the move too, and the reverse.
    (hotDays ? `, toDateTime(ingest_time) + toIntervalDay(${hotDays}) TO VOLUME '${COLD_VOLUME}'` : '')
  );
}

/** The days after which the TTL of `events` moves parts to the cold volume, from its `engine_full`; null when it does not. */
export function hotDaysOf(engineFull: string): number | null {
  const m = new RegExp(`toIntervalDay\\((\\d+)\\) TO VOLUME \\\\?'${COLD_VOLUME}\\\\?'`).exec(engineFull);
  return m ? Number(m[1]) : null;
}

const COMMON_VIEW_COLUMNS =
  'event_id, tenant, event_time, correlation_id, trace_id, span_id, parent_span_id, actor_id, actor_type, on_behalf_of, initiation, service_name, purpose, risk, status, error_type';

function engine(o: SchemaOptions, table: string): string {
  if (o.cluster) return `ReplicatedMergeTree('/clickhouse/tables/{shard}/${o.database}/${table}', '{replica}')`;
  return 'MergeTree';
}

/** ` ON CLUSTER '<cluster>'` for the cluster variant: DDL and ALTERs run on every node. */
export function onCluster(o: SchemaOptions): string {
  return o.cluster ? ` ON CLUSTER '${o.cluster}'` : '';
}

/** Name of the physical table that holds the rows: `events` alone, `events_local` on a cluster. */
export function storageName(o: SchemaOptions, table: string): string {
  return o.cluster ? `${table}_local` : table;
}

export const MIGRATIONS: Migration[] = [
  {
    version: 1,
    name: 'events table, checkpoints table',
    statements: (o) => {
      const db = o.database;
      const events = storageName(o, 'events');
      const checkpoints = storageName(o, 'checkpoints');
      const out = [
        `CREATE TABLE IF NOT EXISTS ${db}.${events}${onCluster(o)} (\n${EVENT_COLUMNS_V1.map(([n, t]) => `  ${n} ${t}`).join(',\n')},\n` +
          // Skip indexes for the lookups that are not on the sort key prefix.
          `  INDEX idx_trace_id trace_id TYPE bloom_filter(0.001) GRANULARITY 1,\n` +
          `  INDEX idx_event_id event_id TYPE bloom_filter(0.001) GRANULARITY 1,\n` +
          `  INDEX idx_actor_id actor_id TYPE bloom_filter(0.01) GRANULARITY 2,\n` +
          `  INDEX idx_reviewer_id reviewer_id TYPE bloom_filter(0.01) GRANULARITY 2,\n` +
          `  INDEX idx_tool_name tool_name TYPE set(256) GRANULARITY 2,\n` +
          `  INDEX idx_event_type event_type TYPE set(16) GRANULARITY 2,\n` +
          `  INDEX idx_ingest_time ingest_time TYPE minmax GRANULARITY 1,\n` +
          `  INDEX idx_seq seq TYPE minmax GRANULARITY 1\n` +
          `) ENGINE = ${engine(o, 'events')}\n` +
          // Partitions follow arrival (ingest_time), which is the order of the hash chain, so
          // dropping old partitions removes a prefix of each chain and never a hole in the middle.
          `PARTITION BY toYYYYMM(ingest_time)\n` +
          `ORDER BY (tenant, correlation_id, event_time, event_id)\n` +
          `SETTINGS index_granularity = 8192` +
          (o.cluster ? '' : `, non_replicated_deduplication_window = ${o.dedupWindow ?? 1000}`) +
          (o.hotDays ? `, storage_policy = '${o.storagePolicy ?? DEFAULT_STORAGE_POLICY}'` : ''),
        `CREATE TABLE IF NOT EXISTS ${db}.${checkpoints}${onCluster(o)} (\n` +
          `  chain_id LowCardinality(String),\n  tree_size UInt64,\n  root_hash String,\n  head_seq UInt64,\n  head_hash String,\n` +
          `  created_at DateTime64(3, 'UTC'),\n  prev_tree_size UInt64,\n  prev_root_hash String,\n  key_id String,\n  signature String\n` +
          `) ENGINE = ${engine(o, 'checkpoints')}\nORDER BY (chain_id, tree_size)`,
      ];
      if (o.cluster) {
        out.push(
          `CREATE TABLE IF NOT EXISTS ${db}.events${onCluster(o)} AS ${db}.events_local ENGINE = Distributed('${o.cluster}', ${db}, events_local, cityHash64(tenant, correlation_id))`,
          `CREATE TABLE IF NOT EXISTS ${db}.checkpoints${onCluster(o)} AS ${db}.checkpoints_local ENGINE = Distributed('${o.cluster}', ${db}, checkpoints_local, cityHash64(chain_id))`,
        );
      }
      return out;
    },
  },
  {
    version: 2,
    name: 'analyst views',
    statements: (o) => {
      const db = o.database;
      const view = (name: string, select: string) => `CREATE VIEW IF NOT EXISTS ${db}.${name}${onCluster(o)} AS ${select}`;
      return [
        view(
          'model_calls',
          `SELECT ${COMMON_VIEW_COLUMNS}, operation, provider, request_model, response_model, input_tokens, output_tokens, prompt_version, duration_ns, input_digest, output_digest FROM ${db}.events WHERE event_type = 'model_call'`,
        ),
        view(
          'retrievals',
          `SELECT ${COMMON_VIEW_COLUMNS}, name, sources, length(sources) AS source_count, input_digest FROM ${db}.events WHERE event_type = 'retrieval'`,
        ),
        view(
          'tool_calls',
          `SELECT ${COMMON_VIEW_COLUMNS}, tool_name, tool_call_id, action, target_system, target_id, permission, approval_required, duration_ns FROM ${db}.events WHERE event_type = 'tool_call'`,
        ),
        view(
          'approvals',
          `SELECT ${COMMON_VIEW_COLUMNS}, decision, reviewer_id, reviewer_role, rationale, edited, links, arrayJoin(if(empty(links), [tuple('', '')], links)) AS proposal FROM ${db}.events WHERE event_type = 'approval'`,
        ),
        view(
          'system_effects',
          `SELECT ${COMMON_VIEW_COLUMNS}, effect, action, target_system, target_id FROM ${db}.events WHERE event_type = 'system_effect'`,
        ),
        view(
          'timeline',
          `SELECT correlation_id, event_time, event_type, name, actor_id, actor_type, on_behalf_of, initiation, service_name, purpose, risk, ` +
            `provider, request_model, tool_name, action, target_system, target_id, decision, reviewer_id, effect, outcome, status, ` +
            `trace_id, span_id, parent_span_id, links, event_id, tenant, chain_id, seq FROM ${db}.events ORDER BY correlation_id, event_time, seq`,
        ),
      ];
    },
  },
  {
    version: 3,
    name: 'content_sealed column (raw content of high-risk events, encrypted per subject)',
    statements: (o) => addColumn(o, 'content_sealed'),
  },
  {
    version: 4,
    name: 'retention by risk level (row TTL)',
    statements: (o) => [`ALTER TABLE ${o.database}.${storageName(o, 'events')}${onCluster(o)} MODIFY TTL ${eventsTtl(o.retention, o.hotDays)}`],
  },
  {
    version: 5,
    name: 'ingest_principal column (the credential that sent each event)',
    statements: (o) => addColumn(o, 'ingest_principal'),
  },
  {
    version: 6,
    name: 'derived columns (cache and reasoning tokens, model lineage, evaluations), evaluations and deployments views',
    statements: (o) => [...EVENT_COLUMNS_DERIVED.flatMap(([name]) => addDerivedColumn(o, name)), ...views6(o)],
  },
  // Version 7 stands alone (CREATE ... IF NOT EXISTS only): it applies whether or not 6 ran first.
  {
    version: 7,
    name: 'alerts table and alert_events view (detections, detect/)',
    statements: (o) => alertsDdl(o),
  },
  {
    version: 8,
    name: 'hash_version column (which serialization each row\'s hash covers)',
    statements: (o) => addColumn(o, 'hash_version'),
  },
];

/**
 * The alerts the detections raise (detect/README.md): one row per incident, `alert_id` derived
 * from the incident, so that a re-evaluation or a restart re-inserting it collapses into the same
 * row (ReplacingMergeTree; readers also take one row per alert_id). `tenant` makes read-only
 * `sql` filter it per reader like every table of the database with a tenant column.
 */
export const ALERT_COLUMNS: ReadonlyArray<readonly [name: string, type: string]> = [
  ['alert_id', 'String'],
  ['tenant', 'LowCardinality(String)'],
  ['rule', 'LowCardinality(String)'],
  ['severity', 'LowCardinality(String)'],
  ['correlation_id', 'String'],
  ['subject', 'String'],
  ['event_ids', 'Array(String)'],
  ['first_event_time', "DateTime64(9, 'UTC')"],
  ['last_event_time', "DateTime64(9, 'UTC')"],
  ['detected_at', "DateTime64(3, 'UTC')"],
  ['explanation', 'String'],
  ['details', 'String'],
];

function alertsDdl(o: SchemaOptions): string[] {
  const db = o.database;
  const local = storageName(o, 'alerts');
  const eng = o.cluster ? `ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/${db}/alerts', '{replica}')` : 'ReplacingMergeTree';
  const out = [
    `CREATE TABLE IF NOT EXISTS ${db}.${local}${onCluster(o)} (\n${ALERT_COLUMNS.map(([n, t]) => `  ${n} ${t}`).join(',\n')},\n` +
      `  INDEX idx_detected_at detected_at TYPE minmax GRANULARITY 1\n` +
      `) ENGINE = ${eng}\nORDER BY (tenant, rule, alert_id)`,
  ];
  if (o.cluster) {
    out.push(`CREATE TABLE IF NOT EXISTS ${db}.alerts${onCluster(o)} AS ${db}.alerts_local ENGINE = Distributed('${o.cluster}', ${db}, alerts_local, cityHash64(tenant, alert_id))`);
  }
  out.push(
    `CREATE VIEW IF NOT EXISTS ${db}.alert_events${onCluster(o)} AS SELECT alert_id, tenant, rule, severity, correlation_id, detected_at, arrayJoin(event_ids) AS event_id FROM ${db}.alerts`,
  );
  return out;
}

/** ADD COLUMN … MATERIALIZED for one of EVENT_COLUMNS_DERIVED, on the local and the Distributed table. */
function addDerivedColumn(o: SchemaOptions, name: string): string[] {
  const [, type, expression] = EVENT_COLUMNS_DERIVED.find(([n]) => n === name)!;
  const add = `ADD COLUMN IF NOT EXISTS ${name} ${type} MATERIALIZED ${expression}`;
  const out = [`ALTER TABLE ${o.database}.${storageName(o, 'events')}${onCluster(o)} ${add}`];
  if (o.cluster) out.push(`ALTER TABLE ${o.database}.events${onCluster(o)} ${add}`);
  return out;
}

/**
 * Migration 6's views: `evaluations` (each evaluation with the model call it evaluates: by span
 * link or parent span, else by gen_ai.response.id), `deployments`, and `model_calls` again with
 * the derived token and lineage columns.
 */
function views6(o: SchemaOptions): string[] {
  const db = o.database;
  const view = (name: string, select: string) => `CREATE OR REPLACE VIEW ${db}.${name}${onCluster(o)} AS ${select}`;
  return [
    view(
      'model_calls',
      `SELECT ${COMMON_VIEW_COLUMNS}, operation, provider, request_model, response_model, input_tokens, output_tokens, ` +
        `cache_read_input_tokens, cache_write_input_tokens, reasoning_output_tokens, prompt_version, ` +
        `model_registry, model_name, model_version, model_run_id, attributes['gen_ai.response.id'] AS response_id, ` +
        `duration_ns, input_digest, output_digest FROM ${db}.events WHERE event_type = 'model_call'`,
    ),
    view(
      'evaluations',
      `SELECT ${COMMON_VIEW_COLUMNS}, name, if(evaluation_name != '', evaluation_name, name) AS evaluation_name, evaluation_score, evaluation_label, ` +
        `attributes['gen_ai.response.id'] AS response_id, ` +
        `if(empty(links), parent_span_id, tupleElement(links[1], 'span_id')) AS evaluated_span_id, conventions, output_digest ` +
        `FROM ${db}.events WHERE event_type = 'evaluation'`,
    ),
    view(
      'deployments',
      `SELECT ${COMMON_VIEW_COLUMNS}, name, model_registry, model_name, model_version, model_run_id, ` +
        `target_id AS deployment_environment, target_system AS deployment_platform, reviewer_id AS approved_by, reviewer_role, links ` +
        `FROM ${db}.events WHERE event_type = 'deployment'`,
    ),
  ];
}

/** ADD COLUMN for one of EVENT_COLUMNS_ADDED; the Distributed table mirrors the local table's columns. */
function addColumn(o: SchemaOptions, name: string): string[] {
  const [, type] = EVENT_COLUMNS_ADDED.find(([n]) => n === name)!;
  const add = `ADD COLUMN IF NOT EXISTS ${name} ${type}`;
  const out = [`ALTER TABLE ${o.database}.${storageName(o, 'events')}${onCluster(o)} ${add}`];
  if (o.cluster) out.push(`ALTER TABLE ${o.database}.events${onCluster(o)} ${add}`);
  return out;
}

export function migrationTableDdl(o: SchemaOptions): string {
  const table = storageName(o, 'schema_migrations');
  const out = `CREATE TABLE IF NOT EXISTS ${o.database}.${table}${onCluster(o)} (version UInt32, name String, applied_at DateTime('UTC') DEFAULT now()) ENGINE = ${engine(o, 'schema_migrations')} ORDER BY version`;
  return out;
}

/** The whole DDL as one script (for deploy/clickhouse/ and `migrate --print`). */
export function fullDdl(o: SchemaOptions): string {
  const stmts = [
    `CREATE DATABASE IF NOT EXISTS ${o.database}${onCluster(o)}`,
    migrationTableDdl(o),
    ...MIGRATIONS.flatMap((m) => m.statements({ ...o })),
  ];
  return stmts.map((s) => `${s};\n`).join('\n');
}
