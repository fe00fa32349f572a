import { BUILTIN_DETECTORS, BUILTIN_KINDS, type Detector } from './detectors.ts';

/** An operator-supplied detector, e.g. an internal token format. */
export interface CustomPattern {
  /** Lower-case name, e.g. 'acme-token'; reported in findings and used in the default mask. */
  kind: string;
  /** JavaScript regular expression source, without slashes. */
  pattern: string;
  /** Extra flags among `i`, `m`, `s`, `u` (`g` is always added). */
  flags?: string;
  /** Literal replacement of each match; default `[kind]`. */
  mask?: string;
}

export interface RedactorConfig {
  /** Built-in detector kinds to run; all of them when absent. */
  kinds?: readonly string[];
  /** Built-in kinds to leave out (applied after `kinds`). */
  disable?: readonly string[];
  /** Custom detectors; they run before the built-in ones, on every string. */
  custom?: readonly CustomPattern[];
  /** In `redactValue`, mask whole values under secret-named keys (`password`, `api_key`, ...). Default true. */
  secretKeys?: boolean;
}

export class RedactorConfigError extends Error {
  constructor(message: string) {
    super(`redact config: ${message}`);
    this.name = 'RedactorConfigError';
  }
}

export interface ResolvedConfig {
  builtins: Detector[];
  custom: Detector[];
  secretKeys: boolean;
}

const KIND_RE = /^[a-z][a-z0-9-]{0,39}$/;
const MAX_PATTERN_LENGTH = 2000;
// An innermost group ending in an unbounded quantifier, itself repeated unboundedly: (a+)+, (\w*)*.
const NESTED_UNBOUNDED = /\((?:[^()\\]|\\.)*(?:[+*]|\{\d+,\})\)(?:[+*]|\{\d+,\})/;

function kindList(value: unknown, field: string): string[] {
  if (!Array.isArray(value) || value.some((k) => typeof k !== 'string')) {
    throw new RedactorConfigError(`'${field}' must be an array of kind names`);
  }
  for (const k of value as string[]) {
    if (!BUILTIN_KINDS.includes(k)) {
      throw new RedactorConfigError(`unknown kind '${k}' in '${field}' (known: ${BUILTIN_KINDS.join(', ')})`);
    }
  }
  return value as string[];
}

function customDetector(spec: unknown, index: number, taken: Set<string>): Detector {
  const where = `custom[${index}]`;
  if (spec === null || typeof spec !== 'object') throw new RedactorConfigError(`${where} must be an object`);
  const { kind, pattern, flags = '', mask } = spec as Record<string, unknown>;
  if (typeof kind !== 'string' || !KIND_RE.test(kind)) {
    throw new RedactorConfigError(`${where}.kind must match ${KIND_RE} (got ${JSON.stringify(kind)})`);
  }
  const name = `${where} '${kind}'`;
  if (taken.has(kind)) throw new RedactorConfigError(`${name}: kind is already used`);
  taken.add(kind);
  if (typeof pattern !== 'string' || pattern.length === 0) {
    throw new RedactorConfigError(`${name}: pattern must be a non-empty string`);
  }
  if (pattern.length > MAX_PATTERN_LENGTH) {
    throw new RedactorConfigError(`${name}: pattern is longer than ${MAX_PATTERN_LENGTH} characters`);
  }
  if (typeof flags !== 'string' || !/^[imsu]*$/.test(flags) || new Set(flags).size !== flags.length) {
    throw new RedactorConfigError(`${name}: flags must be distinct letters among i, m, s, u (got ${JSON.stringify(flags)})`);
  }
  if (mask !== undefined && (typeof mask !== 'string' || mask.length > 200)) {
    throw new RedactorConfigError(`${name}: mask must be a string of at most 200 characters`);
  }
  let re: RegExp;
  try {
    re = new RegExp(pattern, `g${flags}`);
  } catch (err) {
    throw new RedactorConfigError(`${name}: invalid regular expression: ${(err as Error).message}`);
  }
  if (new RegExp(`^(?:${pattern})$`, flags).test('')) {
    throw new RedactorConfigError(`${name}: pattern matches the empty string`);
  }
  // Catastrophic backtracking on the hot path would stall ingestion for everyone: refuse the classic shape.
  if (NESTED_UNBOUNDED.test(pattern)) {
    throw new RedactorConfigError(
      `${name}: pattern nests unbounded quantifiers (like (a+)+), which can take exponential time; bound one of them`,
    );
  }
  const replacement = (mask as string | undefined) ?? `[${kind}]`;
  return { kind, pattern: re, trigger: {}, mask: () => replacement };
}

/** Validates a config and turns it into the detector lists a Redactor runs. */
export function resolveConfig(config: RedactorConfig = {}): ResolvedConfig {
  if (config === null || typeof config !== 'object') throw new RedactorConfigError('config must be an object');
  const known = new Set(['kinds', 'disable', 'custom', 'secretKeys']);
  for (const key of Object.keys(config)) {
    if (!known.has(key)) throw new RedactorConfigError(`unknown option '${key}' (known: ${[...known].join(', ')})`);
  }
  const enabled = new Set(config.kinds === undefined ? BUILTIN_KINDS : kindList(config.kinds, 'kinds'));
  if (config.disable !== undefined) for (const k of kindList(config.disable, 'disable')) enabled.delete(k);
  if (config.secretKeys !== undefined && typeof config.secretKeys !== 'boolean') {
    throw new RedactorConfigError(`'secretKeys' must be a boolean`);
  }
  if (config.custom !== undefined && !Array.isArray(config.custom)) {
    throw new RedactorConfigError(`'custom' must be an array`);
  }
  const taken = new Set(BUILTIN_KINDS);
  return {
    builtins: BUILTIN_DETECTORS.filter((d) => enabled.has(d.kind)),
    custom: (config.custom ?? []).map((spec, i) => customDetector(spec, i, taken)),
    secretKeys: config.secretKeys ?? true,
  };
}
