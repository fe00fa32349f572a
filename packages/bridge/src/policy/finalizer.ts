/**
 * What the privacy stage decides once an event's context is known: the contract between the
 * correlator, which calls it at finalize (correlate/finalize.ts), and the policy, which
 * implements it (privacy.ts, `PrivacyFilter`). It lives here, below the correlator, so that
 * policy/ depends on nothing above it.
 */
import type { AuditEvent } from '../model.ts';
import type { ContentMode } from './policy.ts';

/**
 * The part of an event waiting in the correlator (correlate/types.ts, `PendingEvent`) that
 * `finalizeColumns` reads and writes.
 */
export interface FinalizingEvent {
  /** Everything but the context, content and chain columns is filled. */
  event: AuditEvent;
  /**
   * Raw values of the attributes a policy rule may apply to, by stored key: rules depend on the
   * tenant and risk, decided only at finalize. Memory and the encrypted write-ahead log only.
   */
  rawAttributes?: Record<string, string>;
}

/** The privacy decisions made once an event's context is decided (privacy.ts). */
export interface EventFinalizer {
  /** Identity and free-text columns, attribute rules: tenant and risk are known now. */
  finalizeColumns(p: FinalizingEvent): void;
  /** What content the event keeps. */
  contentMode(e: AuditEvent): ContentMode;
  /**
   * The raw content (JSON) encrypted for `content_sealed`; '' when it cannot be sealed, null
   * when its subject was erased after the event arrived (`arrivedAt`, epoch ms).
   */
  sealContent(e: AuditEvent, raw: string, arrivedAt: number): string | null;
}
