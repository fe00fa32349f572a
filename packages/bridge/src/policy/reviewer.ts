/**
 * What a reviewer does to sealed content (README.md, "Reading sealed content" and "Erasure"):
 * open it, and erase a subject's data keys. The API's routes (api/routes/privacy.ts) call
 * these; access checks and the access events stay there.
 */
import { subjectOf, type PrivacyFilter } from './privacy.ts';
import { sealedEventCount } from '../store/policy-queries.ts';
import type { Store } from '../store/store.ts';
import type { SealedEventRow } from '../store/event-queries.ts';

/** The columns opening needs: the row store/ reads for it. */
export type SealedRow = SealedEventRow;

export type OpenedContent =
  | { status: 'ok'; subject: string; content: unknown }
  /** none: the event has no sealed content; no_vault: this bridge keeps no subject keys. */
  | { status: 'none' | 'no_vault' | 'erased' | 'invalid'; reason: string };

/** Decrypts an event's sealed raw content with its subject's data key. */
export function openSealedContent(privacy: PrivacyFilter, row: SealedRow): OpenedContent {
  const id = row.event_id;
  if (!row.content_sealed && row.sealed_note === 'erased') {
    return {
      status: 'erased',
      reason:
        `the content of event ${id} was never sealed: its subject was erased (otel-audit erase) after the event arrived and before it was stored. ` +
        `The event, its digests and its redacted content remain.`,
    };
  }
  if (!row.content_sealed) {
    return {
      status: 'none',
      reason: `event ${id} has no sealed content: only events whose content policy is "sealed" keep it (by default, risk high); this one is risk ${row.risk}`,
    };
  }
  const vault = privacy.vault;
  if (!vault) return { status: 'no_vault', reason: 'this bridge has no subject key store' };
  const r = vault.open(row.content_sealed, id);
  if (r.status === 'erased') {
    return {
      status: 'erased',
      reason:
        `the sealed content of event ${id} is gone: its subject's data key was erased (otel-audit erase). ` +
        `The event, its digests and its redacted content remain, and the hash chain still verifies.`,
    };
  }
  if (r.status === 'invalid') return { status: 'invalid', reason: `cannot open the sealed content of event ${id}: ${r.reason}` };
  return { status: 'ok', subject: subjectOf(row), content: JSON.parse(r.plaintext.toString('utf8')) };
}

export interface ErasureResult {
  keys_erased: number;
  tenants: string[];
  /** Stored events whose sealed content belonged to the subject (now unreadable). */
  sealed_events: number;
}

/**
 * Deletes a subject's data keys in these tenants (crypto-shredding): the subject as given, as
 * its pseudonym and as its keyed hash, since policy rules may have stored any of them.
 */
/** A subject as the tenant's events store it: given in clear, its pseudonym; given as stored (`pii:`, `hmac:`), as is. */
export function storedSubject(privacy: PrivacyFilter, subject: string, tenant: string): string {
  return /^(pii|hmac):/.test(subject) ? subject : privacy.pseudonym(subject, tenant);
}

export async function eraseSubject(privacy: PrivacyFilter, store: Store, subject: string, tenants: readonly string[]): Promise<ErasureResult> {
  const vault = privacy.vault;
  if (!vault) throw new Error('this bridge has no subject key store');
  const forms = new Set<string>([subject]);
  let erased = 0;
  const erasedIn = new Set<string>();
  for (const t of tenants) {
    for (const c of [subject, privacy.pseudonym(subject, t), privacy.hashValue(subject, t)]) {
      forms.add(c);
      if (vault.erase(t, c)) {
        erased++;
        erasedIn.add(t);
      }
    }
  }
  const sealed = await sealedEventCount(store, tenants, [...forms]);
  return { keys_erased: erased, tenants: [...erasedIn], sealed_events: sealed };
}
