/**
 * The privacy policy: what happens to each attribute and identity column, what content is kept
 * per risk level, how long each risk level is kept, and extra redaction patterns. Read from a
 * JSON file (`--policy FILE` / `OTEL_AUDIT_POLICY`), validated here with the path of every bad
 * field. With no file at all, DEFAULT_POLICY applies: every value through the redaction floor,
 * identities with personal data pseudonymized, content by risk (low: digests only, medium:
 * redacted, high: redacted + sealed raw), retention 90 / 365 / 2190 days. See README.md.
 */
import { readFileSync } from 'node:fs';
import { Redactor, RedactorConfigError, type RedactorConfig } from '../redact/redactor.ts';
import { DEFAULT_RETENTION_DAYS, type RetentionDays } from '../store/schema.ts';
import { parseRetentionRegime, type RetentionRegime } from './retention-regimes.ts';
import { describe, isObject, unknownKeys } from '../internal/validate.ts';

export const RISKS = ['low', 'medium', 'high'] as const;
export type Risk = (typeof RISKS)[number];

/**
 * What an attribute (or identity column) becomes:
 *  - allow: kept, through the redaction floor (masks for detected secrets and personal data);
 *  - drop: removed (an identity column becomes '');
 *  - mask: replaced by a mask (`[masked]` or the rule's own);
 *  - hash: `hmac:` + 32 hex of HMAC-SHA256 under the tenant's hash key (comparable, not searchable);
 *  - pseudonymize: `pii:` + 16 hex of HMAC-SHA256 under the tenant's pseudonym key, the same as
 *    identity columns get, so it joins with them and search by the clear value finds it.
 */
export const ACTIONS = ['allow', 'drop', 'mask', 'hash', 'pseudonymize'] as const;
export type Action = (typeof ACTIONS)[number];

/**
 * What content an event keeps:
 *  - digests: metadata and the input/output digests only (`content` empty);
 *  - redacted: the redacted content;
 *  - sealed: the redacted content, plus the raw content encrypted under the subject's data key
 *    (`content_sealed`), readable by reviewers through the API until the subject is erased.
 */
export const CONTENT_MODES = ['digests', 'redacted', 'sealed'] as const;
export type ContentMode = (typeof CONTENT_MODES)[number];

/** Identity columns a rule may name, besides attribute keys. */
export const IDENTITY_COLUMNS = ['actor_id', 'on_behalf_of', 'reviewer_id', 'correlation_id'] as const;
export type IdentityColumn = (typeof IDENTITY_COLUMNS)[number];

export interface AttributeRule {
  /** Glob over the stored attribute key (`*` any run of characters, `?` one), or an identity column name. */
  key: string;
  action: Action;
  /** Only for events of these risk levels (all when absent). */
  risk?: Risk[];
  /** Only for events of these tenants (all when absent; implied inside `tenants`). */
  tenant?: string[];
  /** The replacement for `mask` (default `[masked]`). */
  mask?: string;
}

export interface TenantPolicy {
  /** Checked before the global rules. */
  attributes: AttributeRule[];
  content: Partial<Record<Risk, ContentMode>>;
}

export interface PrivacyPolicy {
  /** Checked in order; the first rule whose key, risk and tenant match decides. */
  attributes: AttributeRule[];
  content: Record<Risk, ContentMode>;
  retention: RetentionDays;
  /** `retention_regime` (and `acknowledge_short_retention`): the regimes the retention is kept for (retention-regimes.ts). */
  regime?: RetentionRegime;
  tenants: Record<string, TenantPolicy>;
  /** Extra redaction patterns, kinds to turn off (redact/README.md). */
  redaction: RedactorConfig;
  /** Where the policy came from (a file name, or 'defaults'). */
  source: string;
}

export const DEFAULT_CONTENT: Record<Risk, ContentMode> = { low: 'digests', medium: 'redacted', high: 'sealed' };

export const DEFAULT_POLICY: PrivacyPolicy = Object.freeze({
  attributes: [],
  content: { ...DEFAULT_CONTENT },
  retention: { ...DEFAULT_RETENTION_DAYS },
  tenants: {},
  redaction: {},
  source: 'defaults',
}) as PrivacyPolicy;

export class PolicyError extends Error {
  readonly problems: string[];
  /** RETENTION_BELOW_REGIME when the only problems are retention shorter than retention_regime requires; else POLICY_INVALID. */
  readonly code: 'POLICY_INVALID' | 'RETENTION_BELOW_REGIME';
  constructor(source: string, problems: string[], code: PolicyError['code'] = 'POLICY_INVALID') {
    const head = code === 'RETENTION_BELOW_REGIME' ? `refusing retention shorter than the retention regime requires, in policy ${source}` : `invalid policy ${source}`;
    super(`${head}:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'PolicyError';
    this.problems = problems;
    this.code = code;
  }
}

/** Reads and validates a policy file (JSON). */
export function loadPolicy(file: string): PrivacyPolicy {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new PolicyError(file, [`cannot read the file: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`]);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    // The parser's message can quote the file; the file is configuration, not payload.
    throw new PolicyError(file, [`not valid JSON: ${(err as Error).message}`]);
  }
  return parsePolicy(doc, file);
}

const MAX_RETENTION_DAYS = 36_500;
// `detections` belongs to the detect stage, which validates it (detect/config.ts).
const TOP_KEYS = ['$schema', 'version', 'attributes', 'content', 'retention_days', 'retention_regime', 'acknowledge_short_retention', 'tenants', 'redaction', 'detections'];

/** Validates a parsed policy document; every problem is reported with its path. */
export function parsePolicy(doc: unknown, source = 'policy'): PrivacyPolicy {
  const problems: string[] = [];
  const bad = (path: string, expected: string, got: unknown) =>
    problems.push(`${path}: expected ${expected}, got ${describe(got)}`);
  if (!isObject(doc)) {
    throw new PolicyError(source, [`(top level): expected an object, got ${describe(doc)}`]);
  }
  unknownKeys(doc, TOP_KEYS, '', problems);
  if (doc.version !== undefined && doc.version !== 1) bad('version', '1', doc.version);
  const attributes = rules(doc.attributes, 'attributes', true, problems);
  const content = { ...DEFAULT_CONTENT, ...contentModes(doc.content, 'content', problems) };
  const retention = { ...DEFAULT_RETENTION_DAYS };
  const stated = new Set<string>();
  if (doc.retention_days !== undefined) {
    if (!isObject(doc.retention_days)) bad('retention_days', 'an object such as {"low": 90, "medium": 365, "high": 2190}', doc.retention_days);
    else {
      unknownKeys(doc.retention_days, RISKS, 'retention_days.', problems);
      for (const r of RISKS) {
        const v = doc.retention_days[r];
        if (v === undefined) continue;
        if (!Number.isInteger(v) || (v as number) < 1 || (v as number) > MAX_RETENTION_DAYS) {
          bad(`retention_days.${r}`, `a whole number of days from 1 to ${MAX_RETENTION_DAYS}`, v);
        } else {
          retention[r] = v as number;
          stated.add(r);
        }
      }
    }
  }
  const refusals: string[] = [];
  const regime = parseRetentionRegime(doc, retention, stated, problems, refusals);
  const tenants: Record<string, TenantPolicy> = {};
  if (doc.tenants !== undefined) {
    if (!isObject(doc.tenants)) bad('tenants', 'an object keyed by tenant name', doc.tenants);
    else {
      for (const [name, t] of Object.entries(doc.tenants)) {
        const path = `tenants.${JSON.stringify(name)}`;
        if (!isObject(t)) {
          bad(path, 'an object with "attributes" and/or "content"', t);
          continue;
        }
        unknownKeys(t, ['attributes', 'content'], `${path}.`, problems);
        tenants[name] = { attributes: rules(t.attributes, `${path}.attributes`, false, problems), content: contentModes(t.content, `${path}.content`, problems) };
      }
    }
  }
  let redaction: RedactorConfig = {};
  if (doc.redaction !== undefined) {
    if (!isObject(doc.redaction)) bad('redaction', 'an object (see redact/README.md: kinds, disable, custom, secretKeys)', doc.redaction);
    else {
      try {
        new Redactor(doc.redaction as RedactorConfig);
        redaction = doc.redaction as RedactorConfig;
      } catch (err) {
        if (!(err instanceof RedactorConfigError)) throw err;
        problems.push(`redaction: ${err.message.replace(/^redact config: /, '')}`);
      }
    }
  }
  if (problems.length) throw new PolicyError(source, problems, problems.every((p) => refusals.includes(p)) ? 'RETENTION_BELOW_REGIME' : 'POLICY_INVALID');
  return { attributes, content, retention, ...(regime ? { regime } : {}), tenants, redaction, source };
}

function rules(v: unknown, path: string, tenantAllowed: boolean, problems: string[]): AttributeRule[] {
  if (v === undefined) return [];
  if (!Array.isArray(v)) {
    problems.push(`${path}: expected an array of rules such as {"key": "http.request.header.*", "action": "drop"}, got ${describe(v)}`);
    return [];
  }
  const out: AttributeRule[] = [];
  v.forEach((r, i) => {
    const at = `${path}[${i}]`;
    if (!isObject(r)) {
      problems.push(`${at}: expected an object {"key": ..., "action": ...}, got ${describe(r)}`);
      return;
    }
    const known = ['key', 'action', 'risk', 'mask', ...(tenantAllowed ? ['tenant'] : [])];
    unknownKeys(r, known, `${at}.`, problems);
    let ok = true;
    if (typeof r.key !== 'string' || r.key.length === 0 || r.key.length > 256) {
      problems.push(`${at}.key: expected a non-empty glob of at most 256 characters (like "http.request.header.*" or "actor_id"), got ${describe(r.key)}`);
      ok = false;
    }
    if (typeof r.action !== 'string' || !(ACTIONS as readonly string[]).includes(r.action)) {
      problems.push(`${at}.action: expected one of ${ACTIONS.join(', ')}, got ${describe(r.action)}`);
      ok = false;
    }
    const risk = stringList(r.risk, `${at}.risk`, problems, RISKS);
    const tenant = stringList(r.tenant, `${at}.tenant`, problems);
    if (r.mask !== undefined && (typeof r.mask !== 'string' || r.mask.length > 200)) {
      problems.push(`${at}.mask: expected a string of at most 200 characters, got ${describe(r.mask)}`);
      ok = false;
    } else if (r.mask !== undefined && r.action !== 'mask') {
      problems.push(`${at}.mask: only meaningful with "action": "mask" (the action is ${describe(r.action)})`);
      ok = false;
    }
    if (!ok || risk === null || tenant === null) return;
    const rule: AttributeRule = { key: r.key as string, action: r.action as Action };
    if (risk) rule.risk = risk as Risk[];
    if (tenant) rule.tenant = tenant;
    if (r.mask !== undefined) rule.mask = r.mask as string;
    out.push(rule);
  });
  return out;
}

/** undefined when absent, null when invalid (reported), else the list. */
function stringList(v: unknown, path: string, problems: string[], allowed?: readonly string[]): string[] | undefined | null {
  if (v === undefined) return undefined;
  const list = typeof v === 'string' ? [v] : v;
  const what = allowed ? `one of ${allowed.join(', ')} or an array of them` : 'a string or an array of strings';
  if (!Array.isArray(list) || list.length === 0 || list.some((x) => typeof x !== 'string' || (allowed && !allowed.includes(x)))) {
    problems.push(`${path}: expected ${what}, got ${describe(v)}`);
    return null;
  }
  return list as string[];
}

function contentModes(v: unknown, path: string, problems: string[]): Partial<Record<Risk, ContentMode>> {
  if (v === undefined) return {};
  if (!isObject(v)) {
    problems.push(`${path}: expected an object such as {"low": "digests", "medium": "redacted", "high": "sealed"}, got ${describe(v)}`);
    return {};
  }
  unknownKeys(v, RISKS, `${path}.`, problems);
  const out: Partial<Record<Risk, ContentMode>> = {};
  for (const r of RISKS) {
    const m = v[r];
    if (m === undefined) continue;
    if (typeof m !== 'string' || !(CONTENT_MODES as readonly string[]).includes(m)) {
      problems.push(`${path}.${r}: expected one of ${CONTENT_MODES.join(', ')}, got ${describe(m)}`);
    } else out[r] = m as ContentMode;
  }
  return out;
}

/** A key glob as a regular expression: `*` any run of characters (dots too), `?` one character. */
export function globToRegExp(glob: string): RegExp {
  let re = '';
  for (const c of glob) re += c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[\\^$.|+()[\]{}]/g, '\\$&');
  return new RegExp(`^${re}$`, 's');
}

interface CompiledRule extends AttributeRule {
  re: RegExp;
}

/** The policy ready for the hot path: compiled globs, per-key caches. */
export class CompiledPolicy {
  readonly policy: PrivacyPolicy;
  private readonly global: CompiledRule[];
  private readonly perTenant = new Map<string, CompiledRule[]>();
  private readonly all: CompiledRule[];
  private readonly matchesAny = new Map<string, boolean>();
  /** Whether any risk level of any tenant seals content (then intake keeps raw content in memory). */
  readonly seals: boolean;

  constructor(policy: PrivacyPolicy) {
    this.policy = policy;
    const compile = (r: AttributeRule): CompiledRule => ({ ...r, re: globToRegExp(r.key) });
    this.global = policy.attributes.map(compile);
    for (const [t, tp] of Object.entries(policy.tenants)) this.perTenant.set(t, tp.attributes.map(compile));
    this.all = [...this.global, ...[...this.perTenant.values()].flat()];
    this.seals =
      Object.values(policy.content).includes('sealed') ||
      Object.values(policy.tenants).some((t) => Object.values(t.content).includes('sealed'));
  }

  get hasRules(): boolean {
    return this.all.length > 0;
  }

  /** Whether some rule may apply to this key (under some tenant and risk): intake keeps its raw value. */
  mayMatch(key: string): boolean {
    if (this.all.length === 0) return false;
    let m = this.matchesAny.get(key);
    if (m === undefined) {
      m = this.all.some((r) => r.re.test(key));
      if (this.matchesAny.size < 10_000) this.matchesAny.set(key, m);
    }
    return m;
  }

  /** The rule deciding a key for an event of this tenant and risk; null: the floor applies. */
  rule(key: string, tenant: string, risk: string): AttributeRule | null {
    const lists = [this.perTenant.get(tenant), this.global];
    for (const list of lists) {
      if (!list) continue;
      for (const r of list) {
        if (r.risk && !r.risk.includes(risk as Risk)) continue;
        if (r.tenant && !r.tenant.includes(tenant)) continue;
        if (r.re.test(key)) return r;
      }
    }
    return null;
  }

  contentMode(tenant: string, risk: string): ContentMode {
    const r = (RISKS as readonly string[]).includes(risk) ? (risk as Risk) : 'medium';
    return this.policy.tenants[tenant]?.content[r] ?? this.policy.content[r];
  }
}
