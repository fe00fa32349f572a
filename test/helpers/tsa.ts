/**
 * A real RFC 3161 timestamp authority on loopback, for tests: a throwaway CA and TSA certificate
 * (extendedKeyUsage = critical, timeStamping) made with Debian's openssl in a temporary
 * directory, and a tiny HTTP server that answers each `application/timestamp-query` POST with
 * `openssl ts -reply`.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface LocalTsa {
  /** http://127.0.0.1:PORT/tsr */
  endpoint: string;
  /** rfc3161+http://127.0.0.1:PORT/tsr */
  anchorUrl: string;
  /** The CA certificate the TSA certificate is issued by (PEM file). */
  caFile: string;
  /** The TSA's own certificate (PEM file). */
  certFile: string;
  dir: string;
  /** Requests answered. */
  requests: number;
  /** When set, every request gets this HTTP status instead (an outage). */
  failWith: number | null;
  close(): Promise<void>;
}

export async function openssl(args: string[], cwd: string): Promise<string> {
  const { stdout } = await run('openssl', args, { cwd });
  return stdout;
}

/** A CA and a certificate signed by it, in `dir` (names prefixed by `name`). */
export async function makeTsaCertificates(dir: string, name = 'tsa', keyType: 'rsa' | 'ec' = 'rsa'): Promise<{ caFile: string; certFile: string; keyFile: string }> {
  const key = keyType === 'rsa' ? ['-newkey', 'rsa:2048'] : ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'];
  await openssl(['req', '-x509', ...key, '-nodes', '-keyout', `${name}-ca.key`, '-out', `${name}-ca.pem`, '-days', '2', '-subj', `/CN=${name} test root`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], dir);
  await openssl(['req', ...key, '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name} test TSA`], dir);
  writeFileSync(join(dir, `${name}.ext`), 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=critical,timeStamping\n');
  await openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', `${name}-ca.pem`, '-CAkey', `${name}-ca.key`, '-CAcreateserial', '-out', `${name}.pem`, '-days', '2', '-extfile', `${name}.ext`], dir);
  return { caFile: join(dir, `${name}-ca.pem`), certFile: join(dir, `${name}.pem`), keyFile: join(dir, `${name}.key`) };
}

export async function startTsa(opts: { dir?: string; keyType?: 'rsa' | 'ec' } = {}): Promise<LocalTsa> {
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'tsa-'));
  const { caFile, certFile, keyFile } = await makeTsaCertificates(dir, 'tsa', opts.keyType);
  writeFileSync(join(dir, 'serial'), '01\n');
  const config = join(dir, 'tsa.cnf');
  writeFileSync(
    config,
    `[ tsa ]
default_tsa = tsa_config1

[ tsa_config1 ]
dir = ${dir}
serial = $dir/serial
crypto_device = builtin
signer_cert = ${certFile}
certs = ${caFile}
signer_key = ${keyFile}
signer_digest = sha256
default_policy = 1.2.3.4.1
other_policies = 1.2.3.4.5
digests = sha256, sha384, sha512
accuracy = secs:1
ordering = yes
tsa_name = yes
ess_cert_id_chain = no
ess_cert_id_alg = sha256
`,
  );
  let n = 0;
  // openssl updates the serial file per reply: one at a time.
  let queue: Promise<unknown> = Promise.resolve();
  const tsa: LocalTsa = {
    endpoint: '',
    anchorUrl: '',
    caFile,
    certFile,
    dir,
    requests: 0,
    failWith: null,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (tsa.failWith) {
        res.writeHead(tsa.failWith).end();
        return;
      }
      if (req.method !== 'POST' || req.headers['content-type'] !== 'application/timestamp-query') {
        res.writeHead(415).end();
        return;
      }
      const id = ++n;
      const q = join(dir, `q${id}.tsq`);
      const r = join(dir, `r${id}.tsr`);
      writeFileSync(q, Buffer.concat(chunks));
      queue = queue.then(async () => {
        try {
          await openssl(['ts', '-reply', '-config', config, '-queryfile', q, '-out', r], dir);
          tsa.requests++;
          res.writeHead(200, { 'content-type': 'application/timestamp-reply' }).end(readFileSync(r));
        } catch (err) {
          res.writeHead(500).end(String((err as Error).message));
        }
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  tsa.endpoint = `http://127.0.0.1:${port}/tsr`;
  tsa.anchorUrl = `rfc3161+${tsa.endpoint}`;
  return tsa;
}
