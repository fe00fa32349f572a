import { expect, it } from 'vitest';
import { dateTime64ToBigInt, dateTime64ToNanos, nanosToDateTime64 } from './time.ts';

it('dateTime64ToBigInt agrees with the general parser on every shape of fraction', () => {
  const texts = [
    '2023-11-14 22:13:20.123456789',
    '2023-11-14 22:13:20',
    '2023-11-14 22:13:20.1',
    '2023-11-14 22:13:20.12345',
    '1970-01-01 00:00:00.000000001',
    '2024-02-29 23:59:59.999999999',
    '2099-12-31 23:59:59.000000000',
  ];
  for (const t of texts) expect(dateTime64ToBigInt(t)).toBe(BigInt(dateTime64ToNanos(t)));
});

it('nanosToDateTime64 and back are exact, across seconds that share and change their prefix', () => {
  const ns = ['1700000000123456789', '1700000000999999999', '1700000001000000000', '1700000000000000001', '5', '0'];
  for (const n of ns) expect(dateTime64ToBigInt(nanosToDateTime64(n))).toBe(BigInt(n));
  expect(nanosToDateTime64('1700000000123456789')).toBe('2023-11-14 22:13:20.123456789');
  expect(nanosToDateTime64('1700000001000000000')).toBe('2023-11-14 22:13:21.000000000');
});
