import { trace, type Tracer, type TracerProvider } from '@opentelemetry/api';
import { BAGGAGE_KEYS } from '@otel-audit/semconv';
import { checkTracerProvider, warnUnusable } from './tracing.ts';

export const INSTRUMENTATION_NAME = '@otel-audit/instrumentation';
export const INSTRUMENTATION_VERSION = '0.1.0';

export interface AuditInstrumentationConfig {
  /**
   * Record content: tool arguments and results, retrieval query text, a reviewer's edits.
   * Off by default, because content is where personal data lives; defaults to
   * `OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true`, the switch the official
   * GenAI instrumentations use.
   */
  captureContent: boolean;
  /**
   * Which audit context fields `withAuditContext` also writes into W3C baggage (and so into
   * the `baggage` header of every outgoing request a propagator handles, third-party APIs
   * included): `true` for all of `BAGGAGE_KEYS`, `false` for none, or a list of keys.
   */
  baggage: boolean | readonly string[];
  /** Tracer provider for the helpers' spans; the global one when unset. */
  tracerProvider: TracerProvider | undefined;
}

const config: AuditInstrumentationConfig = {
  captureContent: process.env.OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT?.trim().toLowerCase() === 'true',
  baggage: true,
  tracerProvider: undefined,
};

let baggageKeys: ReadonlySet<string> = new Set(BAGGAGE_KEYS);

/** Changes module-level options; returns the resulting configuration. */
export function configureAudit(options: Partial<AuditInstrumentationConfig>): Readonly<AuditInstrumentationConfig> {
  if (options.captureContent !== undefined) config.captureContent = options.captureContent === true;
  if (options.baggage !== undefined) {
    config.baggage = options.baggage;
    baggageKeys = new Set(
      options.baggage === true ? BAGGAGE_KEYS : options.baggage === false ? [] : options.baggage.filter((k) => (BAGGAGE_KEYS as readonly string[]).includes(k)),
    );
  }
  if ('tracerProvider' in options) config.tracerProvider = options.tracerProvider;
  return { ...config };
}

export function getAuditConfig(): Readonly<AuditInstrumentationConfig> {
  return config;
}

export function propagatedBaggageKeys(): ReadonlySet<string> {
  return baggageKeys;
}

// Cached per provider object, not once: trace.disable() + a new registration yields a new
// global proxy, and a tracer cached from the old one would keep exporting to the old SDK.
const tracers = new WeakMap<TracerProvider, Tracer>();

/**
 * The helpers' tracer. When the provider hands out no-op tracers (no SDK registered, or one
 * registered through an older copy of @opentelemetry/api), says so once (tracing.ts).
 */
export function auditTracer(): Tracer {
  const provider = config.tracerProvider ?? trace.getTracerProvider();
  const status = checkTracerProvider(provider);
  if (!status.usable) warnUnusable(status);
  let tracer = tracers.get(provider);
  if (tracer === undefined) {
    tracer = provider.getTracer(INSTRUMENTATION_NAME, INSTRUMENTATION_VERSION);
    tracers.set(provider, tracer);
  }
  return tracer;
}
