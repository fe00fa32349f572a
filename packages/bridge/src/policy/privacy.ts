import { createHash, createHmac, hkdfSync } from 'node:crypto';
import type { EventFinalizer, FinalizingEvent } from './finalizer.ts';
import type { ContentMode } from './policy.ts';
import { CompiledPolicy, DEFAULT_POLICY, IDENTITY_COLUMNS, type AttributeRule, type PrivacyPolicy } from './policy.ts';
import type { SealingKey, SubjectVault } from './vault.ts';
import { loadOrCreateKey } from '../internal/keys.ts';
import type { AuditEvent } from '../model.ts';
import { Redactor } from '../redact/redactor.ts';

/**
 * Free-text columns: masks, like content. Everything a stored event holds as text passes the
 * floor somewhere: these columns, identity columns and `tenant` here (at finalize, when tenant
 * and risk are decided), attributes and content pieces at intake. Not filtered: ids the decoder
 * checked as hex (trace_id, span_id, parent_span_id), event_id, digests and chain columns (made
 * by the bridge), and the enums event_type, correlation_source and risk (validated).
 */
const TEXT_COLUMNS = [
  'name', 'prompt_version', 'tool_call_id', 'target_id', 'rationale',
  // Few distinct values (LowCardinality): the redactor's short-string cache answers most.
  'operation', 'actor_type', 'actor_role', 'initiation', 'service_name', 'environment', 'purpose', 'provider',
  'request_model', 'response_model', 'tool_name', 'action', 'target_system', 'permission', 'decision',
  'reviewer_role', 'effect', 'outcome', 'status', 'error_type',
] as const;

/** HKDF salts: one derived key per purpose and tenant (info = the tenant, UTF-8). */
const SALT_PSEUDONYM = 'otel-audit/pseudonym/v1';
const SALT_HASH = 'otel-audit/hash/v1';
const SALT_SUBJECT_ID = 'otel-audit/subject-key-id/v1';

export const DEFAULT_MASK = '[masked]';

export interface PrivacyOptions {
  policy?: PrivacyPolicy;
  /** Where high-risk raw content is sealed; without one, `sealed` behaves like `redacted`. */
  vault?: SubjectVault | null;
  /**
   * Content is sealed elsewhere, with another thread's vault (an intake worker's filter,
   * intake/held.ts): `sealed` stays `sealed`, and `sealContent` is never called here.
   */
  sealsElsewhere?: boolean;
  redactor?: Redactor;
}

/** What an intake worker needs to finalize events as this filter does (intake/held.ts). */
export interface FinalizerSettings {
  masterKey: Uint8Array;
  policy: PrivacyPolicy;
  /** Content is sealed (the main thread has a vault): finalize leaves it to seal. */
  seals: boolean;
}

/**
 * The privacy floor and the policy (policy/README.md):
 *  - at intake: masks in attributes and content pieces (the raw pieces stay in memory and in
 *    the encrypted write-ahead log only, for sealing at finalize);
 *  - at finalize (correlate/finalize.ts), once tenant and risk are decided: identity columns
 *    (keyed pseudonyms under the tenant's key), free-text columns, attribute rules, and the
 *    content policy of the event's risk (digests / redacted / sealed).
 *
 * Keys: one master key (`keys/pseudonym.key` or OTEL_AUDIT_PSEUDONYM_KEY). Each tenant's keys are
 * HKDF-SHA256(master, salt = "otel-audit/pseudonym/v1" or "otel-audit/hash/v1", info = tenant).
 */
export class PrivacyFilter implements EventFinalizer {
  readonly redactor: Redactor;
  readonly policy: CompiledPolicy;
  readonly vault: SubjectVault | null;
  private readonly masterKey: Buffer;
  private readonly sealsElsewhere: boolean;
  private readonly tenantKeys = new Map<string, Buffer>();
  /** Stored forms of identities by tenant (actors and cases repeat across events). */
  private readonly identityCache = new Map<string, string>();

  constructor(masterKey: Buffer, opts: PrivacyOptions = {}) {
    this.masterKey = masterKey;
    const policy = opts.policy ?? DEFAULT_POLICY;
    this.redactor = opts.redactor ?? new Redactor(policy.redaction);
    this.policy = new CompiledPolicy(policy);
    this.vault = opts.vault ?? null;
    this.sealsElsewhere = opts.sealsElsewhere ?? false;
  }

  /** Whether content is sealed: here (a vault) or elsewhere. */
  private get seals(): boolean {
    return this.vault !== null || this.sealsElsewhere;
  }

  /** Whether intake keeps the raw content pieces (some risk level seals content). */
  get keepsRaw(): boolean {
    return this.seals && this.policy.seals;
  }

  /** The settings of a filter that finalizes events as this one does, on another thread. */
  finalizerSettings(): FinalizerSettings {
    return { masterKey: this.masterKey, policy: this.policy.policy, seals: this.vault !== null };
  }

  private tenantKey(salt: string, tenant: string): Buffer {
    const id = `${salt}\0${tenant}`;
    let k = this.tenantKeys.get(id);
    if (!k) {
      k = derive(this.masterKey, salt, tenant);
      if (this.tenantKeys.size > 10_000) this.tenantKeys.clear();
      this.tenantKeys.set(id, k);
    }
    return k;
  }

  /** 'pii:' + 16 hex of HMAC-SHA256 under the tenant's pseudonym key: stable, joinable within the tenant, useless without the key. */
  pseudonym(value: string, tenant: string): string {
    return 'pii:' + createHmac('sha256', this.tenantKey(SALT_PSEUDONYM, tenant)).update(value).digest('hex').slice(0, 16);
  }

  /** The pseudonym under the master key itself, as stored before per-tenant keys (kept findable). */
  legacyPseudonym(value: string): string {
    return 'pii:' + createHmac('sha256', this.masterKey).update(value).digest('hex').slice(0, 16);
  }

  /** 'hmac:' + 32 hex of HMAC-SHA256 under the tenant's hash key (the `hash` action). */
  hashValue(value: string, tenant: string): string {
    return 'hmac:' + createHmac('sha256', this.tenantKey(SALT_HASH, tenant)).update(value).digest('hex').slice(0, 32);
  }

  /** Every stored form a clear identity may have, across these tenants (search by clear value). */
  searchForms(value: string, tenants: Iterable<string>): string[] {
    const out = new Set([value, this.legacyPseudonym(value)]);
    for (const t of tenants) out.add(this.pseudonym(value, t));
    return [...out];
  }

  /** An identity as the floor stores it: unchanged when it holds no personal data or secret, else its pseudonym. */
  identity(value: string, tenant: string): string {
    if (!value) return value;
    const id = `${tenant}\0${value}`;
    let v = this.identityCache.get(id);
    if (v === undefined) {
      v = this.redactor.redactString(value).findings > 0 ? this.pseudonym(value, tenant) : value;
      if (this.identityCache.size >= 50_000) this.identityCache.clear();
      this.identityCache.set(id, v);
    }
    return v;
  }

  text(value: string): { text: string; findings: number } {
    if (!value) return { text: value, findings: 0 };
    return this.redactor.redactString(value);
  }

  value(v: unknown): { value: unknown; findings: number } {
    return this.redactor.redactValue(v);
  }

  /** A raw value under a rule's action (drop gives ''). */
  applyRule(rule: AttributeRule, raw: string, tenant: string, isIdentity: boolean): string {
    switch (rule.action) {
      case 'drop':
        return '';
      case 'mask':
        return rule.mask ?? DEFAULT_MASK;
      case 'hash':
        return raw ? this.hashValue(raw, tenant) : raw;
      case 'pseudonymize':
        return raw ? this.pseudonym(raw, tenant) : raw;
      default:
        return isIdentity ? this.identity(raw, tenant) : this.text(raw).text;
    }
  }

  /** Finalize, step 1: the columns and attributes, now that tenant and risk are known. */
  finalizeColumns(p: FinalizingEvent): void {
    const e = p.event;
    let findings = 0;
    // The tenant names the keys, so it is filtered first, under the master key alone.
    if (e.tenant && this.redactor.redactString(e.tenant).findings > 0) {
      e.tenant = this.legacyPseudonym(e.tenant);
      findings++;
    }
    const tenant = e.tenant;
    for (const col of IDENTITY_COLUMNS) {
      const raw = e[col];
      if (!raw) continue;
      const rule = this.policy.rule(col, tenant, e.risk);
      const v = rule ? this.applyRule(rule, raw, tenant, true) : this.identity(raw, tenant);
      if (v !== raw) {
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
    for (const s of e.sources ?? []) {
      for (const k of ['id', 'uri', 'version', 'sensitivity'] as const) {
        const r = this.text(s[k]);
        if (r.findings) {
          s[k] = r.text;
          findings += r.findings;
        }
      }
    }
    for (const l of e.links ?? []) {
      for (const k of ['trace_id', 'span_id'] as const) {
        const r = this.text(l[k]);
        if (r.findings) {
          l[k] = r.text;
          findings += r.findings;
        }
      }
    }
    for (let i = 0; i < (e.truncated?.length ?? 0); i++) {
      const r = this.text(e.truncated[i]);
      if (r.findings) {
        e.truncated[i] = r.text;
        findings += r.findings;
      }
    }
    if (p.rawAttributes) {
      for (const key in p.rawAttributes) {
        // A key that itself held personal data was masked at intake; the floor stands for it.
        if (!Object.hasOwn(e.attributes, key)) continue;
        const rule = this.policy.rule(key, tenant, e.risk);
        if (!rule || rule.action === 'allow') continue;
        if (rule.action === 'drop') delete e.attributes[key];
        else e.attributes[key] = this.applyRule(rule, p.rawAttributes[key], tenant, false);
        findings++;
      }
      delete p.rawAttributes;
    }
    e.redactions += findings;
  }

  /** Finalize, step 2: what content the event keeps (the policy of its tenant and risk). */
  contentMode(e: AuditEvent): ContentMode {
    const mode = this.policy.contentMode(e.tenant, e.risk);
    return mode === 'sealed' && !this.seals ? 'redacted' : mode;
  }

  /**
   * Encrypts an event's raw content under its subject's data key. The subject is the first
   * non-empty of on_behalf_of, actor_id and correlation_id, as stored (pseudonyms included).
   * Null when the subject was erased after the event arrived (`arrivedAt`, epoch ms).
   */
  sealContent(e: AuditEvent, raw: string, arrivedAt: number): string | null {
    if (!this.vault) return '';
    return this.vault.seal(e.tenant, subjectOf(e), e.event_id, raw, arrivedAt);
  }

  /**
   * Reads or creates the data keys of these events' subjects off the event loop (vault.ts
   * `prepare`); null when they are at hand already. `sealingKey` then does no file I/O.
   */
  prepareSealingKeys(events: ReadonlyArray<{ event: AuditEvent; arrivedAt: number }>): Promise<void> | null {
    return this.vault?.prepare(events.map((p) => [p.event.tenant, subjectOf(p.event), p.arrivedAt] as const)) ?? null;
  }

  /**
   * The key `sealContent` would use, to seal elsewhere (vault.ts sealWith, on a worker thread);
   * null when the subject was erased after the event arrived.
   */
  sealingKey(e: AuditEvent, arrivedAt: number): SealingKey | null {
    return this.subjectKey(e.tenant, subjectOf(e), arrivedAt);
  }

  /** `prepareSealingKeys` for subjects named elsewhere (by a worker that finalized their events). */
  prepareSubjectKeys(subjects: ReadonlyArray<readonly [tenant: string, subject: string, arrivedAt: number]>): Promise<void> | null {
    return subjects.length === 0 ? null : (this.vault?.prepare(subjects) ?? null);
  }

  /** `sealingKey` of a subject named elsewhere. */
  subjectKey(tenant: string, subject: string, arrivedAt: number): SealingKey | null {
    if (!this.vault) throw new Error('no subject key store: content is not sealed');
    return this.vault.sealingKey(tenant, subject, arrivedAt);
  }
}

/** Whose data an event's content is: the person acted for, else the actor, else the case. */
export function subjectOf(e: Pick<AuditEvent, 'on_behalf_of' | 'actor_id' | 'correlation_id'>): string {
  return e.on_behalf_of || e.actor_id || e.correlation_id;
}

/** The HMAC key that names subject key files (policy/vault.ts): HKDF(master, "otel-audit/subject-key-id/v1", ""). */
export function deriveSubjectIdKey(master: Buffer): Buffer {
  return derive(master, SALT_SUBJECT_ID, '');
}

function derive(master: Buffer, salt: string, info: string): Buffer {
  let i = Buffer.from(info, 'utf8');
  // HKDF info is at most 1024 bytes: a longer tenant name is replaced by its SHA-256.
  if (i.length > 1024) i = createHash('sha256').update(i).digest();
  return Buffer.from(hkdfSync('sha256', master, Buffer.from(salt, 'utf8'), i, 32));
}

/** Loads the master pseudonym key, creating it (0600) on first start. */
export function loadPseudonymKey(file: string, envValue?: string): Buffer {
  return loadOrCreateKey({ file, bytes: 16, envName: 'OTEL_AUDIT_PSEUDONYM_KEY', envValue });
}
