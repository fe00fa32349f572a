/**
 * The detector: evaluates the rules over a time range of stored events, stores each incident
 * once as an alert (its id derives from the incident, so a re-evaluation, a `detect` re-run or a
 * restart finds it stored and raises nothing), counts new alerts in /metrics, and hands them to
 * the webhooks. The running bridge evaluates on a timer; `detect --from --to` asks for a range.
 */
import { createHash } from 'node:crypto';
import type { Logger } from '../internal/logger.ts';
import type { Metrics } from '../internal/metrics.ts';
import { detection, type Store } from '../store/index.ts';
import { RULE_IDS, type DetectConfig, type RuleId } from './config.ts';
import { RULES, type Incident } from './rules.ts';

/** One row of `alerts` (store/schema.ts, ALERT_COLUMNS). */
export interface Alert {
  alert_id: string;
  tenant: string;
  rule: RuleId;
  severity: string;
  correlation_id: string;
  subject: string;
  event_ids: string[];
  first_event_time: string;
  last_event_time: string;
  detected_at: string;
  explanation: string;
  /** JSON: what the rule measured (counts, the kind of bypass, ...). */
  details: string;
}

export interface EvaluateOptions {
  from: Date;
  to: Date;
  /** Only these tenants' events; null: every tenant. */
  tenants?: readonly string[] | null;
  /** Only these rules (default: every enabled rule). */
  rules?: readonly RuleId[];
}

export interface Evaluation {
  from: string;
  to: string;
  rules: RuleId[];
  /** Incidents found in the range, stored before or now. */
  found: number;
  /** The alerts stored by this evaluation (new incidents). */
  raised: Alert[];
}

export class DetectError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.code = code;
  }
}

/** Someone to tell about new alerts (the webhooks); must not throw or block. */
export type AlertSink = (alerts: Alert[]) => void;

export class Detector {
  readonly config: DetectConfig;
  private readonly store: Store;
  private readonly log: Logger;
  private readonly counter: { inc(labels: Record<string, string>, n?: number): void } | null;
  private readonly sinks: AlertSink[] = [];
  private timer: NodeJS.Timeout | null = null;
  /** Evaluations run one at a time, so that two never store the same incident. */
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;

  /** The content the privacy policy keeps per tenant and risk (for coverage's content-not-captured). */
  private readonly contentMode: ((tenant: string, risk: string) => string) | undefined;

  constructor(store: Store, config: DetectConfig, log: Logger, metrics?: Metrics, contentMode?: (tenant: string, risk: string) => string) {
    this.store = store;
    this.contentMode = contentMode;
    this.config = config;
    this.log = log;
    this.counter = metrics ? metrics.labelledCounter('otel_audit_alerts_total', 'Alerts raised (new incidents), by rule and severity') : null;
  }

  onAlerts(sink: AlertSink): void {
    this.sinks.push(sink);
  }

  /** Evaluates every `interval` over [now - lookback, now - settle), when the policy says so. */
  start(): void {
    if (!this.config.enabled || this.timer) return;
    const tick = () => {
      const now = Date.now();
      this.evaluate({ from: new Date(now - this.config.lookbackMs), to: new Date(now - this.config.settleMs) })
        .catch((err) => this.log.error('detections not evaluated; retried at the next interval', { error: (err as Error).message }))
        .finally(() => {
          if (!this.closed) this.timer = setTimeout(tick, this.config.intervalMs).unref();
        });
    };
    this.timer = setTimeout(tick, Math.min(this.config.intervalMs, 5_000)).unref();
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    await this.queue.catch(() => {});
  }

  evaluate(o: EvaluateOptions): Promise<Evaluation> {
    const run = this.queue.then(() => this.run(o));
    this.queue = run.catch(() => {});
    return run;
  }

  private async run(o: EvaluateOptions): Promise<Evaluation> {
    if (!(o.from.getTime() < o.to.getTime())) {
      throw new DetectError('DETECT_BAD_RANGE', `invalid range: --from (${o.from.toISOString()}) must be before --to (${o.to.toISOString()})`);
    }
    const rules = (o.rules ?? RULE_IDS).filter((id) => o.rules || this.config.rules[id].enabled);
    const range = { from: chTime(o.from), to: chTime(o.to), tenants: o.tenants ?? null };
    const ctx = { store: this.store, range, config: this.config, nowMs: Date.now(), contentMode: this.contentMode };
    const incidents: Incident[] = [];
    for (const id of rules) incidents.push(...(await RULES[id](ctx)));
    const detectedAt = chTime(new Date());
    const byId = new Map<string, Alert>();
    for (const i of incidents) {
      const alert = toAlert(i, detectedAt);
      if (!byId.has(alert.alert_id)) byId.set(alert.alert_id, alert);
    }
    const stored = await detection.storedAlertIds(this.store, [...byId.keys()]);
    const raised = [...byId.values()].filter((a) => !stored.has(a.alert_id));
    if (raised.length) {
      const token = createHash('sha256').update(raised.map((a) => a.alert_id).join(',')).digest('hex');
      await detection.insertAlerts(this.store, raised, `alerts-${token}`);
      for (const a of raised) this.counter?.inc({ rule: a.rule, severity: a.severity });
      this.log.info('alerts raised', { count: raised.length, rules: [...new Set(raised.map((a) => a.rule))] });
      for (const sink of this.sinks) sink(raised);
    }
    return { from: range.from, to: range.to, rules, found: byId.size, raised };
  }
}

/** The alert of an incident: its id is the first 32 hex of SHA-256(rule, tenant, key). */
export function toAlert(i: Incident, detectedAt: string): Alert {
  return {
    alert_id: createHash('sha256').update(`${i.rule}\n${i.tenant}\n${i.key}`).digest('hex').slice(0, 32),
    tenant: i.tenant,
    rule: i.rule,
    severity: i.severity,
    correlation_id: i.correlation_id,
    subject: i.subject,
    event_ids: [...new Set(i.event_ids)],
    first_event_time: i.first_event_time,
    last_event_time: i.last_event_time,
    detected_at: detectedAt,
    explanation: i.explanation,
    details: JSON.stringify(i.details),
  };
}

/** A Date as ClickHouse DateTime64 text (UTC, ms). */
export function chTime(d: Date): string {
  return d.toISOString().replace('T', ' ').replace('Z', '');
}
