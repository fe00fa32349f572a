import { describe, expect, it } from 'vitest';
import { Metrics } from './metrics.ts';

describe('Metrics.asyncGauge', () => {
  it('shows the last value read, reads again at a scrape once it is older than maxAge, keeps it when a read fails, and reads nothing unscraped', async () => {
    const m = new Metrics();
    // Made when read: a rejected promise made ahead would be unhandled until then.
    const answers: Array<() => Promise<number>> = [async () => 7, async () => Promise.reject(new Error('worker gone')), async () => 9];
    let reads = 0;
    m.asyncGauge('g', 'a gauge', () => answers[reads++]!(), 20);
    expect(reads).toBe(0);
    expect(m.snapshot().g).toBe(0); // the first scrape starts the first read
    expect(reads).toBe(1);
    await new Promise((r) => setTimeout(r, 0));
    expect(m.snapshot().g).toBe(7); // within maxAge: no new read
    expect(reads).toBe(1);
    await new Promise((r) => setTimeout(r, 25));
    expect(m.snapshot().g).toBe(7); // starts the read that fails
    await new Promise((r) => setTimeout(r, 25));
    expect(m.exposition()).toContain('\ng 7\n'); // the failed read kept 7; this scrape starts the third
    await new Promise((r) => setTimeout(r, 0));
    expect(m.snapshot().g).toBe(9);
    expect(reads).toBe(3);
  });

  it('nothing to read (null): stays 0', () => {
    const m = new Metrics();
    m.asyncGauge('g', 'a gauge', () => null);
    expect(m.snapshot().g).toBe(0);
  });
});
