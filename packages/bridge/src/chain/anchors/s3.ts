/**
 * An S3 anchor (`--anchor s3://bucket/prefix`), meant for a bucket with Object Lock in
 * compliance mode: one object per checkpoint,
 *
 *   <prefix>/<chain_id>/<tree_size, 20 digits>-<first 16 hex of SHA-256(signature)>.json
 *
 * each PUT with `ObjectLockMode: COMPLIANCE` and `ObjectLockRetainUntilDate` = now + the
 * retention (`?retention=`, default 365d), `If-None-Match: *` (never replace an object) and a
 * SHA-256 checksum (S3 requires one with Object Lock). In compliance mode nobody, the root account
 * included, can delete the object or shorten its retention before that date.
 *
 * The key names the checkpoint, not only its size: if history is rewritten and the bridge
 * signs again, the new checkpoint lands BESIDE the original, which stays. `verify` then sees two
 * different checkpoints for one tree size, or a store checkpoint this anchor never received.
 *
 * Endpoint, region and credentials: the standard AWS chain (AWS_ACCESS_KEY_ID /
 * AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN, AWS_PROFILE, instance and container roles;
 * AWS_REGION), with `?endpoint=` or OTEL_AUDIT_S3_ENDPOINT for S3-compatible servers such as
 * MinIO (path-style addressing then). The bridge needs s3:PutObject (and s3:PutObjectRetention),
 * s3:GetObject and s3:ListBucket: it reads the anchor back at start and for `verify`.
 */
import { createHash } from 'node:crypto';
import type { S3Client as S3ClientType } from '@aws-sdk/client-s3';
import { anchorFileName, CHAIN_ID_RE, type AnchorFileError, type AnchorRecord, type AnchorSink } from '../anchor.ts';

export interface S3AnchorOptions {
  /** s3://bucket/prefix, as shown in reports. */
  url: string;
  bucket: string;
  /** Key prefix without leading or trailing '/', possibly ''. */
  prefix: string;
  endpoint?: string;
  region: string;
  /** Object Lock retention of each object, in days. */
  retentionDays: number;
}

const KEY_RE = /^(\d{20})-([0-9a-f]{16})\.json$/;
/** Objects fetched at once when reading an anchor back. */
const READ_CONCURRENCY = 16;

type S3Module = typeof import('@aws-sdk/client-s3');

interface Listed {
  key: string;
  size: number;
}

export class S3AnchorSink implements AnchorSink {
  readonly kind = 's3' as const;
  readonly external = true;
  readonly holdsRecords = true;
  readonly url: string;
  private readonly opts: S3AnchorOptions;
  private readonly client: S3ClientType;
  private readonly sdk: S3Module;

  private constructor(opts: S3AnchorOptions, sdk: S3Module) {
    this.opts = opts;
    this.url = opts.url;
    this.sdk = sdk;
    this.client = new sdk.S3Client({
      region: opts.region,
      ...(opts.endpoint ? { endpoint: opts.endpoint, forcePathStyle: true } : {}),
      followRegionRedirects: true,
      maxAttempts: 3,
      requestHandler: { connectionTimeout: 5_000, requestTimeout: 15_000 },
    });
  }

  /** The SDK is loaded only when an S3 anchor is configured. */
  static async open(opts: S3AnchorOptions): Promise<S3AnchorSink> {
    return new S3AnchorSink(opts, await import('@aws-sdk/client-s3'));
  }

  private chainPrefix(chainId: string): string {
    if (!CHAIN_ID_RE.test(chainId)) throw new Error(`invalid chain id ${JSON.stringify(chainId)}`);
    return `${this.opts.prefix ? `${this.opts.prefix}/` : ''}${chainId}/`;
  }

  /** The object key of a record: unique per checkpoint (chain, size and signature). */
  key(record: AnchorRecord): string {
    const cp = record.checkpoint;
    const id = createHash('sha256').update(String(cp.signature)).digest('hex').slice(0, 16);
    return `${this.chainPrefix(cp.chain_id)}${anchorFileName(cp.tree_size).replace(/\.json$/, '')}-${id}.json`;
  }

  private describe(err: unknown): string {
    const e = err as { name?: string; message?: string; $metadata?: { httpStatusCode?: number } };
    return `${e.name ?? 'Error'}${e.$metadata?.httpStatusCode ? ` (HTTP ${e.$metadata.httpStatusCode})` : ''}: ${e.message ?? String(err)}`;
  }

  async write(record: AnchorRecord): Promise<void> {
    const key = this.key(record);
    const body = JSON.stringify(record) + '\n';
    try {
      await this.client.send(
        new this.sdk.PutObjectCommand({
          Bucket: this.opts.bucket,
          Key: key,
          Body: body,
          ContentType: 'application/json',
          ObjectLockMode: 'COMPLIANCE',
          ObjectLockRetainUntilDate: new Date(Date.now() + this.opts.retentionDays * 86_400_000),
          IfNoneMatch: '*',
          ChecksumAlgorithm: 'SHA256',
        }),
      );
    } catch (err) {
      const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
      // 412: the object exists (a retried PUT that had succeeded); fine if it holds these bytes.
      if (status === 412 && (await this.get(key).catch(() => null)) === body) return;
      throw new Error(`cannot write ${key} to ${this.url}: ${this.describe(err)}`);
    }
  }

  private async get(key: string): Promise<string> {
    const res = await this.client.send(new this.sdk.GetObjectCommand({ Bucket: this.opts.bucket, Key: key }));
    return (await res.Body?.transformToString('utf8')) ?? '';
  }

  /** The objects of a chain (or of one tree size of it). */
  private async list(chainId: string, treeSize?: number): Promise<Listed[]> {
    const chain = this.chainPrefix(chainId);
    const prefix = treeSize === undefined ? chain : `${chain}${anchorFileName(treeSize).replace(/\.json$/, '')}-`;
    const out: Listed[] = [];
    let token: string | undefined;
    try {
      do {
        const page = await this.client.send(
          new this.sdk.ListObjectsV2Command({ Bucket: this.opts.bucket, Prefix: prefix, ContinuationToken: token }),
        );
        for (const o of page.Contents ?? []) {
          const m = KEY_RE.exec((o.Key ?? '').slice(chain.length));
          if (m) out.push({ key: o.Key!, size: Number(m[1]) });
        }
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token);
    } catch (err) {
      throw new Error(`cannot list ${this.url}/${prefix}: ${this.describe(err)}`);
    }
    return out.sort((a, b) => a.size - b.size || (a.key < b.key ? -1 : 1));
  }

  async sizes(chainId: string): Promise<number[]> {
    return [...new Set((await this.list(chainId)).map((o) => o.size))];
  }

  /** Reads objects, READ_CONCURRENCY at a time; each becomes a record or an error. */
  private async fetch(objects: Listed[]): Promise<{ records: AnchorRecord[]; errors: AnchorFileError[] }> {
    const got: Array<AnchorRecord | AnchorFileError> = new Array(objects.length);
    let next = 0;
    const worker = async () => {
      while (next < objects.length) {
        const i = next++;
        const o = objects[i];
        const file = `s3://${this.opts.bucket}/${o.key}`;
        try {
          const r = JSON.parse(await this.get(o.key)) as AnchorRecord;
          got[i] =
            r?.checkpoint?.tree_size === o.size
              ? r
              : { tree_size: o.size, file, error: `the key says tree size ${o.size}, the checkpoint ${String(r?.checkpoint?.tree_size)}` };
        } catch (err) {
          got[i] = { tree_size: o.size, file, error: err instanceof SyntaxError ? `not valid JSON: ${err.message}` : this.describe(err) };
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(READ_CONCURRENCY, objects.length) }, worker));
    const records: AnchorRecord[] = [];
    const errors: AnchorFileError[] = [];
    for (const g of got) ('format' in g || 'checkpoint' in g ? records.push(g as AnchorRecord) : errors.push(g as AnchorFileError));
    return { records, errors };
  }

  async readAll(chainId: string): Promise<{ records: AnchorRecord[]; errors: AnchorFileError[] }> {
    return this.fetch(await this.list(chainId));
  }

  async readAt(chainId: string, treeSize: number): Promise<AnchorRecord[]> {
    const { records, errors } = await this.fetch(await this.list(chainId, treeSize));
    if (errors.length) throw new Error(`checkpoint ${treeSize} of chain ${chainId} in ${this.url} is unreadable: ${errors[0].error}`);
    return records;
  }

  /** The newest record; when this anchor holds two different checkpoints at that size, throws. */
  async latest(chainId: string): Promise<AnchorRecord | null> {
    const all = await this.list(chainId);
    const newest = all.at(-1)?.size;
    if (newest === undefined) return null;
    const { records, errors } = await this.fetch(all.filter((o) => o.size === newest));
    if (errors.length) throw new Error(`the newest record of chain ${chainId} in ${this.url} is unreadable: ${errors[0].error}`);
    if (new Set(records.map((r) => r.checkpoint.signature)).size > 1) {
      throw new Error(`${this.url} holds ${records.length} different checkpoints of chain ${chainId} at tree size ${newest}: history was re-signed; run "otel-audit verify"`);
    }
    return records[0];
  }
}
