import type { SourceRef } from '../../model.ts';
import { isRecord, num, parseJsonish, str } from './values.ts';

/**
 * One retrieved document → SourceRef. Looks in the document, then in its metadata (LangChain
 * puts the id and the URL there), because each convention nests these differently.
 */
export function toSourceRef(doc: Record<string, unknown>): SourceRef | undefined {
  const meta = parseJsonish(doc.metadata);
  const m = isRecord(meta) ? meta : {};
  const id =
    str(doc.id) ?? str(doc.document_id) ?? str(doc.doc_id) ?? str(m.id) ?? str(m.document_id) ?? str(m.doc_id);
  const uri = str(doc.uri) ?? str(doc.url) ?? str(doc.source) ?? str(m.uri) ?? str(m.url) ?? str(m.source);
  if (id === undefined && uri === undefined) return undefined;
  const score = num(doc.score) ?? num(doc.relevance_score) ?? num(m.score);
  return {
    id: id ?? uri ?? '',
    uri: uri ?? '',
    version: str(doc.version) ?? str(m.version) ?? '',
    sensitivity: str(doc.sensitivity) ?? str(m.sensitivity) ?? str(m.classification) ?? '',
    score: score ?? null,
  };
}

/** A JSON array (string or structured) of documents → sources; undefined when not a list. */
export function toSourceRefs(value: unknown): SourceRef[] | undefined {
  const v = parseJsonish(value);
  if (!Array.isArray(v)) return undefined;
  const out: SourceRef[] = [];
  for (const d of v) {
    if (typeof d === 'string') {
      const id = str(d);
      if (id) out.push({ id, uri: '', version: '', sensitivity: '', score: null });
      continue;
    }
    if (!isRecord(d)) continue;
    const ref = toSourceRef(d);
    if (ref) out.push(ref);
  }
  return out;
}
