import * as api from '@opentelemetry/api';
import { diag, trace, type TextMapPropagator } from '@opentelemetry/api';
import type { NodeSDKConfiguration } from '@opentelemetry/sdk-node';
import { ATTR_AUDIT_TENANT } from '@otel-audit/semconv';
import { INSTRUMENTATION_NAME } from './config.ts';
import { AuditSpanProcessor } from './processor.ts';
import { auditAwareSampler, isAuditAwareSampler } from './sampler.ts';
import type { Sampler, SpanProcessor } from './sdk-types.ts';
import { auditTracingStatus, warnUnusable, type AuditTracingStatus } from './tracing.ts';

// The global logs API exists from @opentelemetry/api 1.10 (the 3.x SDK line); with an older API
// (the 2.x line keeps it in @opentelemetry/api-logs) log records are exported but not unregistered.
const logsApi = (api as { logs?: typeof api.logs }).logs;

export type OtlpHttpProtocol = 'http/protobuf' | 'http/json';

export interface StartAuditOptions {
  /** service.name of this app */
  serviceName: string;
  /** OTLP/HTTP base URL; `/v1/traces` and `/v1/logs` are appended. Default http://127.0.0.1:4318 (the bridge). */
  endpoint?: string;
  /** Default `http/protobuf`. */
  protocol?: OtlpHttpProtocol;
  /** Extra request headers, e.g. an ingest credential. */
  headers?: Record<string, string>;
  compression?: 'gzip' | 'none';
  /** Sets the resource attribute audit.tenant. */
  tenant?: string;
  /** e.g. `[new OpenAIInstrumentation()]` */
  instrumentations?: NodeSDKConfiguration['instrumentations'];
  /**
   * The app's sampler, wrapped in `auditAwareSampler` (unless it already is one). Default:
   * the one `OTEL_TRACES_SAMPLER` / `OTEL_TRACES_SAMPLER_ARG` name, else parentbased_always_on.
   */
  sampler?: Sampler;
  /** Export OTLP log records too (GenAI instrumentations send content as logs). Default true. */
  logs?: boolean;
  /**
   * Anything else for NodeSDK (resource, resourceDetectors, spanLimits, idGenerator, ...).
   * `sdk.spanProcessors` are added after ours; `sdk.sampler` is wrapped like `sampler`;
   * `sdk.textMapPropagator` replaces the W3C trace-context + baggage pair.
   */
  sdk?: Partial<NodeSDKConfiguration>;
}

export interface AuditHandle {
  /**
   * Whether the helpers' spans reach the SDK just started. Not usable when the SDK registered
   * through another copy of @opentelemetry/api than the helpers' (the message says which);
   * that is also logged once at WARN.
   */
  tracing: AuditTracingStatus;
  /** Flushes pending spans and logs. */
  forceFlush(): Promise<void>;
  /** Flushes, shuts the SDK down and unregisters its global tracer and logger providers. */
  shutdown(): Promise<void>;
}

export type AuditSetupErrorCode = 'TRACER_PROVIDER_REGISTERED' | 'MISSING_DEPENDENCY' | 'BAD_OPTIONS';

export class AuditSetupError extends Error {
  override name = 'AuditSetupError';
  readonly code: AuditSetupErrorCode;
  constructor(code: AuditSetupErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
  }
}

/**
 * Whether a global tracer provider is registered with @opentelemetry/api (by NodeSDK, by
 * another APM agent, or by hand).
 */
export function isTracerProviderRegistered(): boolean {
  const provider = trace.getTracerProvider() as { getDelegateTracer?: (name: string) => unknown };
  // The API's proxy answers undefined until a delegate is set; any other global is a provider.
  if (typeof provider.getDelegateTracer !== 'function') return true;
  return provider.getDelegateTracer(INSTRUMENTATION_NAME) !== undefined;
}

type SdkTraceModule = typeof import('@opentelemetry/sdk-trace');
// A variable, so that the compiler does not look for the 2.x package's types.
const SDK_TRACE_BASE: string = '@opentelemetry/sdk-trace-base';

/** How the SDK's batch processors are built: `new P({ exporter })`, or `new P(exporter)` before SDK 2.12. */
type ProcessorForm = 'options' | 'positional';

/**
 * The app's trace SDK: `@opentelemetry/sdk-trace` (the 3.x line, and the 2.x line from 2.12,
 * whose sdk-node 0.22x brings it), else `@opentelemetry/sdk-trace-base` (older 2.x). With the
 * former, processors (and sdk-logs' log record processors) take an options object; with the
 * latter, the exporter as first argument.
 */
async function loadSdkTrace(): Promise<{ sdkTrace: SdkTraceModule; form: ProcessorForm }> {
  try {
    return { sdkTrace: await import('@opentelemetry/sdk-trace'), form: 'options' };
  } catch (err) {
    if ((err as { code?: string }).code !== 'ERR_MODULE_NOT_FOUND') throw err;
    return { sdkTrace: (await import(SDK_TRACE_BASE)) as SdkTraceModule, form: 'positional' };
  }
}

async function load() {
  try {
    const [sdkNode, { sdkTrace, form }, sdkLogs, core] = await Promise.all([
      import('@opentelemetry/sdk-node'),
      loadSdkTrace(),
      import('@opentelemetry/sdk-logs'),
      import('@opentelemetry/core'),
    ]);
    return { sdkNode, sdkTrace, form, sdkLogs, core };
  } catch (err) {
    throw missing(err);
  }
}

/** A batch processor in the form of the app's SDK (see loadSdkTrace). */
function batchProcessor<E, P>(Ctor: new (options: { exporter: E }) => P, exporter: E, form: ProcessorForm): P {
  return form === 'options' ? new Ctor({ exporter }) : new (Ctor as unknown as new (exporter: E) => P)(exporter);
}

async function loadExporters(protocol: OtlpHttpProtocol) {
  try {
    if (protocol === 'http/json') {
      const [t, l] = await Promise.all([import('@opentelemetry/exporter-trace-otlp-http'), import('@opentelemetry/exporter-logs-otlp-http')]);
      return { OTLPTraceExporter: t.OTLPTraceExporter, OTLPLogExporter: l.OTLPLogExporter };
    }
    const [t, l] = await Promise.all([import('@opentelemetry/exporter-trace-otlp-proto'), import('@opentelemetry/exporter-logs-otlp-proto')]);
    return { OTLPTraceExporter: t.OTLPTraceExporter, OTLPLogExporter: l.OTLPLogExporter };
  } catch (err) {
    throw missing(err);
  }
}

function missing(err: unknown): AuditSetupError {
  return new AuditSetupError(
    'MISSING_DEPENDENCY',
    'startAudit needs the OpenTelemetry Node SDK: npm i @opentelemetry/sdk-node @opentelemetry/sdk-trace (2.x line: @opentelemetry/sdk-trace-base) @opentelemetry/sdk-logs ' +
      '@opentelemetry/core @opentelemetry/resources @opentelemetry/exporter-trace-otlp-proto @opentelemetry/exporter-logs-otlp-proto ' +
      `(or the -otlp-http exporters for http/json) (${err instanceof Error ? err.message : String(err)})`,
    { cause: err },
  );
}

type SdkTrace = Awaited<ReturnType<typeof load>>['sdkTrace'];

// The spec's OTEL_TRACES_SAMPLER values, so the env-configured sampler can be wrapped too.
function samplerFromEnv(m: SdkTrace): Sampler | undefined {
  const name = process.env.OTEL_TRACES_SAMPLER?.trim().toLowerCase() ?? '';
  const arg = Number(process.env.OTEL_TRACES_SAMPLER_ARG);
  const ratio = Number.isFinite(arg) && arg >= 0 && arg <= 1 && process.env.OTEL_TRACES_SAMPLER_ARG?.trim() !== '' ? arg : 1;
  switch (name) {
    case '':
    case 'parentbased_always_on':
      return new m.ParentBasedSampler({ root: new m.AlwaysOnSampler() });
    case 'parentbased_always_off':
      return new m.ParentBasedSampler({ root: new m.AlwaysOffSampler() });
    case 'parentbased_traceidratio':
      return new m.ParentBasedSampler({ root: new m.TraceIdRatioBasedSampler(ratio) });
    case 'always_on':
      return new m.AlwaysOnSampler();
    case 'always_off':
      return new m.AlwaysOffSampler();
    case 'traceidratio':
      return new m.TraceIdRatioBasedSampler(ratio);
    default:
      return undefined;
  }
}

function validate(options: StartAuditOptions): { endpoint: string; protocol: OtlpHttpProtocol } {
  if (options === null || typeof options !== 'object') throw new AuditSetupError('BAD_OPTIONS', 'startAudit: options must be an object');
  if (typeof options.serviceName !== 'string' || options.serviceName.trim() === '') {
    throw new AuditSetupError('BAD_OPTIONS', 'startAudit: serviceName must be a non-empty string');
  }
  const protocol = options.protocol ?? 'http/protobuf';
  if (protocol !== 'http/protobuf' && protocol !== 'http/json') {
    throw new AuditSetupError('BAD_OPTIONS', `startAudit: protocol must be "http/protobuf" or "http/json", got ${JSON.stringify(protocol)}`);
  }
  const endpoint = (options.endpoint ?? 'http://127.0.0.1:4318').replace(/\/+$/, '');
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw new AuditSetupError('BAD_OPTIONS', `startAudit: endpoint is not a URL: ${JSON.stringify(options.endpoint)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new AuditSetupError('BAD_OPTIONS', `startAudit: endpoint must be http:// or https:// (OTLP/HTTP), got ${url.protocol}`);
  }
  return { endpoint, protocol };
}

/**
 * One-call OpenTelemetry setup for an app with no OTel yet: NodeSDK with OTLP/HTTP trace
 * and log exporters, AuditSpanProcessor, an audit-aware sampler, W3C trace-context and
 * baggage propagators, and your instrumentations.
 *
 * Refuses (AuditSetupError, code TRACER_PROVIDER_REGISTERED) when a global tracer provider
 * is already registered: a second SDK would silently lose the registration race and our
 * processor would never run. Add `auditSpanProcessors()` to that SDK instead.
 */
export async function startAudit(options: StartAuditOptions): Promise<AuditHandle> {
  const { endpoint, protocol } = validate(options);
  if (isTracerProviderRegistered()) {
    throw new AuditSetupError(
      'TRACER_PROVIDER_REGISTERED',
      'startAudit: a global OpenTelemetry tracer provider is already registered, so this app already has an SDK. ' +
        'Do not start a second one: add our processor to it instead, e.g. ' +
        'new NodeSDK({ spanProcessors: auditSpanProcessors(new BatchSpanProcessor({ exporter })), sampler: auditAwareSampler(yourSampler) }).',
    );
  }
  const [{ sdkNode, sdkTrace, form, sdkLogs, core }, exporters] = await Promise.all([load(), loadExporters(protocol)]);
  // Checked again: another startAudit may have won while the modules loaded.
  if (isTracerProviderRegistered()) {
    throw new AuditSetupError('TRACER_PROVIDER_REGISTERED', 'startAudit: a global tracer provider was registered while starting (was startAudit called twice?)');
  }

  const sdkOptions: Partial<NodeSDKConfiguration> = options.sdk ?? {};
  type ExporterConfig = NonNullable<ConstructorParameters<typeof exporters.OTLPTraceExporter>[0]>;
  // Our option is the plain string union; the exporter's type is an enum of the same strings.
  const common: ExporterConfig = { headers: options.headers, compression: options.compression as ExporterConfig['compression'] };
  const traceExporter = new exporters.OTLPTraceExporter({ ...common, url: `${endpoint}/v1/traces` });
  const batchSpans = batchProcessor(sdkTrace.BatchSpanProcessor, traceExporter, form);
  const spanProcessors = [new AuditSpanProcessor(), batchSpans, ...(sdkOptions.spanProcessors ?? [])] as NonNullable<NodeSDKConfiguration['spanProcessors']>;

  const withLogs = options.logs !== false;
  const batchLogs = withLogs ? batchProcessor(sdkLogs.BatchLogRecordProcessor, new exporters.OTLPLogExporter({ ...common, url: `${endpoint}/v1/logs` }), form) : undefined;

  let sampler: Sampler | undefined = options.sampler ?? (sdkOptions.sampler as Sampler | undefined) ?? samplerFromEnv(sdkTrace);
  if (sampler === undefined) {
    diag.warn(`@otel-audit/instrumentation: OTEL_TRACES_SAMPLER=${process.env.OTEL_TRACES_SAMPLER} is not one startAudit can wrap; audit spans may be sampled out`);
  } else if (!isAuditAwareSampler(sampler)) {
    sampler = auditAwareSampler(sampler);
  }

  const textMapPropagator: TextMapPropagator | null =
    sdkOptions.textMapPropagator !== undefined
      ? sdkOptions.textMapPropagator
      : new core.CompositePropagator({ propagators: [new core.W3CTraceContextPropagator(), new core.W3CBaggagePropagator()] });

  let resource = sdkOptions.resource;
  if (typeof options.tenant === 'string' && options.tenant !== '') {
    const resources = await import('@opentelemetry/resources').catch((err: unknown) => {
      throw missing(err);
    });
    resource = (resource ?? resources.defaultResource()).merge(resources.resourceFromAttributes({ [ATTR_AUDIT_TENANT]: options.tenant }));
  }

  const logsBefore = logsApi?.getLoggerProvider();
  const instrumentations = [...(sdkOptions.instrumentations ?? []), ...(options.instrumentations ?? [])];
  const sdk = new sdkNode.NodeSDK({
    // The bridge takes no metrics; an app that wants them passes sdk.metricReaders.
    metricReaders: [],
    ...sdkOptions,
    serviceName: options.serviceName,
    spanProcessors,
    logRecordProcessors: batchLogs !== undefined ? [batchLogs, ...(sdkOptions.logRecordProcessors ?? [])] : (sdkOptions.logRecordProcessors ?? []),
    textMapPropagator,
    instrumentations,
    ...(sampler !== undefined ? { sampler: sampler as NodeSDKConfiguration['sampler'] } : {}),
    ...(resource !== undefined ? { resource } : {}),
  });
  sdk.start();
  const registeredTrace = isTracerProviderRegistered();
  const registeredLogs = logsApi !== undefined && logsApi.getLoggerProvider() !== logsBefore;
  // The SDK registered through its own copy of the API: check that the helpers' copy sees it.
  const tracing = auditTracingStatus();
  if (!tracing.usable) warnUnusable(tracing);

  let shutdown: Promise<void> | undefined;
  return {
    tracing,
    async forceFlush() {
      await Promise.all([batchSpans.forceFlush(), batchLogs?.forceFlush()]);
    },
    shutdown() {
      shutdown ??= (async () => {
        try {
          await sdk.shutdown();
        } finally {
          for (const i of instrumentations.flat()) {
            try {
              i.disable();
            } catch {
              // best effort: the process is usually exiting
            }
          }
          // Unregister what we registered, so a later startAudit (or another SDK) can start.
          if (registeredTrace) trace.disable();
          if (registeredLogs) logsApi?.disable();
        }
      })();
      return shutdown;
    },
  };
}
