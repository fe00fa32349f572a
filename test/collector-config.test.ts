// deploy/otel-collector/: each Collector configuration parses, names only components of
// otelcol-contrib (deploy/otel-collector/components.json, with the release checked), wires every
// pipeline to components it declares, and talks to the bridge the way the bridge serves: the
// ports of its receivers (the defaults of `otel-audit serve`), OTLP/HTTP paths the exporter
// appends itself, a compression the bridge reads, and a bearer token in `authorization`.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
// A YAML parser already in node_modules (through @opentelemetry/sdk-node's configuration package).
import { parse } from 'yaml';
import { resolveConfig } from '../packages/bridge/src/index.ts';
import { REPO_ROOT } from './helpers/bridge-process.ts';

const DIR = join(REPO_ROOT, 'deploy/otel-collector');
const KINDS = ['receivers', 'processors', 'exporters', 'extensions'] as const;
type Kind = (typeof KINDS)[number];
type Section = Record<string, Record<string, unknown> | null>;
interface CollectorConfig {
  receivers?: Section;
  processors?: Section;
  exporters?: Section;
  extensions?: Section;
  service: { extensions?: string[]; pipelines: Record<string, { receivers: string[]; processors?: string[]; exporters: string[] }> };
}

const components = JSON.parse(readFileSync(join(DIR, 'components.json'), 'utf8')) as Record<Kind, Record<string, string>> & { release: string };
const load = (file: string) => parse(readFileSync(join(DIR, file), 'utf8')) as CollectorConfig;
/** What `otel-audit serve` listens on by default (config.ts), loopback aside. */
const bridge = resolveConfig({}, {});
const HTTP_PORT = bridge.otlpHttp.port;
const GRPC_PORT = bridge.otlpGrpc!.port;
/** Content-Encodings the bridge's OTLP/HTTP receiver reads (receive/http/body.ts); gRPC: gzip. */
const HTTP_COMPRESSION = ['gzip', 'deflate', 'none'];

const FILES = ['fanout.yaml', 'scale-out.yaml', 'inline.yaml'];

function portOf(endpoint: string): number {
  const url = new URL(/^[a-z]+:\/\//.test(endpoint) ? endpoint : `x://${endpoint}`);
  if (!url.port) throw new Error(`no port in ${endpoint}`);
  return Number(url.port);
}

/** A bearer token header as the bridge reads it (Authorization: Bearer <token>), from the environment. */
function expectBearer(headers: unknown, where: string): void {
  const h = headers as Record<string, string> | undefined;
  expect(h, `${where}: headers`).toBeTruthy();
  const key = Object.keys(h!).find((k) => k.toLowerCase() === 'authorization');
  expect(key, `${where}: an authorization header`).toBeTruthy();
  expect(h![key!], where).toMatch(/^Bearer \$\{env:[A-Z_]+\}$/);
}

describe('deploy/otel-collector', () => {
  it('holds exactly the documented files', () => {
    expect(readdirSync(DIR).filter((f) => f.endsWith('.yaml')).sort()).toEqual([...FILES].sort());
    const readme = readFileSync(join(DIR, 'README.md'), 'utf8');
    for (const f of FILES) expect(readme, f).toContain(`## \`${f}\``);
    expect(components.release).toMatch(/^v0\.\d+\.\d+$/);
  });

  it.each(FILES)('%s names only otelcol-contrib components, and every pipeline uses declared ones', (file) => {
    const c = load(file);
    for (const kind of KINDS) {
      for (const id of Object.keys(c[kind] ?? {})) {
        const type = id.split('/')[0];
        expect(components[kind][type], `${file}: ${kind} "${id}" is not in components.json (${components.release})`).toBeTruthy();
      }
    }
    for (const ext of c.service.extensions ?? []) expect(c.extensions?.[ext] !== undefined, `${file}: extension ${ext} is not declared`).toBe(true);
    expect(Object.keys(c.service.pipelines).sort()).toEqual(['logs', 'traces']);
    for (const [name, p] of Object.entries(c.service.pipelines)) {
      for (const r of p.receivers) expect(c.receivers?.[r] !== undefined, `${file} ${name}: receiver ${r}`).toBe(true);
      for (const r of p.processors ?? []) expect(c.processors?.[r] !== undefined, `${file} ${name}: processor ${r}`).toBe(true);
      for (const r of p.exporters) expect(c.exporters?.[r] !== undefined, `${file} ${name}: exporter ${r}`).toBe(true);
      // memory_limiter first, as the Collector's docs ask.
      if (p.processors?.includes('memory_limiter')) expect(p.processors[0]).toBe('memory_limiter');
    }
    // Every authenticator a receiver names is a declared extension, and enabled.
    for (const proto of Object.values((c.receivers?.otlp as { protocols?: Record<string, { auth?: { authenticator: string } }> })?.protocols ?? {})) {
      if (proto?.auth) expect(c.service.extensions, file).toContain(proto.auth.authenticator);
    }
  });

  it('fanout.yaml: otlphttp to the bridge\'s OTLP/HTTP port, protobuf, a compression it reads, the bearer token; traces and logs', () => {
    const c = load('fanout.yaml');
    const [id, exp] = Object.entries(c.exporters!).find(([k]) => k.startsWith('otlphttp/'))! as [string, Record<string, unknown>];
    const endpoint = exp.endpoint as string;
    expect(endpoint).toMatch(/^https?:\/\//);
    expect(portOf(endpoint)).toBe(HTTP_PORT);
    // otlphttp appends /v1/traces and /v1/logs itself.
    expect(endpoint).not.toMatch(/\/v1\//);
    expect(exp.encoding ?? 'proto').toBe('proto');
    expect(HTTP_COMPRESSION).toContain(exp.compression ?? 'gzip');
    expectBearer(exp.headers, id);
    for (const p of ['traces', 'logs']) expect(c.service.pipelines[p].exporters, p).toContain(id);
    // And to a backend beside it.
    expect(c.service.pipelines.traces.exporters.length).toBeGreaterThan(1);
  });

  it('scale-out.yaml: loadbalancing by traceID to the bridges\' OTLP/gRPC port (DNS or k8s), gzip, the bearer token', () => {
    const c = load('scale-out.yaml');
    const [id, lb] = Object.entries(c.exporters!).find(([k]) => k.startsWith('loadbalancing'))! as [string, Record<string, any>];
    expect(lb.routing_key).toBe('traceID');
    const otlp = lb.protocol.otlp;
    expect(otlp.compression ?? 'gzip').toBe('gzip');
    expectBearer(otlp.headers, id);
    const resolver = lb.resolver as { dns?: { hostname: string; port?: number }; k8s?: { service: string; ports?: number[] } };
    expect(resolver.dns ?? resolver.k8s, 'a DNS or Kubernetes resolver').toBeTruthy();
    if (resolver.dns) expect(resolver.dns.port).toBe(GRPC_PORT);
    if (resolver.k8s) expect(resolver.k8s.ports).toEqual([GRPC_PORT]);
    for (const p of ['traces', 'logs']) expect(c.service.pipelines[p].exporters, p).toContain(id);
    // Each bridge its own chain: the README says where --chain-id comes from.
    const readme = readFileSync(join(DIR, 'README.md'), 'utf8');
    expect(readme).toMatch(/--chain-id/);
    expect(readme).toMatch(/OTEL_AUDIT_CHAIN_ID/);
    expect(readme).toContain('metadata.name');
  });

  it('inline.yaml: the Collector listens where the bridge\'s --forward points, and takes the token it sends', () => {
    const c = load('inline.yaml');
    const text = readFileSync(join(DIR, 'inline.yaml'), 'utf8') + readFileSync(join(DIR, 'README.md'), 'utf8');
    const commands = [...text.matchAll(/--forward (\S+) \\?\s*(?:#\s*)?--forward-header "([^"]+)"/g)];
    expect(commands.length).toBeGreaterThan(0);
    const protocols = (c.receivers!.otlp as { protocols: Record<string, { endpoint: string; auth?: { authenticator: string } }> }).protocols;
    for (const [, url, header] of commands) {
      // The bridge accepts the flags as written (config.ts, forward/config.ts).
      const fwd = resolveConfig({ forward: url, forwardHeaders: [header.replace(/\$\{[A-Z_]+\}/, 'token')] }, {}).forward!;
      const proto = fwd.protocol === 'http' ? protocols.http : protocols.grpc;
      expect(proto, `a ${fwd.protocol} receiver`).toBeTruthy();
      expect(portOf(proto.endpoint)).toBe(Number(new URL(fwd.url).port));
      expect(fwd.headers[0][0]).toBe('authorization');
      expect(fwd.headers[0][1]).toMatch(/^Bearer /);
      // The same token on both sides.
      const auth = c.extensions![proto.auth!.authenticator] as { scheme?: string; token: string };
      expect(auth.scheme ?? 'Bearer').toBe('Bearer');
      const envName = /\$\{env:([A-Z_]+)\}/.exec(auth.token)![1];
      expect(header).toContain(`\${${envName}}`);
    }
  });
});
