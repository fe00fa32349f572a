/**
 * Ingest with an auth file (DESIGN 3.4), over both receivers, with the official OTLP exporters
 * (HTTP protobuf and gRPC) carrying their token the way apps configure it
 * (OTEL_EXPORTER_OTLP_HEADERS, or headers / metadata in code): no token or an unknown one is
 * 401 / UNAUTHENTICATED, a token without the ingest role 403 / PERMISSION_DENIED, a tenant header
 * outside the token's tenants 403 / PERMISSION_DENIED, and none of these stores anything; an
 * ingest token's events are stored under its tenant, with its name; a span whose audit.tenant is
 * not one of the token's is rejected (partial success), the others of the request stored. The
 * stored rows are read back through the API with an admin token.
 */
import { execFile } from 'node:child_process';
import { request } from 'node:http';
import { connect } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { flush, REPO_ROOT, startBridge, tempDir, writeAuthFile, type BridgeProcess, type TestToken } from './helpers/bridge-process.ts';

const exec = promisify(execFile);
const FIXTURE = join(REPO_ROOT, 'test/fixtures/export-cases.ts');

const tok = (name: string) => `${name}-${'f00dfeedbeefcafe'.repeat(2)}`;
const TOKENS: TestToken[] = [
  { name: 'app-acme', token: tok('app-acme'), roles: ['ingest'], tenants: ['acme'] },
  { name: 'app-two', token: tok('app-two'), roles: ['ingest'], tenants: ['acme', 'globex'] },
  { name: 'reviewer', token: tok('reviewer'), roles: ['reader', 'content_reader'], tenants: ['acme'] },
  { name: 'ops', token: tok('ops'), roles: ['admin'], tenants: ['*'] },
];
const T = Object.fromEntries(TOKENS.map((t) => [t.name, t.token]));
const auth = (token: string) => ({ authorization: `Bearer ${token}` });

let bridge: BridgeProcess;

beforeAll(async () => {
  const dir = tempDir('auth-ingest-');
  bridge = await startBridge({ args: ['--auth-file', writeAuthFile(dir, TOKENS)] });
}, 90_000);
afterAll(async () => {
  if (bridge && bridge.child.exitCode === null) expect(await bridge.stop()).toBe(0);
});

interface CaseResult {
  id: string;
  /** ExportResultCode: 0 success, 1 failed. */
  code: number;
  error: { message: string; code?: number; data?: string } | null;
  partial: string[];
}

type Batch = { resource: Record<string, string>; spans: Array<{ name: string; attributes: Record<string, string> }> };

/** One span under the case id `caseId`, from a resource with (or without) audit.tenant. */
const batch = (caseId: string, name: string, tenant?: string): Batch => ({
  resource: { 'service.name': 'auth-e2e', ...(tenant ? { 'audit.tenant': tenant } : {}) },
  spans: [{ name, attributes: { 'audit.correlation_id': caseId, 'gen_ai.operation.name': 'execute_tool', 'gen_ai.tool.name': name } }],
});

/** Runs the official exporter of `protocol` over these cases (one export call each). */
async function exportCases(protocol: 'http' | 'grpc', cases: Array<{ id: string; headers: Record<string, string>; via: 'env' | 'code'; batches: Batch[] }>) {
  const url = protocol === 'grpc' ? `http://${bridge.grpcAddress}` : bridge.otlpUrl;
  const { stdout } = await exec(process.execPath, [FIXTURE, JSON.stringify({ protocol, url, cases })], { cwd: REPO_ROOT, timeout: 60_000 });
  const results = stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as CaseResult);
  return Object.fromEntries(results.map((r) => [r.id, r]));
}

interface EventRow {
  correlation_id: string;
  tenant: string;
  ingest_principal?: string;
  tool_name: string;
}

/** Every event stored, read through the API with the admin token. */
async function storedEvents(): Promise<EventRow[]> {
  await flush(bridge.apiUrl, T.ops);
  const res = await fetch(`${bridge.apiUrl}/api/v1/events?format=jsonl&limit=10000`, { headers: auth(T.ops) });
  expect(res.status).toBe(200);
  return (await res.text())
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as EventRow);
}

describe.each(['http', 'grpc'] as const)('ingest over %s with the official exporter', (protocol) => {
  const P = protocol.toUpperCase();
  const cid = (id: string) => `AUTH-${P}-${id}`;
  let r: Record<string, CaseResult>;
  let rows: EventRow[];

  beforeAll(async () => {
    r = await exportCases(protocol, [
      { id: 'none', headers: {}, via: 'env', batches: [batch(cid('none'), 'no token')] },
      { id: 'wrong', headers: auth(`not-${T['app-acme']}`), via: 'env', batches: [batch(cid('wrong'), 'wrong token')] },
      { id: 'reader', headers: auth(T.reviewer), via: 'code', batches: [batch(cid('reader'), 'reader token')] },
      { id: 'ingest', headers: auth(T['app-acme']), via: 'env', batches: [batch(cid('ingest'), 'ingest token')] },
      { id: 'in-code', headers: auth(T['app-acme']), via: 'code', batches: [batch(cid('in-code'), 'token in code', 'acme')] },
      {
        id: 'other-tenant-header',
        headers: { ...auth(T['app-acme']), 'x-otel-audit-tenant': 'globex' },
        via: 'env',
        batches: [batch(cid('other-tenant-header'), 'header names another tenant')],
      },
      { id: 'own-tenant-header', headers: { ...auth(T['app-two']), 'x-otel-audit-tenant': 'globex' }, via: 'code', batches: [batch(cid('own-tenant-header'), 'header names its own tenant')] },
      {
        id: 'other-tenant-resource',
        headers: auth(T['app-acme']),
        via: 'env',
        batches: [batch(cid('other-tenant-resource'), 'kept', 'acme'), batch(cid('other-tenant-resource'), 'smuggled', 'globex')],
      },
    ]);
    rows = (await storedEvents()).filter((x) => x.correlation_id.startsWith(`AUTH-${P}-`));
  }, 120_000);

  const stored = (id: string) => rows.filter((x) => x.correlation_id === cid(id));

  it('no token, or an unknown one: 401 / UNAUTHENTICATED, nothing stored', () => {
    for (const id of ['none', 'wrong']) {
      expect(r[id].code, id).toBe(1);
      expect(r[id].error?.code, id).toBe(protocol === 'http' ? 401 : 16);
      expect(stored(id), id).toEqual([]);
    }
    const said = protocol === 'http' ? r.none.error!.data : r.none.error!.message;
    expect(said).toMatch(/a token is required/);
    expect(protocol === 'http' ? r.wrong.error!.data : r.wrong.error!.message).toMatch(/not valid/);
  });

  it('a token without the ingest role: 403 / PERMISSION_DENIED, nothing stored', () => {
    expect(r.reader.code).toBe(1);
    expect(r.reader.error?.code).toBe(protocol === 'http' ? 403 : 7);
    expect(protocol === 'http' ? r.reader.error!.data : r.reader.error!.message).toMatch(/token "reviewer" may not send telemetry: it needs the "ingest" role/);
    expect(stored('reader')).toEqual([]);
  });

  it("an ingest token: stored under the token's tenant, with its name", () => {
    for (const id of ['ingest', 'in-code']) {
      expect(r[id], id).toMatchObject({ code: 0, error: null, partial: [] });
      expect(stored(id).map((x) => [x.tenant, x.ingest_principal]), id).toEqual([['acme', 'app-acme']]);
    }
  });

  it('a tenant header outside the token: 403 / PERMISSION_DENIED, nothing stored; inside it: that tenant', () => {
    const refused = r['other-tenant-header'];
    expect(refused.code).toBe(1);
    expect(refused.error?.code).toBe(protocol === 'http' ? 403 : 7);
    expect(protocol === 'http' ? refused.error!.data : refused.error!.message).toMatch(/may not send to tenant "globex"/);
    expect(stored('other-tenant-header')).toEqual([]);
    expect(r['own-tenant-header']).toMatchObject({ code: 0, error: null });
    expect(stored('own-tenant-header').map((x) => [x.tenant, x.ingest_principal])).toEqual([['globex', 'app-two']]);
  });

  it("a span whose audit.tenant is not the token's is rejected (partial success); the rest of the request is stored", () => {
    const res = r['other-tenant-resource'];
    expect(res.code).toBe(0); // partial success is a success for the exporter, which logs it
    expect(res.partial).toHaveLength(1);
    expect(res.partial[0]).toMatch(/"rejectedSpans":"?1"?/);
    expect(res.partial[0]).toMatch(/audit\.tenant \\?"globex\\?" is not a tenant of this ingest token/);
    expect(stored('other-tenant-resource').map((x) => [x.tool_name, x.tenant])).toEqual([['kept', 'acme']]);
  });
});

describe('before the body', () => {
  it('an unauthenticated upload is answered 401 (with WWW-Authenticate) before its body is sent, and the connection closed', async () => {
    const url = new URL(bridge.otlpUrl);
    const socket = connect(Number(url.port), url.hostname);
    let text = '';
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    socket.on('data', (d: Buffer) => (text += d.toString('latin1')));
    socket.on('error', () => {});
    // 60 MB announced, not a byte of it sent.
    socket.write(`POST /v1/traces HTTP/1.1\r\nHost: bridge\r\nContent-Type: application/x-protobuf\r\nContent-Length: 60000000\r\n\r\n`);
    await closed;
    expect(text).toMatch(/^HTTP\/1\.1 401 /);
    expect(text).toMatch(/\r\nwww-authenticate: Bearer realm="otel-audit"\r\n/i);
    expect(text).toMatch(/\r\nconnection: close\r\n/i);
  });

  it('the same for a token without the ingest role: 403', async () => {
    const res = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const url = new URL(bridge.otlpUrl);
      const req = request({ host: url.hostname, port: url.port, path: '/v1/logs', method: 'POST', headers: { ...auth(T.reviewer), 'content-type': 'application/json', 'content-length': 60_000_000 } }, (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode!, body }));
      });
      req.on('error', reject);
      req.flushHeaders();
    });
    expect(res.status).toBe(403);
    expect(JSON.parse(res.body)).toMatchObject({ code: 7 });
  });

  it('the tokens are never written to the log', () => {
    for (const t of TOKENS) expect(bridge.log()).not.toContain(t.token);
  });
});
