/**
 * The UI's small machinery: on-screen CSV, the virtual list's arithmetic, the case loader's
 * paging, the sign-in session (cookie credentials, CSRF, the OIDC return path), the router.
 */
import { describe, expect, it } from 'vitest';
import { CaseLoader } from './case-loader.ts';
import { csvField, parseCsv, SCREEN_COLUMNS, screenCsv } from './csv.ts';
import type { EventPage } from './model.ts';
import { parseRoute } from './router.ts';
import { CSRF_HEADER, oidcLoginUrl, readCookie, Session } from './session.ts';
import { event, supportCase } from './testdata/events.ts';
import { HeightIndex } from './virtual.ts';

describe('CSV of what is on screen', () => {
  it('has a header and one row per event, with the ids that lead back to the trail', () => {
    const events = supportCase();
    const rows = parseCsv(screenCsv(events));
    expect(rows[0]).toEqual([...SCREEN_COLUMNS]);
    expect(rows).toHaveLength(events.length + 1);
    const approval = rows.find((r) => r[1] === 'Approval')!;
    expect(approval[2]).toBe('approved by lead-7 (team lead)');
    expect(approval[10]).toBe('Verified');
    expect(approval[11]).toBe('main-medium#7');
    expect(approval[12]).toBe(events.find((e) => e.event_type === 'approval')!.event_id);
  });

  it('quotes what needs quoting and defuses spreadsheet formulas', () => {
    expect(csvField('a,b')).toBe('"a,b"');
    expect(csvField('say "hi"')).toBe('"say ""hi"""');
    expect(csvField('=HYPERLINK("x")')).toBe(`"'=HYPERLINK(""x"")"`);
    expect(parseCsv('a,"b,c"\r\n"d\ne",f\r\n')).toEqual([
      ['a', 'b,c'],
      ['d\ne', 'f'],
    ]);
  });
});

describe('the virtual list', () => {
  it('renders only the rows near the viewport, and keeps offsets right as rows are measured', () => {
    const h = new HeightIndex(() => 100);
    h.setCount(50_000);
    expect(h.total()).toBe(5_000_000);
    expect(h.range(0, 800, 200)).toEqual({ start: 0, end: 11 });
    // Jumping to the end renders the last few rows only.
    const end = h.range(h.total() - 800, 800, 200);
    expect(end.end).toBe(50_000);
    expect(end.end - end.start).toBeLessThanOrEqual(11);
    expect(h.set(0, 250)).toBe(true);
    expect(h.set(0, 250)).toBe(false);
    expect(h.offsetOf(1)).toBe(250);
    expect(h.indexAt(249)).toBe(0);
    expect(h.indexAt(250)).toBe(1);
    h.setCount(50_010);
    expect(h.total()).toBe(5_000_150 + 1000);
  });

  it('re-estimates rows that were not measured when their content arrives', () => {
    let estimate = 100;
    const h = new HeightIndex(() => estimate);
    h.setCount(3);
    h.set(0, 40);
    estimate = 300;
    h.reestimate();
    expect([h.height(0), h.height(1), h.height(2)]).toEqual([40, 300, 300]);
  });
});

describe('the case loader', () => {
  const pages = (n: number, size: number) => {
    const all = Array.from({ length: n }, (_, i) => event({ event_time: `2026-11-22 10:00:${String(Math.floor(i / 1000)).padStart(2, '0')}.${String(i % 1000).padStart(3, '0')}000000` }));
    const calls: Array<{ cursor: string | null; limit: number }> = [];
    const fetchPage = async (cursor: string | null, limit: number): Promise<EventPage> => {
      calls.push({ cursor, limit });
      const from = cursor ? Number(cursor) : 0;
      const events = all.slice(from, from + limit);
      return { events, next_cursor: from + limit < all.length ? String(from + limit) : null };
    };
    return { all, calls, fetchPage, size };
  };

  it('loads as far as asked (and a little ahead), by cursor, a small first page first', async () => {
    const p = pages(5000, 1000);
    let changes = 0;
    const l = new CaseLoader(p.fetchPage, 5000, () => changes++, { firstPage: 100, pageSize: 1000, ahead: 200 });
    expect(l.count).toBe(5000);
    l.want(0);
    await new Promise((r) => setTimeout(r, 10));
    expect(p.calls).toEqual([
      { cursor: null, limit: 100 },
      { cursor: '100', limit: 1000 },
    ]);
    expect(l.loaded).toBe(1100);
    expect(l.done).toBe(false);
    l.wantAll();
    await new Promise((r) => setTimeout(r, 10));
    expect(l.loaded).toBe(5000);
    expect(l.done).toBe(true);
    expect(l.count).toBe(5000);
    expect(changes).toBe(p.calls.length);
  });

  it('finds an event further down by loading until it arrives; reports an error and stops', async () => {
    const p = pages(3000, 1000);
    const l = new CaseLoader(p.fetchPage, 3000, () => {});
    l.wantEvent(p.all[2500].event_id);
    await new Promise((r) => setTimeout(r, 10));
    expect(l.story.indexOf(p.all[2500].event_id)).toBe(2500);
    expect(l.done).toBe(true);
    const failing = new CaseLoader(async () => Promise.reject(new Error('503 busy')), 10, () => {});
    failing.want(0);
    await new Promise((r) => setTimeout(r, 10));
    expect(failing.error).toBe('503 busy');
  });
});

describe('the sign-in session', () => {
  it('sends every call with same-origin credentials (the session cookie), and the CSRF cookie in X-CSRF-Token', () => {
    let cookies = '';
    const s = new Session(() => cookies);
    expect(s.init()).toEqual({ credentials: 'same-origin', headers: {} });
    cookies = 'theme=dark; otel_audit_csrf=abc%3D123; other=1';
    expect(s.init({ method: 'DELETE', headers: { accept: 'application/json' } })).toEqual({
      method: 'DELETE',
      credentials: 'same-origin',
      headers: { [CSRF_HEADER]: 'abc=123', accept: 'application/json' },
    });
    expect(readCookie('a=1; b=2', 'c')).toBeNull();
  });

  it('comes back to the page it left after an OpenID Connect sign-in, and only to a page of this bridge', () => {
    expect(oidcLoginUrl('/cases/CASE%201?event=e')).toBe('/api/v1/oidc/login?return_to=%2Fcases%2FCASE%25201%3Fevent%3De');
    expect(oidcLoginUrl('//evil.example/')).toBe('/api/v1/oidc/login?return_to=%2F');
    expect(oidcLoginUrl('https://evil.example/')).toBe('/api/v1/oidc/login?return_to=%2F');
  });
});

describe('addresses', () => {
  it('reads the search page, a case (percent-encoded, focused on an event), and anything else', () => {
    expect(parseRoute('/', '?type=approval')).toMatchObject({ page: 'search' });
    expect((parseRoute('/', '?type=approval') as { query: URLSearchParams }).query.get('type')).toBe('approval');
    expect(parseRoute('/cases/CASE%201%2F%C3%BC', '?event=abc')).toEqual({ page: 'case', id: 'CASE 1/ü', eventId: 'abc' });
    expect(parseRoute('/cases/CASE-123/', '')).toEqual({ page: 'case', id: 'CASE-123', eventId: null });
    expect(parseRoute('/elsewhere', '')).toEqual({ page: 'not-found', path: '/elsewhere' });
  });
});
