/**
 * `serve --anchor URL` (repeatable; OTEL_AUDIT_ANCHOR, comma-separated): the anchors' config,
 * validated here so that a bad one stops the bridge at start with a clear message.
 *
 *   file:///abs/path                a directory (write-once files); for a mount the database
 *                                   admin cannot write
 *   s3://bucket[/prefix][?endpoint=URL&region=R&retention=DURATION]
 *                                   S3 with Object Lock (compliance mode, per-object retention,
 *                                   default 365d; DURATION in d or y); endpoint also from
 *                                   OTEL_AUDIT_S3_ENDPOINT (then path-style), region from
 *                                   AWS_REGION / AWS_DEFAULT_REGION (default us-east-1)
 *   rfc3161+http(s)://tsa/path[?ca=FILE&timeout=DURATION]
 *                                   an RFC 3161 timestamp authority; ca: the PEM certificate(s)
 *                                   its certificate must chain to; timeout default 10s
 *
 * When none of them is a file:// anchor, the in-data-dir directory <data-dir>/anchors is added:
 * it is what the checkpointer resumes from quickly, what proofs read, and where records wait
 * while an external anchor is unreachable. `--anchor-dir DIR` (OTEL_AUDIT_ANCHOR_DIR) is kept as
 * an alias of `--anchor file://DIR`.
 */
import { X509Certificate } from 'node:crypto';
import { isAbsolute, relative, resolve, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { loadCertificates } from './rfc3161.ts';

export type AnchorSpec =
  | { kind: 'file'; url: string; dir: string; external: boolean }
  | { kind: 's3'; url: string; bucket: string; prefix: string; endpoint?: string; region: string; retentionDays: number }
  | { kind: 'rfc3161'; url: string; endpoint: string; caFile?: string; timeoutMs: number };

export class AnchorConfigError extends Error {}

export const DEFAULT_S3_RETENTION_DAYS = 365;
export const DEFAULT_TSA_TIMEOUT_MS = 10_000;

const BUCKET_RE = /^(?!\d+\.\d+\.\d+\.\d+$)(?!xn--)[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const PREFIX_RE = /^[A-Za-z0-9!_.*'()-]+(\/[A-Za-z0-9!_.*'()-]+)*$/;

function fail(value: string, why: string): never {
  throw new AnchorConfigError(`invalid --anchor "${value}": ${why}`);
}

function onlyParams(value: string, url: URL, allowed: string[]): void {
  for (const k of url.searchParams.keys()) {
    if (!allowed.includes(k)) fail(value, `unknown parameter "${k}"${allowed.length ? ` (allowed: ${allowed.join(', ')})` : ''}`);
  }
}

function retentionDays(value: string, raw: string): number {
  const m = /^(\d+)(d|y)$/.exec(raw.trim());
  const days = m ? Number(m[1]) * (m[2] === 'y' ? 365 : 1) : NaN;
  if (!m || !Number.isSafeInteger(days) || days < 1 || days > 36_500) fail(value, `retention "${raw}" must be a number of days or years, such as 400d or 7y`);
  return days;
}

function timeout(value: string, raw: string): number {
  const m = /^(\d+)(ms|s)$/.exec(raw.trim());
  const ms = m ? Number(m[1]) * (m[2] === 's' ? 1000 : 1) : NaN;
  if (!m || ms < 100 || ms > 600_000) fail(value, `timeout "${raw}" must be between 100ms and 600s`);
  return ms;
}

const inside = (dir: string, root: string): boolean => {
  const rel = relative(root, dir);
  return rel === '' || (!rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel));
};

/** One anchor URL. `dataDir` decides whether a directory is external; `env` supplies S3 defaults. */
export function parseAnchorUrl(value: string, opts: { dataDir: string; env?: NodeJS.ProcessEnv }): AnchorSpec {
  const env = opts.env ?? process.env;
  const text = value.trim();
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    fail(value, 'expected file:///path, s3://bucket/prefix or rfc3161+https://tsa.example/');
  }
  if (url.username || url.password) fail(value, 'credentials do not belong in the URL (S3: use the AWS_* environment variables or a role)');
  if (url.hash) fail(value, 'a fragment (#...) means nothing here');
  switch (url.protocol) {
    case 'file:': {
      if (url.host && url.host !== 'localhost') fail(value, 'a file:// anchor is a local path: file:///abs/path');
      onlyParams(value, url, []);
      const dir = resolve(fileURLToPath(url));
      if (dir === '/') fail(value, 'the root directory is not an anchor directory');
      return { kind: 'file', url: pathToFileURL(dir).href, dir, external: !inside(dir, resolve(opts.dataDir)) };
    }
    case 's3:': {
      const bucket = url.hostname;
      if (!BUCKET_RE.test(bucket) || bucket.includes('..')) fail(value, `"${bucket}" is not a valid S3 bucket name`);
      if (url.port) fail(value, 'the bucket takes no port; the server goes in ?endpoint=');
      const prefix = decodeURIComponent(url.pathname).replace(/^\/+|\/+$/g, '');
      if (prefix && !PREFIX_RE.test(prefix)) fail(value, `prefix "${prefix}" may hold letters, digits, / and !_.*'()- only, without empty segments`);
      onlyParams(value, url, ['endpoint', 'region', 'retention']);
      const endpointRaw = url.searchParams.get('endpoint') ?? env.OTEL_AUDIT_S3_ENDPOINT ?? undefined;
      let endpoint: string | undefined;
      if (endpointRaw) {
        let e: URL;
        try {
          e = new URL(endpointRaw);
        } catch {
          fail(value, `endpoint "${endpointRaw}" is not a URL`);
        }
        if (e.protocol !== 'http:' && e.protocol !== 'https:') fail(value, `endpoint "${endpointRaw}" must be http:// or https://`);
        if (e.username || e.password) fail(value, 'the endpoint takes no credentials (use the AWS_* environment variables)');
        endpoint = e.origin + e.pathname.replace(/\/+$/, '');
      }
      const region = url.searchParams.get('region') ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? 'us-east-1';
      if (!/^[a-z0-9-]{2,32}$/.test(region)) fail(value, `region "${region}" is not an AWS region name`);
      const r = url.searchParams.get('retention');
      return {
        kind: 's3',
        url: `s3://${bucket}${prefix ? `/${prefix}` : ''}`,
        bucket,
        prefix,
        ...(endpoint ? { endpoint } : {}),
        region,
        retentionDays: r === null ? DEFAULT_S3_RETENTION_DAYS : retentionDays(value, r),
      };
    }
    case 'rfc3161+http:':
    case 'rfc3161+https:': {
      onlyParams(value, url, ['ca', 'timeout']);
      if (!url.hostname) fail(value, 'the timestamp authority needs a host: rfc3161+https://tsa.example/path');
      const endpoint = new URL(text.slice('rfc3161+'.length));
      endpoint.search = '';
      const caFile = url.searchParams.get('ca') ?? undefined;
      if (caFile !== undefined) {
        if (!isAbsolute(caFile)) fail(value, `ca "${caFile}" must be an absolute path to a PEM file`);
        let certs: X509Certificate[];
        try {
          certs = loadCertificates(caFile);
        } catch (err) {
          fail(value, `ca: ${(err as Error).message}`);
        }
        if (certs.length === 0) fail(value, `ca: ${caFile} holds no certificate`);
      }
      const t = url.searchParams.get('timeout');
      return {
        kind: 'rfc3161',
        url: `rfc3161+${endpoint.href}`,
        endpoint: endpoint.href,
        ...(caFile ? { caFile } : {}),
        timeoutMs: t === null ? DEFAULT_TSA_TIMEOUT_MS : timeout(value, t),
      };
    }
    default:
      fail(value, `unknown scheme "${url.protocol}": expected file://, s3:// or rfc3161+http(s)://`);
  }
}

/**
 * Every anchor of a bridge: the --anchor URLs (flags win over OTEL_AUDIT_ANCHOR), --anchor-dir as
 * a file:// anchor, and the in-data-dir directory when no file:// anchor is configured.
 */
export function resolveAnchors(
  o: { anchors?: string[]; anchorDir?: string },
  dataDir: string,
  env: NodeJS.ProcessEnv = process.env,
): AnchorSpec[] {
  const values = o.anchors?.length ? o.anchors : (env.OTEL_AUDIT_ANCHOR ?? '').split(',').filter((s) => s.trim() !== '');
  const specs = values.map((v) => parseAnchorUrl(v, { dataDir, env }));
  const dir = o.anchorDir ?? env.OTEL_AUDIT_ANCHOR_DIR;
  if (dir !== undefined && dir !== '') {
    const abs = resolve(dir);
    specs.unshift(parseAnchorUrl(pathToFileURL(abs).href, { dataDir, env }));
  }
  if (!specs.some((s) => s.kind === 'file')) {
    const abs = resolve(dataDir, 'anchors');
    specs.unshift({ kind: 'file', url: pathToFileURL(abs).href, dir: abs, external: false });
  }
  const seen = new Set<string>();
  for (const s of specs) {
    if (seen.has(s.url)) throw new AnchorConfigError(`the anchor ${s.url} is configured twice`);
    seen.add(s.url);
  }
  return specs;
}
