import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { readFileSync } from 'node:fs';
import { diag, trace, type DiagLogger, type TracerProvider } from '@opentelemetry/api';
import { INSTRUMENTATION_NAME } from './config.ts';

/**
 * Whether the helpers' spans go anywhere. They do not when no tracer provider is registered
 * (no SDK started, or not yet), or when the app's SDK registered through another copy of
 * `@opentelemetry/api` than the one this package loaded and that copy is older: the API hands
 * an older global to no newer copy, so every helper would get a no-op tracer.
 */
export interface AuditTracingStatus {
  usable: boolean;
  /** Why not: `no_tracer_provider` or `incompatible_api`. */
  problem?: 'no_tracer_provider' | 'incompatible_api';
  /** What is wrong and what to do, for a log line. */
  message?: string;
}

/** The key under which every 1.x copy of @opentelemetry/api keeps its globals. */
const API_GLOBAL = Symbol.for('opentelemetry.js.api.1');

interface ApiGlobal {
  version?: string;
  trace?: unknown;
  diag?: DiagLogger;
}

function apiGlobal(): ApiGlobal | undefined {
  return (globalThis as Record<symbol, ApiGlobal | undefined>)[API_GLOBAL];
}

/** The version of the @opentelemetry/api copy this package resolved, for messages. */
function ownApiVersion(): string {
  try {
    let dir = dirname(createRequire(import.meta.url).resolve('@opentelemetry/api'));
    for (let i = 0; i < 6; i++, dir = dirname(dir)) {
      try {
        const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
        if (pkg.name === '@opentelemetry/api') return pkg.version ?? 'unknown';
      } catch {
        // not this level
      }
    }
  } catch {
    // fall through
  }
  return 'unknown';
}

// Providers seen to hand out real tracers; once usable, a provider stays so.
const usableProviders = new WeakSet<object>();

/** Checks the provider the helpers use (the configured one, else the global one). */
export function checkTracerProvider(provider: TracerProvider): AuditTracingStatus {
  if (usableProviders.has(provider)) return { usable: true };
  const proxy = provider as { getDelegateTracer?: (name: string) => unknown };
  // The API's global proxy has no delegate until an SDK registers; anything else is a provider.
  if (typeof proxy.getDelegateTracer !== 'function' || proxy.getDelegateTracer(INSTRUMENTATION_NAME) !== undefined) {
    usableProviders.add(provider);
    return { usable: true };
  }
  const g = apiGlobal();
  if (g?.trace !== undefined) {
    const theirs = g.version ?? 'unknown';
    return {
      usable: false,
      problem: 'incompatible_api',
      message:
        `@otel-audit/instrumentation: the app's tracer provider is registered through @opentelemetry/api ${theirs}, but this package loaded ` +
        `another copy, @opentelemetry/api ${ownApiVersion()}, which cannot use an older API's globals: the helpers' spans are dropped ` +
        `and proposal refs carry no span ids. Install a single @opentelemetry/api in the app (\`npm ls @opentelemetry/api\`; this ` +
        `package takes it as a peer dependency).`,
    };
  }
  return {
    usable: false,
    problem: 'no_tracer_provider',
    message:
      '@otel-audit/instrumentation: no OpenTelemetry tracer provider is registered (yet): the helpers\' spans are dropped and proposal ' +
      'refs carry no span ids. Start an SDK first: startAudit(), or NodeSDK with auditSpanProcessors().',
  };
}

/** The status of the provider the helpers use now (`configureAudit({ tracerProvider })`, else the global one). */
export function auditTracingStatus(provider: TracerProvider = trace.getTracerProvider()): AuditTracingStatus {
  try {
    return checkTracerProvider(provider);
  } catch {
    return { usable: true };
  }
}

const warned = new Set<string>();

/**
 * Says once per problem that the helpers' spans go nowhere: at WARN through the OTel diag
 * logger (the one this package's API copy sees, and the app's when that copy cannot see it),
 * and as a process warning when no diag logger is registered at all, so that it never passes
 * in silence.
 */
export function warnUnusable(status: AuditTracingStatus): void {
  if (status.usable || status.problem === undefined || warned.has(status.problem)) return;
  warned.add(status.problem);
  const message = status.message ?? status.problem;
  try {
    diag.warn(message);
    const g = apiGlobal();
    if (status.problem === 'incompatible_api' && typeof g?.diag?.warn === 'function') g.diag.warn(message);
    if (g?.diag === undefined) process.emitWarning(message, { code: status.problem === 'incompatible_api' ? 'OTEL_AUDIT_INCOMPATIBLE_API' : 'OTEL_AUDIT_NO_TRACER_PROVIDER' });
  } catch {
    // a broken logger must not reach the app
  }
}

/** For tests: forget which problems were reported. */
export function resetTracingWarnings(): void {
  warned.clear();
}
