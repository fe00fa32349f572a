import { describe, expect, it } from 'vitest';
import type { AuditEvent } from '../model.ts';
import { assembleContent } from './finalize.ts';
import type { ContentPiece, ContentSection, EventFinalizer, PendingEvent } from './types.ts';

const SECTIONS: ContentSection[] = ['system', 'input', 'output', 'arguments', 'result', 'query'];
const LISTS = new Set<ContentSection>(['system', 'input', 'output']);

/** What content and sealed plaintext were before pieces carried JSON text: objects, then JSON.stringify. */
function reference(pieces: ContentPiece[], values: Map<ContentPiece, { value: unknown; raw: unknown }>): { content: string; raw: string } {
  const sorted = [...pieces].sort((a, b) => (a.order < b.order ? -1 : a.order > b.order ? 1 : 0));
  const content: Record<string, unknown> = {};
  const raw: Record<string, unknown> = {};
  for (const p of sorted) {
    const v = values.get(p)!;
    if (LISTS.has(p.section)) {
      ((content[p.section] ??= []) as unknown[]).push(v.value);
      ((raw[p.section] ??= []) as unknown[]).push(v.raw);
    } else {
      content[p.section] = v.value;
      raw[p.section] = v.raw;
    }
  }
  return { content: JSON.stringify(content), raw: JSON.stringify(raw) };
}

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32);
}

function randomValue(r: () => number, depth = 0): unknown {
  const k = Math.floor(r() * (depth > 2 ? 4 : 7));
  if (k === 0) return `text ${Math.floor(r() * 1e6)} ünï "quoted" \\ 🚀 \n`;
  if (k === 1) return Math.floor(r() * 1e9) / 100;
  if (k === 2) return r() < 0.5;
  if (k === 3) return null;
  if (k === 4) return Array.from({ length: Math.floor(r() * 4) }, () => randomValue(r, depth + 1));
  const o: Record<string, unknown> = {};
  for (let i = 0; i < Math.floor(r() * 4); i++) o[`k${i}${r() < 0.2 ? ' "x"' : ''}`] = randomValue(r, depth + 1);
  if (k === 6) o.role = 'user';
  return o;
}

const finalizer = (mode: 'redacted' | 'sealed', sealed: string[]): EventFinalizer => ({
  finalizeColumns: () => {},
  contentMode: () => mode,
  sealContent: (_e, raw) => {
    sealed.push(raw);
    return 'sealed-blob';
  },
});

describe('assembleContent', () => {
  it('joins pieces into exactly the JSON the object form gave, in both the JSON-text and the older object form', () => {
    const r = rng(42);
    for (let round = 0; round < 400; round++) {
      const pieces: ContentPiece[] = [];
      const values = new Map<ContentPiece, { value: unknown; raw: unknown }>();
      const n = 1 + Math.floor(r() * 8);
      for (let i = 0; i < n; i++) {
        const section = SECTIONS[Math.floor(r() * SECTIONS.length)];
        const value = randomValue(r);
        const raw = r() < 0.7 ? value : randomValue(r);
        const order = String(Math.floor(r() * 5)).padStart(20, '0') + `:${String(i).padStart(6, '0')}`;
        // Half the pieces as intake makes them now (JSON text), half as older logs hold them.
        const piece: ContentPiece =
          r() < 0.5
            ? { section, json: JSON.stringify(value), rawJson: JSON.stringify(raw), digest: 'd', order, redactions: 0 }
            : { section, value, raw, digest: 'd', order, redactions: 0 };
        pieces.push(piece);
        values.set(piece, { value, raw });
      }
      const expected = reference(pieces, values);
      const sealed: string[] = [];
      const event = { attributes: {}, redactions: 0, input_digest: '', output_digest: '', content: '' } as unknown as AuditEvent;
      const p = { event, pieces, node: {} as PendingEvent['node'], awaitsContent: false, arrivedAt: 0 } as PendingEvent;
      assembleContent(p, finalizer('sealed', sealed));
      expect(event.content).toBe(expected.content);
      expect(sealed).toEqual([expected.raw]);
      expect(JSON.parse(event.content)).toEqual(JSON.parse(expected.content));
      // The raw forms are gone once sealed.
      for (const piece of pieces) expect(piece.rawJson ?? piece.raw).toBeUndefined();
    }
  });

  it('says the content could not be sealed when a piece has no raw form', () => {
    const sealed: string[] = [];
    const event = { attributes: {}, redactions: 0, input_digest: '', output_digest: '', content: '' } as unknown as AuditEvent;
    const pieces: ContentPiece[] = [{ section: 'input', json: '{"role":"user"}', digest: 'd', order: '1', redactions: 2 }];
    assembleContent({ event, pieces, node: {} as PendingEvent['node'], awaitsContent: false, arrivedAt: 0 }, finalizer('sealed', sealed));
    expect(event.content).toBe('{"input":[{"role":"user"}]}');
    expect(sealed).toEqual([]);
    expect(event.attributes['otel_audit.content_sealed']).toBe('unavailable');
    expect(event.redactions).toBe(2);
  });

  it('says the content was erased when its subject was erased after the event arrived (the finalizer seals nothing)', () => {
    const asked: number[] = [];
    const erased: EventFinalizer = { finalizeColumns: () => {}, contentMode: () => 'sealed', sealContent: (_e, _raw, arrivedAt) => (asked.push(arrivedAt), null) };
    const event = { attributes: {}, redactions: 0, input_digest: '', output_digest: '', content: '' } as unknown as AuditEvent;
    const pieces: ContentPiece[] = [{ section: 'input', json: '{"role":"user"}', rawJson: '{"role":"user","x":1}', digest: 'd', order: '1', redactions: 0 }];
    assembleContent({ event, pieces, node: {} as PendingEvent['node'], awaitsContent: false, arrivedAt: 1234 }, erased);
    expect(asked).toEqual([1234]);
    expect(event.content).toBe('{"input":[{"role":"user"}]}');
    expect((event as { content_sealed?: string }).content_sealed).toBeUndefined();
    expect(event.attributes['otel_audit.content_sealed']).toBe('erased');
  });
});

