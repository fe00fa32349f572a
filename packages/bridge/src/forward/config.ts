/**
 * Forwarding's configuration (`serve --forward URL`, `--forward-header 'name=value'` repeatable,
 * `--forward-queue-bytes SIZE`), validated here, where it is declared. `testdata/valid` and
 * `testdata/invalid` hold one case per rule.
 */
import type { BackoffOptions } from '../internal/retry.ts';

export interface ForwardConfig {
  /** http(s)://… (OTLP/HTTP protobuf to URL/v1/traces and URL/v1/logs) or grpc(s)://host:port (OTLP/gRPC), normalized. A string: config holds plain values only. */
  url: string;
  protocol: 'http' | 'grpc';
  /** Sent with every request (HTTP headers, gRPC metadata): typically `authorization`. */
  headers: Array<[string, string]>;
  compression: 'gzip' | 'none';
  /** Disk budget of the forward queue: past it, the oldest forward data is dropped and counted. */
  queueBytes: number;
  /** Segment size of the queue (the budget drops whole segments). */
  segmentBytes: number;
  /** Most request bytes (before compression) joined into one export request. */
  maxBatchBytes: number;
  /** Longest wait for one answer. */
  timeoutMs: number;
  backoff: BackoffOptions;
  /** Fsync the queue (only tests of the replay logic turn it off). */
  fsync: boolean;
}

/** What the CLI and the environment give. */
export interface ForwardOptions {
  forward?: string;
  forwardHeaders?: string[];
  forwardQueueBytes?: string;
}

export class ForwardConfigError extends Error {
  readonly code = 'FORWARD_CONFIG';
}

export const DEFAULT_FORWARD_QUEUE_BYTES = 1024 ** 3;

export const DEFAULT_FORWARD_TUNING = {
  compression: 'gzip' as const,
  // Below the Collector's default gRPC message limit (4 MiB) with room to spare.
  maxBatchBytes: 1024 * 1024,
  timeoutMs: 10_000,
  backoff: { initialMs: 500, maxMs: 30_000, multiplier: 2, jitter: 0.2, maxHintMs: 300_000 },
  fsync: true,
};

/**
 * Headers the bridge sets itself (content type, encoding, length, HTTP/2 pseudo and gRPC
 * reserved metadata): a header here would corrupt the request.
 */
const RESERVED_HEADER = /^(content-type|content-encoding|content-length|transfer-encoding|host|connection|te|user-agent|grpc-.*|:.*)$/i;
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,256}$/;

/**
 * `name=value` (as `--forward-header` takes it); OTEL_AUDIT_FORWARD_HEADERS takes a comma-separated
 * list of them with percent-encoded values, as OTEL_EXPORTER_OTLP_HEADERS does.
 */
export function parseForwardHeader(raw: string, what = '--forward-header'): [string, string] {
  const at = raw.indexOf('=');
  if (at <= 0) throw new ForwardConfigError(`invalid ${what} "${clip(raw)}": expected name=value, for example 'authorization=Bearer <token>'`);
  const name = raw.slice(0, at).trim();
  const value = raw.slice(at + 1).trim();
  if (!HEADER_NAME.test(name)) throw new ForwardConfigError(`invalid ${what} name "${clip(name)}": letters, digits and !#$%&'*+.^_\`|~- only`);
  if (RESERVED_HEADER.test(name)) throw new ForwardConfigError(`invalid ${what} "${name}": the bridge sets this header itself`);
  // Never echo the value: it is usually a credential.
  if (/[\r\n\0]/.test(value)) throw new ForwardConfigError(`invalid ${what} "${name}": the value holds a line break or NUL`);
  if (!value) throw new ForwardConfigError(`invalid ${what} "${name}": empty value`);
  return [name.toLowerCase(), value];
}

/** The forwarding configuration, or null when `--forward` (OTEL_AUDIT_FORWARD) is not given. */
export function resolveForwardConfig(
  o: ForwardOptions,
  env: NodeJS.ProcessEnv,
  parseSize: (value: string, what: string) => number,
): ForwardConfig | null {
  const raw = (o.forward ?? env.OTEL_AUDIT_FORWARD ?? '').trim();
  const headerArgs = o.forwardHeaders ?? [];
  const envHeaders = env.OTEL_AUDIT_FORWARD_HEADERS;
  const queueRaw = o.forwardQueueBytes ?? env.OTEL_AUDIT_FORWARD_QUEUE_BYTES;
  if (!raw) {
    if (headerArgs.length || queueRaw !== undefined) {
      throw new ForwardConfigError(`${headerArgs.length ? '--forward-header' : '--forward-queue-bytes'} needs --forward URL (OTEL_AUDIT_FORWARD)`);
    }
    return null;
  }
  const url = parseForwardUrl(raw);
  const headers: Array<[string, string]> = [];
  if (envHeaders && !headerArgs.length) {
    for (const item of envHeaders.split(',').filter((s) => s.trim())) {
      const [name, value] = parseForwardHeader(item, 'OTEL_AUDIT_FORWARD_HEADERS entry');
      let decoded: string;
      try {
        decoded = decodeURIComponent(value);
      } catch {
        throw new ForwardConfigError(`invalid OTEL_AUDIT_FORWARD_HEADERS entry "${name}": the value is not percent-encoded`);
      }
      headers.push([name, decoded]);
    }
  }
  for (const h of headerArgs) headers.push(parseForwardHeader(h));
  let queueBytes = DEFAULT_FORWARD_QUEUE_BYTES;
  if (queueRaw !== undefined) {
    try {
      queueBytes = parseSize(queueRaw, '--forward-queue-bytes');
    } catch (err) {
      throw new ForwardConfigError((err as Error).message);
    }
    if (queueBytes < 64 * 1024) throw new ForwardConfigError(`invalid --forward-queue-bytes "${queueRaw}": at least 64KiB`);
  }
  return {
    ...DEFAULT_FORWARD_TUNING,
    url: url.href,
    protocol: url.protocol.startsWith('grpc') ? 'grpc' : 'http',
    headers,
    queueBytes,
    // Eight segments or more in the budget, so that the budget drops an eighth at a time at most.
    segmentBytes: Math.max(16 * 1024, Math.min(64 * 1024 * 1024, Math.floor(queueBytes / 8))),
    backoff: { ...DEFAULT_FORWARD_TUNING.backoff },
  };
}

function parseForwardUrl(raw: string): URL {
  const example = 'expected http://host:4318 (OTLP/HTTP) or grpc://host:4317 (OTLP/gRPC)';
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ForwardConfigError(`invalid --forward "${clip(raw)}": ${example}`);
  }
  if (!['http:', 'https:', 'grpc:', 'grpcs:'].includes(url.protocol)) {
    throw new ForwardConfigError(`invalid --forward "${clip(raw)}": scheme ${url.protocol.replace(':', '')} is not supported; ${example}`);
  }
  // Credentials in a URL end up in logs and process listings: they go in a header instead.
  if (url.username || url.password) {
    throw new ForwardConfigError(`invalid --forward: the URL holds credentials; give them as --forward-header 'authorization=…' instead`);
  }
  if (url.search || url.hash) throw new ForwardConfigError(`invalid --forward "${clip(raw)}": no query or fragment (the bridge appends /v1/traces and /v1/logs)`);
  if (/\/v1\/(traces|logs)\/?$/.test(url.pathname)) {
    throw new ForwardConfigError(`invalid --forward "${clip(raw)}": give the base URL; the bridge appends /v1/traces and /v1/logs itself`);
  }
  if (url.protocol.startsWith('grpc')) {
    if (!url.port) throw new ForwardConfigError(`invalid --forward "${clip(raw)}": grpc:// needs host:port, for example grpc://collector:4317`);
    if (url.pathname && url.pathname !== '/') throw new ForwardConfigError(`invalid --forward "${clip(raw)}": grpc:// takes host:port only, no path`);
  }
  return url;
}

function clip(s: string): string {
  return s.length > 80 ? `${s.slice(0, 80)}…` : s;
}
