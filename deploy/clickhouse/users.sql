-- otel-audit on a ClickHouse server: who may do what (docs/operations.md, "ClickHouse server: users and roles").
-- Run once as a ClickHouse administrator (access management enabled), then `otel-audit migrate` as otel_audit_admin.
-- Replace every CHANGE-ME password (or use IDENTIFIED WITH sha256_hash BY '<hex>') and narrow HOST to the bridge's
-- addresses. On a cluster, add ON CLUSTER '<name>' to each statement (or use replicated access storage) and grant the
-- writer INSERT on events_local and checkpoints_local as well.

-- The schema owner: `otel-audit migrate` (tables, views, new columns) and retention changes (the TTL of events).
-- The only account that can change the schema or shorten retention; the bridge does not run as it.
CREATE ROLE IF NOT EXISTS otel_audit_admin_role;
GRANT CREATE DATABASE ON otel_audit.* TO otel_audit_admin_role;
GRANT CREATE TABLE, CREATE VIEW, ALTER ADD COLUMN, ALTER MODIFY TTL, ALTER MATERIALIZE TTL, ALTER MODIFY SETTING, INSERT, SELECT ON otel_audit.* TO otel_audit_admin_role;
CREATE USER IF NOT EXISTS otel_audit_admin IDENTIFIED WITH sha256_password BY 'CHANGE-ME' HOST ANY DEFAULT DATABASE otel_audit;
GRANT otel_audit_admin_role TO otel_audit_admin;

-- The bridge (`otel-audit serve --clickhouse-url`): appends events and checkpoints, and reads the trail (chain heads,
-- listings, proofs). No ALTER, DELETE, UPDATE, TRUNCATE or DROP: it cannot rewrite or remove what it wrote.
-- CREATE DATABASE and CREATE TABLE on schema_migrations only because serve starts with the schema check
-- (CREATE ... IF NOT EXISTS; ClickHouse checks the grant even when the object exists). Pending migrations fail
-- with ACCESS_DENIED: run `otel-audit migrate` as the admin. So does a changed retention in the policy file:
-- apply it as the admin (docs/operations.md).
CREATE ROLE IF NOT EXISTS otel_audit_writer_role;
GRANT INSERT ON otel_audit.events TO otel_audit_writer_role;
GRANT INSERT ON otel_audit.checkpoints TO otel_audit_writer_role;
-- The alerts the detections raise (packages/bridge/src/detect/).
GRANT INSERT ON otel_audit.alerts TO otel_audit_writer_role;
GRANT SELECT ON otel_audit.* TO otel_audit_writer_role;
GRANT CREATE DATABASE ON otel_audit.* TO otel_audit_writer_role;
GRANT CREATE TABLE ON otel_audit.schema_migrations TO otel_audit_writer_role;
CREATE USER IF NOT EXISTS otel_audit_writer IDENTIFIED WITH sha256_password BY 'CHANGE-ME' HOST ANY DEFAULT DATABASE otel_audit;
GRANT otel_audit_writer_role TO otel_audit_writer;

-- The bridge's `sql` queries (`serve --clickhouse-reader-url`): SELECT on the audit database, nothing else.
-- The bridge sends readonly=1 with every request, so `readonly` stays writable here; every limit has a ceiling that
-- neither the bridge nor anyone with these credentials can lift (MIN keeps 0, "no limit", out), and the modes are CONST.
-- The bridge also sends additional_table_filters (the tenant filter), output formats and
-- cancel_http_readonly_queries_on_client_close; a query cannot change any of them (readonly=1 refuses SETTINGS).
CREATE SETTINGS PROFILE IF NOT EXISTS otel_audit_reader_profile SETTINGS
    max_execution_time = 60 MIN 0.1 MAX 600,
    timeout_overflow_mode = 'throw' CONST,
    max_memory_usage = 1073741824 MIN 1048576 MAX 4294967296,
    max_result_rows = 10000000 MIN 1 MAX 100000000,
    max_result_bytes = 1073741824 MIN 1024 MAX 4294967296,
    result_overflow_mode = 'throw' CONST,
    max_threads = 2 MIN 1 MAX 4,
    max_query_size = 4194304 MIN 1024 MAX 4194304,
    allow_introspection_functions = 0 CONST,
    allow_ddl = 0 CONST;
CREATE ROLE IF NOT EXISTS otel_audit_reader_role SETTINGS PROFILE 'otel_audit_reader_profile';
GRANT SELECT ON otel_audit.* TO otel_audit_reader_role;
-- What the bridge reads to check and scope a query (the function catalog, the audit tables), and what analysts may
-- read; ClickHouse shows a user only the tables it has grants on.
GRANT SELECT ON system.one TO otel_audit_reader_role;
GRANT SELECT ON system.functions TO otel_audit_reader_role;
GRANT SELECT ON system.table_functions TO otel_audit_reader_role;
GRANT SELECT ON system.tables TO otel_audit_reader_role;
GRANT SELECT ON system.columns TO otel_audit_reader_role;
CREATE USER IF NOT EXISTS otel_audit_reader IDENTIFIED WITH sha256_password BY 'CHANGE-ME' HOST ANY DEFAULT DATABASE otel_audit;
GRANT otel_audit_reader_role TO otel_audit_reader;

-- Row policies. Once events has one (tenant-reader.sql adds one per tenant reader), a user that no policy names sees
-- none of its rows: these three see every tenant. The views read events as the user who queries them (SQL SECURITY
-- INVOKER, the default for plain views), so the policies on events hold for every view too.
CREATE ROW POLICY IF NOT EXISTS otel_audit_all_tenants ON otel_audit.events AS PERMISSIVE FOR SELECT USING 1 TO otel_audit_admin_role, otel_audit_writer_role, otel_audit_reader_role;
