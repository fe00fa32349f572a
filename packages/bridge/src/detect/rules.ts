/**
 * The rules: each reads the events of a time range (the store's `detection` reads,
 * store/detection-queries.ts) and returns the incidents it finds, each with a stable key (the
 * same incident found again gets the same alert id), the events it cites, and a sentence a
 * person can read. Which rows make an alert is decided here. Semantics: detect/README.md.
 */
import { detection as q, type Store } from '../store/index.ts';
import { WRITE_ACTIONS, type CoverageCheck, type DetectConfig, type RuleId, type Severity } from './config.ts';

export interface Incident {
  rule: RuleId;
  severity: Severity;
  tenant: string;
  /** What makes it one incident (with rule and tenant): its alert id derives from it. */
  key: string;
  correlation_id: string;
  /** What it is about: an actor, a tool, a prompt version, a service. */
  subject: string;
  event_ids: string[];
  first_event_time: string;
  last_event_time: string;
  explanation: string;
  details: Record<string, unknown>;
}

export interface RuleContext {
  /** Where the rules read (the store's `detection` functions). */
  store: Store;
  range: q.RangeParams;
  config: DetectConfig;
  /** Now, for the rules that wait for something (a review, a result) before calling it missing. */
  nowMs: number;
  /** The content the privacy policy keeps for a tenant and risk level (digests, redacted, sealed); absent: not checked. */
  contentMode?: (tenant: string, risk: string) => string;
}

const time = (t: string) => t.replace(/(\.\d{3})\d*$/, '$1');
const quoted = (s: string) => `"${s.length > 80 ? `${s.slice(0, 77)}...` : s}"`;
const inCase = (c: string) => (c ? ` in case ${c}` : '');
const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/** What needs approval (approval-bypass's require_approval), and what acts: for every rule about proposals. */
const proposalPolicy = (c: RuleContext): q.ProposalPolicy => ({ requireApproval: c.config.rules['approval-bypass'].requireApproval, writeActions: WRITE_ACTIONS });

export async function approvalBypass(c: RuleContext): Promise<Incident[]> {
  const s = c.config.rules['approval-bypass'];
  const proposal = proposalPolicy(c);
  const effects = await q.effects(c.store, c.range, proposal);
  if (!effects.length) return [];
  const proposals = await q.proposals(c.store, c.range, proposal);
  if (!proposals.length) return [];
  const decisions = await q.decisions(c.store, [...new Set(proposals.map((p) => p.span_key))], c.range.tenants);
  const bySpan = new Map(proposals.map((p) => [`${p.tenant}\n${p.span_key}`, p]));
  const decisionsOf = new Map<string, q.DecisionRow[]>();
  for (const d of decisions) {
    const k = `${d.tenant}\n${d.link_key}`;
    decisionsOf.set(k, [...(decisionsOf.get(k) ?? []), d]);
  }
  const out: Incident[] = [];
  for (const e of effects) {
    // Tied by a span link; else the latest proposal before it on the same target in its case.
    const tied = new Map<string, q.ProposalRow>();
    for (const k of e.link_keys) {
      const p = bySpan.get(`${e.tenant}\n${k}`);
      if (p) tied.set(p.event_id, p);
    }
    if (e.target_id) {
      const onTarget = proposals.filter(
        (p) => p.tenant === e.tenant && p.correlation_id === e.correlation_id && p.target_system === e.target_system && p.target_id === e.target_id && p.t <= e.t,
      );
      const latest = onTarget[onTarget.length - 1];
      if (latest && !tied.size) tied.set(latest.event_id, latest);
    }
    for (const p of tied.values()) {
      const ds = decisionsOf.get(`${p.tenant}\n${p.span_key}`) ?? [];
      const before = ds.filter((d) => d.t <= e.t);
      const last = before[before.length - 1];
      if (last && (last.decision === 'approved' || last.decision === 'edited')) continue;
      // An override approves what carries out the person's replacement: an effect recorded under
      // the overriding decision, or linked to it. Any other effect after it carried out the AI's
      // proposal, which the person had replaced (README.md, "Overrides").
      const carriesOutOverride = last?.decision === 'overridden' && (e.parent_key === last.span_key || e.link_keys.includes(last.span_key));
      if (carriesOutOverride) continue;
      const after = ds.find((d) => d.t > e.t && (d.decision === 'approved' || d.decision === 'edited'));
      const what = e.event_type === 'system_effect' ? `System effect ${quoted(e.name)}` : `Tool call ${quoted(e.name)} (${e.action})`;
      const target = e.target_system ? ` on ${e.target_system}${e.target_id ? `/${e.target_id}` : ''}` : '';
      const why = p.approval_required ? 'required approval' : 'needs approval by the policy';
      let reason: string;
      let kind: string;
      if (last) {
        kind = last.decision === 'rejected' || last.decision === 'blocked' ? `after-${last.decision}` : `after-${last.decision || 'undecided'}`;
        reason =
          last.decision === 'overridden'
            ? `after it was overridden${last.reviewer_id ? ` by ${last.reviewer_id}` : ''} at ${time(last.t)}, and the effect is neither recorded under the override nor linked to it: it carried out the AI's proposal, not the person's replacement`
            : `after it was ${last.decision || 'decided without a decision'}${last.reviewer_id ? ` by ${last.reviewer_id}` : ''} at ${time(last.t)}, with no approval since`;
      } else if (after) {
        kind = 'before-approval';
        reason = `before its approval (${after.decision}${after.reviewer_id ? ` by ${after.reviewer_id}` : ''} at ${time(after.t)})`;
      } else {
        kind = 'no-approval';
        reason = 'with no approving decision linked to that proposal';
      }
      const cited = [p.event_id, e.event_id, ...(last ? [last.event_id] : []), ...(after ? [after.event_id] : [])];
      out.push({
        rule: 'approval-bypass',
        severity: s.severity,
        tenant: e.tenant,
        key: `${p.event_id}/${e.event_id}`,
        correlation_id: e.correlation_id,
        subject: e.actor_id,
        event_ids: cited,
        first_event_time: p.t < e.t ? p.t : e.t,
        last_event_time: [e.t, last?.t ?? '', after?.t ?? ''].sort().pop()!,
        explanation: `${what}${target} at ${time(e.t)}${e.actor_id ? ` by ${e.actor_id}` : ''} acted on proposal ${quoted(p.name)}${inCase(e.correlation_id)}, which ${why}, ${reason}.`,
        details: { kind, proposal: p.event_id, effect: e.event_id, tied_by: e.link_keys.includes(p.span_key) ? 'link' : 'target', decision: last?.decision ?? '' },
      });
    }
  }
  return out;
}

function grouped(rule: 'permission-denied' | 'blocked', rows: q.GroupRow[], c: RuleContext): Incident[] {
  const severity = c.config.rules[rule].severity;
  // Counts per actor and tool over the whole range, for the explanation.
  const perActorTool = new Map<string, number>();
  for (const r of rows) perActorTool.set(`${r.actor_id}\n${r.tool_name}`, (perActorTool.get(`${r.actor_id}\n${r.tool_name}`) ?? 0) + Number(r.n));
  return rows.map((r) => {
    const n = Number(r.n);
    const who = r.actor_id ? `actor ${r.actor_id}` : 'an unidentified actor';
    const tool = r.tool_name ? ` with tool ${r.tool_name}` : '';
    const total = perActorTool.get(`${r.actor_id}\n${r.tool_name}`) ?? n;
    const what = rule === 'permission-denied' ? plural(n, 'denied permission check') : `${plural(n, 'blocked action')} (${r.kinds.join(', ')})`;
    return {
      rule,
      severity,
      tenant: r.tenant,
      key: `${r.correlation_id}\n${r.actor_id}\n${r.tool_name}`,
      correlation_id: r.correlation_id,
      subject: [r.actor_id, r.tool_name].filter(Boolean).join(' · '),
      event_ids: r.ids,
      first_event_time: r.first,
      last_event_time: r.last,
      explanation:
        `${what} for ${who}${tool}${inCase(r.correlation_id)} ${r.first === r.last ? `at ${time(r.first)}` : `between ${time(r.first)} and ${time(r.last)}`}` +
        `${r.targets.length ? ` (targets: ${r.targets.join(', ')})` : ''}${total > n ? `; ${total} for this actor and tool over the range evaluated` : ''}.`,
      details: { count: n, actor: r.actor_id, tool: r.tool_name, kinds: r.kinds, range_count: total },
    };
  });
}

export async function permissionDenied(c: RuleContext): Promise<Incident[]> {
  return grouped('permission-denied', await q.denied(c.store, c.range), c);
}

export async function blocked(c: RuleContext): Promise<Incident[]> {
  return grouped('blocked', await q.blocked(c.store, c.range), c);
}

export async function repeatedCorrections(c: RuleContext): Promise<Incident[]> {
  const s = c.config.rules['repeated-corrections'];
  const rows = await q.corrections(c.store, c.range, Math.round(s.windowMs / 1000), s.minCount, s.minRate);
  return rows.map((r) => {
    const n = Number(r.corrections);
    const of = Number(r.outcomes);
    return {
      rule: 'repeated-corrections' as const,
      severity: s.severity,
      tenant: r.tenant,
      key: `${r.key}\n${r.bucket}`,
      correlation_id: '',
      subject: r.key,
      event_ids: r.ids,
      first_event_time: r.first,
      last_event_time: r.last,
      explanation:
        `${plural(n, 'outcome')} of ${r.key} ${n === 1 ? 'was' : 'were'} corrected or rolled back out of ${of} (${Math.round((100 * n) / of)} %) in the window from ${time(r.bucket)}, ` +
        `at or above the thresholds (${s.minCount} and ${Math.round(s.minRate * 100)} %).`,
      details: { corrections: n, outcomes: of, window_start: r.bucket },
    };
  });
}

export async function unusualVolume(c: RuleContext): Promise<Incident[]> {
  const s = c.config.rules['unusual-volume'];
  const hours = await q.hourlyCounts(c.store, c.range, s.baselineMs / 1000);
  const baselineHours = s.baselineMs / 3_600_000;
  const out: Incident[] = [];
  // Rows come per actor in hour order: a window over the actor's hours gives each hour's baseline.
  const byActor = new Map<string, Array<{ t: number; hour: string; n: number }>>();
  for (const h of hours) {
    const k = `${h.tenant}\n${h.actor_id}`;
    const list = byActor.get(k) ?? [];
    list.push({ t: Date.parse(`${h.hour.replace(' ', 'T')}Z`), hour: h.hour, n: Number(h.n) });
    byActor.set(k, list);
  }
  const from = Date.parse(`${c.range.from.replace(' ', 'T')}Z`);
  for (const [k, list] of byActor) {
    const [tenant, actor] = k.split('\n');
    for (const h of list) {
      // The hour that holds `from` counts too: its events in range are what is judged.
      if (h.t + 3_600_000 <= from || h.n < s.minEvents) continue;
      const before = list.filter((x) => x.t < h.t && x.t >= h.t - s.baselineMs).reduce((sum, x) => sum + x.n, 0);
      const perHour = before / baselineHours;
      // An actor with no history has no baseline to be far above: not flagged (a new deployment).
      if (before === 0 || h.n <= s.factor * perHour) continue;
      const ev = await q.hourEvents(c.store, tenant, actor, h.hour);
      out.push({
        rule: 'unusual-volume',
        severity: s.severity,
        tenant,
        key: `${actor}\n${h.hour}`,
        correlation_id: '',
        subject: actor,
        event_ids: ev?.ids ?? [],
        first_event_time: ev?.first ?? h.hour,
        last_event_time: ev?.last ?? h.hour,
        explanation:
          `Actor ${actor} had ${h.n} events in the hour from ${time(h.hour)}, ${Math.round(h.n / perHour)} times its own average of ${perHour.toFixed(1)} an hour ` +
          `over the ${Math.round(baselineHours)} hours before (threshold: ${s.factor} times, at least ${s.minEvents} events).`,
        details: { events: h.n, baseline_per_hour: perHour, baseline_events: before },
      });
    }
  }
  return out;
}

export async function sensitiveSource(c: RuleContext): Promise<Incident[]> {
  const s = c.config.rules['sensitive-source-in-low-risk-flow'];
  const rows = await q.sensitive(c.store, c.range, s.levels, s.maxSensitivity);
  return rows.map((r) => {
    const risk = r.risk || 'medium';
    return {
      rule: 'sensitive-source-in-low-risk-flow' as const,
      severity: s.severity,
      tenant: r.tenant,
      key: r.event_id,
      correlation_id: r.correlation_id,
      subject: r.actor_id,
      event_ids: [r.event_id],
      first_event_time: r.t,
      last_event_time: r.t,
      explanation:
        `A retrieval at ${time(r.t)}${r.actor_id ? ` by ${r.actor_id}` : ''}${inCase(r.correlation_id)} returned ${r.hits.join(', ')}, ` +
        `more sensitive than a ${risk}-risk flow allows (at most ${s.maxSensitivity[risk as 'low'] ?? s.maxSensitivity.medium}).`,
      details: { risk, sources: r.hits },
    };
  });
}

export async function coverage(c: RuleContext): Promise<Incident[]> {
  const s = c.config.rules.coverage;
  const out: Incident[] = [];
  const base = (check: CoverageCheck, x: Omit<Incident, 'rule' | 'severity' | 'details'>, details: Record<string, unknown> = {}): Incident => ({
    rule: 'coverage',
    severity: s.severity,
    ...x,
    key: `${check}\n${x.key}`,
    details: { check, ...details },
  });
  if (s.checks.includes('model-call-identity')) {
    for (const r of await q.identityGaps(c.store, c.range)) {
      const gaps = [Number(r.no_actor) ? `${r.no_actor} with no actor` : '', Number(r.no_correlation) ? `${r.no_correlation} with no correlation id of their own` : '']
        .filter(Boolean)
        .join(', ');
      out.push(
        base(
          'model-call-identity',
          {
            tenant: r.tenant,
            key: `${r.service_name}\n${r.day}`,
            correlation_id: '',
            subject: r.service_name,
            event_ids: r.ids,
            first_event_time: r.first,
            last_event_time: r.last,
            explanation: `Model calls of service ${r.service_name || '(unnamed)'} on ${r.day} cannot all be tied to who or what they served: ${gaps}.`,
          },
          { no_actor: Number(r.no_actor), no_correlation: Number(r.no_correlation) },
        ),
      );
    }
  }
  // Reviews and results may come later: only what is older than review_timeout is called missing.
  const waited: q.RangeParams = { ...c.range, to: earlier(c.range.to, c.nowMs - s.reviewTimeoutMs) };
  if (waited.to > waited.from && s.checks.includes('high-risk-without-review')) {
    for (const r of await q.unreviewed(c.store, waited)) {
      out.push(
        base('high-risk-without-review', {
          tenant: r.tenant,
          key: r.correlation_id,
          correlation_id: r.correlation_id,
          subject: '',
          event_ids: r.ids,
          first_event_time: r.first,
          last_event_time: r.last,
          explanation: `High-risk case ${r.correlation_id} (${plural(Number(r.high), 'high-risk event')} from ${time(r.first)}) has no human review at all: no approval, rejection or other decision is recorded.`,
        }),
      );
    }
  }
  if (waited.to > waited.from && s.checks.includes('proposal-without-result')) {
    for (const r of await q.openProposals(c.store, waited, proposalPolicy(c))) {
      out.push(
        base('proposal-without-result', {
          tenant: r.tenant,
          key: r.event_id,
          correlation_id: r.correlation_id,
          subject: r.actor_id,
          event_ids: [r.event_id],
          first_event_time: r.t,
          last_event_time: r.t,
          explanation: `Proposed tool call ${quoted(r.name)} at ${time(r.t)}${r.actor_id ? ` by ${r.actor_id}` : ''}${inCase(r.correlation_id)} needed approval and has no result: no decision, effect or other event links to it.`,
        }),
      );
    }
  }
  if (c.contentMode && s.checks.includes('content-not-captured')) {
    for (const r of await q.uncaptured(c.store, c.range)) {
      const mode = c.contentMode(r.tenant, r.risk);
      if (mode === 'digests') continue;
      out.push(
        base(
          'content-not-captured',
          {
            tenant: r.tenant,
            key: `${r.service_name}\n${r.risk}\n${r.day}`,
            correlation_id: '',
            subject: r.service_name,
            event_ids: r.ids,
            first_event_time: r.first,
            last_event_time: r.last,
            explanation:
              `${plural(Number(r.n), 'model call')} of service ${r.service_name || '(unnamed)'} at ${r.risk || 'medium'} risk on ${r.day} arrived without content, ` +
              `where the policy keeps it (${mode}): the app does not capture prompts and answers (for OpenTelemetry's GenAI instrumentation, OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true).`,
          },
          { model_calls: Number(r.n), content_mode: mode },
        ),
      );
    }
  }
  // Chains span tenants: only an evaluation of every tenant looks at them; the alert has no tenant.
  if (!c.range.tenants && s.checks.includes('unsigned-events')) {
    const before = new Date(c.nowMs - s.unsignedAfterMs).toISOString().replace('T', ' ').replace('Z', '');
    for (const r of await q.unsigned(c.store, before)) {
      out.push(
        base(
          'unsigned-events',
          {
            tenant: '',
            key: `${r.chain_id}\n${r.first_seq}`,
            correlation_id: '',
            subject: r.chain_id,
            event_ids: r.ids,
            first_event_time: r.first,
            last_event_time: r.last,
            explanation:
              `${plural(Number(r.unsigned), 'event')} of chain ${r.chain_id}, from seq ${r.first_seq} (stored ${time(r.oldest)}), are covered by no signed checkpoint ` +
              `${Number(r.signed) ? `(the newest covers ${r.signed})` : '(the chain has none)'}: tamper evidence has stopped for them; see /api/v1/info and the bridge's log.`,
          },
          { chain_id: r.chain_id, unsigned: Number(r.unsigned), signed: Number(r.signed) },
        ),
      );
    }
  }
  return out;
}

/** ClickHouse DateTime64 text ('YYYY-MM-DD hh:mm:ss.nnnnnnnnn', UTC) as epoch ms. */
const ms = (t: string) => Date.parse(`${t.slice(0, 23).replace(' ', 'T')}Z`);
/** Epoch ms as ClickHouse DateTime64 text (UTC). */
const chTimeOf = (t: number) => new Date(t).toISOString().replace('T', ' ').replace('Z', '');
const span = (d: number) => (d % 3_600_000 === 0 ? `${d / 3_600_000} h` : d % 60_000 === 0 ? `${d / 60_000} min` : `${d / 1000} s`);

/**
 * A proposal that led to no effect within its window is `not_executed`: the trail shows the
 * negative (rejected, blocked, or simply never carried out) as well as the positive. It is judged
 * once its window has ended (and settled); an effect carries out a proposal when it links to, or
 * is recorded under, the proposal or a decision on it, else when it acts on the proposal's target
 * in its case and that proposal is the latest one on the target before it (as for approval-bypass).
 */
export async function notExecuted(c: RuleContext): Promise<Incident[]> {
  const s = c.config.rules['not-executed'];
  const proposal = proposalPolicy(c);
  const until = chTimeOf(c.nowMs - s.windowMs - c.config.settleMs);
  const proposals = await q.notExecutedProposals(c.store, c.range, proposal, s.windowMs / 1000, until);
  const judged = proposals.filter((p) => p.judged);
  if (!judged.length) return [];
  const decisions = await q.decisions(c.store, [...new Set(proposals.map((p) => p.span_key))], c.range.tenants);
  const bySpan = new Map(proposals.map((p) => [`${p.tenant}\n${p.span_key}`, p]));
  const decisionsOf = new Map<string, q.DecisionRow[]>();
  const byDecisionSpan = new Map<string, q.JudgedProposalRow>();
  for (const d of decisions) {
    const p = bySpan.get(`${d.tenant}\n${d.link_key}`);
    if (!p) continue;
    decisionsOf.set(p.event_id, [...(decisionsOf.get(p.event_id) ?? []), d]);
    byDecisionSpan.set(`${d.tenant}\n${d.span_key}`, p);
  }
  const since = judged[0].t;
  const last = chTimeOf(Math.max(...judged.map((p) => ms(p.t))) + s.windowMs);
  const keys = [...new Set([...proposals.map((p) => p.span_key), ...decisions.map((d) => d.span_key)])];
  const cases = [...new Set(judged.map((p) => p.correlation_id))];
  const effects = await q.proposalEffects(c.store, c.range.tenants, proposal, since, last, keys, cases);
  const executed = new Map<string, q.CandidateEffectRow>();
  for (const e of effects) {
    const tied = new Set<q.JudgedProposalRow>();
    for (const k of [...e.link_keys, e.parent_key]) {
      const p = bySpan.get(`${e.tenant}\n${k}`) ?? byDecisionSpan.get(`${e.tenant}\n${k}`);
      if (p) tied.add(p);
    }
    if (!tied.size && e.target_id) {
      const onTarget = proposals.filter(
        (p) => p.tenant === e.tenant && p.correlation_id === e.correlation_id && p.target_system === e.target_system && p.target_id === e.target_id && ms(p.t) <= ms(e.t),
      );
      if (onTarget.length) tied.add(onTarget[onTarget.length - 1]);
    }
    for (const p of tied) if (ms(e.t) >= ms(p.t) && ms(e.t) <= ms(p.t) + s.windowMs && !executed.has(p.event_id)) executed.set(p.event_id, e);
  }
  const out: Incident[] = [];
  for (const p of judged) {
    if (executed.has(p.event_id)) continue;
    const ds = decisionsOf.get(p.event_id) ?? [];
    const d = ds[ds.length - 1];
    const by = d ? `${d.decision || 'decided without a decision'}${d.reviewer_id ? ` by ${d.reviewer_id}` : ''} at ${time(d.t)}` : '';
    let reason: string;
    if (!d) reason = 'No decision on it is recorded either.';
    else if (d.decision === 'rejected' || d.decision === 'blocked') reason = `It was ${by}.`;
    else if (d.decision === 'approved' || d.decision === 'edited' || d.decision === 'overridden') reason = `It was ${by}, yet nothing carried it out.`;
    else reason = `Its last decision: ${by}.`;
    const target = p.target_system ? ` on ${p.target_system}${p.target_id ? `/${p.target_id}` : ''}` : '';
    out.push({
      rule: 'not-executed',
      severity: s.severity,
      tenant: p.tenant,
      key: p.event_id,
      correlation_id: p.correlation_id,
      subject: p.actor_id,
      event_ids: [p.event_id, ...ds.map((x) => x.event_id)],
      first_event_time: p.t,
      last_event_time: [p.t, ...ds.map((x) => x.t)].sort().pop()!,
      explanation:
        `Proposed tool call ${quoted(p.name)}${p.action ? ` (${p.action}${target})` : target} at ${time(p.t)}${p.actor_id ? ` by ${p.actor_id}` : ''}${inCase(p.correlation_id)} ` +
        `was not executed: no effect followed it within ${span(s.windowMs)}. ${reason}`,
      details: { status: 'not_executed', decision: d?.decision ?? '', decisions: ds.length, proposal: p.event_id, window_ms: s.windowMs },
    });
  }
  return out;
}

/** The earlier of a range bound and an epoch time, as a range bound. */
function earlier(bound: string, ms: number): string {
  const t = new Date(ms).toISOString().replace('T', ' ').replace('Z', '');
  return t < bound ? t : bound;
}

export const RULES: Record<RuleId, (c: RuleContext) => Promise<Incident[]>> = {
  'approval-bypass': approvalBypass,
  'permission-denied': permissionDenied,
  blocked,
  'repeated-corrections': repeatedCorrections,
  'unusual-volume': unusualVolume,
  'sensitive-source-in-low-risk-flow': sensitiveSource,
  coverage,
  'not-executed': notExecuted,
};
