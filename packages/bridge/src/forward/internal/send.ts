/**
 * Sending one export request downstream, over OTLP/HTTP (protobuf, gzip) or OTLP/gRPC, and what
 * its answer means: done, retry (after the server's hint when it gives one), or refused for good.
 *
 * Retried: network errors, timeouts, HTTP 429/502/503/504 and gRPC UNAVAILABLE, CANCELLED,
 * DEADLINE_EXCEEDED, ABORTED, OUT_OF_RANGE, DATA_LOSS, and RESOURCE_EXHAUSTED with a RetryInfo
 * (the OTLP spec's list);
 * also HTTP 401/403/404/408 and gRPC UNAUTHENTICATED, PERMISSION_DENIED, UNIMPLEMENTED: a wrong
 * token or path is an operator's mistake, fixed by a restart, and dropping everything meanwhile
 * would lose what the disk budget could have kept. Everything else (400, 413, 500,
 * INVALID_ARGUMENT, ...) is refused for good: the batch is dropped and counted as failed, so one
 * poison request cannot hold the queue.
 */
import { promisify } from 'node:util';
import { gzip as gzipCb } from 'node:zlib';
import { Client, credentials, Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { retryAfterMs } from '../../internal/retry.ts';
import { packageVersion } from '../../internal/version.ts';
import { RETRY_INFO_TYPE, ExportLogsServiceResponse, ExportTraceServiceResponse, RpcStatus } from '../../otlp/index.ts';
import type { ForwardSignal } from './queue.ts';

const gzip = promisify(gzipCb);

export type SendResult =
  | { ok: true; /** Items the downstream said it rejected (OTLP partial success). */ rejected: number; rejectReason?: string }
  | { ok: false; retry: true; afterMs?: number; reason: string }
  | { ok: false; retry: false; reason: string };

export interface Sender {
  /** Where it sends (no credentials), for logs. */
  readonly target: string;
  send(signal: ForwardSignal, body: Buffer, abort: AbortSignal): Promise<SendResult>;
  close(): void;
}

export interface SenderOptions {
  url: URL;
  headers: Array<[string, string]>;
  compression: 'gzip' | 'none';
  timeoutMs: number;
}

const RETRY_HTTP = new Set([401, 403, 404, 408, 429, 502, 503, 504]);

export class HttpSender implements Sender {
  readonly target: string;
  private readonly o: SenderOptions;
  private readonly base: string;

  constructor(o: SenderOptions) {
    this.o = o;
    this.base = o.url.href.replace(/\/+$/, '');
    this.target = this.base;
  }

  async send(signal: ForwardSignal, body: Buffer, abort: AbortSignal): Promise<SendResult> {
    const headers: Record<string, string> = {
      'user-agent': `otel-audit/${packageVersion()}`,
      ...Object.fromEntries(this.o.headers),
      'content-type': 'application/x-protobuf',
    };
    let payload: Buffer = body;
    if (this.o.compression === 'gzip') {
      payload = await gzip(body);
      headers['content-encoding'] = 'gzip';
    }
    let res: Response;
    try {
      res = await fetch(`${this.base}/v1/${signal}`, {
        method: 'POST',
        headers,
        body: payload,
        signal: AbortSignal.any([abort, AbortSignal.timeout(this.o.timeoutMs)]),
      });
    } catch (err) {
      const e = err as Error & { cause?: { code?: string; message?: string } };
      return { ok: false, retry: true, reason: `${e.name === 'TimeoutError' ? `no answer in ${this.o.timeoutMs} ms` : (e.cause?.code ?? e.cause?.message ?? e.message)}` };
    }
    const answer = Buffer.from(await res.arrayBuffer().catch(() => new ArrayBuffer(0)));
    if (res.ok) return { ok: true, ...partial(signal, answer, res.headers.get('content-type')) };
    const reason = `HTTP ${res.status}${statusMessage(answer, res.headers.get('content-type'))}`;
    if (RETRY_HTTP.has(res.status)) return { ok: false, retry: true, afterMs: retryAfterMs(res.headers.get('retry-after')), reason };
    return { ok: false, retry: false, reason };
  }

  close(): void {}
}

/** The OTLP partial success of a protobuf answer: how many items the downstream rejected. */
function partial(signal: ForwardSignal, answer: Buffer, contentType: string | null): { rejected: number; rejectReason?: string } {
  if (answer.length === 0 || !contentType?.includes('protobuf')) return { rejected: 0 };
  try {
    const type = signal === 'traces' ? ExportTraceServiceResponse : ExportLogsServiceResponse;
    const m = type.toObject(type.decode(answer), { longs: Number }) as { partialSuccess?: { rejectedSpans?: number; rejectedLogRecords?: number; errorMessage?: string } };
    const p = m.partialSuccess;
    const rejected = Number(p?.rejectedSpans ?? p?.rejectedLogRecords ?? 0);
    return rejected > 0 ? { rejected, rejectReason: p?.errorMessage } : { rejected: 0 };
  } catch {
    return { rejected: 0 };
  }
}

/** ": <message>" of a google.rpc.Status error body, cut short; '' when there is none. */
function statusMessage(answer: Buffer, contentType: string | null): string {
  if (answer.length === 0) return '';
  try {
    const msg = contentType?.includes('protobuf')
      ? (RpcStatus.toObject(RpcStatus.decode(answer)) as { message?: string }).message
      : contentType?.includes('json')
        ? (JSON.parse(answer.toString('utf8')) as { message?: string }).message
        : answer.toString('utf8');
    return msg ? `: ${String(msg).slice(0, 200)}` : '';
  } catch {
    return '';
  }
}

const RETRY_GRPC = new Set<number>([
  status.CANCELLED,
  status.DEADLINE_EXCEEDED,
  status.ABORTED,
  status.OUT_OF_RANGE,
  status.UNAVAILABLE,
  status.DATA_LOSS,
  status.RESOURCE_EXHAUSTED,
  status.UNAUTHENTICATED,
  status.PERMISSION_DENIED,
  status.UNIMPLEMENTED,
]);

const GRPC_PATH: Record<ForwardSignal, string> = {
  traces: '/opentelemetry.proto.collector.trace.v1.TraceService/Export',
  logs: '/opentelemetry.proto.collector.logs.v1.LogsService/Export',
};

export class GrpcSender implements Sender {
  readonly target: string;
  private readonly o: SenderOptions;
  private readonly client: Client;

  constructor(o: SenderOptions) {
    this.o = o;
    const tls = o.url.protocol === 'grpcs:';
    this.target = `${o.url.protocol}//${o.url.host}`;
    this.client = new Client(o.url.host, tls ? credentials.createSsl() : credentials.createInsecure(), {
      // gRPC's own message compression (grpc-encoding: gzip), as the Collector's exporter does.
      ...(o.compression === 'gzip' ? { 'grpc.default_compression_algorithm': 2 } : {}),
      'grpc.max_send_message_length': -1,
      'grpc.primary_user_agent': `otel-audit/${packageVersion()}`,
    });
  }

  send(signal: ForwardSignal, body: Buffer, abort: AbortSignal): Promise<SendResult> {
    const metadata = new Metadata();
    for (const [k, v] of this.o.headers) metadata.add(k.toLowerCase(), v);
    return new Promise<SendResult>((resolve) => {
      const call = this.client.makeUnaryRequest(
        GRPC_PATH[signal],
        (b: Buffer) => b,
        (b: Buffer) => b,
        body,
        metadata,
        { deadline: Date.now() + this.o.timeoutMs },
        (err: ServiceError | null, answer?: Buffer) => {
          abort.removeEventListener('abort', cancel);
          if (!err) return resolve({ ok: true, ...partial(signal, answer ?? Buffer.alloc(0), 'application/x-protobuf') });
          const reason = `gRPC ${status[err.code] ?? err.code}: ${err.details}`;
          const afterMs = retryInfoMs(err.metadata);
          // RESOURCE_EXHAUSTED is a throttle only with a RetryInfo (the OTLP spec); without one it
          // is a limit this request passes (a message too large), which no retry cures.
          const retry = RETRY_GRPC.has(err.code) && (err.code !== status.RESOURCE_EXHAUSTED || afterMs !== undefined);
          resolve(retry ? { ok: false, retry: true, afterMs, reason } : { ok: false, retry: false, reason });
        },
      );
      const cancel = () => call.cancel();
      abort.addEventListener('abort', cancel, { once: true });
    });
  }

  close(): void {
    this.client.close();
  }
}

/** The delay of a google.rpc.RetryInfo in the status details (grpc-status-details-bin), in ms. */
export function retryInfoMs(metadata: Metadata | undefined): number | undefined {
  const raw = metadata?.get('grpc-status-details-bin')[0];
  if (!raw || typeof raw === 'string') return retryAfterMs(metadata?.get('retry-after')[0] as string | undefined);
  try {
    const st = RpcStatus.decode(raw) as unknown as { details?: Array<{ type_url: string; value: Uint8Array }> };
    for (const d of st.details ?? []) {
      if (d.type_url !== RETRY_INFO_TYPE) continue;
      // RetryInfo { Duration retry_delay = 1 }, Duration { int64 seconds = 1; int32 nanos = 2 }.
      const duration = field(d.value, 1);
      if (!duration) return 0;
      const seconds = varintField(duration, 1) ?? 0;
      const nanos = varintField(duration, 2) ?? 0;
      return seconds * 1000 + Math.floor(nanos / 1e6);
    }
  } catch {
    /* not a Status: no hint */
  }
  return undefined;
}

function readVarint(b: Uint8Array, pos: number): [value: number, next: number] {
  let v = 0;
  let mult = 1;
  for (;;) {
    if (pos >= b.length) throw new Error('truncated varint');
    const byte = b[pos++];
    v += (byte & 0x7f) * mult;
    if (!(byte & 0x80)) return [v, pos];
    mult *= 128;
  }
}

/** Walks a message's fields; calls `visit` with each field's number, wire type and value. */
function walk(b: Uint8Array, visit: (no: number, wire: number, value: number | Uint8Array) => void): void {
  let pos = 0;
  while (pos < b.length) {
    const [key, p] = readVarint(b, pos);
    pos = p;
    const no = Math.floor(key / 8);
    const wire = key & 7;
    if (wire === 0) {
      const [v, n] = readVarint(b, pos);
      pos = n;
      visit(no, wire, v);
    } else if (wire === 2) {
      const [len, n] = readVarint(b, pos);
      visit(no, wire, b.subarray(n, n + len));
      pos = n + len;
    } else if (wire === 1) pos += 8;
    else if (wire === 5) pos += 4;
    else throw new Error(`wire type ${wire}`);
  }
}

function field(b: Uint8Array, no: number): Uint8Array | undefined {
  let out: Uint8Array | undefined;
  walk(b, (n, wire, v) => {
    if (n === no && wire === 2) out = v as Uint8Array;
  });
  return out;
}

function varintField(b: Uint8Array, no: number): number | undefined {
  let out: number | undefined;
  walk(b, (n, wire, v) => {
    if (n === no && wire === 0) out = v as number;
  });
  return out;
}
