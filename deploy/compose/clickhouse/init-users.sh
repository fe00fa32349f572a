#!/bin/bash
# First start of the ClickHouse container (docker-entrypoint-initdb.d): the users and roles of
# deploy/clickhouse/users.sql, with the passwords of the environment instead of CHANGE-ME, and
# what a cluster needs besides (docs/operations.md, "ClickHouse server: users and roles"): the
# admin runs ON CLUSTER DDL, the writer inserts into the local tables behind the Distributed ones.
set -euo pipefail
for v in OTEL_AUDIT_ADMIN_PASSWORD OTEL_AUDIT_WRITER_PASSWORD OTEL_AUDIT_READER_PASSWORD; do
  case "${!v:-}" in '' | *"'"* | *'\'*) echo "init-users.sh: $v must be set, without quotes or backslashes" >&2; exit 1 ;; esac
done
{
  sed -e "/CREATE USER IF NOT EXISTS otel_audit_admin /s/'CHANGE-ME'/'${OTEL_AUDIT_ADMIN_PASSWORD}'/" \
      -e "/CREATE USER IF NOT EXISTS otel_audit_writer /s/'CHANGE-ME'/'${OTEL_AUDIT_WRITER_PASSWORD}'/" \
      -e "/CREATE USER IF NOT EXISTS otel_audit_reader /s/'CHANGE-ME'/'${OTEL_AUDIT_READER_PASSWORD}'/" \
      /otel-audit/users.sql
  echo "GRANT CLUSTER ON *.* TO otel_audit_admin_role;"
  echo "GRANT INSERT ON otel_audit.events_local TO otel_audit_writer_role;"
  echo "GRANT INSERT ON otel_audit.checkpoints_local TO otel_audit_writer_role;"
  echo "GRANT INSERT ON otel_audit.alerts_local TO otel_audit_writer_role;"
} | clickhouse-client --host 127.0.0.1 --user "${CLICKHOUSE_USER:-default}" --password "${CLICKHOUSE_PASSWORD}" --multiquery
