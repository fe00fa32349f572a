import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { RecentIds } from './recent-ids.ts';

/** The behaviour RecentIds must have: a set that forgets its oldest id past its capacity. */
class Model {
  private ids = new Set<string>();
  private readonly capacity: number;
  constructor(capacity: number) {
    this.capacity = capacity;
  }
  has(id: string) {
    return this.ids.has(id);
  }
  add(id: string) {
    if (this.ids.has(id)) return;
    this.ids.add(id);
    if (this.ids.size > this.capacity) this.ids.delete(this.ids.values().next().value!);
  }
  get size() {
    return this.ids.size;
  }
}

const hexId = () => randomBytes(16).toString('hex');

describe('RecentIds', () => {
  for (const capacity of [1, 3, 64, 1000]) {
    it(`answers as a set that forgets its oldest ids past ${capacity}, through many evictions`, () => {
      const ids = new RecentIds(capacity);
      const model = new Model(capacity);
      // A pool small enough that ids come back both while remembered and after being forgotten;
      // ids sharing their first word land on the same index position (probing, shifting back).
      const pool = Array.from({ length: capacity * 3 + 5 }, (_, i) => (i % 4 === 0 ? `0000abcd${hexId().slice(8)}` : i % 7 === 0 ? `span-${i}` : hexId()));
      for (let step = 0; step < 20_000; step++) {
        const id = pool[Math.floor(Math.random() * pool.length)];
        if (Math.random() < 0.5) {
          ids.add(id);
          model.add(id);
        }
        expect(ids.has(id)).toBe(model.has(id));
      }
      expect(ids.size).toBe(model.size);
      for (const id of pool) expect(ids.has(id)).toBe(model.has(id));
    });
  }

  it('tells ids apart by all 32 digits, and keeps ids of other shapes apart from hex ones', () => {
    const ids = new RecentIds(10);
    const a = 'f'.repeat(31) + '0';
    ids.add(a);
    expect(ids.has(a)).toBe(true);
    expect(ids.has('f'.repeat(32))).toBe(false);
    expect(ids.has(a.toUpperCase())).toBe(false);
    ids.add('not-a-hex-id');
    expect(ids.has('not-a-hex-id')).toBe(true);
    expect(ids.has('not-a-hex-iD')).toBe(false);
  });

  it('refuses a capacity it cannot hold', () => {
    expect(() => new RecentIds(0)).toThrow(/capacity must be 1 to 2\^28, got 0/);
    expect(() => new RecentIds(1.5)).toThrow(/capacity/);
  });
});
