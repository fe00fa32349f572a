import type { ComponentChildren, RefObject } from 'preact';
import { useCallback, useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import { HeightIndex } from '../virtual.ts';

export interface VirtualFeedHandle {
  /**
   * Scrolls row i ('end': the last row, whatever the count becomes) into view, near the top, and
   * with focus moves the keyboard focus to it. It holds on while rows above it load and are
   * measured, until the row itself is loaded and shown, or the reader scrolls away.
   */
  scrollToIndex(i: number | 'end', focus?: boolean): void;
}

interface Props {
  count: number;
  /** Changes whenever rows' content changed (a page arrived), so that estimates are refreshed. */
  version: number;
  estimate: (i: number) => number;
  renderRow: (i: number) => ComponentChildren;
  /** Whether row i has its content (not a placeholder). */
  isLoaded: (i: number) => boolean;
  /** Rows 0..loaded-1 have their content. */
  loaded: number;
  /** The rows rendered now (for loading what is about to be seen). */
  onRange: (start: number, end: number) => void;
  label: string;
  busy: boolean;
  /** Filled with the feed's handle, for the page's "jump to" buttons. */
  handle?: RefObject<VirtualFeedHandle | null>;
}

/** Pixels rendered above and below the viewport. */
const OVERSCAN = 900;
/**
 * Up to this many rows, all are rendered (a usual case): the browser's find and a screen reader's
 * browse mode then see the whole story. Beyond, only the rows near the viewport.
 */
export const RENDER_ALL_UP_TO = 150;
/** Room left above a row scrolled to (the sticky bar). */
const TOP_MARGIN = 72;

/**
 * A WAI-ARIA feed (role="feed": a list of articles that grows as it is scrolled) that renders only
 * the rows in and near the viewport, over the window's own scrolling, so that the browser's
 * keys (Page Down, End, Space) and scroll bar work as on any page. Rows may have any height: each
 * is measured once rendered; rows above the viewport that turn out taller or shorter than
 * estimated move the scroll position by as much, so what is on screen stays still.
 *
 * Keyboard (feed pattern): with the focus in a row, Page Down / Page Up move it to the next /
 * previous row; Ctrl+Home / Ctrl+End to the first / last.
 */
export function VirtualFeed({ count, version, estimate, renderRow, isLoaded, loaded, onRange, label, busy, handle }: Props) {
  const container = useRef<HTMLDivElement>(null);
  const inner = useRef<HTMLDivElement>(null);
  const estimateRef = useRef(estimate);
  estimateRef.current = estimate;
  const heights = useRef<HeightIndex>(null as unknown as HeightIndex);
  if (!heights.current) heights.current = new HeightIndex((i) => estimateRef.current(i));
  const h = heights.current;
  const [range, setRange] = useState({ start: 0, end: Math.min(count, 20) });
  const [, setTick] = useState(0);
  const frame = useRef(0);
  const pendingFocus = useRef<{ index: number | 'end'; focus: boolean } | null>(null);
  const countRef = useRef(count);
  countRef.current = count;

  h.setCount(count);

  /**
   * Applies a change of heights without moving what is on screen: rows above the first visible
   * one that grew or shrank (measured, or re-estimated once their content arrived) move the
   * scroll position by as much.
   */
  const keepingAnchor = (change: () => boolean | void) => {
    const v = viewport();
    const anchor = v.top > 0 ? h.indexAt(v.top) : -1;
    const before = anchor >= 0 ? h.offsetOf(anchor) : 0;
    const changed = change();
    const shift = anchor >= 0 ? h.offsetOf(anchor) - before : 0;
    if (shift) {
      // The page must be as tall as the new heights say before it can scroll by the difference.
      if (container.current) container.current.style.height = `${h.total()}px`;
      window.scrollBy(0, shift);
    }
    return changed;
  };

  // Rows whose content arrived since the last version: measured as placeholders, estimated anew.
  const loadedBefore = useRef(0);
  useEffect(() => {
    keepingAnchor(() => {
      if (loaded > loadedBefore.current) h.forget(loadedBefore.current, loaded);
      loadedBefore.current = loaded;
      h.reestimate();
    });
    update();
  }, [version, count]);

  const viewport = () => {
    const el = container.current;
    if (!el) return { top: 0, height: window.innerHeight, listTop: 0 };
    const listTop = el.getBoundingClientRect().top + window.scrollY;
    return { top: window.scrollY - listTop, height: window.innerHeight, listTop };
  };

  const update = useCallback(() => {
    const v = viewport();
    const n = countRef.current;
    const r = n <= RENDER_ALL_UP_TO ? { start: 0, end: n } : h.range(v.top, v.height, OVERSCAN);
    setRange((old) => (old.start === r.start && old.end === r.end ? old : r));
  }, []);

  useEffect(() => {
    const onScroll = () => {
      if (frame.current) return;
      frame.current = requestAnimationFrame(() => {
        frame.current = 0;
        update();
      });
    };
    window.addEventListener('scroll', onScroll, { passive: true });
    window.addEventListener('resize', onScroll);
    return () => {
      window.removeEventListener('scroll', onScroll);
      window.removeEventListener('resize', onScroll);
      cancelAnimationFrame(frame.current);
    };
  }, []);

  useEffect(() => {
    onRange(range.start, range.end);
  }, [range.start, range.end, count]);

  /** Measures the rendered rows; keeps the first visible row where it is on screen. */
  const measure = useCallback(() => {
    const el = inner.current;
    if (!el) return;
    const changed = keepingAnchor(() => {
      let any = false;
      for (const child of Array.from(el.children) as HTMLElement[]) {
        const i = Number(child.dataset.index);
        if (Number.isInteger(i) && h.set(i, child.getBoundingClientRect().height)) any = true;
      }
      return any;
    });
    if (changed) setTick((t) => t + 1);
  }, []);

  useLayoutEffect(() => {
    measure();
    const p = pendingFocus.current;
    if (p) settle(p);
  });

  // Rows change height after they rendered (a <details> opened, fonts arrived): one observer
  // for the feed's life, watching the rows on screen.
  const observer = useRef<ResizeObserver | null>(null);
  const observed = useRef(new Set<Element>());
  useEffect(() => {
    if (typeof ResizeObserver === 'undefined') return;
    observer.current = new ResizeObserver(() => measure());
    return () => observer.current?.disconnect();
  }, []);
  useLayoutEffect(() => {
    const ro = observer.current;
    const el = inner.current;
    if (!ro || !el) return;
    for (const child of Array.from(el.children)) {
      if (observed.current.has(child)) continue;
      observed.current.add(child);
      ro.observe(child);
    }
    for (const child of observed.current) {
      if (child.isConnected) continue;
      ro.unobserve(child);
      observed.current.delete(child);
    }
  });

  /** Keeps row p.index at the top until it is loaded and shown (rows above it firm up as they are measured). */
  function settle(p: { index: number | 'end'; focus: boolean }) {
    const n = countRef.current;
    if (n === 0) return;
    const index = p.index === 'end' ? n - 1 : Math.min(p.index, n - 1);
    const v = viewport();
    const max = Math.max(0, document.documentElement.scrollHeight - window.innerHeight);
    const target = Math.min(max, Math.max(0, v.listTop + h.offsetOf(index) - TOP_MARGIN));
    if (Math.abs(window.scrollY - target) > 2) {
      window.scrollTo(0, target);
      update();
      return;
    }
    const row = inner.current?.querySelector<HTMLElement>(`[data-index="${index}"]`);
    if (!row || !isLoaded(index)) {
      update();
      return;
    }
    pendingFocus.current = null;
    if (p.focus) (row.querySelector<HTMLElement>('article') ?? row).focus({ preventScroll: true });
  }

  // The reader taking over (wheel, touch, a key, the scroll bar) cancels a pending jump.
  useEffect(() => {
    const cancel = () => (pendingFocus.current = null);
    const opts = { passive: true, capture: true };
    window.addEventListener('wheel', cancel, opts);
    window.addEventListener('touchstart', cancel, opts);
    window.addEventListener('mousedown', cancel, opts);
    window.addEventListener('keydown', cancel, opts);
    return () => {
      window.removeEventListener('wheel', cancel, opts);
      window.removeEventListener('touchstart', cancel, opts);
      window.removeEventListener('mousedown', cancel, opts);
      window.removeEventListener('keydown', cancel, opts);
    };
  }, []);

  const scrollToIndex = (i: number | 'end', focus = true) => {
    if (count === 0) return;
    // After the event that asked for it (a click, a key) has passed the cancel listeners.
    setTimeout(() => {
      pendingFocus.current = { index: i === 'end' ? 'end' : Math.max(0, Math.min(i, count - 1)), focus };
      settle(pendingFocus.current);
      setTick((t) => t + 1);
    }, 0);
  };
  if (handle) handle.current = { scrollToIndex };

  const onKeyDown = (ev: KeyboardEvent) => {
    const row = (ev.target as HTMLElement).closest?.('[data-index]') as HTMLElement | null;
    if (!row) return;
    const i = Number(row.dataset.index);
    let to: number | null = null;
    if (ev.key === 'PageDown') to = i + 1;
    else if (ev.key === 'PageUp') to = i - 1;
    else if (ev.key === 'End' && ev.ctrlKey) to = count - 1;
    else if (ev.key === 'Home' && ev.ctrlKey) to = 0;
    if (to === null || to < 0 || to >= count) return;
    ev.preventDefault();
    scrollToIndex(to, true);
  };

  const rows: ComponentChildren[] = [];
  for (let i = range.start; i < Math.min(range.end, count); i++) {
    rows.push(
      <div key={i} data-index={i} class="feed-row">
        {renderRow(i)}
      </div>,
    );
  }

  return (
    <div ref={container} class="feed" role="feed" aria-label={label} aria-busy={busy} style={{ height: `${h.total()}px` }} onKeyDown={onKeyDown}>
      <div ref={inner} class="feed-window" style={{ transform: `translateY(${h.offsetOf(range.start)}px)` }}>
        {rows}
      </div>
    </div>
  );
}
