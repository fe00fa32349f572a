/**
 * Retention that regulations accept: the policy file's `retention_regime` names the regimes the
 * trail is kept for, each with the least number of days it sets. A regime is a preset (risk
 * levels the file does not state in `retention_days` are kept at least that long) and a floor
 * (a level the file states shorter is refused at start, naming the regime, the level, the days
 * and the minimum), unless `acknowledge_short_retention` gives the reason, which is logged at
 * every start and printed in the compliance report. README.md, "Retention regimes".
 */
import type { Logger } from '../internal/logger.ts';
import type { RetentionDays } from '../store/schema.ts';
import { describe } from '../internal/validate.ts';

export const RETENTION_REGIMES = ['eu-ai-act', 'hipaa'] as const;
export type RetentionRegimeId = (typeof RETENTION_REGIMES)[number];

const LEVELS = ['low', 'medium', 'high'] as const;
type Level = (typeof LEVELS)[number];

export interface RetentionRegimeSpec {
  id: RetentionRegimeId;
  title: string;
  /** The regime in a sentence ("... days the EU AI Act requires"). */
  subject: string;
  /** The least retention in days: the longest the regime's period can be in calendar days. */
  minDays: number;
  /** What sets it. */
  basis: string;
}

/**
 * The TTL counts days, the rules count months and years: the minimum is the longest the period
 * can be, so that nothing is deleted before its time. Six calendar months are at most 184 days
 * (July to December); six years at most 2192 (with two leap days).
 */
export const RETENTION_REGIME_SPECS: Readonly<Record<RetentionRegimeId, RetentionRegimeSpec>> = Object.freeze({
  'eu-ai-act': {
    id: 'eu-ai-act',
    title: 'EU AI Act',
    subject: 'the EU AI Act',
    minDays: 184,
    basis: 'Art. 19(1) and 26(6): automatically generated logs kept at least six months',
  },
  hipaa: {
    id: 'hipaa',
    title: 'HIPAA',
    subject: 'HIPAA',
    minDays: 2192,
    basis: '§164.316(b)(2)(i): documentation retained six years',
  },
});

/** A risk level kept shorter than a regime requires. */
export interface RetentionShortfall {
  regime: RetentionRegimeId;
  risk: Level;
  days: number;
  minDays: number;
}

/** The regimes of a policy, and what of its retention falls short of them. */
export interface RetentionRegime {
  regimes: RetentionRegimeId[];
  /** `acknowledge_short_retention`: why the shortfalls are kept anyway. */
  acknowledged?: string;
  /** Empty when the retention meets every regime. */
  shortfalls: RetentionShortfall[];
}

export const ACK_MIN_LENGTH = 10;
const ACK_MAX_LENGTH = 500;

/** The shortfalls of a retention against regimes (strictest regime first for each level). */
export function retentionShortfalls(retention: RetentionDays, regimes: readonly RetentionRegimeId[]): RetentionShortfall[] {
  const out: RetentionShortfall[] = [];
  const specs = regimes.map((r) => RETENTION_REGIME_SPECS[r]).sort((a, b) => b.minDays - a.minDays);
  for (const risk of LEVELS) {
    for (const s of specs) if (retention[risk] < s.minDays) out.push({ regime: s.id, risk, days: retention[risk], minDays: s.minDays });
  }
  return out;
}

/** The sentence a shortfall is refused (or reported) with. */
export function describeShortfall(s: RetentionShortfall): string {
  const spec = RETENTION_REGIME_SPECS[s.regime];
  return `retention_days.${s.risk}: ${s.days} days is shorter than the ${s.minDays} days ${spec.subject} requires (retention_regime "${s.regime}", ${spec.basis})`;
}

/**
 * Reads `retention_regime` and `acknowledge_short_retention` of a policy document, raises the
 * levels `retention_days` does not state to the regimes' minimum (in place), and reports every
 * problem with its path into `problems`; shortfalls that are not acknowledged go into
 * `refusals` too (they are problems: the bridge does not start). Undefined without a regime.
 */
export function parseRetentionRegime(
  doc: Record<string, unknown>,
  retention: RetentionDays,
  stated: ReadonlySet<string>,
  problems: string[],
  refusals: string[],
): RetentionRegime | undefined {
  const raw = doc.retention_regime;
  const ack = doc.acknowledge_short_retention;
  let regimes: RetentionRegimeId[] | undefined;
  if (raw !== undefined) {
    const list = typeof raw === 'string' ? [raw] : raw;
    if (!Array.isArray(list) || list.length === 0 || list.some((x) => typeof x !== 'string' || !(RETENTION_REGIMES as readonly string[]).includes(x))) {
      problems.push(
        `retention_regime: expected one of ${RETENTION_REGIMES.join(', ')} or an array of them (SOC 2 and GDPR set no least retention), got ${describe(raw)}`,
      );
    } else regimes = [...new Set(list as RetentionRegimeId[])];
  }
  let acknowledged: string | undefined;
  if (ack !== undefined) {
    if (typeof ack !== 'string' || ack.trim().length < ACK_MIN_LENGTH || ack.length > ACK_MAX_LENGTH) {
      problems.push(`acknowledge_short_retention: expected the reason, a sentence of ${ACK_MIN_LENGTH} to ${ACK_MAX_LENGTH} characters, got ${describe(ack)}`);
    } else if (raw === undefined) {
      problems.push('acknowledge_short_retention: only meaningful with retention_regime (there is no minimum to fall short of)');
    } else acknowledged = ack.trim();
  }
  if (!regimes) return undefined;
  // The preset: what the file leaves unstated is kept at least as long as the regimes require.
  const floor = Math.max(...regimes.map((r) => RETENTION_REGIME_SPECS[r].minDays));
  for (const risk of LEVELS) if (!stated.has(risk)) retention[risk] = Math.max(retention[risk], floor);
  const shortfalls = retentionShortfalls(retention, regimes);
  if (shortfalls.length && ack === undefined) {
    for (const s of shortfalls) {
      const line = `${describeShortfall(s)}: raise it to ${s.minDays} or more, or set acknowledge_short_retention to the reason it is kept shorter`;
      problems.push(line);
      refusals.push(line);
    }
  }
  return { regimes, ...(acknowledged ? { acknowledged } : {}), shortfalls };
}

/** Logs the regime at start: met, or short and acknowledged (with the reason). */
export function logRetentionRegime(regime: RetentionRegime | undefined, retention: RetentionDays, log: Logger): void {
  if (!regime) return;
  if (!regime.shortfalls.length) {
    log.info('retention meets the retention regime', { retention_regime: regime.regimes, retention_days: retention });
    return;
  }
  log.warn('retention shorter than the retention regime requires, acknowledged', {
    retention_regime: regime.regimes,
    retention_days: retention,
    shortfalls: regime.shortfalls.map((s) => `${s.risk}: ${s.days} days, ${s.regime} requires ${s.minDays}`),
    acknowledge_short_retention: regime.acknowledged ?? '',
  });
}
