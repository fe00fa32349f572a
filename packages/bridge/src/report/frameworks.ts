/**
 * What each framework asks of logging, requirement by requirement: the figures that are its
 * evidence, and the gaps the figures show, named plainly. The articles are summarized, not
 * quoted; docs/compliance.md maps each column and event type to them.
 */
import { RETENTION_REGIME_SPECS } from '../policy/retention-regimes.ts';
import type { FigureId } from './figures.ts';

export const FRAMEWORK_IDS = ['eu-ai-act', 'soc2', 'hipaa', 'gdpr'] as const;
export type FrameworkId = (typeof FRAMEWORK_IDS)[number];

export type Row = Record<string, unknown>;
export type FigureRows = Record<FigureId, Row[]>;

export interface ReportContext {
  figures: FigureRows;
  /** Days each risk level is kept (the policy's retention_days). */
  retention: { low: number; medium: number; high: number };
  /** The policy's retention_regime ids, and acknowledge_short_retention when set. */
  regimes: readonly string[];
  acknowledged?: string;
  /** The period, in days. */
  periodDays: number;
  /** Chains whose checkpoints are not anchored yet, or halted (from the running bridge). */
  anchors: Array<{ chain_id: string; anchors: string[]; anchor_backlog: number; halted: string | null }>;
}

export interface Requirement {
  ref: string;
  title: string;
  /** What it asks, in a sentence. */
  asks: string;
  figures: FigureId[];
  gaps(c: ReportContext): string[];
}

export interface Framework {
  id: FrameworkId;
  title: string;
  /** The least retention of logs the framework sets, in days (0: none set). */
  minRetentionDays: number;
  requirements: Requirement[];
}

const n = (rows: Row[], col: string) => rows.reduce((s, r) => s + Number(r[col] ?? 0), 0);
const one = (rows: Row[], col: string) => Number(rows[0]?.[col] ?? 0);
const pct = (a: number, b: number) => (b ? `${Math.round((100 * a) / b)} %` : 'n/a');

function noActivity(c: ReportContext): string[] {
  return one(c.figures.activity, 'events') === 0 ? ['No event at all was recorded in the period: either nothing ran, or nothing was instrumented.'] : [];
}

function continuity(c: ReportContext): string[] {
  const days = one(c.figures.activity, 'days_with_events');
  if (!days || days >= c.periodDays) return [];
  return [`Events were recorded on ${days} of the ${c.periodDays} days of the period: the days without any are either quiet days or gaps in recording; this report cannot tell which.`];
}

function identity(c: ReportContext): string[] {
  const calls = one(c.figures.identity_coverage, 'model_calls');
  const actor = one(c.figures.identity_coverage, 'with_actor');
  const kase = one(c.figures.identity_coverage, 'with_case');
  const out: string[] = [];
  if (calls && actor < calls) out.push(`${calls - actor} of ${calls} model calls (${pct(calls - actor, calls)}) name no actor: who or what they served cannot be shown.`);
  if (calls && kase < calls) out.push(`${calls - kase} of ${calls} model calls (${pct(calls - kase, calls)}) carry no case id of their own: they can be tied to their trace only.`);
  return out;
}

function oversight(c: ReportContext): string[] {
  const out: string[] = [];
  const cases = one(c.figures.human_oversight, 'high_risk_cases');
  const reviewed = one(c.figures.human_oversight, 'reviewed');
  if (cases > reviewed) out.push(`${cases - reviewed} of ${cases} high-risk cases have no human decision recorded at all.`);
  const proposals = one(c.figures.proposals, 'proposals');
  const decided = one(c.figures.proposals, 'decided');
  if (proposals > decided) out.push(`${proposals - decided} of ${proposals} proposals that required approval have no decision linked to them.`);
  const bypass = c.figures.alerts.filter((r) => r.rule === 'approval-bypass');
  const k = n(bypass, 'alerts');
  if (k) out.push(`${k} approval ${k === 1 ? 'bypass was' : 'bypasses were'} detected: something acted without the approval it needed (otel-audit alerts --rule approval-bypass).`);
  if (!one(c.figures.activity, 'events') || n(c.figures.decisions, 'decisions') === 0) out.push('No human decision (approval event) was recorded in the period.');
  return out;
}

function alertsOpen(c: ReportContext): string[] {
  const total = n(c.figures.alerts, 'alerts');
  return total
    ? [`${total} alerts were raised; the trail does not record how they were handled (no acknowledgement or resolution is kept yet): their follow-up must be evidenced elsewhere.`]
    : [];
}

function integrity(c: ReportContext): string[] {
  const out: string[] = [];
  if (one(c.figures.activity, 'events') && n(c.figures.checkpoints, 'checkpoints') === 0) out.push('No signed checkpoint was made in the period: none yet covers the events of the period against later change.');
  for (const a of c.anchors) {
    if (a.halted) out.push(`Checkpoints of chain ${a.chain_id} are halted: ${a.halted}.`);
    if (a.anchor_backlog > 0) out.push(`${a.anchor_backlog} checkpoints of chain ${a.chain_id} are waiting to be written to an external anchor.`);
  }
  const local = c.anchors.filter((a) => !a.anchors.some((u) => !u.startsWith('file:')));
  if (local.length) {
    const dirs = [...new Set(local.flatMap((a) => a.anchors))];
    out.push(
      `Checkpoints are anchored only in local directories (${dirs.join(', ') || 'none'}; chains ${local.map((a) => a.chain_id).join(', ')}): ` +
        'an administrator of this host could rewrite both the store and the anchor. Add an S3 Object Lock or RFC 3161 anchor (--anchor).',
    );
  }
  return out;
}

function retention(regime: keyof typeof RETENTION_REGIME_SPECS, why: string) {
  const minDays = RETENTION_REGIME_SPECS[regime].minDays;
  return (c: ReportContext): string[] => {
    const short = (['low', 'medium', 'high'] as const).filter((r) => c.retention[r] < minDays);
    // The policy's own word on it, when it chose this regime and acknowledged keeping less.
    const ack = c.acknowledged && c.regimes.includes(regime) ? ` The policy file acknowledges it (acknowledge_short_retention): "${c.acknowledged}".` : '';
    return short.map((r) => `Events of ${r} risk are kept ${c.retention[r]} days, less than the ${minDays} days ${why} (retention_days.${r} in the policy file).${ack}`);
  };
}

function accessRecorded(c: ReportContext): string[] {
  return n(c.figures.access, 'reads') === 0 ? ['No read of the trail (sealed content opened, export, evidence pack) was recorded in the period: either none happened, or reads went around the bridge (direct database access is not recorded).'] : [];
}

/** At most 184 and 2192 calendar days (policy/retention-regimes.ts): what `retention_regime` enforces. */
const SIX_MONTHS = RETENTION_REGIME_SPECS['eu-ai-act'].minDays;
const SIX_YEARS = RETENTION_REGIME_SPECS.hipaa.minDays;

export const FRAMEWORKS: Record<FrameworkId, Framework> = {
  'eu-ai-act': {
    id: 'eu-ai-act',
    title: 'EU AI Act (Regulation (EU) 2024/1689): record-keeping and human oversight of high-risk AI systems',
    minRetentionDays: SIX_MONTHS,
    requirements: [
      {
        ref: 'Art. 12(1)',
        title: 'Automatic recording of events',
        asks: 'High-risk AI systems allow the automatic recording of events (logs) over their lifetime.',
        figures: ['activity', 'events_by_type'],
        gaps: (c) => [...noActivity(c), ...continuity(c)],
      },
      {
        ref: 'Art. 12(2)(a)',
        title: 'Situations that may present a risk',
        asks: 'Logging enables identifying situations that may result in the system presenting a risk, or in a substantial modification.',
        figures: ['risk_levels', 'alerts', 'models'],
        gaps: (c) => (n(c.figures.risk_levels.filter((r) => r.risk === 'high'), 'events') === 0 && one(c.figures.activity, 'events') ? ['No event was recorded as high risk: check that applications set audit.risk where it applies.'] : []),
      },
      {
        ref: 'Art. 12(2)(b)',
        title: 'Post-market monitoring',
        asks: 'Logging facilitates the post-market monitoring of the system (Art. 72).',
        figures: ['models', 'outcomes', 'alerts'],
        gaps: (c) => (n(c.figures.outcomes, 'events') === 0 ? ['No outcome (audit.outcome) was recorded: whether results were kept, corrected or rolled back cannot be shown.'] : []),
      },
      {
        ref: 'Art. 12(2)(c)',
        title: 'Monitoring of operation by the deployer',
        asks: 'Logging supports the deployer\'s monitoring of the system\'s operation (Art. 26(5)).',
        figures: ['identity_coverage', 'outcomes', 'alerts'],
        gaps: (c) => identity(c),
      },
      {
        ref: 'Art. 14',
        title: 'Human oversight',
        asks: 'High-risk AI systems can be effectively overseen by people, who can decide not to use, override or reverse an output.',
        figures: ['decisions', 'proposals', 'human_oversight', 'alerts'],
        gaps: oversight,
      },
      {
        ref: 'Art. 19(1), Art. 26(6)',
        title: 'Keeping the logs',
        asks: 'Providers and deployers keep the automatically generated logs for a period appropriate to the purpose, of at least six months.',
        figures: ['oldest_event', 'checkpoints'],
        gaps: (c) => [...retention('eu-ai-act', 'Art. 19 and 26(6) require')(c), ...integrity(c)],
      },
    ],
  },
  soc2: {
    id: 'soc2',
    title: 'SOC 2 (AICPA Trust Services Criteria): system operations',
    minRetentionDays: 0,
    requirements: [
      {
        ref: 'CC7.2',
        title: 'Monitoring for anomalies',
        asks: 'The entity monitors system components for anomalies indicative of malicious acts, natural disasters and errors, and analyzes them to find security events.',
        figures: ['activity', 'identity_coverage', 'alerts', 'checkpoints'],
        gaps: (c) => [...noActivity(c), ...identity(c), ...integrity(c)],
      },
      {
        ref: 'CC7.3',
        title: 'Evaluating security events',
        asks: 'The entity evaluates security events to determine whether they could or have resulted in a failure to meet its objectives, and acts on them.',
        figures: ['alerts', 'decisions', 'access'],
        gaps: (c) => [...alertsOpen(c), ...accessRecorded(c)],
      },
    ],
  },
  hipaa: {
    id: 'hipaa',
    title: 'HIPAA Security Rule (45 CFR Part 164): audit controls',
    minRetentionDays: SIX_YEARS,
    requirements: [
      {
        ref: '§164.312(b)',
        title: 'Audit controls',
        asks: 'Mechanisms that record and examine activity in information systems that contain or use electronic protected health information.',
        figures: ['activity', 'events_by_type', 'identity_coverage', 'access', 'alerts', 'checkpoints'],
        gaps: (c) => [...noActivity(c), ...identity(c), ...accessRecorded(c), ...integrity(c)],
      },
      {
        ref: '§164.316(b)(2)(i)',
        title: 'Six-year retention',
        asks: 'Required documentation is retained for six years from its creation or last effective date.',
        figures: ['oldest_event'],
        gaps: retention('hipaa', 'HIPAA\'s six-year retention requires'),
      },
    ],
  },
  gdpr: {
    id: 'gdpr',
    title: 'GDPR (Regulation (EU) 2016/679): records of processing and erasure',
    minRetentionDays: 0,
    requirements: [
      {
        ref: 'Art. 30',
        title: 'Records of processing activities',
        asks: 'A record of processing: purposes, categories of data subjects and data, recipients, time limits for erasure, and security measures.',
        figures: ['purposes', 'events_by_type', 'access', 'oldest_event'],
        gaps: (c) => {
          const unstated = n(c.figures.purposes.filter((r) => r.purpose === ''), 'events');
          return unstated ? [`${unstated} events state no purpose (audit.purpose): the trail cannot say why they were processed.`] : [];
        },
      },
      {
        ref: 'Art. 17',
        title: 'Right to erasure',
        asks: 'Personal data are erased without undue delay when a data subject has the right to it.',
        // Erasures (otel-audit erase) are access events of action `erase`, one per tenant covered.
        figures: ['access', 'oldest_event'],
        gaps: () => [],
      },
    ],
  },
};
