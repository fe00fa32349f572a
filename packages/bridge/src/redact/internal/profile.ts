/**
 * One pass over a string's characters that tells which detectors can possibly match, so that most
 * strings (model names, ids, enums) never reach a regex. Cost: about 1-2 ns per character.
 */

export const AT = 1 << 0;
export const COLON = 1 << 1;
export const EQUALS = 1 << 2;
export const DASH = 1 << 3;
export const UNDERSCORE = 1 << 4;
export const DOT = 1 << 5;
export const SLASH = 1 << 6;
export const SPACE = 1 << 7;
/** '%' and backslash: the string may hide data behind percent-encoding or JSON escapes (decode.ts). */
export const PERCENT = 1 << 8;
export const BACKSLASH = 1 << 9;
const DIGIT = 1 << 12;
const UPPER = 1 << 13;
/** Characters that may sit between the digits of a phone or card number. */
const CHAIN_SEP = 1 << 14;

const TABLE = new Uint16Array(128);
for (let c = 48; c <= 57; c++) TABLE[c] = DIGIT;
for (let c = 65; c <= 90; c++) TABLE[c] = UPPER;
TABLE[64] = AT;
TABLE[58] = COLON;
TABLE[61] = EQUALS;
TABLE[45] = DASH | CHAIN_SEP;
TABLE[95] = UNDERSCORE;
TABLE[46] = DOT | CHAIN_SEP;
TABLE[47] = SLASH | CHAIN_SEP;
TABLE[32] = SPACE | CHAIN_SEP;
TABLE[9] = SPACE;
TABLE[10] = SPACE;
TABLE[13] = SPACE;
TABLE[37] = PERCENT;
TABLE[92] = BACKSLASH;
TABLE[40] = CHAIN_SEP; // (
TABLE[41] = CHAIN_SEP; // )
TABLE[43] = CHAIN_SEP; // +

export interface Profile {
  length: number;
  /** Bit set of AT, COLON, ... present in the string. */
  bits: number;
  digits: number;
  upper: number;
  /** Most digits in one chain whose digits are at most two separators (space ( ) . - / +) apart. */
  chain: number;
}

export function profile(s: string): Profile {
  let bits = 0;
  let digits = 0;
  let upper = 0;
  let chain = 0;
  let run = 0;
  let gap = 3;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const k = c < 128 ? TABLE[c]! : 0;
    bits |= k;
    if ((k & DIGIT) !== 0) {
      digits++;
      run = gap <= 2 ? run + 1 : 1;
      gap = 0;
      if (run > chain) chain = run;
    } else if ((k & CHAIN_SEP) !== 0) {
      gap++;
    } else {
      gap = 3;
      if ((k & UPPER) !== 0) upper++;
    }
  }
  return { length: s.length, bits, digits, upper, chain };
}

/** What a string's profile must show for a detector to run; every field is a lower bound. */
export interface Requirement {
  minLength?: number;
  /** All of these bits. */
  all?: number;
  /** At least one of these bits. */
  any?: number;
  upper?: number;
  digits?: number;
  chain?: number;
}

/** A Requirement with every field set, so the hot check is one monomorphic shape. */
export type Gate = Required<Requirement>;

export function gate(r: Requirement): Gate {
  return {
    minLength: r.minLength ?? 0,
    all: r.all ?? 0,
    any: r.any ?? 0,
    upper: r.upper ?? 0,
    digits: r.digits ?? 0,
    chain: r.chain ?? 0,
  };
}

export function passes(g: Gate, p: Profile): boolean {
  return (
    p.length >= g.minLength &&
    (p.bits & g.all) === g.all &&
    (g.any === 0 || (p.bits & g.any) !== 0) &&
    p.upper >= g.upper &&
    p.digits >= g.digits &&
    p.chain >= g.chain
  );
}
