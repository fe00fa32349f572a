/**
 * RFC 3161 timestamps of checkpoints: `--anchor rfc3161+https://tsa.example/` (or `rfc3161+http://`).
 *
 * For each checkpoint the bridge sends a TimeStampReq whose message imprint is the SHA-256 of the
 * checkpoint's signed bytes (`checkpointSigningPayload`, the text auditors re-implement), with a
 * random 64-bit nonce and certReq = true, POSTed as `application/timestamp-query`. The reply's
 * token (a CMS SignedData over a TSTInfo) is checked at once and stored INSIDE the anchor record,
 * `timestamps: [{authority, nonce, token}]`, before the record is written to any anchor that
 * stores records. Why there and not in a column or a file of its own: the record is what the
 * other anchors keep (with S3 Object Lock, beyond anyone's reach), it is written once and never
 * changed, and the token then travels with the checkpoint it vouches for. A ClickHouse column
 * would sit exactly where the attacker is.
 *
 * What a token proves: that this exact checkpoint existed at `genTime`, on the word of a third
 * party that the database administrator does not control. `verify` checks the imprint, the nonce,
 * the signature (against the TSA certificate carried in the token, and against a pinned CA when
 * `?ca=FILE` is set) and that genTime is not long after the events the checkpoint covers: history
 * rewritten and re-signed later gets a late timestamp, and a timestamp cannot be backdated.
 * It does not prove that a checkpoint was NOT deleted: a TSA keeps nothing (README, threat model).
 *
 * Written against node:crypto (signature checks, X509Certificate) and internal/der.ts: the five
 * ASN.1 structures involved are small, and Node already verifies certificates and signatures.
 */
import { createHash, randomBytes, verify as verifySignature, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { checkpointSigningPayload, type Checkpoint } from '../checkpoint.ts';
import type { AnchorRecord, AnchorSink, AnchorTimestamp } from '../anchor.ts';
import {
  children,
  ctx,
  DerError,
  encode,
  encodeBoolean,
  encodeNull,
  encodeOid,
  encodeUnsigned,
  expectTag,
  generalizedTime,
  integerValue,
  oidToString,
  parseDer,
  TAG,
  type DerNode,
} from './internal/der.ts';

const OID = {
  sha1: '1.3.14.3.2.26',
  sha256: '2.16.840.1.101.3.4.2.1',
  sha384: '2.16.840.1.101.3.4.2.2',
  sha512: '2.16.840.1.101.3.4.2.3',
  signedData: '1.2.840.113549.1.7.2',
  tstInfo: '1.2.840.113549.1.9.16.1.4',
  contentType: '1.2.840.113549.1.9.3',
  messageDigest: '1.2.840.113549.1.9.4',
  signingCertificate: '1.2.840.113549.1.9.16.2.12',
  signingCertificateV2: '1.2.840.113549.1.9.16.2.47',
  extKeyUsage: '2.5.29.37',
  timeStamping: '1.3.6.1.5.5.7.3.8',
} as const;

const DIGESTS: Record<string, string> = {
  [OID.sha1]: 'sha1',
  [OID.sha256]: 'sha256',
  [OID.sha384]: 'sha384',
  [OID.sha512]: 'sha512',
};

/** Signature algorithms: the digest they imply, or null when the SignerInfo's digestAlgorithm decides. */
const SIGNATURES: Record<string, { digest: string | null; kind: 'rsa' | 'ecdsa' | 'ed25519' }> = {
  '1.2.840.113549.1.1.1': { digest: null, kind: 'rsa' },
  '1.2.840.113549.1.1.5': { digest: 'sha1', kind: 'rsa' },
  '1.2.840.113549.1.1.11': { digest: 'sha256', kind: 'rsa' },
  '1.2.840.113549.1.1.12': { digest: 'sha384', kind: 'rsa' },
  '1.2.840.113549.1.1.13': { digest: 'sha512', kind: 'rsa' },
  '1.2.840.10045.2.1': { digest: null, kind: 'ecdsa' },
  '1.2.840.10045.4.3.2': { digest: 'sha256', kind: 'ecdsa' },
  '1.2.840.10045.4.3.3': { digest: 'sha384', kind: 'ecdsa' },
  '1.2.840.10045.4.3.4': { digest: 'sha512', kind: 'ecdsa' },
  '1.3.101.112': { digest: null, kind: 'ed25519' },
};

/** The message imprint of a checkpoint: SHA-256 of its signed bytes. */
export function checkpointImprint(cp: Checkpoint): Buffer {
  return createHash('sha256').update(checkpointSigningPayload(cp)).digest();
}

/** A DER TimeStampReq (RFC 3161 §2.4.1) for a SHA-256 imprint, with a nonce and certReq = true. */
export function timestampRequest(imprint: Buffer, nonce: bigint = BigInt(`0x${randomBytes(8).toString('hex')}`)): { der: Buffer; nonce: bigint } {
  if (imprint.length !== 32) throw new TypeError('a SHA-256 imprint is 32 bytes');
  const nonceHex = nonce.toString(16);
  const der = encode(
    TAG.SEQUENCE,
    encodeUnsigned(Buffer.from([1])),
    encode(TAG.SEQUENCE, encode(TAG.SEQUENCE, encodeOid(OID.sha256), encodeNull()), encode(TAG.OCTET_STRING, imprint)),
    encodeUnsigned(Buffer.from(nonceHex.length % 2 ? `0${nonceHex}` : nonceHex, 'hex')),
    encodeBoolean(true),
  );
  return { der, nonce };
}

export interface TimestampResponse {
  /** PKIStatus: 0 granted, 1 granted with modifications, 2+ refused. */
  status: number;
  statusText: string;
  /** The TimeStampToken (a CMS ContentInfo), DER; null when refused. */
  token: Buffer | null;
}

/** Parses a TimeStampResp (RFC 3161 §2.4.2). */
export function parseTimestampResponse(der: Buffer): TimestampResponse {
  const resp = children(expectTag(parseDer(der), TAG.SEQUENCE, 'TimeStampResp'));
  const statusInfo = children(expectTag(resp[0], TAG.SEQUENCE, 'PKIStatusInfo'));
  const status = Number(integerValue(statusInfo[0]));
  const text: string[] = [];
  for (const n of statusInfo.slice(1)) {
    if (n.tag === TAG.SEQUENCE) for (const s of children(n)) text.push(s.value.toString('utf8'));
    if (n.tag === TAG.BIT_STRING) text.push(`failInfo 0x${n.value.subarray(1).toString('hex')}`);
  }
  return { status, statusText: text.join('; '), token: resp[1] ? Buffer.from(resp[1].raw) : null };
}

export interface TokenInfo {
  genTime: Date;
  policy: string;
  serial: bigint;
  nonce: bigint | null;
  imprintAlgorithm: string;
  imprint: Buffer;
  /** The TSA certificate that signed the token. */
  signer: { subject: string; fingerprint256: string };
}

export interface TokenCheck {
  info: TokenInfo | null;
  /** Empty when the token is valid for this imprint and nonce (and chains to the pinned CA, if any). */
  errors: string[];
}

function attributeMap(signedAttrs: DerNode): Map<string, DerNode[]> {
  const out = new Map<string, DerNode[]>();
  for (const attr of children(signedAttrs)) {
    const [type, values] = children(expectTag(attr, TAG.SEQUENCE, 'attribute'));
    out.set(oidToString(type), children(expectTag(values, TAG.SET, 'attribute values')));
  }
  return out;
}

/** The extended key usages of a certificate and whether that extension is critical. */
function extendedKeyUsage(cert: X509Certificate): { purposes: string[]; critical: boolean } | null {
  const tbs = children(children(parseDer(cert.raw))[0]);
  const exts = tbs.find((n) => n.tag === ctx(3));
  if (!exts) return null;
  for (const ext of children(children(exts)[0])) {
    const parts = children(ext);
    if (oidToString(parts[0]) !== OID.extKeyUsage) continue;
    const critical = parts.length === 3 && parts[1].tag === TAG.BOOLEAN && parts[1].value[0] !== 0;
    const value = parts[parts.length - 1];
    return { purposes: children(parseDer(value.value)).map(oidToString), critical };
  }
  return null;
}

/** Does `cert` chain to one of `trusted` (itself, or through the token's intermediate certificates)? */
function chainsTo(cert: X509Certificate, trusted: X509Certificate[], pool: X509Certificate[], depth = 0): boolean {
  if (depth > 5) return false;
  if (trusted.some((t) => t.fingerprint256 === cert.fingerprint256)) return true;
  for (const issuer of [...trusted, ...pool]) {
    if (issuer.fingerprint256 === cert.fingerprint256) continue;
    if (!cert.checkIssued(issuer) || !cert.verify(issuer.publicKey)) continue;
    if (trusted.some((t) => t.fingerprint256 === issuer.fingerprint256)) return true;
    if (chainsTo(issuer, trusted, pool, depth + 1)) return true;
  }
  return false;
}

/**
 * Checks a TimeStampToken against the imprint and nonce it must carry. Without `trusted`, the
 * signature is checked against the TSA certificate inside the token (which proves integrity, not
 * who the TSA is); with it, that certificate must also chain to one of them.
 */
export function checkTimestampToken(token: Buffer, expect: { imprint: Buffer; nonce?: bigint; trusted?: X509Certificate[] }): TokenCheck {
  const errors: string[] = [];
  let info: TokenInfo | null = null;
  try {
    const ci = children(expectTag(parseDer(token), TAG.SEQUENCE, 'ContentInfo'));
    if (oidToString(ci[0]) !== OID.signedData) throw new DerError('the token is not CMS SignedData');
    const sd = children(expectTag(children(expectTag(ci[1], ctx(0), 'content'))[0], TAG.SEQUENCE, 'SignedData'));
    const encap = children(expectTag(sd[2], TAG.SEQUENCE, 'encapContentInfo'));
    if (oidToString(encap[0]) !== OID.tstInfo) throw new DerError('the signed content is not a TSTInfo');
    const tstDer = expectTag(children(expectTag(encap[1], ctx(0), 'eContent'))[0], TAG.OCTET_STRING, 'eContent').value;
    const certs: X509Certificate[] = [];
    let signerInfos: DerNode | undefined;
    for (const n of sd.slice(3)) {
      if (n.tag === ctx(0)) for (const c of children(n)) if (c.tag === TAG.SEQUENCE) certs.push(new X509Certificate(c.raw));
      if (n.tag === TAG.SET) signerInfos = n;
    }

    // TSTInfo (§2.4.2)
    const tst = children(expectTag(parseDer(tstDer), TAG.SEQUENCE, 'TSTInfo'));
    const mi = children(expectTag(tst[2], TAG.SEQUENCE, 'messageImprint'));
    const imprintAlgorithm = oidToString(children(mi[0])[0]);
    const imprint = expectTag(mi[1], TAG.OCTET_STRING, 'hashedMessage').value;
    let nonce: bigint | null = null;
    for (const n of tst.slice(5)) if (n.tag === TAG.INTEGER) nonce = integerValue(n);
    const genTime = generalizedTime(tst[4]);

    // The one SignerInfo (§2.4.1: the TSA signs alone) and its signed attributes.
    const signers = signerInfos ? children(signerInfos) : [];
    if (signers.length !== 1) throw new DerError(`expected one SignerInfo, found ${signers.length}`);
    const si = children(expectTag(signers[0], TAG.SEQUENCE, 'SignerInfo'));
    const digestName = DIGESTS[oidToString(children(si[2])[0])];
    if (!digestName) throw new DerError('unsupported digest algorithm');
    const signedAttrs = si[3];
    if (signedAttrs?.tag !== ctx(0)) throw new DerError('the SignerInfo has no signed attributes');
    const sigAlgOid = oidToString(children(expectTag(si[4], TAG.SEQUENCE, 'signatureAlgorithm'))[0]);
    const signature = expectTag(si[5], TAG.OCTET_STRING, 'signature').value;
    const attrs = attributeMap(signedAttrs);
    const contentType = attrs.get(OID.contentType)?.[0];
    if (!contentType || oidToString(contentType) !== OID.tstInfo) errors.push('the signed content-type attribute is not TSTInfo');
    const md = attrs.get(OID.messageDigest)?.[0];
    if (!md || !md.value.equals(createHash(digestName).update(tstDer).digest())) errors.push('the signed message digest does not match the TSTInfo');

    // The signer's certificate, named by the ESS signing-certificate attribute (RFC 5816 / 2634).
    let signer: X509Certificate | undefined;
    const v2 = attrs.get(OID.signingCertificateV2)?.[0];
    const v1 = attrs.get(OID.signingCertificate)?.[0];
    if (v2 || v1) {
      const first = children(children(children((v2 ?? v1)!)[0])[0]);
      let alg = v2 ? 'sha256' : 'sha1';
      let hashNode = first[0];
      if (v2 && first[0].tag === TAG.SEQUENCE) {
        alg = DIGESTS[oidToString(children(first[0])[0])] ?? '';
        hashNode = first[1];
      }
      if (!alg) throw new DerError('unsupported ESS certificate hash algorithm');
      const want = expectTag(hashNode, TAG.OCTET_STRING, 'ESS certHash').value;
      signer = certs.find((c) => createHash(alg).update(c.raw).digest().equals(want));
    } else {
      errors.push('the token has no signing-certificate attribute');
    }
    if (!signer) throw new DerError('the token does not carry the certificate of its signer (was certReq set?)');
    if (si[1].tag === TAG.SEQUENCE) {
      const serial = integerValue(children(si[1])[1]);
      if (serial !== BigInt(`0x${signer.serialNumber}`)) errors.push('the SignerInfo names another certificate than the signing-certificate attribute');
    }

    // The signature over the DER of the signed attributes, as a SET (RFC 5652 §5.4).
    const alg = SIGNATURES[sigAlgOid];
    if (!alg) throw new DerError(`unsupported signature algorithm ${sigAlgOid}`);
    const data = Buffer.concat([Buffer.from([TAG.SET]), signedAttrs.raw.subarray(1)]);
    const ok = alg.kind === 'ed25519' ? verifySignature(null, data, signer.publicKey, signature) : verifySignature(alg.digest ?? digestName, data, signer.publicKey, signature);
    if (!ok) errors.push('the TSA signature does not verify');

    const eku = extendedKeyUsage(signer);
    if (!eku || eku.purposes.length !== 1 || eku.purposes[0] !== OID.timeStamping || !eku.critical) {
      errors.push('the signing certificate is not a time-stamping certificate (extendedKeyUsage must be critical and timeStamping only)');
    }
    if (genTime < signer.validFromDate || genTime > signer.validToDate) errors.push('genTime is outside the TSA certificate\'s validity');
    if (expect.trusted && !chainsTo(signer, expect.trusted, certs)) errors.push(`the TSA certificate (${signer.subject.replace(/\n/g, ', ')}) does not chain to the pinned CA`);

    if (imprintAlgorithm !== OID.sha256 || !imprint.equals(expect.imprint)) errors.push('the message imprint is not the SHA-256 of this checkpoint');
    if (expect.nonce !== undefined && nonce !== expect.nonce) errors.push('the nonce is not the one the request sent');
    info = {
      genTime,
      policy: oidToString(tst[1]),
      serial: integerValue(tst[3]),
      nonce,
      imprintAlgorithm,
      imprint: Buffer.from(imprint),
      signer: { subject: signer.subject.replace(/\n/g, ', '), fingerprint256: signer.fingerprint256 },
    };
  } catch (err) {
    errors.push(err instanceof DerError ? `malformed token: ${err.message}` : (err as Error).message);
  }
  return { info, errors };
}

/** Checks one stored timestamp of a record (the nonce as stored beside the token). */
export function checkAnchorTimestamp(ts: AnchorTimestamp, cp: Checkpoint, trusted?: X509Certificate[]): TokenCheck {
  if (typeof ts?.token !== 'string' || typeof ts.nonce !== 'string' || !/^[0-9a-f]+$/.test(ts.nonce)) {
    return { info: null, errors: ['the timestamp entry is malformed'] };
  }
  let imprint: Buffer;
  try {
    imprint = checkpointImprint(cp);
  } catch (err) {
    return { info: null, errors: [(err as Error).message] };
  }
  return checkTimestampToken(Buffer.from(ts.token, 'base64'), { imprint, nonce: BigInt(`0x${ts.nonce}`), trusted });
}

export interface TimestampAnchorOptions {
  /** The anchor as configured: rfc3161+https://… */
  url: string;
  /** The TSA's own http(s) URL. */
  endpoint: string;
  /** PEM file of the CA certificate(s) the TSA certificate must chain to. */
  caFile?: string;
  timeoutMs: number;
}

export function loadCertificates(file: string): X509Certificate[] {
  const text = readFileSync(file, 'utf8');
  const pems = text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (pems.length === 0) throw new Error(`${file} holds no PEM certificate`);
  return pems.map((p) => new X509Certificate(p));
}

/**
 * The TSA as an anchor. It holds no records of its own: `endorse` adds its token to the record,
 * which the anchors that store records then keep.
 */
export class TimestampAuthorityAnchor implements AnchorSink {
  readonly kind = 'rfc3161' as const;
  readonly url: string;
  readonly external = true;
  readonly holdsRecords = false;
  readonly endpoint: string;
  readonly trusted: X509Certificate[] | undefined;
  private readonly timeoutMs: number;

  constructor(opts: TimestampAnchorOptions) {
    this.url = opts.url;
    this.endpoint = opts.endpoint;
    this.timeoutMs = opts.timeoutMs;
    this.trusted = opts.caFile ? loadCertificates(opts.caFile) : undefined;
  }

  /** Asks the TSA for a token over the record's checkpoint; checks it; adds it to the record. */
  async endorse(record: AnchorRecord): Promise<void> {
    const imprint = checkpointImprint(record.checkpoint);
    const req = timestampRequest(imprint);
    let res: Response;
    try {
      res = await fetch(this.endpoint, {
        method: 'POST',
        headers: { 'content-type': 'application/timestamp-query', accept: 'application/timestamp-reply' },
        body: req.der,
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
      throw new Error(`the timestamp authority ${this.endpoint} is unreachable: ${cause}`);
    }
    const body = Buffer.from(await res.arrayBuffer());
    if (!res.ok) throw new Error(`the timestamp authority ${this.endpoint} answered HTTP ${res.status}`);
    const reply = parseTimestampResponse(body);
    if (reply.status > 1 || !reply.token) throw new Error(`the timestamp authority ${this.endpoint} refused: status ${reply.status}${reply.statusText ? ` (${reply.statusText})` : ''}`);
    const check = checkTimestampToken(reply.token, { imprint, nonce: req.nonce, trusted: this.trusted });
    if (check.errors.length) throw new Error(`the timestamp authority ${this.endpoint} returned an unusable token: ${check.errors.join('; ')}`);
    (record.timestamps ??= []).push({ authority: this.endpoint, nonce: req.nonce.toString(16), token: reply.token.toString('base64') });
  }

  async write(): Promise<void> {}
  async sizes(): Promise<number[]> {
    return [];
  }
  async readAll(): Promise<{ records: []; errors: [] }> {
    return { records: [], errors: [] };
  }
  async readAt(): Promise<AnchorRecord[]> {
    return [];
  }
  async latest(): Promise<null> {
    return null;
  }
}
