import { describe, expect, it } from 'vitest';
import { checkReadOnlySql, SqlRejectedError } from './sql-guard.ts';

describe('checkReadOnlySql', () => {
  it.each([
    'SELECT count() FROM otel_audit.events',
    'select * from otel_audit.timeline where correlation_id = \'CASE-1\';',
    "WITH x AS (SELECT 1) SELECT * FROM x",
    'SHOW TABLES FROM otel_audit',
    'DESCRIBE otel_audit.events',
    "SELECT 'file(/etc/passwd)' AS just_a_string",
    '-- a comment\nSELECT 1',
    'SELECT * FROM system.settings WHERE changed',
    'SELECT number FROM numbers(10)',
    'SELECT * FROM (SELECT 1) AS t JOIN (SELECT 1) AS u ON 1',
  ])('accepts %s', (q) => {
    expect(() => checkReadOnlySql(q)).not.toThrow();
  });

  it.each([
    ['INSERT INTO otel_audit.events VALUES (1)', /INSERT is not allowed/],
    ['ALTER TABLE otel_audit.events DELETE WHERE 1', /ALTER is not allowed/],
    ['DROP TABLE otel_audit.events', /DROP is not allowed/],
    ['SELECT 1; DROP TABLE otel_audit.events', /one statement/],
    ["SELECT * FROM file('/etc/passwd', 'LineAsString')", /file\(\) is not allowed/],
    ["SELECT * FROM url('http://example.com/x', CSV)", /url\(\) is not allowed/],
    ["SELECT * FROM s3('https://b/x')", /s3\(\) is not allowed/],
    ["SELECT * FROM remote('h', db.t)", /remote\(\) is not allowed/],
    ['SELECT 1 INTO OUTFILE \'/tmp/x\'', /INTO OUTFILE/i],
    ['SELECT 1 SETTINGS readonly=0', /SETTINGS/],
    ['', /empty/],
    ["SELECT content FROM filesystem('/etc')", /filesystem\(\) is not allowed/],
    ["SELECT * FROM deltaLakeLocal('/tmp/x')", /deltaLakeLocal\(\) is not allowed/],
    ["SELECT * FROM someFutureTableFunction('x')", /someFutureTableFunction\(\) is not allowed/],
    ["SELECT * FROM otel_audit.events e JOIN url('http://x', CSV) u ON 1", /url\(\) is not allowed/],
    ['/* hidden */ TRUNCATE otel_audit.events', /TRUNCATE is not allowed/],
  ])('rejects %s', (q, why) => {
    expect(() => checkReadOnlySql(q)).toThrow(SqlRejectedError);
    expect(() => checkReadOnlySql(q)).toThrow(why);
  });
});
