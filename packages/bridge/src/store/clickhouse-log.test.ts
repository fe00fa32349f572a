import { describe, expect, it } from 'vitest';
import { createLogger } from '../internal/index.ts';
import { ClickHouseLog, routeClickHouseLog } from './clickhouse-log.ts';

describe('ClickHouseLog', () => {
  it('writes the client\'s messages as JSON lines of the bridge log, without query text', () => {
    const lines: string[] = [];
    routeClickHouseLog(createLogger('debug', (l) => lines.push(l)));
    const log = new ClickHouseLog();
    log.warn({ module: 'Connection', message: 'socket closed\nretrying', args: { query: "SELECT 'jane@example.com'", attempt: 2 }, err: new Error('ECONNRESET') });
    log.error({ module: 'Client', message: 'insert failed', err: new Error('Code: 241') });
    log.trace({ module: 'Client', message: 'traced' });
    expect(lines.every((l) => l.endsWith('\n') && l.indexOf('\n') === l.length - 1)).toBe(true);
    const [warn, error, trace] = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(warn).toMatchObject({ level: 'warn', msg: 'socket closed\nretrying', component: '@clickhouse/client Connection', attempt: 2, error: 'ECONNRESET' });
    expect(warn).not.toHaveProperty('query');
    expect(error).toMatchObject({ level: 'error', msg: 'insert failed', error: 'Code: 241' });
    expect(trace).toMatchObject({ level: 'debug', msg: 'traced' });
  });
});
