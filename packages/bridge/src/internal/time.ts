/** Conversions between OTLP nanosecond strings and ClickHouse DateTime64(9) text. */

const NS_PER_MS = 1_000_000n;

/** '1700000000123456789' → '2023-11-14 22:13:20.123456789' (UTC). */
export function nanosToDateTime64(ns: string): string {
  const digits = ns.length > 9 ? ns : ns.padStart(10, '0');
  const seconds = Number(digits.slice(0, -9));
  const fraction = digits.slice(-9);
  const iso = new Date(seconds * 1000).toISOString(); // 'YYYY-MM-DDTHH:MM:SS.sssZ'
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)}.${fraction}`;
}

/** '2023-11-14 22:13:20.123456789' → '1700000000123456789'. */
export function dateTime64ToNanos(text: string): string {
  const [date, time = '00:00:00'] = text.split(' ');
  const [hms, frac = ''] = time.split('.');
  const ms = Date.parse(`${date}T${hms}Z`);
  return (BigInt(ms) * NS_PER_MS + BigInt(frac.padEnd(9, '0').slice(0, 9))).toString();
}

export function nowNanos(): string {
  // performance.timeOrigin + now() gives sub-ms resolution without a bigint clock per call.
  const ms = performance.timeOrigin + performance.now();
  const whole = Math.floor(ms);
  return (BigInt(whole) * NS_PER_MS + BigInt(Math.floor((ms - whole) * 1e6))).toString();
}

export function durationNanos(startNs: string, endNs: string): number {
  if (!endNs || endNs === '0') return 0;
  const d = BigInt(endNs) - BigInt(startNs);
  return d > 0n ? Number(d) : 0;
}

/** Parses a user-supplied time: ISO 8601, 'YYYY-MM-DD hh:mm:ss', or a relative '15m' / '2h' / '7d' (ago). */
export function parseTimeArg(value: string, now = Date.now()): Date {
  const rel = /^(\d+)\s*(s|m|h|d)$/.exec(value.trim());
  if (rel) {
    const unit = { s: 1e3, m: 60e3, h: 3600e3, d: 86400e3 }[rel[2] as 's' | 'm' | 'h' | 'd'];
    return new Date(now - Number(rel[1]) * unit);
  }
  const normalized = /^\d{4}-\d{2}-\d{2} \d/.test(value) ? value.replace(' ', 'T') : value;
  const withZone = /[zZ]|[+-]\d{2}:?\d{2}$/.test(normalized) || /^\d{4}-\d{2}-\d{2}$/.test(normalized) ? normalized : `${normalized}Z`;
  const ms = Date.parse(withZone);
  if (Number.isNaN(ms)) {
    throw new Error(`invalid time "${value}": use ISO 8601 (2026-11-22T08:00:00Z), "2026-11-22 08:00:00" (UTC) or a duration ago (15m, 2h, 7d)`);
  }
  return new Date(ms);
}

/** Date → ClickHouse DateTime64 literal text (UTC, ms precision). */
export function dateToClickHouse(d: Date): string {
  return d.toISOString().replace('T', ' ').replace('Z', '');
}
