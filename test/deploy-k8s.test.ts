// deploy/k8s/: every object is valid against the Kubernetes OpenAPI schemas (kubernetes-models),
// and the objects fit together and fit the bridge: --chain-id from the pod name (downward API),
// the data directory on the StatefulSet's volume claim, probes on /healthz and /readyz at the
// bridge's API port, the auth file from the Secret (parsed by the bridge's own parser), the
// headless Service the Collector's scale-out.yaml resolves, selectors that match the pods, and a
// NetworkPolicy that lets in the bridge's ports. Nothing is applied: there is no Kubernetes here.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, posix } from 'node:path';
import { parseArgs } from 'node:util';
import { Namespace, Secret, Service } from 'kubernetes-models/v1';
import { StatefulSet } from 'kubernetes-models/apps/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments, parse } from 'yaml';
import { serve } from '../packages/bridge/src/cli/index.ts';
import { resolveConfig, type ServeOptions } from '../packages/bridge/src/index.ts';
import { parseAuthFile } from '../packages/bridge/src/auth/index.ts';
import { REPO_ROOT, tempDir } from './helpers/bridge-process.ts';

const DIR = join(REPO_ROOT, 'deploy/k8s');
const CLASSES: Record<string, new (data: never) => { validate(): void }> = {
  'v1/Namespace': Namespace as never,
  'v1/Secret': Secret as never,
  'v1/Service': Service as never,
  'apps/v1/StatefulSet': StatefulSet as never,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget as never,
  'networking.k8s.io/v1/NetworkPolicy': NetworkPolicy as never,
};

interface Obj {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- YAML of many shapes, checked by the models
  spec?: any;
  stringData?: Record<string, string>;
}
const kustomization = parse(readFileSync(join(DIR, 'kustomization.yaml'), 'utf8')) as { namespace: string; resources: string[] };
const objects: Array<Obj & { file: string }> = kustomization.resources.flatMap((file) =>
  parseAllDocuments(readFileSync(join(DIR, file), 'utf8')).map((d) => ({ ...(d.toJS() as Obj), file })),
);
const find = (kind: string, name: string) => objects.find((o) => o.kind === kind && o.metadata.name === name)!;
const sts = find('StatefulSet', 'otel-audit');
const pod = sts.spec.template;
const container = pod.spec.containers[0];

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { fieldRef?: { fieldPath: string }; secretKeyRef?: { name: string; key: string } };
}
const matches = (selector: Record<string, string>, labels: Record<string, string>) => Object.entries(selector).every(([k, v]) => labels[k] === v);

describe('deploy/k8s', () => {
  it('lists every manifest in kustomization.yaml, all in its namespace', () => {
    const files = readdirSync(DIR).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml');
    expect([...kustomization.resources].sort()).toEqual(files.sort());
    for (const o of objects) if (o.kind !== 'Namespace') expect(o.metadata.namespace, `${o.kind}/${o.metadata.name}`).toBe(kustomization.namespace);
    expect(find('Namespace', kustomization.namespace)).toBeDefined();
  });

  it('every object is valid against the Kubernetes schemas (kubernetes-models)', () => {
    expect(objects.length).toBeGreaterThanOrEqual(8);
    for (const o of objects) {
      const Model = CLASSES[`${o.apiVersion}/${o.kind}`];
      expect(Model, `${o.file}: ${o.apiVersion} ${o.kind} has a model here`).toBeDefined();
      const { file, ...data } = o;
      expect(() => new Model(data as never).validate(), `${file}: ${o.kind}/${o.metadata.name}`).not.toThrow();
    }
    // And the validation does refuse a broken object.
    const broken = structuredClone(sts) as Obj & { file?: string };
    delete broken.file;
    broken.spec.template.spec.containers[0].ports[0].containerPort = '4317/tcp';
    expect(() => new StatefulSet(broken as never).validate()).toThrow(/containerPort/);
  });

  it('the StatefulSet: --chain-id from the pod name, the data directory on its claim, settings the bridge accepts', () => {
    expect(sts.spec.selector.matchLabels).toEqual(pod.metadata.labels);
    // args: serve --chain-id $(POD_NAME), POD_NAME from the downward API.
    const [cmd, ...args] = container.args as string[];
    expect(cmd).toBe('serve');
    const { values } = parseArgs({ args, options: serve.options, strict: true, allowPositionals: false });
    expect(values['chain-id']).toBe('$(POD_NAME)');
    const envVar = (name: string) => (container.env as EnvVar[]).find((e) => e.name === name);
    expect(envVar('POD_NAME')?.valueFrom).toEqual({ fieldRef: { fieldPath: 'metadata.name' } });
    // Pod names are otel-audit-0, -1, ...: valid chain ids for the bridge.
    const podName = `${sts.metadata.name}-${sts.spec.replicas - 1}`;

    // The data directory lies on the volume of the claim template.
    const claim = sts.spec.volumeClaimTemplates[0];
    expect(claim.spec.accessModes).toEqual(['ReadWriteOnce']);
    const dataMount = container.volumeMounts.find((m: { name: string }) => m.name === claim.metadata.name);
    const dataDir = envVar('OTEL_AUDIT_DATA_DIR')!.value!;
    expect(dataDir.startsWith(`${dataMount.mountPath}/`)).toBe(true);

    // The auth file: the Secret's auth.json, mounted where OTEL_AUDIT_AUTH_FILE points.
    const authFile = envVar('OTEL_AUDIT_AUTH_FILE')!.value!;
    const authMount = container.volumeMounts.find((m: { mountPath: string }) => m.mountPath === posix.dirname(authFile));
    const authVolume = pod.spec.volumes.find((v: { name: string }) => v.name === authMount.name);
    const secret = find('Secret', authVolume.secret.secretName);
    const authJson = secret.stringData![posix.basename(authFile)];
    const auth = parseAuthFile(authJson, 'secret.yaml', (t) => Buffer.from(t));
    expect(auth.tokens.find((t) => t.name === 'collector')?.roles).toEqual(['ingest']);
    expect(auth.tokens.find((t) => t.name === 'prometheus')?.roles).toEqual(['reader']);
    // ClickHouse URLs from the other Secret, keys that exist.
    for (const name of ['OTEL_AUDIT_CLICKHOUSE_URL', 'OTEL_AUDIT_CLICKHOUSE_READER_URL']) {
      const ref = envVar(name)!.valueFrom!.secretKeyRef!;
      expect(find('Secret', ref.name).stringData?.[ref.key], name).toMatch(/^http:\/\/otel_audit_(writer|reader):/);
    }

    // What the bridge makes of it: the image's environment (deploy/docker/Dockerfile) with the
    // pod's, the secrets' values and the pod name substituted, the auth file a local copy.
    const image = Object.fromEntries(
      [...readFileSync(join(REPO_ROOT, 'deploy/docker/Dockerfile'), 'utf8').replace(/\\\n\s*/g, ' ').matchAll(/^ENV (.*)$/gm)].flatMap((m) => [...m[1].matchAll(/([A-Z_]+)=(\S+)/g)].map((x) => [x[1], x[2]])),
    );
    const localAuth = join(tempDir('k8s-auth-'), 'auth.json');
    writeFileSync(localAuth, authJson, { mode: 0o600 });
    const env: Record<string, string> = { ...image };
    for (const e of container.env as EnvVar[]) {
      if (e.value !== undefined) env[e.name] = e.value;
      else if (e.valueFrom?.fieldRef) env[e.name] = podName;
      else env[e.name] = find('Secret', e.valueFrom!.secretKeyRef!.name).stringData![e.valueFrom!.secretKeyRef!.key];
    }
    env.OTEL_AUDIT_AUTH_FILE = localAuth;
    const options = { chainId: String(values['chain-id']).replace('$(POD_NAME)', env.POD_NAME) } as ServeOptions;
    const config = resolveConfig(options, env);
    expect(config.pipeline.chainId).toBe(podName);
    expect(config.pipeline.spoolBudgetBytes).toBe(8 * 1024 ** 3);
    expect(config.dataDir).toBe(dataDir);
    // The claim holds the spool budget with room to spare.
    const storage = claim.spec.resources.requests.storage as string;
    expect(Number(/^(\d+)Gi$/.exec(storage)![1]) * 1024 ** 3).toBeGreaterThan(config.pipeline.spoolBudgetBytes + 64 * 1024 ** 2);

    // Ports: the bridge's own (serve's defaults as the image sets them).
    const ports = Object.fromEntries((container.ports as Array<{ name: string; containerPort: number }>).map((p) => [p.name, p.containerPort]));
    expect(ports).toEqual({ 'otlp-grpc': config.otlpGrpc!.port, 'otlp-http': config.otlpHttp.port, api: config.api.port });
  });

  it('probes: /healthz for startup and liveness, /readyz for readiness, on the API port', () => {
    expect(container.startupProbe.httpGet).toEqual({ path: '/healthz', port: 'api' });
    expect(container.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'api' });
    expect(container.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'api' });
    expect(pod.spec.securityContext.runAsNonRoot).toBe(true);
    expect(typeof pod.spec.securityContext.runAsUser).toBe('number'); // the image's USER is a name: kubelet needs a number to check
  });

  it('the headless Service is what the Collector resolves, the PodDisruptionBudget and NetworkPolicy select the pods', () => {
    const labels = pod.metadata.labels as Record<string, string>;
    const headless = find('Service', sts.spec.serviceName);
    expect(headless.spec.clusterIP).toBe('None');
    expect(matches(headless.spec.selector, labels)).toBe(true);
    const scaleOut = parse(readFileSync(join(REPO_ROOT, 'deploy/otel-collector/scale-out.yaml'), 'utf8')) as {
      exporters: Record<string, { resolver: { dns: { hostname: string; port: number } } }>;
    };
    const dns = scaleOut.exporters['loadbalancing/otel-audit'].resolver.dns;
    expect(dns.hostname).toBe(`${headless.metadata.name}.${headless.metadata.namespace}.svc.cluster.local`);
    const containerPorts = Object.fromEntries((container.ports as Array<{ name: string; containerPort: number }>).map((p) => [p.name, p.containerPort]));
    const grpc = headless.spec.ports.find((p: { port: number }) => p.port === dns.port);
    expect(containerPorts[grpc.targetPort]).toBe(dns.port);
    for (const s of objects.filter((o) => o.kind === 'Service')) {
      expect(matches(s.spec.selector, labels), s.metadata.name).toBe(true);
      for (const p of s.spec.ports) expect(containerPorts[p.targetPort], `${s.metadata.name}:${p.name}`).toBeDefined();
    }
    const pdb = find('PodDisruptionBudget', 'otel-audit');
    expect(matches(pdb.spec.selector.matchLabels, labels)).toBe(true);
    expect(pdb.spec.maxUnavailable).toBe(1);
    const np = find('NetworkPolicy', 'otel-audit');
    expect(matches(np.spec.podSelector.matchLabels, labels)).toBe(true);
    expect(np.spec.policyTypes).toEqual(['Ingress', 'Egress']);
    const allowed = (np.spec.ingress as Array<{ ports: Array<{ port: number }> }>).flatMap((r) => r.ports.map((p) => p.port)).sort();
    expect(allowed).toEqual(Object.values(containerPorts).sort());
    const egress = (np.spec.egress as Array<{ ports: Array<{ port: number }> }>).flatMap((r) => r.ports.map((p) => p.port));
    const chPort = Number(new URL(find('Secret', 'otel-audit-clickhouse').stringData!['writer-url']).port);
    expect(egress).toEqual(expect.arrayContaining([53, chPort, 443]));
  });
});
