import { describe, expect, it } from 'vitest';
import { CSV_BOM, csvCell, csvRecord, csvRecords, csvText, jsonLines, schemaDocument } from './format.ts';
import { EVENT_COLUMNS } from '../store/index.ts';

describe('events.csv', () => {
  const values: unknown[] = [
    'plain',
    'with, comma',
    'with "quotes"',
    'two\nlines',
    'crlf\r\nline',
    '=SUM(A1:A2)',
    '+1',
    '-1',
    '@cmd',
    '\tTAB',
    "'already",
    'ünïcödé ✓ 😀',
    '',
    null,
    0,
    42.5,
    true,
    false,
    { k: 'v' },
    [{ trace_id: 'a', span_id: 'b' }],
  ];

  it('reads back what it writes, cell by cell (csvText is the parsed cell)', () => {
    const header = values.map((_, i) => `c${i}`);
    const doc = CSV_BOM + csvRecord(header.map(csvCell)) + csvRecord(values.map(csvCell)) + csvRecord(values.map(csvCell));
    const rows = [...csvRecords(Buffer.from(doc, 'utf8'))];
    expect(rows.map((r) => r.line)).toEqual([1, 2, 5]); // the second record spans three lines
    expect(rows[0].fields).toEqual(header);
    expect(rows[1].fields).toEqual(values.map(csvText));
    expect(rows[2].fields).toEqual(rows[1].fields);
  });

  it('defuses formulas and writes everything else as JSON text', () => {
    expect(csvText('=SUM(A1:A2)')).toBe("'=SUM(A1:A2)");
    expect(csvText('-1')).toBe("'-1");
    expect(csvText(-1)).toBe('-1');
    expect(csvText(null)).toBe('');
    expect(csvText({ k: 'v' })).toBe('{"k":"v"}');
    expect(csvCell('a"b')).toBe('"a""b"');
  });

  it('reports a quote that never closes', () => {
    expect(() => [...csvRecords(Buffer.from('a,"b\n'))]).toThrow(/does not close/);
  });
});

describe('events.jsonl lines', () => {
  it('splits on LF without decoding the whole file, numbering from 1', () => {
    expect([...jsonLines(Buffer.from('{"a":1}\n{"b":"ü"}\n'))]).toEqual([
      { line: 1, text: '{"a":1}' },
      { line: 2, text: '{"b":"ü"}' },
    ]);
  });
});

describe('schema.json', () => {
  it('names every hashed column in order, with its normalization', () => {
    const s = schemaDocument();
    expect(s.hash_domain).toBe('otel-audit/event/v1\n');
    expect(s.columns[0]).toEqual({ name: 'event_id', type: 'String', normalize: 'as_is' });
    expect(s.columns.find((c) => c.name === 'seq')?.normalize).toBe('uint64');
    expect(s.columns.find((c) => c.name === 'attributes')).toEqual({ name: 'attributes', type: 'Map(LowCardinality(String), String)', normalize: 'map' });
    expect(s.columns.find((c) => c.name === 'links')?.normalize).toBe('tuples');
    expect(s.columns.map((c) => c.name)).not.toContain('hash');
    expect(s.added_columns.map((c) => c.name).slice(0, 2)).toEqual(['content_sealed', 'ingest_principal']);
    expect(s.added_columns.map((c) => c.name)).toContain('hash_version');
    expect(s.hash_v2?.hash_domain).toBe('otel-audit/event/v2\n');
    expect(s.hash_v2?.columns.map((c) => c.name)).toEqual(EVENT_COLUMNS.map(([n]) => n).filter((n) => n !== 'hash'));
  });
});
