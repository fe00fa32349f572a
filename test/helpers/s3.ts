/**
 * A real S3-compatible server on loopback for tests: S3rver (@20minutes/s3rver, the maintained
 * fork for Node 24), behind a small HTTP proxy that records every request's method, path and
 * headers, so that tests can see what the bridge's AWS SDK really sent (the Object Lock headers:
 * S3rver itself ignores them; it implements no Object Lock).
 *
 * S3rver computes the SigV4 canonical URI of bucket-level requests without the trailing '/'
 * that the current AWS SDK signs (ListObjectsV2 on `/bucket/`), so signatures are not enforced
 * here (allowMismatchedSignatures); the access key must still exist.
 */
import { mkdtempSync } from 'node:fs';
import { createServer, request, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import S3rver from '@20minutes/s3rver';

export interface SeenRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
}

export interface LocalS3 {
  /** The proxy in front of S3rver: what the bridge is pointed at (?endpoint=). */
  endpoint: string;
  bucket: string;
  /** The environment a client needs (S3rver's built-in credentials). */
  env: Record<string, string>;
  requests: SeenRequest[];
  /** When set, the proxy answers every request with this status (an outage). */
  failWith: number | null;
  close(): Promise<void>;
}

export const S3_CREDENTIALS = { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_REGION: 'us-east-1' };

export async function startS3(opts: { bucket?: string; dir?: string } = {}): Promise<LocalS3> {
  const bucket = opts.bucket ?? 'anchors';
  const s3 = new S3rver({
    port: 0,
    address: '127.0.0.1',
    silent: true,
    directory: opts.dir ?? mkdtempSync(join(tmpdir(), 's3rver-')),
    configureBuckets: [{ name: bucket }],
    allowMismatchedSignatures: true,
  });
  const upstream = (await s3.run()) as AddressInfo;
  const local: LocalS3 = {
    endpoint: '',
    bucket,
    env: { ...S3_CREDENTIALS },
    requests: [],
    failWith: null,
    close: async () => {
      await new Promise<void>((resolve) => proxy.close(() => resolve()));
      await s3.close();
    },
  };
  const proxy: Server = createServer((req, res) => {
    local.requests.push({ method: req.method ?? '', path: req.url ?? '', headers: req.headers });
    if (local.failWith) {
      req.resume();
      res.writeHead(local.failWith).end();
      return;
    }
    const up = request({ host: upstream.address, port: upstream.port, method: req.method, path: req.url, headers: req.headers }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    });
    up.on('error', () => res.writeHead(502).end());
    req.pipe(up);
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  local.endpoint = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
  return local;
}

/** The object-writing requests (PUT of an object key) the server saw. */
export function objectPuts(s3: LocalS3): SeenRequest[] {
  return s3.requests.filter((r) => r.method === 'PUT' && /^\/[^/?]+\/[^?]+/.test(r.path));
}
