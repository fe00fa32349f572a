/**
 * The detections' settings: the `detections` section of the policy file (`--policy FILE`,
 * OTEL_AUDIT_POLICY), validated here with the path of every bad field. With no file, or a
 * file without the section, DEFAULT_DETECT_CONFIG applies: every rule on, thresholds below.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, isObject, unknownKeys } from '../internal/validate.ts';

export const RULE_IDS = [
  'approval-bypass',
  'permission-denied',
  'blocked',
  'repeated-corrections',
  'unusual-volume',
  'sensitive-source-in-low-risk-flow',
  'coverage',
  'not-executed',
] as const;
export type RuleId = (typeof RULE_IDS)[number];

export const SEVERITIES = ['low', 'medium', 'high'] as const;
export type Severity = (typeof SEVERITIES)[number];

/** Tool actions that change something (DESIGN's write-like actions). */
export const WRITE_ACTIONS = ['write', 'send', 'update', 'delete', 'trigger'] as const;
const RISKS = ['low', 'medium', 'high'] as const;
type Risk = (typeof RISKS)[number];

export const COVERAGE_CHECKS = ['model-call-identity', 'high-risk-without-review', 'proposal-without-result', 'content-not-captured', 'unsigned-events'] as const;
export type CoverageCheck = (typeof COVERAGE_CHECKS)[number];

/** A policy rule that makes a proposal need approval without `audit.approval.required`. */
export interface ApprovalRequirement {
  /** Risk levels it applies to (all when absent). */
  risk?: Risk[];
  /** Tool actions it applies to (all write-like ones when absent). */
  action?: string[];
  /** Tool names it applies to (all when absent). */
  tool?: string[];
}

export interface RuleSettings {
  enabled: boolean;
  severity: Severity;
}

export interface DetectConfig {
  /** Whether the running bridge evaluates the rules on its own (detect --from --to always works). */
  enabled: boolean;
  /** How often the bridge evaluates (ms). */
  intervalMs: number;
  /** How far back each evaluation looks, by event time (ms). */
  lookbackMs: number;
  /** Events younger than this are left for the next evaluation: a late approval may still come (ms). */
  settleMs: number;
  rules: {
    'approval-bypass': RuleSettings & { requireApproval: ApprovalRequirement[] };
    'permission-denied': RuleSettings;
    blocked: RuleSettings;
    'repeated-corrections': RuleSettings & { minCount: number; minRate: number; windowMs: number };
    'unusual-volume': RuleSettings & { factor: number; minEvents: number; baselineMs: number };
    'sensitive-source-in-low-risk-flow': RuleSettings & { levels: string[]; maxSensitivity: Record<Risk, string> };
    coverage: RuleSettings & { checks: CoverageCheck[]; reviewTimeoutMs: number; unsignedAfterMs: number };
    /** A proposal with no effect within `windowMs` of it is `not_executed`. */
    'not-executed': RuleSettings & { windowMs: number };
  };
  /** Where it came from (a file name, or 'defaults'). */
  source: string;
  /** `serve --alert-webhook URL` (repeatable) and the shared secret alerts are signed with. */
  webhooks?: { urls: string[]; secret: string };
}

const H = 3_600_000;

export function defaultDetectConfig(): DetectConfig {
  return {
    enabled: true,
    intervalMs: 60_000,
    lookbackMs: 24 * H,
    settleMs: 30_000,
    rules: {
      'approval-bypass': { enabled: true, severity: 'high', requireApproval: [] },
      'permission-denied': { enabled: true, severity: 'medium' },
      blocked: { enabled: true, severity: 'medium' },
      'repeated-corrections': { enabled: true, severity: 'medium', minCount: 3, minRate: 0.2, windowMs: 24 * H },
      'unusual-volume': { enabled: true, severity: 'low', factor: 10, minEvents: 100, baselineMs: 7 * 24 * H },
      'sensitive-source-in-low-risk-flow': {
        enabled: true,
        severity: 'medium',
        levels: ['public', 'internal', 'confidential', 'restricted'],
        maxSensitivity: { low: 'internal', medium: 'confidential', high: 'restricted' },
      },
      coverage: { enabled: true, severity: 'low', checks: [...COVERAGE_CHECKS], reviewTimeoutMs: 24 * H, unsignedAfterMs: 10 * 60_000 },
      'not-executed': { enabled: true, severity: 'low', windowMs: 24 * H },
    },
    source: 'defaults',
  };
}

export const DEFAULT_DETECT_CONFIG: Readonly<DetectConfig> = Object.freeze(defaultDetectConfig());

export class DetectConfigError extends Error {
  readonly code = 'DETECT_CONFIG_INVALID';
  readonly problems: string[];
  constructor(source: string, problems: string[]) {
    super(source === 'flags' ? problems.join('; ') : `invalid detections in policy ${source}:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'DetectConfigError';
    this.problems = problems;
  }
}

export interface DetectServeOptions {
  policy?: string;
  alertWebhook?: string[];
  alertWebhookSecretFile?: string;
}

/**
 * `--policy FILE` / OTEL_AUDIT_POLICY: its `detections` section, else the defaults; and the
 * webhooks of `--alert-webhook`. Flags win over environment variables.
 */
export function resolveDetectConfig(o: DetectServeOptions, env: NodeJS.ProcessEnv = process.env): DetectConfig {
  const config = fromPolicy(o, env);
  const urls = o.alertWebhook?.length ? o.alertWebhook : (env.OTEL_AUDIT_ALERT_WEBHOOK ?? '').split(',').map((u) => u.trim()).filter(Boolean);
  if (!urls.length) return config;
  for (const u of urls) {
    let ok = false;
    try {
      ok = /^https?:$/.test(new URL(u).protocol);
    } catch {
      ok = false;
    }
    if (!ok) throw new DetectConfigError('flags', [`--alert-webhook "${u}": expected an http(s) URL`]);
  }
  const file = o.alertWebhookSecretFile ?? env.OTEL_AUDIT_ALERT_WEBHOOK_SECRET_FILE;
  let secret = env.OTEL_AUDIT_ALERT_WEBHOOK_SECRET ?? '';
  if (file) {
    try {
      secret = readFileSync(resolve(file), 'utf8').trim();
    } catch (err) {
      throw new DetectConfigError('flags', [`--alert-webhook-secret-file ${file}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`]);
    }
  }
  if (secret.length < 16) {
    throw new DetectConfigError('flags', [
      '--alert-webhook needs a shared secret of at least 16 characters (--alert-webhook-secret-file FILE, or OTEL_AUDIT_ALERT_WEBHOOK_SECRET): receivers check each alert\'s signature with it',
    ]);
  }
  return { ...config, webhooks: { urls, secret } };
}

function fromPolicy(o: DetectServeOptions, env: NodeJS.ProcessEnv): DetectConfig {
  const file = o.policy ?? env.OTEL_AUDIT_POLICY;
  if (!file) return defaultDetectConfig();
  const path = resolve(file);
  let doc: unknown;
  try {
    doc = JSON.parse(readFileSync(path, 'utf8'));
  } catch {
    // The policy stage reads the same file first and reports what is wrong with it.
    return defaultDetectConfig();
  }
  return parseDetections(isObject(doc) ? doc.detections : undefined, path);
}

const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/;

function duration(v: unknown, path: string, problems: string[], min = 0): number | undefined {
  if (v === undefined) return undefined;
  const m = typeof v === 'string' ? DURATION.exec(v.trim()) : null;
  const ms = m ? Math.round(Number(m[1]) * { ms: 1, s: 1e3, m: 60e3, h: H, d: 24 * H }[m[2] as 'ms']) : NaN;
  if (!(ms >= min)) {
    problems.push(`${path}: expected a duration such as "30s", "15m", "24h" or "7d"${min ? ` of at least ${min} ms` : ''}, got ${describe(v)}`);
    return undefined;
  }
  return ms;
}

function num(v: unknown, path: string, problems: string[], lo: number, hi: number, integer = false): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < lo || v > hi || (integer && !Number.isInteger(v))) {
    problems.push(`${path}: expected ${integer ? 'a whole number' : 'a number'} from ${lo} to ${hi}, got ${describe(v)}`);
    return undefined;
  }
  return v;
}

function strings(v: unknown, path: string, problems: string[], allowed?: readonly string[]): string[] | undefined {
  if (v === undefined) return undefined;
  const list = typeof v === 'string' ? [v] : v;
  if (!Array.isArray(list) || list.length === 0 || list.some((x) => typeof x !== 'string' || x === '' || (allowed && !allowed.includes(x)))) {
    problems.push(`${path}: expected ${allowed ? `one of ${allowed.join(', ')} or an array of them` : 'a non-empty string or an array of them'}, got ${describe(v)}`);
    return undefined;
  }
  return list as string[];
}

const RULE_KEYS: Record<RuleId, string[]> = {
  'approval-bypass': ['require_approval'],
  'permission-denied': [],
  blocked: [],
  'repeated-corrections': ['min_count', 'min_rate', 'window'],
  'unusual-volume': ['factor', 'min_events', 'baseline'],
  'sensitive-source-in-low-risk-flow': ['levels', 'max_sensitivity'],
  coverage: ['checks', 'review_timeout', 'unsigned_after'],
  'not-executed': ['window'],
};

/** Validates the `detections` section (undefined: the defaults); every problem with its path. */
export function parseDetections(doc: unknown, source = 'policy'): DetectConfig {
  const out = defaultDetectConfig();
  out.source = source;
  if (doc === undefined) return out;
  const problems: string[] = [];
  if (!isObject(doc)) throw new DetectConfigError(source, [`detections: expected an object such as {"rules": {"approval-bypass": {"severity": "high"}}}, got ${describe(doc)}`]);
  unknownKeys(doc, ['enabled', 'interval', 'lookback', 'settle', 'rules'], 'detections.', problems);
  if (doc.enabled !== undefined) {
    if (typeof doc.enabled !== 'boolean') problems.push(`detections.enabled: expected true or false, got ${describe(doc.enabled)}`);
    else out.enabled = doc.enabled;
  }
  out.intervalMs = duration(doc.interval, 'detections.interval', problems, 1000) ?? out.intervalMs;
  out.lookbackMs = duration(doc.lookback, 'detections.lookback', problems, 60_000) ?? out.lookbackMs;
  out.settleMs = duration(doc.settle, 'detections.settle', problems) ?? out.settleMs;
  if (doc.rules !== undefined) {
    if (!isObject(doc.rules)) problems.push(`detections.rules: expected an object keyed by rule id (${RULE_IDS.join(', ')}), got ${describe(doc.rules)}`);
    else {
      unknownKeys(doc.rules, RULE_IDS, 'detections.rules.', problems);
      for (const id of RULE_IDS) {
        const r = doc.rules[id];
        if (r === undefined) continue;
        const at = `detections.rules.${id}`;
        if (!isObject(r)) {
          problems.push(`${at}: expected an object such as {"enabled": true, "severity": "high"}, got ${describe(r)}`);
          continue;
        }
        unknownKeys(r, ['enabled', 'severity', ...RULE_KEYS[id]], `${at}.`, problems);
        const rule = out.rules[id] as RuleSettings;
        if (r.enabled !== undefined) {
          if (typeof r.enabled !== 'boolean') problems.push(`${at}.enabled: expected true or false, got ${describe(r.enabled)}`);
          else rule.enabled = r.enabled;
        }
        if (r.severity !== undefined) {
          if (typeof r.severity !== 'string' || !(SEVERITIES as readonly string[]).includes(r.severity)) problems.push(`${at}.severity: expected one of ${SEVERITIES.join(', ')}, got ${describe(r.severity)}`);
          else rule.severity = r.severity as Severity;
        }
        ruleSpecific(id, r, at, out, problems);
      }
    }
  }
  if (problems.length) throw new DetectConfigError(source, problems);
  return out;
}

function ruleSpecific(id: RuleId, r: Record<string, unknown>, at: string, out: DetectConfig, problems: string[]): void {
  const rules = out.rules;
  switch (id) {
    case 'approval-bypass': {
      const v = r.require_approval;
      if (v === undefined) return;
      if (!Array.isArray(v)) {
        problems.push(`${at}.require_approval: expected an array of rules such as {"risk": ["high"], "action": ["write", "delete"]}, got ${describe(v)}`);
        return;
      }
      v.forEach((x, i) => {
        const p = `${at}.require_approval[${i}]`;
        if (!isObject(x)) return void problems.push(`${p}: expected an object with risk, action and/or tool, got ${describe(x)}`);
        unknownKeys(x, ['risk', 'action', 'tool'], `${p}.`, problems);
        if (x.risk === undefined && x.action === undefined && x.tool === undefined) problems.push(`${p}: name at least one of risk, action, tool (an empty rule would need approval for every write)`);
        const req: ApprovalRequirement = {};
        const risk = strings(x.risk, `${p}.risk`, problems, RISKS);
        const action = strings(x.action, `${p}.action`, problems, WRITE_ACTIONS);
        const tool = strings(x.tool, `${p}.tool`, problems);
        if (risk) req.risk = risk as Risk[];
        if (action) req.action = action;
        if (tool) req.tool = tool;
        rules['approval-bypass'].requireApproval.push(req);
      });
      return;
    }
    case 'repeated-corrections': {
      const s = rules['repeated-corrections'];
      s.minCount = num(r.min_count, `${at}.min_count`, problems, 1, 1e9, true) ?? s.minCount;
      s.minRate = num(r.min_rate, `${at}.min_rate`, problems, 0, 1) ?? s.minRate;
      s.windowMs = duration(r.window, `${at}.window`, problems, 60_000) ?? s.windowMs;
      return;
    }
    case 'unusual-volume': {
      const s = rules['unusual-volume'];
      s.factor = num(r.factor, `${at}.factor`, problems, 1, 1e6) ?? s.factor;
      s.minEvents = num(r.min_events, `${at}.min_events`, problems, 1, 1e12, true) ?? s.minEvents;
      s.baselineMs = duration(r.baseline, `${at}.baseline`, problems, 2 * H) ?? s.baselineMs;
      return;
    }
    case 'sensitive-source-in-low-risk-flow': {
      const s = rules['sensitive-source-in-low-risk-flow'];
      const levels = strings(r.levels, `${at}.levels`, problems);
      if (levels) s.levels = levels;
      if (r.max_sensitivity !== undefined) {
        if (!isObject(r.max_sensitivity)) problems.push(`${at}.max_sensitivity: expected an object such as {"low": "internal", "medium": "confidential"}, got ${describe(r.max_sensitivity)}`);
        else {
          unknownKeys(r.max_sensitivity, RISKS, `${at}.max_sensitivity.`, problems);
          for (const risk of RISKS) {
            const v = r.max_sensitivity[risk];
            if (v === undefined) continue;
            if (typeof v !== 'string' || !s.levels.includes(v)) problems.push(`${at}.max_sensitivity.${risk}: expected one of the levels (${s.levels.join(', ')}), got ${describe(v)}`);
            else s.maxSensitivity[risk] = v;
          }
        }
      }
      for (const risk of RISKS) {
        if (!s.levels.includes(s.maxSensitivity[risk])) problems.push(`${at}.max_sensitivity.${risk}: "${s.maxSensitivity[risk]}" is not one of the levels (${s.levels.join(', ')})`);
      }
      return;
    }
    case 'coverage': {
      const s = rules.coverage;
      const checks = strings(r.checks, `${at}.checks`, problems, COVERAGE_CHECKS);
      if (checks) s.checks = checks as CoverageCheck[];
      s.reviewTimeoutMs = duration(r.review_timeout, `${at}.review_timeout`, problems) ?? s.reviewTimeoutMs;
      s.unsignedAfterMs = duration(r.unsigned_after, `${at}.unsigned_after`, problems, 60_000) ?? s.unsignedAfterMs;
      return;
    }
    case 'not-executed': {
      const s = rules['not-executed'];
      s.windowMs = duration(r.window, `${at}.window`, problems, 60_000) ?? s.windowMs;
      return;
    }
    default:
      return;
  }
}
