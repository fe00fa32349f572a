/**
 * Read-only SQL for the `sql` command and endpoint. ClickHouse's `readonly` setting cannot be
 * relied on alone (through chdb/connection settings are session-wide), and table functions
 * such as file() or url() would read the bridge host's files (its signing key among them)
 * even in read-only mode. So: one statement, of a reading kind, and no external access.
 */
const READING_STATEMENTS = /^(SELECT|WITH|SHOW|DESCRIBE|DESC|EXPLAIN|EXISTS)\b/i;

/** Table functions and functions that reach outside the database. */
const EXTERNAL_ACCESS =
  /\b(file|fileCluster|url|urlCluster|s3|s3Cluster|gcs|azureBlobStorage|azureBlobStorageCluster|hdfs|hdfsCluster|remote|remoteSecure|cluster|clusterAllReplicas|mysql|postgresql|mongodb|redis|sqlite|jdbc|odbc|executable|executablePool|input|deltaLake|deltaLakeCluster|iceberg|icebergS3|icebergAzure|icebergHDFS|icebergLocal|hudi|hudiCluster|dictionary|arrowFlight|ytsaurus|filesystem|deltaLakeLocal|paimonLocal|paimonS3|deltaLakeS3|oss|cosn|icebergCluster)\s*\(/i;

const WRITING = /\b(INTO\s+OUTFILE|SETTINGS(?=\s+\w+\s*=))/i;

/**
 * Table functions a query may use: they generate data or read the audit database only. Any
 * other one (file, filesystem, url, s3, remote, deltaLakeLocal, ... and those added by future
 * ClickHouse versions) is refused.
 */
const ALLOWED_TABLE_FUNCTIONS = new Set(
  ['numbers', 'numbers_mt', 'zeros', 'zeros_mt', 'values', 'generate_series', 'generateseries', 'null', 'view', 'merge', 'loop', 'generaterandom', 'format'],
);
const TABLE_FUNCTION = /\b(?:FROM|JOIN|TABLE)\s+([A-Za-z_][A-Za-z0-9_]*)\s*\(/gi;

export class SqlRejectedError extends Error {}

/** Strips comments and string literals so the checks see only SQL structure. */
function structure(sql: string): string {
  return sql
    .replace(/'(?:[^'\\]|\\.|'')*'/g, "''")
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/`(?:[^`\\]|\\.)*`/g, '``')
    .replace(/--[^\n]*/g, ' ')
    .replace(/#[^\n]*/g, ' ')
    .replace(/\/\*[\s\S]*?\*\//g, ' ');
}

/** Returns the statement without a trailing semicolon, or throws SqlRejectedError saying why. */
export function checkReadOnlySql(sql: string): string {
  const trimmed = sql.trim().replace(/;\s*$/, '');
  if (!trimmed) throw new SqlRejectedError('empty query');
  const s = structure(trimmed).trim();
  if (s.includes(';')) throw new SqlRejectedError('only one statement is allowed');
  if (!READING_STATEMENTS.test(s)) {
    const kw = /^\s*(\w+)/.exec(s)?.[1]?.toUpperCase() ?? '?';
    throw new SqlRejectedError(`${kw} is not allowed: the sql command is read-only (SELECT, WITH, SHOW, DESCRIBE, EXPLAIN, EXISTS)`);
  }
  for (const m of s.matchAll(TABLE_FUNCTION)) {
    if (!ALLOWED_TABLE_FUNCTIONS.has(m[1].toLowerCase())) {
      throw new SqlRejectedError(`${m[1]}() is not allowed: queries may read only the audit database`);
    }
  }
  const ext = EXTERNAL_ACCESS.exec(s);
  if (ext) throw new SqlRejectedError(`${ext[1]}() is not allowed: queries may read only the audit database`);
  const w = WRITING.exec(s);
  if (w) throw new SqlRejectedError(`${w[1].toUpperCase()} is not allowed in a read-only query`);
  return trimmed;
}
