/**
 * A small in-memory knowledge base, standing in for the vector store or search index a real
 * support assistant would query. Each article carries what an auditor wants to see about a
 * retrieved source: a stable id, a URI, a version and a sensitivity label.
 */
import type { SourceRef } from '@otel-audit/instrumentation';

export interface Article {
  id: string;
  title: string;
  uri: string;
  version: string;
  sensitivity: 'public' | 'internal' | 'confidential';
  body: string;
}

export interface Hit {
  article: Article;
  score: number;
}

export const ARTICLES: readonly Article[] = [
  {
    id: 'KB-101',
    title: 'Refunds for duplicate card charges',
    uri: 'kb://billing/duplicate-charges',
    version: '7',
    sensitivity: 'public',
    body: 'When a customer was charged twice for the same order, refund the duplicate charge to the original card. The refund takes 3 to 5 business days. Set the case status to refund_pending.',
  },
  {
    id: 'KB-102',
    title: 'Refund approval policy',
    uri: 'kb://billing/refund-approval',
    version: '3',
    sensitivity: 'internal',
    body: 'Any refund or change to a billing record proposed by the assistant must be approved by a team lead before it is applied to the CRM.',
  },
  {
    id: 'KB-203',
    title: 'Changing the delivery address',
    uri: 'kb://orders/delivery-address',
    version: '2',
    sensitivity: 'public',
    body: 'The delivery address of an order can be changed until the order ships.',
  },
  {
    id: 'KB-310',
    title: 'Resetting a password',
    uri: 'kb://account/password-reset',
    version: '5',
    sensitivity: 'public',
    body: 'Send the customer a password reset link. Never ask for the current password.',
  },
];

const words = (text: string): Set<string> => new Set(text.toLowerCase().match(/[a-z]{4,}/g) ?? []);

/** Ranks the articles by the share of the query's words they contain; returns the top `k`. */
export async function searchKnowledgeBase(query: string, k = 2): Promise<Hit[]> {
  const q = words(query);
  const hits = ARTICLES.map((article) => {
    const a = words(`${article.title} ${article.body}`);
    let common = 0;
    for (const w of q) if (a.has(w)) common++;
    return { article, score: q.size === 0 ? 0 : Math.round((common / q.size) * 1000) / 1000 };
  });
  return hits
    .filter((h) => h.score > 0)
    .sort((x, y) => y.score - x.score || x.article.id.localeCompare(y.article.id))
    .slice(0, k);
}

/** What the audit trail records about each hit (`audit.sources`): references, not the text. */
export function toSourceRefs(hits: Hit[]): SourceRef[] {
  return hits.map(({ article, score }) => ({ id: article.id, uri: article.uri, version: article.version, sensitivity: article.sensitivity, score }));
}
