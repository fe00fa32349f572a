import { hash } from 'node:crypto';

/**
 * The ids of recently chained events, so that a span re-sent by an exporter (after a timeout,
 * or after the bridge restarted) is not stored twice. Bounded: the oldest ids are forgotten
 * first. Seeded from ClickHouse at start (Store.recentEventIds), so the window survives restarts.
 *
 * Ids are kept as 16 bytes each in typed arrays (a ring in arrival order and an open-addressing
 * index), not as strings in a Set: half a million strings cost ~45 MiB of heap that every major
 * garbage collection walked; this costs 12 MiB that it does not. An event id is 32 hex digits
 * (intake/intake.ts `eventId`) and is packed as is; any other id is packed as the first 16
 * bytes of its SHA-256.
 */
export class RecentIds {
  readonly capacity: number;
  /** Four 32-bit words per id, in arrival order; slot `count % capacity` is the next. */
  private readonly ring: Uint32Array;
  /** Linear probing: ring slot + 1, or 0 for empty. At most half full. */
  private readonly index: Int32Array;
  private readonly mask: number;
  private count = 0;
  private readonly key = new Uint32Array(4);

  constructor(capacity: number) {
    if (!(Number.isSafeInteger(capacity) && capacity >= 1 && capacity <= 2 ** 28)) throw new RangeError(`RecentIds: capacity must be 1 to 2^28, got ${capacity}`);
    this.capacity = capacity;
    this.ring = new Uint32Array(capacity * 4);
    let size = 8;
    while (size < capacity * 2) size *= 2;
    this.index = new Int32Array(size);
    this.mask = size - 1;
  }

  has(id: string): boolean {
    pack(id, this.key);
    return this.find(this.key) >= 0;
  }

  add(id: string): void {
    const k = pack(id, this.key);
    if (this.find(k) >= 0) return;
    const slot = this.count % this.capacity;
    if (this.count >= this.capacity) this.remove(slot);
    const r = this.ring;
    const at = slot * 4;
    r[at] = k[0];
    r[at + 1] = k[1];
    r[at + 2] = k[2];
    r[at + 3] = k[3];
    let i = k[0] & this.mask;
    while (this.index[i] !== 0) i = (i + 1) & this.mask;
    this.index[i] = slot + 1;
    this.count++;
  }

  get size(): number {
    return Math.min(this.count, this.capacity);
  }

  /** Remembers stored ids, oldest first. */
  seed(ids: readonly string[]): void {
    for (const id of ids) this.add(id);
  }

  /** The index position holding this key, or -1. */
  private find(k: Uint32Array): number {
    const r = this.ring;
    for (let i = k[0] & this.mask; ; i = (i + 1) & this.mask) {
      const v = this.index[i];
      if (v === 0) return -1;
      const at = (v - 1) * 4;
      if (r[at] === k[0] && r[at + 1] === k[1] && r[at + 2] === k[2] && r[at + 3] === k[3]) return i;
    }
  }

  /** Drops the id in ring slot `slot` from the index (backward-shift deletion keeps probes unbroken). */
  private remove(slot: number): void {
    const r = this.ring;
    const mask = this.mask;
    let i = r[slot * 4] & mask;
    while (this.index[i] !== slot + 1) i = (i + 1) & mask;
    let hole = i;
    for (let j = (hole + 1) & mask; this.index[j] !== 0; j = (j + 1) & mask) {
      const home = r[(this.index[j] - 1) * 4] & mask;
      // Move j into the hole unless its home lies cyclically in (hole, j].
      const stays = hole <= j ? hole < home && home <= j : hole < home || home <= j;
      if (!stays) {
        this.index[hole] = this.index[j];
        hole = j;
      }
    }
    this.index[hole] = 0;
  }
}

const HEX = /^[0-9a-f]{32}$/;

/** The id's 16 bytes as four words, in `out`. */
function pack(id: string, out: Uint32Array): Uint32Array {
  if (id.length === 32 && HEX.test(id)) {
    for (let w = 0; w < 4; w++) {
      let v = 0;
      for (let c = w * 8; c < w * 8 + 8; c++) {
        const ch = id.charCodeAt(c);
        v = v * 16 + (ch <= 57 ? ch - 48 : ch - 87);
      }
      out[w] = v;
    }
    return out;
  }
  const d = hash('sha256', id, 'buffer') as Buffer;
  for (let w = 0; w < 4; w++) out[w] = d.readUInt32LE(w * 4);
  return out;
}
