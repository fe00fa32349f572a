import { diag, DiagLogLevel, trace, type DiagLogger } from '@opentelemetry/api';
import { TracerProvider } from '@opentelemetry/sdk-trace';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { auditTracingStatus, proposalRef, recordOutcome, traceToolCall } from './index.ts';
import { resetTracingWarnings } from './tracing.ts';

// No SDK in this file: the globals are set by hand, as an app (or a second copy of the API) would.
const API_GLOBAL = Symbol.for('opentelemetry.js.api.1');
const globals = globalThis as Record<symbol, unknown>;

function capture(): { logger: DiagLogger; warnings: string[] } {
  const warnings: string[] = [];
  const logger: DiagLogger = {
    error: () => {},
    warn: (m: string) => warnings.push(m),
    info: () => {},
    debug: () => {},
    verbose: () => {},
  };
  return { logger, warnings };
}

let processWarnings: Array<{ message: string; code?: string }> = [];
const onWarning = (w: Error & { code?: string }) => processWarnings.push({ message: w.message, code: w.code });

beforeEach(() => {
  resetTracingWarnings();
  processWarnings = [];
  process.on('warning', onWarning);
});
afterEach(() => {
  process.off('warning', onWarning);
  diag.disable();
  trace.disable();
  delete globals[API_GLOBAL];
});

describe('helpers without a usable tracer provider', () => {
  it('say once, at WARN through diag, that no tracer provider is registered, and still run the app', () => {
    const { logger, warnings } = capture();
    diag.setLogger(logger, DiagLogLevel.WARN);
    expect(auditTracingStatus()).toMatchObject({ usable: false, problem: 'no_tracer_provider' });
    expect(traceToolCall({ name: 'crm_update', action: 'update' }, () => 42)).toBe(42);
    recordOutcome({ outcome: 'completed' });
    const ref = proposalRef();
    expect(ref).toBe('otel-audit-ref:v1:::');
    const mine = warnings.filter((w) => w.includes('no OpenTelemetry tracer provider is registered'));
    expect(mine).toHaveLength(1);
    expect(mine[0]).toContain('startAudit()');
    // A diag logger was there to hear it: no process warning on top.
    expect(processWarnings).toEqual([]);
  });

  it('emit a process warning when the app has no diag logger either', async () => {
    proposalRef();
    traceToolCall({ name: 'x', action: 'read' }, () => undefined);
    await new Promise((r) => setImmediate(r));
    expect(processWarnings.map((w) => w.code)).toEqual(['OTEL_AUDIT_NO_TRACER_PROVIDER']);
  });

  it('name both API versions when the app registered through an older @opentelemetry/api', () => {
    // What an app's SDK leaves behind when it registered through @opentelemetry/api 1.9: our
    // 1.10 copy refuses that global, so every tracer it hands out is a no-op.
    const { logger, warnings } = capture();
    globals[API_GLOBAL] = { version: '1.9.0', trace: new TracerProvider(), diag: logger };
    const status = auditTracingStatus();
    expect(status).toMatchObject({ usable: false, problem: 'incompatible_api' });
    expect(status.message).toContain('@opentelemetry/api 1.9.0');
    expect(status.message).toMatch(/another copy, @opentelemetry\/api 1\.\d+\.\d+/);
    traceToolCall({ name: 'crm_update', action: 'update' }, () => 'done');
    traceToolCall({ name: 'crm_update', action: 'update' }, () => 'again');
    // Our copy's diag cannot see the app's logger either; the warning reaches it directly, once.
    expect(warnings.filter((w) => w.includes('cannot use an older API'))).toHaveLength(1);
  });

  it('are usable once a provider is registered', () => {
    trace.setGlobalTracerProvider(new TracerProvider());
    expect(auditTracingStatus()).toEqual({ usable: true });
  });
});
