/**
 * The arithmetic of a virtualized list whose rows have different heights: every row has an
 * estimated height until it has been rendered and measured; offsets are prefix sums, recomputed
 * (O(n), well under a millisecond for 100,000 rows) only when a height changed. Only the rows in
 * (or near) the viewport are ever rendered.
 */

export class HeightIndex {
  private heights = new Float64Array(0);
  private measured = new Uint8Array(0);
  private offsets = new Float64Array(1);
  private dirty = false;
  private n = 0;
  private readonly estimate: (i: number) => number;

  constructor(estimate: (i: number) => number) {
    this.estimate = estimate;
  }

  get count(): number {
    return this.n;
  }

  /** Grows or shrinks to n rows; new rows get their estimate. */
  setCount(n: number): void {
    if (n === this.n) return;
    if (n > this.heights.length) {
      const cap = Math.max(n, Math.ceil(this.heights.length * 1.5));
      const h = new Float64Array(cap);
      h.set(this.heights.subarray(0, this.n));
      const m = new Uint8Array(cap);
      m.set(this.measured.subarray(0, this.n));
      this.heights = h;
      this.measured = m;
    }
    for (let i = this.n; i < n; i++) {
      this.heights[i] = this.estimate(i);
      this.measured[i] = 0;
    }
    this.n = n;
    this.dirty = true;
  }

  /** Re-estimates rows not measured yet (their content arrived). */
  reestimate(from = 0, to = this.n): void {
    for (let i = Math.max(0, from); i < Math.min(to, this.n); i++) {
      if (this.measured[i]) continue;
      const h = this.estimate(i);
      if (h !== this.heights[i]) {
        this.heights[i] = h;
        this.dirty = true;
      }
    }
  }

  /** Forgets the measurements of rows [from, to) (their content changed): they are estimated again. */
  forget(from = 0, to = this.n): void {
    this.measured.fill(0, Math.max(0, from), Math.min(to, this.n));
  }

  /** Records a rendered row's height; true when it changed. */
  set(i: number, h: number): boolean {
    if (i < 0 || i >= this.n) return false;
    this.measured[i] = 1;
    if (Math.abs(this.heights[i] - h) < 0.5) return false;
    this.heights[i] = h;
    this.dirty = true;
    return true;
  }

  height(i: number): number {
    return this.heights[i];
  }

  private sums(): Float64Array {
    if (this.dirty || this.offsets.length !== this.n + 1) {
      if (this.offsets.length !== this.n + 1) this.offsets = new Float64Array(this.n + 1);
      let acc = 0;
      for (let i = 0; i < this.n; i++) {
        this.offsets[i] = acc;
        acc += this.heights[i];
      }
      this.offsets[this.n] = acc;
      this.dirty = false;
    }
    return this.offsets;
  }

  /** The top of row i (i = count: the total height). */
  offsetOf(i: number): number {
    return this.sums()[Math.max(0, Math.min(i, this.n))];
  }

  total(): number {
    return this.offsetOf(this.n);
  }

  /** The row at vertical position y (clamped to the rows). */
  indexAt(y: number): number {
    const o = this.sums();
    if (this.n === 0) return 0;
    let lo = 0;
    let hi = this.n - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (o[mid] <= y) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  /** The rows to render for a viewport [top, top + height), with `overscan` pixels around it. */
  range(top: number, height: number, overscan: number): { start: number; end: number } {
    if (this.n === 0) return { start: 0, end: 0 };
    const start = this.indexAt(Math.max(0, top - overscan));
    const end = Math.min(this.n, this.indexAt(top + height + overscan) + 1);
    return { start, end };
  }
}
