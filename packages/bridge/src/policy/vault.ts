/**
 * The subject key store: one AES-256 data key per (tenant, subject), outside ClickHouse, so
 * that deleting a key (crypto-shredding) makes that subject's sealed content unreadable while
 * the stored rows, and therefore the hash chain, stay exactly as they were.
 *
 * Files: `<dir>/<key id>.key` (mode 0600, directory 0700), where the key id is
 * hex(HMAC-SHA256(id key, tenant || 0x00 || subject)): the directory names no subject. A file
 * holds {"v":1,"kid":"<16 hex>","key":"<base64 of 32 bytes>"}; `kid` is a random generation id,
 * so a key created again for the same subject after an erasure never opens older content.
 *
 * `content_sealed` (base64) = version (1 byte, 1) | flags (1 byte; bit 0: deflate-raw before
 * encryption) | key id (32 bytes) | kid (8 bytes) | nonce (12 bytes) | GCM tag (16 bytes) |
 * ciphertext. AES-256-GCM, additional data = "otel-audit/content_sealed/v1\n" || event id ||
 * the 54 header bytes, so a blob copied onto another row does not open.
 *
 * Erasure also leaves `<dir>/<key id>.erased`, {"v":1,"erased_at":<epoch ms>}: content of events
 * that arrived before that moment and was not sealed yet (held for its batch, waiting for its
 * ancestors, or replayed from the write-ahead log after a restart) is never sealed, not even
 * under a new key. Only what arrives afterwards is sealed again, under a new key.
 *
 * `<dir>/tenants` lists the tenants whose events reached the bridge (one JSON string per line,
 * appended before their request is acknowledged): an erasure that names no tenant covers each
 * of them, whether its events are stored yet or not (pseudonyms, and so key ids, are per tenant).
 */
import { createCipheriv, createDecipheriv, createHmac, createSecretKey, randomBytes, randomFillSync, type KeyObject } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, linkSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, unlinkSync, writeSync } from 'node:fs';
import { link, open, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { fsyncPath, fsyncPathAsync } from '../internal/durable.ts';

const VERSION = 1;
const FLAG_DEFLATE = 1;
const HEADER = 2 + 32 + 8 + 12 + 16;
const AAD_DOMAIN = 'otel-audit/content_sealed/v1\n';
/** Below this, compressing costs more than it saves. */
const DEFLATE_MIN = 512;
/**
 * Level 1 with a 4 KiB window and small hash tables: sealed content is a few KiB, and zlib
 * sets up (and zeroes) its state on every call, ~270 KiB at the defaults. Inflate reads any
 * window size.
 */
const DEFLATE_OPTIONS = { level: 1, windowBits: 12, memLevel: 4 };
const CACHE_LIMIT = 100_000;

interface DataKey {
  kid: Buffer;
  key: Buffer;
  /** The key prepared once for node:crypto (preparing a raw key per call is costly). */
  keyObject?: KeyObject;
}

export type OpenResult =
  | { status: 'ok'; plaintext: Buffer; keyId: string }
  | { status: 'erased'; keyId: string }
  | { status: 'invalid'; reason: string };

export class SubjectVault {
  readonly dir: string;
  private readonly idKey: Buffer;
  /** Data keys used for sealing, by key id (bounded; reads always go to the file). */
  private readonly cache = new Map<string, DataKey>();
  /** Key ids by tenant and subject (an HMAC each; subjects repeat). */
  private readonly ids = new Map<string, string>();
  /** Keys being read or created off the event loop (`prepare`), by key id. */
  private readonly loading = new Map<string, Promise<void>>();
  /** When each erased key id was erased (epoch ms), from the `.erased` files. */
  private readonly erasedAt = new Map<string, number>();
  /** Counts erasures: a key read before one must not be cached after it. */
  private erasures = 0;
  /** The tenants listed in `<dir>/tenants`, and those being appended. */
  private readonly known = new Set<string>();
  /** Appends to `<dir>/tenants`, one after another. */
  private tenantsWritten: Promise<void> = Promise.resolve();
  /** Whether `<dir>/tenants` is in the directory durably (its first append syncs the directory too). */
  private tenantsFileSynced = false;

  /** `idKey` names the files (an HMAC key; derived from the master key in privacy.ts). */
  constructor(dir: string, idKey: Buffer) {
    this.dir = dir;
    this.idKey = idKey;
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    // A key written but not linked into place when the process stopped: never a key.
    for (const f of readdirSync(dir)) {
      if (f.endsWith('.tmp')) rmSync(join(dir, f), { force: true });
      else if (f.endsWith('.erased')) this.erasedAt.set(f.slice(0, -'.erased'.length), parseErasure(join(dir, f)));
    }
    if (existsSync(this.tenantsFile)) {
      this.tenantsFileSynced = true;
      for (const line of readFileSync(this.tenantsFile, 'utf8').split('\n')) {
        // A line torn by a crash was never acknowledged: its request is replayed and notes it again.
        try {
          const t: unknown = JSON.parse(line);
          if (typeof t === 'string') this.known.add(t);
        } catch {
          /* a torn or empty line */
        }
      }
    }
  }

  listsTenant(tenant: string): boolean {
    return this.known.has(tenant);
  }

  /** The tenants whose events reached the bridge (`noteTenants`), since it first ran with this store. */
  tenants(): string[] {
    return [...this.known];
  }

  /**
   * Records the tenants not listed yet; resolves once they are durable (null when none is new).
   * The pipeline calls it for each request and acknowledges the request only after.
   */
  noteTenants(tenants: Iterable<string>): Promise<void> | null {
    let fresh: string[] | null = null;
    for (const t of tenants) {
      if (this.known.has(t)) continue;
      this.known.add(t);
      (fresh ??= []).push(t);
    }
    if (!fresh) return null;
    const lines = fresh.map((t) => JSON.stringify(t) + '\n').join('');
    const written = this.tenantsWritten.then(async () => {
      const fd = await open(this.tenantsFile, 'a', 0o600);
      try {
        await fd.write(lines);
        await fd.sync();
      } finally {
        await fd.close();
      }
      if (!this.tenantsFileSynced) {
        await fsyncPathAsync(this.dir);
        this.tenantsFileSynced = true;
      }
    });
    this.tenantsWritten = written.catch(() => {});
    // Not durable: listed again by the request that is re-sent.
    return written.catch((err: Error) => {
      for (const t of fresh) this.known.delete(t);
      throw new Error(`cannot record new tenants in ${this.tenantsFile}: ${err.message}`);
    });
  }

  private get tenantsFile(): string {
    return join(this.dir, 'tenants');
  }

  keyId(tenant: string, subject: string): string {
    const k = `${tenant}\0${subject}`;
    let id = this.ids.get(k);
    if (id === undefined) {
      id = createHmac('sha256', this.idKey).update(tenant).update('\0').update(subject).digest('hex');
      if (this.ids.size >= CACHE_LIMIT) this.ids.clear();
      this.ids.set(k, id);
    }
    return id;
  }

  /**
   * Encrypts raw content for one event under its subject's data key (created on first use);
   * null when the subject was erased after the event arrived (`arrivedAt`, epoch ms).
   */
  seal(tenant: string, subject: string, eventId: string, plaintext: string, arrivedAt: number): string | null {
    const k = this.sealingKey(tenant, subject, arrivedAt);
    return k && sealWith(k, eventId, plaintext);
  }

  /**
   * The subject's data key for sealing (created durably on first use), to seal with `sealWith`
   * elsewhere: the pipeline seals on its worker threads, which never touch the key files. Null
   * for content of an event that arrived (`arrivedAt`, epoch ms) before its subject was erased.
   */
  sealingKey(tenant: string, subject: string, arrivedAt: number): SealingKey | null {
    const keyId = this.keyId(tenant, subject);
    if (this.erasedSince(keyId, arrivedAt)) return null;
    const dk = this.dataKey(keyId);
    return { keyId, kid: dk.kid, key: dk.key, keyObject: (dk.keyObject ??= createSecretKey(dk.key)) };
  }

  /** Whether the key id was erased at or after `arrivedAt` (epoch ms). */
  private erasedSince(keyId: string, arrivedAt: number): boolean {
    const at = this.erasedAt.get(keyId);
    return at !== undefined && at >= arrivedAt;
  }

  /**
   * Reads or creates (durably) the data keys of these subjects off the event loop, so that
   * `sealingKey` then finds them cached; null when all of them are cached already. Creating a
   * key takes two fsyncs, which on the main thread stalled every request for each new subject.
   */
  prepare(subjects: ReadonlyArray<readonly [tenant: string, subject: string, arrivedAt: number]>): Promise<void> | null {
    let waits: Array<Promise<void>> | null = null;
    for (const [tenant, subject, arrivedAt] of subjects) {
      const keyId = this.keyId(tenant, subject);
      if (this.cache.has(keyId) || this.erasedSince(keyId, arrivedAt)) continue;
      let p = this.loading.get(keyId);
      if (!p) {
        p = this.loadOrCreate(keyId).finally(() => this.loading.delete(keyId));
        this.loading.set(keyId, p);
      }
      (waits ??= []).push(p);
    }
    return waits && Promise.all(waits).then(() => undefined);
  }

  /** The key id a sealed blob names, or null when it is not one. */
  static keyIdOf(blob: string): string | null {
    const b = Buffer.from(blob, 'base64');
    return b.length >= HEADER && b[0] === VERSION ? b.subarray(2, 34).toString('hex') : null;
  }

  /** Decrypts an event's sealed content; 'erased' when its subject's key is gone. */
  open(blob: string, eventId: string): OpenResult {
    const b = Buffer.from(blob, 'base64');
    if (b.length < HEADER || b[0] !== VERSION) return { status: 'invalid', reason: 'not a sealed-content blob of a known version' };
    const header = Buffer.from(b.subarray(0, HEADER));
    const keyId = header.subarray(2, 34).toString('hex');
    const kid = header.subarray(34, 42);
    const tag = Buffer.from(header.subarray(54, HEADER));
    header.fill(0, 54, HEADER);
    const dk = this.readKey(keyId);
    if (!dk || !dk.kid.equals(kid)) return { status: 'erased', keyId };
    try {
      const d = createDecipheriv('aes-256-gcm', dk.key, header.subarray(42, 54));
      d.setAAD(aad(eventId, header));
      d.setAuthTag(tag);
      let body = Buffer.concat([d.update(b.subarray(HEADER)), d.final()]);
      if (header[1] & FLAG_DEFLATE) body = inflateRawSync(body);
      return { status: 'ok', plaintext: body, keyId };
    } catch {
      return { status: 'invalid', reason: 'the sealed content fails authentication (modified, or moved from another event)' };
    }
  }

  /**
   * Deletes the subject's data key (crypto-shredding), and records when: content of events
   * that arrived until now is not sealed any more, even if it is not sealed yet. True when
   * there was a key. The record is durable before the key goes, so that a crash in between
   * leaves the key (the erasure did not answer; it is asked again), never in-flight content
   * sealed under a new key.
   */
  erase(tenant: string, subject: string, now = Date.now()): boolean {
    const keyId = this.keyId(tenant, subject);
    const at = Math.max(now, this.erasedAt.get(keyId) ?? 0);
    const tmp = this.tempFile(keyId);
    const fd = openSync(tmp, 'wx', 0o600);
    try {
      writeSync(fd, JSON.stringify({ v: 1, erased_at: at }) + '\n');
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, join(this.dir, `${keyId}.erased`));
    this.erasedAt.set(keyId, at);
    this.erasures++;
    this.cache.delete(keyId);
    let had = true;
    try {
      unlinkSync(this.file(keyId));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      had = false;
    }
    fsyncPath(this.dir);
    return had;
  }

  has(tenant: string, subject: string): boolean {
    return existsSync(this.file(this.keyId(tenant, subject)));
  }

  private file(keyId: string): string {
    return join(this.dir, `${keyId}.key`);
  }

  private readKey(keyId: string): DataKey | null {
    let text: string;
    try {
      text = readFileSync(this.file(keyId), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
    return parseKey(keyId, text);
  }

  private async readKeyAsync(keyId: string): Promise<DataKey | null> {
    let text: string;
    try {
      text = await readFile(this.file(keyId), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
    return parseKey(keyId, text);
  }

  /** The data key for sealing: cached, else read, else created durably before first use. */
  private dataKey(keyId: string): DataKey {
    const cached = this.cache.get(keyId);
    if (cached) return cached;
    let dk = this.readKey(keyId);
    if (!dk) {
      const made = newKey();
      const tmp = this.tempFile(keyId);
      const fd = openSync(tmp, 'wx', 0o600);
      try {
        writeSync(fd, made.text);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      try {
        linkSync(tmp, this.file(keyId));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        return this.dataKey(keyId); // created meanwhile: that one is the key
      } finally {
        unlinkSync(tmp);
      }
      // The key must survive a crash before any row sealed with it is stored.
      fsyncPath(this.dir);
      dk = made.dk;
    }
    return this.remember(keyId, dk);
  }

  /** `dataKey` off the event loop: the same files, the same rules. */
  private async loadOrCreate(keyId: string): Promise<void> {
    const erasures = this.erasures;
    let dk = await this.readKeyAsync(keyId);
    if (!dk) {
      const made = newKey();
      const tmp = this.tempFile(keyId);
      const fh = await open(tmp, 'wx', 0o600);
      try {
        await fh.writeFile(made.text);
        await fh.sync();
      } finally {
        await fh.close();
      }
      try {
        await link(tmp, this.file(keyId));
        await fsyncPathAsync(this.dir);
        dk = made.dk;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        dk = await this.readKeyAsync(keyId);
        if (!dk) throw new Error(`subject key file ${keyId}.key vanished while it was created`, { cause: err });
      } finally {
        await unlink(tmp);
      }
    }
    // A key read before an erasure of it may be the erased one: left for `dataKey` to read again.
    if (erasures !== this.erasures && this.erasedAt.has(keyId)) return;
    if (!this.cache.has(keyId)) this.remember(keyId, dk);
  }

  private remember(keyId: string, dk: DataKey): DataKey {
    if (this.cache.size >= CACHE_LIMIT) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(keyId, dk);
    return dk;
  }

  /**
   * A key is written to a file of its own, then linked into place: its name never shows a
   * partly written key, and `link` fails when the key exists (created by someone else meanwhile).
   */
  private tempFile(keyId: string): string {
    return join(this.dir, `${keyId}.${randomBytes(6).toString('hex')}.tmp`);
  }
}

/** The time an `.erased` file records; a file that does not parse counts as erased now. */
function parseErasure(file: string): number {
  try {
    const j = JSON.parse(readFileSync(file, 'utf8')) as { v: number; erased_at: number };
    if (j.v === 1 && Number.isSafeInteger(j.erased_at)) return j.erased_at;
  } catch {
    // below
  }
  return Date.now();
}

function parseKey(keyId: string, text: string): DataKey {
  const j = JSON.parse(text) as { v: number; kid: string; key: string };
  const key = Buffer.from(j.key, 'base64');
  if (j.v !== 1 || key.length !== 32 || !/^[0-9a-f]{16}$/.test(j.kid)) throw new Error(`subject key file ${keyId}.key is malformed`);
  return { kid: Buffer.from(j.kid, 'hex'), key };
}

/** A new data key and its file's text. */
function newKey(): { dk: DataKey; text: string } {
  const dk = { kid: randomBytes(8), key: randomBytes(32) };
  return { dk, text: JSON.stringify({ v: 1, kid: dk.kid.toString('hex'), key: dk.key.toString('base64') }) + '\n' };
}

/** A subject's data key, as `SubjectVault.sealingKey` gives it. */
export interface SealingKey {
  /** hex of the 32-byte key id (names the key file). */
  keyId: string;
  /** The key's 8-byte generation id. */
  kid: Uint8Array;
  key: Uint8Array;
  /** The key prepared for node:crypto (not sent to other threads; made again there). */
  keyObject?: KeyObject;
}

/** `content_sealed` of one event (format above): deflate-raw when worth it, AES-256-GCM. */
export function sealWith(k: SealingKey, eventId: string, plaintext: string): string {
  let body = Buffer.from(plaintext, 'utf8');
  let flags = 0;
  if (body.length >= DEFLATE_MIN) {
    body = deflateRawSync(body, DEFLATE_OPTIONS);
    flags |= FLAG_DEFLATE;
  }
  const nonce = nextNonce();
  const header = Buffer.alloc(HEADER);
  header[0] = VERSION;
  header[1] = flags;
  header.write(k.keyId, 2, 32, 'hex');
  header.set(k.kid, 34);
  nonce.copy(header, 42);
  const cipher = createCipheriv('aes-256-gcm', k.keyObject ?? createSecretKey(k.key), nonce);
  cipher.setAAD(aad(eventId, header));
  const ct = Buffer.concat([cipher.update(body), cipher.final()]);
  cipher.getAuthTag().copy(header, 54);
  return Buffer.concat([header, ct]).toString('base64');
}

function aad(eventId: string, header: Buffer): Buffer {
  return Buffer.concat([Buffer.from(AAD_DOMAIN + eventId, 'utf8'), header]);
}


/**
 * Random 96-bit GCM nonces, drawn from a pool refilled in bulk: one small randomBytes call
 * per event cost more than the encryption itself.
 */
const NONCE_POOL = Buffer.alloc(12 * 4096);
let noncePos = NONCE_POOL.length;
function nextNonce(): Buffer {
  if (noncePos === NONCE_POOL.length) {
    randomFillSync(NONCE_POOL);
    noncePos = 0;
  }
  const n = Buffer.from(NONCE_POOL.subarray(noncePos, noncePos + 12));
  noncePos += 12;
  return n;
}
