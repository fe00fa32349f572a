/**
 * The pieces every hand-written config validator shares (the policy file and its sections):
 * each collects every problem, with the path of the field, instead of stopping at the first.
 */

export function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** A value as a problem message quotes it: JSON, cut to 60 characters. */
export function describe(v: unknown): string {
  if (v === undefined) return 'nothing';
  const s = JSON.stringify(v);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

/** One problem per key of `o` not in `known` (keys such as `$schema` are accepted but not suggested). */
export function unknownKeys(o: Record<string, unknown>, known: readonly string[], prefix: string, problems: string[]): void {
  for (const k of Object.keys(o)) {
    if (!known.includes(k)) problems.push(`${prefix}${k}: unknown field (expected one of ${known.filter((x) => !x.startsWith('$')).join(', ')})`);
  }
}
