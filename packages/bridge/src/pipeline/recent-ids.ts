/**
 * The ids of recently sealed events, so that a span re-sent by an exporter (after a timeout,
 * or after the bridge restarted) is not stored twice. Bounded: the oldest ids are forgotten
 * first. Seeded from ClickHouse at start (Store.recentEventIds), so the window survives restarts.
 */
export class RecentIds {
  private ids = new Set<string>();
  readonly capacity: number;

  constructor(capacity: number) {
    this.capacity = capacity;
  }

  has(id: string): boolean {
    return this.ids.has(id);
  }

  add(id: string): void {
    this.ids.add(id);
    if (this.ids.size > this.capacity) {
      // Sets iterate in insertion order: the first is the oldest.
      const oldest = this.ids.values().next().value!;
      this.ids.delete(oldest);
    }
  }

  get size(): number {
    return this.ids.size;
  }

  /** Remembers stored ids, oldest first. */
  seed(ids: readonly string[]): void {
    for (const id of ids) this.add(id);
  }
}
