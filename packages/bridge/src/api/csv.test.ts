import { describe, expect, it } from 'vitest';
import { EVENT_COLUMNS } from '../store/index.ts';
import { csvChunks, csvField, csvHeader, csvRow, CSV_COLUMNS } from './csv.ts';

describe('CSV for people', () => {
  it('has every stored column once, under a plain name, except the sealed ciphertext', () => {
    const columns = CSV_COLUMNS.map(([, c]) => c);
    expect(new Set(columns).size).toBe(columns.length);
    const stored = EVENT_COLUMNS.map(([n]) => n).filter((n) => n !== 'content_sealed');
    expect([...columns].filter((c) => c !== 'has_sealed_content').sort()).toEqual([...stored].sort());
    expect(csvHeader()).not.toMatch(/content_sealed|_id\b|_ns\b/);
  });

  it('writes nulls as empty cells, lists and maps as text, booleans as words', () => {
    const row = csvRow({
      event_time: '2026-03-01 10:00:00.000000000',
      input_tokens: null,
      approval_required: true,
      edited: false,
      sources: [{ id: 'kb-12', uri: '', version: '3', sensitivity: 'internal', score: 0.82 }, { id: 'kb-7', uri: 'https://kb/7', version: '', sensitivity: '', score: null }],
      links: [{ trace_id: 'aa', span_id: 'bb' }],
      attributes: { 'b.key': 'x', 'a.key': 'y=z' },
      conventions: ['audit', 'otel_genai'],
      duration_ns: '1500000',
      has_sealed_content: true,
    });
    const cells = row.trimEnd().split(',');
    const at = (h: string) => cells[CSV_COLUMNS.findIndex(([name]) => name === h)];
    expect(at('Input tokens')).toBe('');
    expect(at('Approval required')).toBe('yes');
    expect(at('Edited')).toBe('no');
    expect(at('Sources')).toBe('kb-12 v3 (internal) score 0.82; kb-7 https://kb/7');
    expect(at('Links')).toBe('aa/bb');
    expect(at('Attributes')).toBe('a.key=y=z; b.key=x');
    expect(at('Conventions')).toBe('audit; otel_genai');
    expect(at('Duration (ms)')).toBe('1.5');
    expect(at('Sealed content')).toBe('yes');
    expect(row).not.toContain('\\N');
  });

  it('quotes as RFC 4180 says; with excel, cells a spreadsheet would run are neutralized', () => {
    expect(csvField('a,b')).toBe('"a,b"');
    expect(csvField('say "hi"')).toBe('"say ""hi"""');
    expect(csvField('two\nlines')).toBe('"two\nlines"');
    expect(csvField('=HYPERLINK("x")')).toBe('"=HYPERLINK(""x"")"');
    expect(csvField('=1+1', true)).toBe("'=1+1");
    expect(csvField('@SUM(A1)', true)).toBe("'@SUM(A1)");
    expect(csvField('-2', true)).toBe("'-2");
    expect(csvField('plain', true)).toBe('plain');
  });

  it('streams the header once the first row is there, and alone when there is none', async () => {
    const read = async (rows: Array<Record<string, unknown>>, excel = false) => {
      let out = '';
      for await (const c of csvChunks((async function* () { yield* rows; })(), excel)) out += c.toString();
      return out;
    };
    expect(await read([])).toBe(csvHeader());
    expect((await read([{ name: 'x' }], true)).startsWith('\uFEFFTime (UTC),')).toBe(true);
  });
});
