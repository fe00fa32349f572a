-- otel-audit on a ClickHouse server: a reader of one tenant who queries ClickHouse directly (a BI tool, a notebook).
-- Run after users.sql, as a ClickHouse administrator, once per tenant reader: replace acme (the tenant) and the user's
-- name and password. The engine holds such a user to the tenant's rows (a row policy) and to reads (readonly=1).
-- Readers of the bridge's own API need none of this: the bridge scopes their `sql` queries by their token.

-- Once, for every tenant reader: read-only, the same ceilings as the bridge's reader, none of them changeable.
CREATE SETTINGS PROFILE IF NOT EXISTS otel_audit_tenant_reader_profile SETTINGS
    readonly = 1,
    max_execution_time = 60 CONST,
    max_memory_usage = 1073741824 CONST,
    max_result_rows = 10000000 CONST,
    max_result_bytes = 1073741824 CONST,
    result_overflow_mode = 'throw' CONST,
    max_threads = 2 CONST,
    allow_introspection_functions = 0 CONST;
CREATE ROLE IF NOT EXISTS otel_audit_tenant_reader_role SETTINGS PROFILE 'otel_audit_tenant_reader_profile';
-- events and the analyst views; not checkpoints (chain heads over every tenant's events).
GRANT SELECT ON otel_audit.events TO otel_audit_tenant_reader_role;
GRANT SELECT ON otel_audit.timeline TO otel_audit_tenant_reader_role;
GRANT SELECT ON otel_audit.model_calls TO otel_audit_tenant_reader_role;
GRANT SELECT ON otel_audit.retrievals TO otel_audit_tenant_reader_role;
GRANT SELECT ON otel_audit.tool_calls TO otel_audit_tenant_reader_role;
GRANT SELECT ON otel_audit.approvals TO otel_audit_tenant_reader_role;
GRANT SELECT ON otel_audit.system_effects TO otel_audit_tenant_reader_role;
GRANT SELECT ON otel_audit.evaluations TO otel_audit_tenant_reader_role;
GRANT SELECT ON otel_audit.deployments TO otel_audit_tenant_reader_role;
-- The alerts of the detections, and the view of the events they cite.
GRANT SELECT ON otel_audit.alerts TO otel_audit_tenant_reader_role;
GRANT SELECT ON otel_audit.alert_events TO otel_audit_tenant_reader_role;

-- Per tenant reader (here: acme).
CREATE USER IF NOT EXISTS otel_audit_reader_acme IDENTIFIED WITH sha256_password BY 'CHANGE-ME' HOST ANY DEFAULT DATABASE otel_audit;
GRANT otel_audit_tenant_reader_role TO otel_audit_reader_acme;
CREATE ROW POLICY IF NOT EXISTS otel_audit_tenant_acme ON otel_audit.events AS PERMISSIVE FOR SELECT USING tenant = 'acme' TO otel_audit_reader_acme;
CREATE ROW POLICY IF NOT EXISTS otel_audit_tenant_acme_alerts ON otel_audit.alerts AS PERMISSIVE FOR SELECT USING tenant = 'acme' TO otel_audit_reader_acme;
