/** Conversions between OTLP nanosecond strings and ClickHouse DateTime64(9) text. */

const NS_PER_MS = 1_000_000n;

/** '1700000000123456789' → '2023-11-14 22:13:20.123456789' (UTC). */
export function nanosToDateTime64(ns: string): string {
  const digits = ns.length > 9 ? ns : ns.padStart(10, '0');
  const secondsText = digits.slice(0, -9);
  const fraction = digits.slice(-9);
  // Spans of a request mostly share their second: one Date per run of them.
  if (secondsText !== lastSecondsText) {
    const iso = new Date(Number(secondsText) * 1000).toISOString(); // 'YYYY-MM-DDTHH:MM:SS.sssZ'
    lastSecondsText = secondsText;
    lastSecondsPrefix = `${iso.slice(0, 10)} ${iso.slice(11, 19)}.`;
  }
  return lastSecondsPrefix + fraction;
}
let lastSecondsText = '';
let lastSecondsPrefix = '';

/** '2023-11-14 22:13:20.123456789' → '1700000000123456789'. */
export function dateTime64ToNanos(text: string): string {
  const [date, time = '00:00:00'] = text.split(' ');
  const [hms, frac = ''] = time.split('.');
  const ms = Date.parse(`${date}T${hms}Z`);
  return (BigInt(ms) * NS_PER_MS + BigInt(frac.padEnd(9, '0').slice(0, 9))).toString();
}

const NS_PER_S = 1_000_000_000n;

/**
 * '2023-11-14 22:13:20.123456789' → 1700000000123456789n. The hot path of the RowBinary
 * encoder: the usual shape is parsed by position, anything else goes through dateTime64ToNanos.
 */
export function dateTime64ToBigInt(text: string): bigint {
  const n = text.length;
  if (n >= 19 && n <= 29 && text.charCodeAt(4) === 45 && text.charCodeAt(10) === 32 && (n === 19 || text.charCodeAt(19) === 46)) {
    const ms = Date.UTC(
      Number(text.slice(0, 4)),
      Number(text.slice(5, 7)) - 1,
      Number(text.slice(8, 10)),
      Number(text.slice(11, 13)),
      Number(text.slice(14, 16)),
      Number(text.slice(17, 19)),
    );
    const frac = n > 20 ? Number(text.slice(20)) * 10 ** (29 - n) : 0;
    if (Number.isFinite(ms) && Number.isInteger(frac)) return BigInt(ms / 1000) * NS_PER_S + BigInt(frac);
  }
  return BigInt(dateTime64ToNanos(text));
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
