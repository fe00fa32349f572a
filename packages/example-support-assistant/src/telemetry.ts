/**
 * OpenTelemetry for both processes, set up the way an app with no OpenTelemetry yet does it:
 * `startAudit()` starts a NodeSDK with OTLP/HTTP exporters for traces and logs, the
 * AuditSpanProcessor (which stamps the audit context on every span, the openai client's
 * included), an audit-aware sampler and the W3C propagators.
 *
 * An app that already runs its own NodeSDK adds `auditSpanProcessors(...)` to it instead;
 * see packages/instrumentation/README.md, "Already running an OpenTelemetry SDK?".
 */
import { OpenAIInstrumentation } from '@opentelemetry/instrumentation-openai';
import { configureAudit, startAudit, type AuditHandle } from '@otel-audit/instrumentation';

export const TENANT = 'acme-support';

export async function startTelemetry(serviceName: string, endpoint: string): Promise<AuditHandle> {
  // Record content (tool arguments and results, the retrieval query, prompts and completions):
  // the bridge masks personal data and secrets in it before anything is stored.
  configureAudit({ captureContent: true });
  return startAudit({
    serviceName,
    endpoint,
    // The resource attribute audit.tenant. The SDK's default resource detectors add
    // process.pid, host.name, ... so each process can be told apart in the trail.
    tenant: TENANT,
    // Prompts and completions travel as OTLP log records; the bridge joins them to the span.
    instrumentations: [new OpenAIInstrumentation({ captureMessageContent: true })],
  });
}

/**
 * Flushes and stops the SDK. Spans are exported in batches, so this is when an unreachable
 * collector shows: the process must not report success when its audit trail did not arrive.
 * After an earlier failure (`failed`), an export error is only a warning, not the error shown.
 */
export async function stopTelemetry(telemetry: AuditHandle, endpoint: string, failed: boolean): Promise<void> {
  try {
    await telemetry.shutdown();
  } catch (err) {
    const message = `could not send the audit trail to ${endpoint}: ${err instanceof Error ? err.message : String(err)}`;
    if (!failed) throw new Error(message);
    process.stderr.write(`warning: ${message}\n`);
  }
}
