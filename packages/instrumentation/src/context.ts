import { context, createContextKey, propagation, type Baggage, type BaggageEntry, type Context } from '@opentelemetry/api';
import {
  ATTR_AUDIT_ACTOR_ID,
  ATTR_AUDIT_ACTOR_ROLE,
  ATTR_AUDIT_ACTOR_TYPE,
  ATTR_AUDIT_CORRELATION_ID,
  ATTR_AUDIT_INITIATION,
  ATTR_AUDIT_ON_BEHALF_OF,
  ATTR_AUDIT_PURPOSE,
  ATTR_AUDIT_RISK,
  ATTR_AUDIT_TENANT,
  BAGGAGE_KEYS,
  type ActorType,
  type Initiation,
  type Purpose,
  type Risk,
} from '@otel-audit/semconv';
import { propagatedBaggageKeys } from './config.ts';
import { reportInternalError } from './internal/safe.ts';

export interface AuditActor {
  id: string;
  type: ActorType;
  role?: string;
}

/** Who acts, for whom, why, and under which case: DESIGN 3.3's inherited context. */
export interface AuditContext {
  /** Task, ticket or case id that ties one activity together across traces. */
  correlationId?: string;
  actor?: AuditActor;
  /** The human an automated identity acts for. */
  onBehalfOf?: string;
  initiation?: Initiation;
  purpose?: Purpose;
  risk?: Risk;
  tenant?: string;
}

/** Attribute map (audit.* name to value) of one audit context. */
export type AuditAttributes = Readonly<Record<string, string>>;

interface Stored {
  readonly value: Readonly<AuditContext>;
  readonly attributes: AuditAttributes;
}

const AUDIT_BAGGAGE_KEYS: ReadonlySet<string> = new Set(BAGGAGE_KEYS);

const AUDIT_CONTEXT_KEY = createContextKey('@otel-audit/instrumentation/audit-context');

// Parsing baggage on every span start would be wasteful; a Baggage object is immutable.
const fromBaggageCache = new WeakMap<Baggage, Stored | null>();

function str(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/** The audit.* attributes that describe `audit` (only valid, non-empty strings). */
export function auditContextToAttributes(audit: AuditContext): Record<string, string> {
  const out: Record<string, string> = {};
  const set = (key: string, value: unknown): void => {
    const s = str(value);
    if (s !== undefined) out[key] = s;
  };
  set(ATTR_AUDIT_CORRELATION_ID, audit.correlationId);
  const actor = audit.actor as Partial<AuditActor> | undefined;
  if (actor !== undefined && actor !== null && typeof actor === 'object') {
    set(ATTR_AUDIT_ACTOR_ID, actor.id);
    set(ATTR_AUDIT_ACTOR_TYPE, actor.type);
    set(ATTR_AUDIT_ACTOR_ROLE, actor.role);
  }
  set(ATTR_AUDIT_ON_BEHALF_OF, audit.onBehalfOf);
  set(ATTR_AUDIT_INITIATION, audit.initiation);
  set(ATTR_AUDIT_PURPOSE, audit.purpose);
  set(ATTR_AUDIT_RISK, audit.risk);
  set(ATTR_AUDIT_TENANT, audit.tenant);
  return out;
}

function attributesToAuditContext(attrs: Readonly<Record<string, string | undefined>>): AuditContext {
  const out: AuditContext = {};
  const correlationId = attrs[ATTR_AUDIT_CORRELATION_ID];
  if (correlationId !== undefined) out.correlationId = correlationId;
  const actorId = attrs[ATTR_AUDIT_ACTOR_ID];
  const actorType = attrs[ATTR_AUDIT_ACTOR_TYPE];
  // An actor without a type is not an AuditActor; its raw attributes still get stamped.
  if (actorId !== undefined && actorType !== undefined) {
    const actor: AuditActor = { id: actorId, type: actorType as ActorType };
    const role = attrs[ATTR_AUDIT_ACTOR_ROLE];
    if (role !== undefined) actor.role = role;
    out.actor = Object.freeze(actor);
  }
  const onBehalfOf = attrs[ATTR_AUDIT_ON_BEHALF_OF];
  if (onBehalfOf !== undefined) out.onBehalfOf = onBehalfOf;
  const initiation = attrs[ATTR_AUDIT_INITIATION];
  if (initiation !== undefined) out.initiation = initiation as Initiation;
  const purpose = attrs[ATTR_AUDIT_PURPOSE];
  if (purpose !== undefined) out.purpose = purpose;
  const risk = attrs[ATTR_AUDIT_RISK];
  if (risk !== undefined) out.risk = risk as Risk;
  const tenant = attrs[ATTR_AUDIT_TENANT];
  if (tenant !== undefined) out.tenant = tenant;
  return out;
}

function storedFromBaggage(bag: Baggage | undefined): Stored | undefined {
  if (bag === undefined) return undefined;
  const cached = fromBaggageCache.get(bag);
  if (cached !== undefined) return cached ?? undefined;
  let stored: Stored | null = null;
  const attrs: Record<string, string> = {};
  let any = false;
  for (const key of BAGGAGE_KEYS) {
    const value = str(bag.getEntry(key)?.value);
    if (value !== undefined) {
      attrs[key] = value;
      any = true;
    }
  }
  if (any) stored = { value: Object.freeze(attributesToAuditContext(attrs)), attributes: Object.freeze(attrs) };
  fromBaggageCache.set(bag, stored);
  return stored ?? undefined;
}

function getStored(ctx: Context): Stored | undefined {
  const own = ctx.getValue(AUDIT_CONTEXT_KEY) as Stored | undefined;
  if (own !== undefined) return own;
  // A downstream service receives only the baggage header: read the context back from it.
  return storedFromBaggage(propagation.getBaggage(ctx));
}

/**
 * The audit context active in `ctx` (default: the active context): the one set by
 * `withAuditContext`, else the one carried by W3C baggage entries named after the audit.*
 * attributes. Undefined when there is none.
 */
export function getAuditContext(ctx: Context = context.active()): Readonly<AuditContext> | undefined {
  try {
    return getStored(ctx)?.value;
  } catch (err) {
    reportInternalError('getAuditContext', err);
    return undefined;
  }
}

/** The audit.* attributes of the audit context active in `ctx`, for stamping spans. */
export function getAuditAttributes(ctx: Context = context.active()): AuditAttributes | undefined {
  try {
    return getStored(ctx)?.attributes;
  } catch (err) {
    reportInternalError('getAuditAttributes', err);
    return undefined;
  }
}

function merge(outer: Readonly<AuditContext> | undefined, inner: AuditContext): AuditContext {
  const out: AuditContext = { ...outer };
  for (const [key, value] of Object.entries(inner) as [keyof AuditContext, unknown][]) {
    // An actor is one identity: an inner actor replaces the outer one whole (no inherited role).
    if (value !== undefined) (out as Record<string, unknown>)[key] = key === 'actor' ? { ...(value as AuditActor) } : value;
  }
  return out;
}

/**
 * A copy of `ctx` carrying `audit` merged over the audit context already in `ctx` (inner
 * fields win), in the context itself and, for the keys allowed by `configureAudit({ baggage })`,
 * in its W3C baggage.
 */
export function setAuditContext(ctx: Context, audit: AuditContext): Context {
  const merged = merge(getStored(ctx)?.value, audit);
  const attributes = auditContextToAttributes(merged);
  // Keep the stored object consistent with what will be stamped (drops invalid fields).
  const stored: Stored = { value: Object.freeze(attributesToAuditContext(attributes)), attributes: Object.freeze(attributes) };
  let next = ctx.setValue(AUDIT_CONTEXT_KEY, stored);
  const keys = propagatedBaggageKeys();
  if (keys.size > 0) {
    // One Baggage built in one go: each setEntry would copy the whole map.
    const entries: Record<string, BaggageEntry> = {};
    const existing = propagation.getBaggage(ctx);
    if (existing !== undefined) {
      // Audit keys are all rewritten below, so what the merge dropped (e.g. an outer actor's role) goes.
      for (const [key, entry] of existing.getAllEntries()) if (!AUDIT_BAGGAGE_KEYS.has(key)) entries[key] = entry;
    }
    for (const key in attributes) if (keys.has(key)) entries[key] = { value: attributes[key] };
    next = propagation.setBaggage(next, propagation.createBaggage(entries));
  }
  return next;
}

/**
 * Runs `fn` with `audit` merged into the active audit context (nested calls merge, inner
 * wins). The context follows `fn` across await, timers and Promise.all (with an async
 * context manager such as the SDK's AsyncLocalStorageContextManager) and crosses process
 * boundaries as W3C baggage where a baggage propagator is installed.
 */
export function withAuditContext<T>(audit: AuditContext, fn: () => T): T {
  let ctx: Context;
  try {
    ctx = setAuditContext(context.active(), audit);
  } catch (err) {
    reportInternalError('withAuditContext', err);
    return fn();
  }
  return context.with(ctx, fn);
}
