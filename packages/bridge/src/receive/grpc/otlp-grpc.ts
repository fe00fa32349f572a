import {
  Server,
  ServerCredentials,
  ServerInterceptingCall,
  ServerListenerBuilder,
  ResponderBuilder,
  type ServerInterceptor,
  type ServerUnaryCall,
  type sendUnaryData,
  type ServiceDefinition,
  type UntypedServiceImplementation,
  Metadata,
} from '@grpc/grpc-js';
import { Access } from '../../auth/index.ts';
import type { Logger } from '../../internal/logger.ts';
import type { Metrics } from '../../internal/metrics.ts';
import type { DecodeOptions } from '../../otlp/index.ts';
import { encodeExportResponseProtobuf, encodeStatusProtobuf } from '../../otlp/index.ts';
import { IngestError, ingestErrorOf } from '../errors.ts';
import type { RequestAccess, Signal, TelemetrySink } from '../../otlp/index.ts';
import { ingestRequest, requestAccess } from '../ingest.ts';

export interface OtlpGrpcConfig {
  host: string;
  port: number;
  /** Largest accepted message. */
  maxMessageBytes: number;
  /** Calls being processed at once; more get RESOURCE_EXHAUSTED with a RetryInfo. */
  maxInFlight: number;
  /** Message bytes held at once across calls; past it, RESOURCE_EXHAUSTED with a RetryInfo (a call alone always passes). */
  maxInFlightBytes: number;
  decode?: DecodeOptions;
}

export const DEFAULT_OTLP_GRPC_CONFIG: OtlpGrpcConfig = {
  host: '127.0.0.1',
  port: 4317,
  maxMessageBytes: 64 * 1024 * 1024,
  maxInFlight: 64,
  maxInFlightBytes: 128 * 1024 * 1024,
};

/** Raw bytes in and out: decoding happens in the handler, so a bad message is INVALID_ARGUMENT. */
const passthrough = (b: Buffer) => b;
function exportMethod(path: string) {
  return {
    path,
    requestStream: false,
    responseStream: false,
    requestSerialize: passthrough,
    requestDeserialize: passthrough,
    responseSerialize: passthrough,
    responseDeserialize: passthrough,
  };
}

const TRACE_SERVICE = { Export: exportMethod('/opentelemetry.proto.collector.trace.v1.TraceService/Export') } as unknown as ServiceDefinition;
const LOGS_SERVICE = { Export: exportMethod('/opentelemetry.proto.collector.logs.v1.LogsService/Export') } as unknown as ServiceDefinition;

/**
 * OTLP/gRPC receiver: the trace and logs services, on the same pipeline as OTLP/HTTP, with the
 * same contract: OK only once the request is durable (write-ahead log fsynced), partial success
 * for rejected items, INVALID_ARGUMENT for an unreadable message, UNAVAILABLE when the bridge
 * cannot take more (spool budget, log errors) and RESOURCE_EXHAUSTED over the in-flight limits,
 * both with a google.rpc.RetryInfo in the status details (and a `retry-after` trailer).
 * Access is checked on the call's metadata, before its message is read: UNAUTHENTICATED,
 * PERMISSION_DENIED.
 */
export class OtlpGrpcReceiver {
  readonly config: OtlpGrpcConfig;
  private server: Server | null = null;
  private inFlight = 0;
  private inFlightBytes = 0;
  private readonly sink: TelemetrySink;
  private readonly log: Logger;
  private readonly access: Access;
  /** What the access check found for a call, by its metadata (the handler's call.metadata). */
  private readonly admitted = new WeakMap<Metadata, RequestAccess>();
  private readonly m;

  constructor(config: OtlpGrpcConfig, sink: TelemetrySink, log: Logger, metrics: Metrics, access: Access = Access.open()) {
    this.config = config;
    this.sink = sink;
    this.log = log;
    this.access = access;
    this.m = {
      calls: metrics.counter('otel_audit_otlp_grpc_calls_total', 'OTLP/gRPC export calls'),
      rejectedCalls: metrics.counter('otel_audit_otlp_grpc_rejected_calls_total', 'OTLP/gRPC calls answered with an error status'),
      rejectedSpans: metrics.counter('otel_audit_spans_rejected_total', 'Spans rejected as invalid (partial success)'),
      rejectedLogs: metrics.counter('otel_audit_log_records_rejected_total', 'Log records rejected as invalid (partial success)'),
      throttled: metrics.counter('otel_audit_otlp_grpc_throttled_total', 'OTLP/gRPC calls answered RESOURCE_EXHAUSTED (in-flight calls or bytes over the limit)'),
    };
    metrics.gauge('otel_audit_otlp_grpc_in_flight_calls', 'OTLP/gRPC calls being processed', () => this.inFlight);
  }

  async start(): Promise<{ address: string; port: number }> {
    const server = new Server({
      'grpc.max_receive_message_length': this.config.maxMessageBytes,
      'grpc.max_send_message_length': 4 * 1024 * 1024,
      interceptors: [this.checkAccess],
    });
    server.addService(TRACE_SERVICE, { Export: this.handler('traces') } as UntypedServiceImplementation);
    server.addService(LOGS_SERVICE, { Export: this.handler('logs') } as UntypedServiceImplementation);
    // grpc-js rejects an oversized message itself (RESOURCE_EXHAUSTED) before the handler runs.
    const host = this.config.host.includes(':') ? `[${this.config.host}]` : this.config.host;
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync(`${host}:${this.config.port}`, ServerCredentials.createInsecure(), (err, p) =>
        err
          ? reject(new Error(`cannot listen for OTLP/gRPC on ${host}:${this.config.port} (${err.message}); is the port in use? Set --otlp-grpc HOST:PORT, or off`))
          : resolve(p),
      ),
    );
    this.server = server;
    return { address: this.config.host, port };
  }

  /** Stops accepting; resolves when the calls in flight are answered (forced after 10 s). */
  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = null;
    await new Promise<void>((resolve) => {
      const force = setTimeout(() => {
        server.forceShutdown();
        resolve();
      }, 10_000);
      server.tryShutdown(() => {
        clearTimeout(force);
        resolve();
      });
    });
  }

  /**
   * Checks the call's `authorization` and `x-otel-audit-tenant` metadata as soon as it arrives:
   * a refused call ends there, its message never read (grpc-js reads it only once asked to).
   */
  private readonly checkAccess: ServerInterceptor = (_method, call) => {
    const listener = new ServerListenerBuilder()
      .withOnReceiveMetadata((metadata, next) => {
        let access: RequestAccess;
        try {
          access = this.accessOf(metadata);
        } catch (err) {
          this.m.calls.inc();
          call.sendStatus(this.refuse(ingestErrorOf(err)));
          return;
        }
        this.admitted.set(metadata, access);
        next(metadata);
      })
      .build();
    return new ServerInterceptingCall(call, new ResponderBuilder().withStart((next) => next(listener)).build());
  };

  private accessOf(metadata: Metadata): RequestAccess {
    return requestAccess(this.access, first(metadata, 'authorization'), first(metadata, 'x-otel-audit-tenant'));
  }

  private handler(signal: Signal) {
    return (call: ServerUnaryCall<Buffer, Buffer>, callback: sendUnaryData<Buffer>) => {
      this.m.calls.inc();
      // Found by checkAccess (the same metadata object); checked again should it ever not be.
      const work = (async () => {
        const access = this.admitted.get(call.metadata) ?? this.accessOf(call.metadata);
        return this.process(signal, call.request, access);
      })();
      work.then(
        (partial) => callback(null, Buffer.from(encodeExportResponseProtobuf(signal, partial))),
        (err) => callback(this.refuse(ingestErrorOf(err))),
      );
    };
  }

  /** The status of a refused call, with the retry hint when there is one. */
  private refuse(e: IngestError): { code: number; details: string; metadata: Metadata } {
    if (e.code === 'UNAVAILABLE') this.log.warn('OTLP/gRPC call failed', { error: e.message });
    this.m.rejectedCalls.inc();
    const metadata = new Metadata();
    if (e.retryAfterSeconds) {
      // The OTLP retry hint: a google.rpc.RetryInfo in the status details; plus a plain trailer.
      metadata.set('grpc-status-details-bin', Buffer.from(encodeStatusProtobuf(e.grpcStatus, e.message, e.retryAfterSeconds)));
      metadata.set('retry-after', String(e.retryAfterSeconds));
    }
    return { code: e.grpcStatus, details: e.message, metadata };
  }

  private async process(signal: Signal, body: Buffer, access: RequestAccess): Promise<{ rejected: number; errorMessage: string } | undefined> {
    const overload = this.sink.overloaded?.();
    if (overload) throw new IngestError('UNAVAILABLE', overload.reason, overload.retryAfterSeconds);
    if (this.inFlight >= this.config.maxInFlight) {
      this.m.throttled.inc();
      throw new IngestError('RESOURCE_EXHAUSTED', `too many calls in flight (${this.config.maxInFlight}); retry later`, 1);
    }
    // Measured now: the sink takes the body over (it may move to a worker thread, RawRequest).
    const bytes = body.length;
    if (this.inFlightBytes > 0 && this.inFlightBytes + bytes > this.config.maxInFlightBytes) {
      this.m.throttled.inc();
      throw new IngestError('RESOURCE_EXHAUSTED', `too many message bytes in flight (limit ${this.config.maxInFlightBytes}); retry later`, 1);
    }
    this.inFlight++;
    this.inFlightBytes += bytes;
    try {
      const { rejected, partial } = await ingestRequest({ signal, encoding: 'protobuf', body, ...access }, this.sink, this.config.decode);
      (signal === 'traces' ? this.m.rejectedSpans : this.m.rejectedLogs).inc(rejected.length);
      return partial;
    } finally {
      this.inFlight--;
      this.inFlightBytes -= bytes;
    }
  }
}

/** A metadata value as text (the first, if repeated); undefined when absent or empty. */
function first(metadata: Metadata, key: string): string | undefined {
  const v = metadata.get(key)[0];
  return typeof v === 'string' && v ? v : undefined;
}
