import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import { Metadata } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeExportResponseProtobuf, encodeStatusProtobuf } from '../../otlp/index.ts';
import { HttpSender, retryInfoMs } from './send.ts';

/** Answers each request with the next scripted answer; records what it got. */
let answers: Array<{ status: number; headers?: Record<string, string>; body?: Uint8Array }> = [];
const got: Array<{ url: string; headers: Record<string, unknown>; body: Buffer }> = [];
let server: Server;
let base: string;

beforeAll(async () => {
  server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    got.push({ url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks) });
    const a = answers.shift() ?? { status: 200 };
    res.writeHead(a.status, a.headers ?? {});
    res.end(a.body ? Buffer.from(a.body) : undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/otlp`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

const sender = (url = base) => new HttpSender({ url: new URL(url), headers: [['authorization', 'Bearer t0k']], compression: 'gzip', timeoutMs: 2000 });
const never = new AbortController().signal;

describe('HttpSender', () => {
  it('posts gzipped protobuf to URL/v1/<signal> with the headers, and reads a partial success', async () => {
    answers = [{ status: 200, headers: { 'content-type': 'application/x-protobuf' }, body: encodeExportResponseProtobuf('traces', { rejected: 2, errorMessage: 'bad spans' }) }];
    const r = await sender(`${base}/`).send('traces', Buffer.from('payload'), never);
    expect(r).toEqual({ ok: true, rejected: 2, rejectReason: 'bad spans' });
    const req = got.at(-1)!;
    expect(req.url).toBe('/otlp/v1/traces');
    expect(req.headers.authorization).toBe('Bearer t0k');
    expect(req.headers['content-type']).toBe('application/x-protobuf');
    expect(req.headers['content-encoding']).toBe('gzip');
    expect(gunzipSync(req.body).toString()).toBe('payload');
  });

  it('retries throttling and outages (after Retry-After), and a wrong token; gives up on a bad request', async () => {
    answers = [
      { status: 429, headers: { 'retry-after': '7' } },
      { status: 503 },
      { status: 401 },
      { status: 400, headers: { 'content-type': 'application/x-protobuf' }, body: encodeStatusProtobuf(3, 'malformed') },
      { status: 500 },
    ];
    const s = sender();
    expect(await s.send('logs', Buffer.from('x'), never)).toEqual({ ok: false, retry: true, afterMs: 7000, reason: 'HTTP 429' });
    expect(await s.send('logs', Buffer.from('x'), never)).toMatchObject({ ok: false, retry: true, afterMs: undefined });
    expect(await s.send('logs', Buffer.from('x'), never)).toMatchObject({ ok: false, retry: true });
    expect(await s.send('logs', Buffer.from('x'), never)).toEqual({ ok: false, retry: false, reason: 'HTTP 400: malformed' });
    expect(await s.send('logs', Buffer.from('x'), never)).toMatchObject({ ok: false, retry: false });
    expect(got.at(-1)!.url).toBe('/otlp/v1/logs');
  });

  it('retries when nothing listens', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    expect(await sender(`http://127.0.0.1:${port}`).send('traces', Buffer.from('x'), never)).toMatchObject({ ok: false, retry: true, reason: 'ECONNREFUSED' });
  });
});

describe('retryInfoMs', () => {
  it('reads a google.rpc.RetryInfo from grpc-status-details-bin, else a retry-after trailer', () => {
    const md = new Metadata();
    md.set('grpc-status-details-bin', Buffer.from(encodeStatusProtobuf(14, 'busy', 3)));
    expect(retryInfoMs(md)).toBe(3000);
    const plain = new Metadata();
    plain.set('retry-after', '4');
    expect(retryInfoMs(plain)).toBe(4000);
    expect(retryInfoMs(new Metadata())).toBeUndefined();
  });
});
