/**
 * The privacy stage (README.md): the policy file, per-tenant keys, the subject key store for
 * sealed content, retention by risk level, and what reviewers do to sealed content (reviewer.ts;
 * the endpoints are api/routes/privacy.ts).
 */
import { join } from 'node:path';
import type { Logger } from '../internal/logger.ts';
import { deriveSubjectIdKey, loadPseudonymKey, PrivacyFilter } from './privacy.ts';
import type { Store } from '../store/store.ts';
import { DEFAULT_POLICY, type PrivacyPolicy } from './policy.ts';
import { applyRetention } from './retention.ts';
import { logRetentionRegime } from './retention-regimes.ts';
import { SubjectVault } from './vault.ts';

export { eraseSubject, openSealedContent, type ErasureResult, type OpenedContent, type SealedRow } from './reviewer.ts';
export { resolvePrivacyConfig, type PrivacyConfig, type PrivacyServeOptions } from './config.ts';
export { loadPolicy, parsePolicy, PolicyError, DEFAULT_POLICY, type ContentMode, type PrivacyPolicy } from './policy.ts';
export { RETENTION_REGIME_SPECS, RETENTION_REGIMES, retentionShortfalls, type RetentionRegime, type RetentionRegimeId } from './retention-regimes.ts';
export { deriveSubjectIdKey, loadPseudonymKey, PrivacyFilter, subjectOf, type FinalizerSettings } from './privacy.ts';
export type { EventFinalizer, FinalizingEvent } from './finalizer.ts';
export { SubjectVault, sealWith, type SealingKey } from './vault.ts';
export { applyHotDays, applyRetention, checkStoragePolicy, currentRetention, currentTtl, StoragePolicyError } from './retention.ts';

export interface OpenPrivacyOptions {
  dataDir: string;
  /** OTEL_AUDIT_PSEUDONYM_KEY (base64); else `<dataDir>/keys/pseudonym.key`, created on first start. */
  pseudonymKey?: string;
  policy?: PrivacyPolicy;
}

/**
 * Builds the bridge's PrivacyFilter: the master key, the policy (defaults without a file), the
 * subject key store in `<dataDir>/keys/subjects/`, and the policy's retention on `events`.
 */
export async function openPrivacy(o: OpenPrivacyOptions, store: Store, log: Logger): Promise<PrivacyFilter> {
  const master = loadPseudonymKey(join(o.dataDir, 'keys', 'pseudonym.key'), o.pseudonymKey);
  const policy = o.policy ?? DEFAULT_POLICY;
  const vault = new SubjectVault(join(o.dataDir, 'keys', 'subjects'), deriveSubjectIdKey(master));
  const privacy = new PrivacyFilter(master, { policy, vault });
  await applyRetention(store, policy.retention, log);
  log.info('privacy policy in force', {
    source: policy.source,
    rules: policy.attributes.length + Object.values(policy.tenants).reduce((n, t) => n + t.attributes.length, 0),
    tenants: Object.keys(policy.tenants).length,
    content: policy.content,
    retention_days: policy.retention,
  });
  logRetentionRegime(policy.regime, policy.retention, log);
  return privacy;
}
