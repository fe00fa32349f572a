/**
 * Loads a case's events a page at a time (GET /api/v1/cases/:id/events, each event with its
 * integrity), as far as the reader has scrolled, and a little beyond. Pages follow each other by
 * cursor, so reaching the end of a large case reads the pages before it; they are asked for back
 * to back, while the list shows placeholders for what has not arrived.
 */
import type { EventPage } from './model.ts';
import { StoryModel } from './story.ts';

export type FetchPage = (cursor: string | null, limit: number, signal: AbortSignal) => Promise<EventPage>;

export interface LoaderOptions {
  /** The first page: small, for a quick first paint. */
  firstPage?: number;
  /** Later pages (the API allows 1000). */
  pageSize?: number;
  /** Rows loaded ahead of the furthest one asked for. */
  ahead?: number;
}

export class CaseLoader {
  readonly story = new StoryModel();
  /** The case's size as its summary said (events keep arriving; the last page settles it). */
  expected: number;
  done = false;
  error: string | null = null;
  /** Pages read so far, and the time they took (ms), for the page's status line and tests. */
  pages = 0;
  loadMs = 0;
  private cursor: string | null = null;
  private wanted = 0;
  private wantedId: string | null = null;
  private running = false;
  private readonly abort = new AbortController();
  private readonly fetchPage: FetchPage;
  private readonly onChange: () => void;
  private readonly o: Required<LoaderOptions>;

  constructor(fetchPage: FetchPage, expected: number, onChange: () => void, o: LoaderOptions = {}) {
    this.fetchPage = fetchPage;
    this.expected = expected;
    this.onChange = onChange;
    this.o = { firstPage: 100, pageSize: 1000, ahead: 200, ...o };
  }

  /** The rows the list shows: loaded events, then placeholders up to the expected size. */
  get count(): number {
    return this.done ? this.story.size : Math.max(this.expected, this.story.size);
  }

  get loaded(): number {
    return this.story.size;
  }

  /** Makes sure rows up to `index` get loaded. */
  want(index: number): void {
    const target = index + this.o.ahead;
    if (target > this.wanted) this.wanted = target;
    void this.pump();
  }

  /** Loads pages until the event is found (or the case ends). */
  wantEvent(eventId: string): void {
    if (this.story.indexOf(eventId) >= 0) return;
    this.wantedId = eventId;
    void this.pump();
  }

  /** Loads every page. */
  wantAll(): void {
    this.wanted = Number.MAX_SAFE_INTEGER;
    void this.pump();
  }

  /** Stops loading (the page was left). */
  stop(): void {
    this.abort.abort();
  }

  private needMore(): boolean {
    if (this.done || this.error || this.abort.signal.aborted) return false;
    if (this.story.size <= this.wanted) return true;
    return this.wantedId !== null && this.story.indexOf(this.wantedId) < 0;
  }

  private async pump(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      while (this.needMore()) {
        const limit = this.pages === 0 ? this.o.firstPage : this.o.pageSize;
        const t0 = performance.now();
        let page: EventPage;
        try {
          page = await this.fetchPage(this.cursor, limit, this.abort.signal);
        } catch (err) {
          if (this.abort.signal.aborted) return;
          this.error = (err as Error).message;
          this.onChange();
          return;
        }
        this.loadMs += performance.now() - t0;
        this.pages++;
        this.story.add(page.events);
        this.cursor = page.next_cursor;
        if (!page.next_cursor) this.done = true;
        if (this.wantedId && this.story.indexOf(this.wantedId) >= 0) this.wantedId = null;
        this.onChange();
      }
    } finally {
      this.running = false;
    }
  }
}
