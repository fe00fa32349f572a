import { createHmac } from 'node:crypto';
import { loadOrCreateKey } from '../internal/keys.ts';
import type { AuditEvent } from '../model.ts';
import { Redactor } from '../redact/redactor.ts';

/** Identity columns stay joinable: detected personal data there becomes a keyed pseudonym. */
const IDENTITY_COLUMNS = ['actor_id', 'on_behalf_of', 'reviewer_id'] as const;
/** Free-text columns get masks, like content. */
const TEXT_COLUMNS = ['name', 'rationale', 'target_id', 'error_type', 'tool_call_id', 'prompt_version'] as const;

/**
 * The privacy floor applied to every event before it is written anywhere (WAL, ClickHouse,
 * logs): masks in text, keyed pseudonyms (HMAC-SHA256) for identifiers.
 */
export class PrivacyFilter {
  readonly redactor: Redactor;
  private readonly pseudonymKey: Buffer;

  constructor(pseudonymKey: Buffer, redactor = new Redactor()) {
    this.pseudonymKey = pseudonymKey;
    this.redactor = redactor;
  }

  /** 'pii:' + 16 hex of HMAC-SHA256: stable, joinable, and useless without the key. */
  pseudonym(value: string): string {
    return 'pii:' + createHmac('sha256', this.pseudonymKey).update(value).digest('hex').slice(0, 16);
  }

  /** The value as it is stored: unchanged when it holds no personal data, else its pseudonym. */
  identity(value: string): string {
    if (!value) return value;
    return this.redactor.redactString(value).findings > 0 ? this.pseudonym(value) : value;
  }

  text(value: string): { text: string; findings: number } {
    if (!value) return { text: value, findings: 0 };
    return this.redactor.redactString(value);
  }

  value(v: unknown): { value: unknown; findings: number } {
    return this.redactor.redactValue(v);
  }

  /** Applies the floor to the event's own columns (context columns are filtered at intake too). */
  filterColumns(e: AuditEvent): number {
    let findings = 0;
    for (const col of IDENTITY_COLUMNS) {
      const v = this.identity(e[col]);
      if (v !== e[col]) {
        e[col] = v;
        findings++;
      }
    }
    for (const col of TEXT_COLUMNS) {
      const r = this.text(e[col]);
      if (r.findings) {
        e[col] = r.text;
        findings += r.findings;
      }
    }
    for (const s of e.sources) {
      const r = this.text(s.uri);
      if (r.findings) {
        s.uri = r.text;
        findings += r.findings;
      }
    }
    return findings;
  }
}

/** Loads the pseudonym key, creating it (0600) on first start. */
export function loadPseudonymKey(file: string, envValue?: string): Buffer {
  return loadOrCreateKey({ file, bytes: 16, envName: 'OTEL_AUDIT_PSEUDONYM_KEY', envValue });
}
