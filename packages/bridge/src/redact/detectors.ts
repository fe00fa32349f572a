/**
 * The built-in detectors of the redaction stage.
 *
 * Every pattern must stay linear on hostile input, because it runs on the ingest hot path over
 * text an attacker may choose. The rules that keep it so:
 *  - every quantifier is bounded (`{0,64}`, never `+`/`*` over a class that can run long);
 *  - a pattern that starts with a character class begins with a negative lookbehind of that class,
 *    so only the start of a run is tried, not each of its positions (no O(n²) on 1 MB of digits);
 *  - where the datum has a rare anchor ('@', '://', '=', ':'), the pattern starts at the anchor and
 *    sees the context (key name, local part) through a lookbehind: V8 then skips to the anchor
 *    instead of trying every position (10-100x faster on prose);
 *  - no nested quantifiers over overlapping classes;
 *  - anything a regex cannot check cheaply (Luhn, mod 97, phone shapes, context) is checked in
 *    `validate`, in plain code, on the few candidates.
 */
import { IBAN_LENGTHS, luhnValid } from './internal/checksums.ts';
import { AT, COLON, DASH, DOT, EQUALS, SLASH, SPACE, UNDERSCORE, type Requirement } from './internal/profile.ts';

export interface Detector {
  /** Names the kind of datum, e.g. 'email', 'openai-key'; used in config and in findings. */
  readonly kind: string;
  /** Global regex; each match is a candidate. */
  readonly pattern: RegExp;
  /**
   * Necessary condition for `pattern` to match, stated on the string's character profile (length,
   * punctuation, digit chains): checked without a regex, so most strings skip most detectors.
   */
  readonly trigger: Requirement;
  /** Rejects a candidate the regex alone cannot judge. */
  validate?(match: RegExpExecArray): boolean;
  /** Where the datum starts when the pattern sees part of it through a lookbehind; default `match.index`. */
  start?(match: RegExpExecArray): number;
  /** The replacement of the datum (from `start` to the end of the match); keeps the kind visible, e.g. `[email]`. */
  mask(match: RegExpExecArray): string;
}


/** A mask this stage wrote, so that later detectors leave it alone. */
export const MASK_TOKEN = /\[[a-z][a-z0-9-]*(?: …\d{4})?\]/;

const fixed = (label: string) => (): string => `[${label}]`;

/** Keeps group 1 (a key, a scheme, a prefix) and masks the rest. */
const keepPrefix = (label: string) => (m: RegExpExecArray): string => `${m[1]}[${label}]`;

/** True when s mixes at least `classes` of: lower case, upper case, digits. Random tokens do. */
function mixes(s: string, classes: number): boolean {
  let lower = 0;
  let upper = 0;
  let digit = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 97 && c <= 122) lower = 1;
    else if (c >= 65 && c <= 90) upper = 1;
    else if (c >= 48 && c <= 57) digit = 1;
  }
  return lower + upper + digit >= classes;
}

// Between a key and its separator: `k=`, `k :`, `"k":`, `\"k\":` (JSON inside a JSON string).
const KEY_QUOTE = String.raw`\\{0,15}["']?\s{0,5}`;
const SEP = String.raw`(?::=|=>|[:=])\s{0,5}`;

// ---------------------------------------------------------------------------------------------
// Credentials
// ---------------------------------------------------------------------------------------------

const privateKey: Detector = {
  kind: 'private-key',
  // Body may not contain '-----', so each BEGIN scans at most to the next dashes (linear), and a
  // truncated block (no END, e.g. a cut-off prompt) is still masked up to the end of its run.
  pattern:
    /-----BEGIN [A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----(?:[^-]|-(?!----)){0,20000}(?:-----END [A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----)?/g,
  trigger: { minLength: 40, upper: 10, all: DASH },
  mask: fixed('private-key'),
};

const jwt: Detector = {
  kind: 'jwt',
  // header.payload.signature (JWS) and up to five parts (JWE); the header is always `{"...` = eyJ.
  pattern:
    /(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{4,8000}\.[A-Za-z0-9_-]{4,8000}(?:\.[A-Za-z0-9_-]{0,8000}){1,3}/g,
  trigger: { minLength: 30, upper: 3, all: DOT },
  mask: fixed('jwt'),
};

const anthropicKey: Detector = {
  kind: 'anthropic-key',
  pattern: /(?<![A-Za-z0-9_-])sk-ant-[A-Za-z0-9_-]{20,1000}/g,
  trigger: { minLength: 27, upper: 1, digits: 1, all: DASH },
  mask: fixed('anthropic-key'),
};

const openaiKey: Detector = {
  kind: 'openai-key',
  // sk-..., sk-proj-..., sk-svcacct-..., sk-admin-...; a slug like sk-learn-docs is not random.
  pattern: /(?<![A-Za-z0-9_-])sk-(?!ant-)[A-Za-z0-9_-]{20,1000}/g,
  trigger: { minLength: 23, upper: 1, digits: 1, all: DASH },
  validate: (m) => mixes(m[0].slice(3), 3),
  mask: fixed('openai-key'),
};

const googleApiKey: Detector = {
  kind: 'google-api-key',
  pattern: /(?<![A-Za-z0-9_-])AIza[0-9A-Za-z_-]{35}(?![A-Za-z0-9_-])/g,
  trigger: { minLength: 39, upper: 2 },
  mask: fixed('google-api-key'),
};

const githubToken: Detector = {
  kind: 'github-token',
  pattern: /(?<![A-Za-z0-9_])(?:gh[pousr]_[A-Za-z0-9]{36,251}|github_pat_[A-Za-z0-9_]{22,251})/g,
  trigger: { minLength: 33, all: UNDERSCORE },
  mask: fixed('github-token'),
};

const slackToken: Detector = {
  kind: 'slack-token',
  pattern: /(?<![A-Za-z0-9_-])(?:xox[abposre]|xapp)-[A-Za-z0-9-]{10,250}/g,
  trigger: { minLength: 15, digits: 4, all: DASH },
  validate: (m) => mixes(m[0], 2),
  mask: fixed('slack-token'),
};

const stripeKey: Detector = {
  kind: 'stripe-key',
  pattern: /(?<![A-Za-z0-9_])(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,247}/g,
  trigger: { minLength: 24, upper: 1, digits: 1, all: UNDERSCORE },
  mask: fixed('stripe-key'),
};

const huggingfaceToken: Detector = {
  kind: 'huggingface-token',
  pattern: /(?<![A-Za-z0-9_])hf_[A-Za-z0-9]{30,60}(?![A-Za-z0-9_])/g,
  trigger: { minLength: 33, upper: 1, all: UNDERSCORE },
  validate: (m) => mixes(m[0].slice(3), 2),
  mask: fixed('huggingface-token'),
};

const awsAccessKeyId: Detector = {
  kind: 'aws-access-key-id',
  pattern: /(?<![A-Za-z0-9])(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}(?![A-Za-z0-9])/g,
  trigger: { minLength: 20, upper: 4 },
  mask: fixed('aws-access-key-id'),
};

const awsSecretKey: Detector = {
  kind: 'aws-secret-key',
  // 40 base64 characters, only after a key that says so (aws_secret_access_key, SecretAccessKey).
  pattern: new RegExp(
    String.raw`(?<=secret[\w.-]{0,20}key${KEY_QUOTE})(${SEP}\\{0,15}["']?)([A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])`,
    'gi',
  ),
  trigger: { minLength: 50, any: EQUALS | COLON },
  validate: (m) => mixes(m[2]!, 2),
  mask: keepPrefix('aws-secret-key'),
};

const azureKey: Detector = {
  kind: 'azure-key',
  // Storage / Service Bus connection strings, Azure-named keys and secrets, APIM keys, SAS `sig=`.
  pattern: new RegExp(
    String.raw`(?<=AccountKey|SharedAccessKey|[?&]sig|(?:azure[\w.-]{0,30}(?:key|secret)|ocp-apim-subscription-key)${KEY_QUOTE})(${SEP}\\{0,15}["']?)([A-Za-z0-9+/_~.%-]{20,200}={0,2})`,
    'gi',
  ),
  trigger: { minLength: 25, any: EQUALS | COLON },
  validate: (m) => mixes(m[2]!, 2),
  mask: keepPrefix('azure-key'),
};

const urlPassword: Detector = {
  kind: 'url-password',
  // scheme://user:pass@host, anchored on '://'; the password runs to the last '@' of the authority
  // (p@ss is common). Scheme, user and host are kept.
  pattern: /(?<=[A-Za-z0-9])(:\/\/[^\s:/?#@"'<>\\[\]]{0,256}:)([^\s/?#"'<>\\]{1,256})@(?=[A-Za-z0-9[])/g,
  trigger: { all: COLON | AT | SLASH },
  validate: (m) => !MASK_TOKEN.test(m[2]!),
  mask: (m) => `${m[1]}[password]@`,
};

const bearerToken: Detector = {
  kind: 'bearer-token',
  pattern: /(?<=(?<![A-Za-z0-9_-])(?:bearer|token))(\s{1,5})([A-Za-z0-9._~+/-]{12,4096}={0,2})/gi,
  trigger: { minLength: 18, all: SPACE },
  // "Bearer" and "token" are also English: demand something a word does not have.
  validate: (m) => /\d/.test(m[2]!) || (m[2]!.length >= 24 && !/^[a-z]+$/i.test(m[2]!)),
  mask: keepPrefix('bearer-token'),
};

const basicAuth: Detector = {
  kind: 'basic-auth',
  pattern: /(?<=(?<![A-Za-z0-9_-])basic)(\s{1,5})([A-Za-z0-9+/]{6,2048}={0,2})(?![A-Za-z0-9+/=])/gi,
  trigger: { minLength: 12, upper: 1, all: SPACE },
  // Only a base64 `user:password` counts; "basic questions" does not decode to one.
  validate: (m) => {
    const b64 = m[2]!;
    if (b64.length % 4 === 1) return false;
    const decoded = Buffer.from(b64, 'base64').toString('latin1');
    return decoded.includes(':') && /^[\x20-\x7e]+$/.test(decoded);
  },
  mask: keepPrefix('basic-auth'),
};

/** A value that is not a plain word: has a digit, a symbol before its end ("Summer!" is prose), or is long. */
export function looksLikeCredential(value: string): boolean {
  return value.length >= 16 || /\d|[_+/=@#$%^&*~!](?!$)/.test(value);
}

// Key words that name a secret. Key and separator are kept, only the value is masked.
// `pass`, `pwd` and `auth` only as whole words, so bypass=, compass: and oauth: are left alone.
const SECRET_WORDS = String.raw`passw(?:or)?d|passphrase|(?<![a-z])pwd|(?<![a-z])pass|secret|token|(?:api|access|secret|private|signing|encryption|master)[_. -]?key|apikey|(?<![a-z])auth|credentials?|authorization|signature`;
// Words that are secret only when the value also looks like one (they are common English).
const WEAK_WORDS = /^(?:token|secret|pass|auth|credentials?|authorization|signature)$/i;

const secretAssignment: Detector = {
  kind: 'secret-assignment',
  // Anchored on the separator (or on "is"), the key seen through a lookbehind.
  pattern: new RegExp(
    String.raw`(?:(?<=(${SECRET_WORDS})${KEY_QUOTE})(${SEP})|(?<=(${SECRET_WORDS})\s{1,3})(is\s{1,3}))` +
      // quoted "..." (JSON, also JSON inside a JSON string), quoted '...', or bare up to a delimiter
      String.raw`(?:(\\{0,15}")((?:[^"\\\r\n]|\\[^"\\\r\n]){1,1024})|(\\{0,15}')([^'\\\r\n]{1,1024})|([^\s"'\\;<>{}()[\]]{1,1024}))`,
    'gi',
  ),
  trigger: { minLength: 5, any: EQUALS | COLON | SPACE },
  validate: (m) => {
    const value = m[6] ?? m[8] ?? m[9]!.slice(0, bareEnd(m[9]!));
    if (value === '' || MASK_TOKEN.test(value) || PLACEHOLDER.test(value)) return false;
    const bare = m[9] !== undefined;
    const prose = m[4] !== undefined;
    if (bare && /^(?:bearer|basic|token|digest)$/i.test(value)) return false; // a scheme: see bearer-token
    if ((bare && WEAK_WORDS.test(m[1] ?? m[3]!)) || prose) return looksLikeCredential(value);
    return true;
  },
  mask: (m) => {
    const quote = m[5] ?? m[7] ?? '';
    // A bare value in a query string ends where the next parameter starts: ?password=x&next=/home
    const rest = m[9] === undefined ? '' : m[9].slice(bareEnd(m[9]));
    return `${m[2] ?? m[4]}${quote}[secret]${rest}`;
  },
};

function bareEnd(value: string): number {
  const i = value.search(/&[\w.%-]{1,64}=/);
  return i < 0 ? value.length : i;
}

// Values that stand for a secret without being one: references, placeholders, literals.
const PLACEHOLDER =
  /^(?:null|nil|none|true|false|undefined|\*+|x+|\.{3}|…|<[^>]*>?|\$|\$\{.*|\$[A-Z_][A-Z0-9_]*|%[A-Z_]+%|\{\{.*|(?:process\.env|os\.environ|os\.getenv|env)(?:[.[].*)?|redacted|\[redacted\]|changeme)$/i;

// ---------------------------------------------------------------------------------------------
// Personal data
// ---------------------------------------------------------------------------------------------

// Extensions that look like TLDs in file names such as logo@2x.png.
const FILE_EXT = /^(?:png|jpe?g|gif|svg|webp|ico|bmp|tiff?|js|mjs|cjs|ts|tsx|jsx|json|css|scss|html?|md|txt|pdf|zip|gz|tar|csv|xml|ya?ml|py|rb|go|rs|java|kt|swift|sh|lock|log|mp[34]|mov|wav)$/i;

const email: Detector = {
  kind: 'email',
  // Anchored on '@', the local part seen through a lookbehind (group 1) and masked with the rest.
  pattern:
    /(?<=(?<![A-Za-z0-9._%+-])([A-Za-z0-9._%+-]{1,64}))@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.){1,8}[A-Za-z]{2,24}(?![A-Za-z0-9-])/g,
  trigger: { all: AT | DOT },
  validate: (m) => {
    const start = m.index - m[1]!.length;
    // ssh://git@host and git@github.com:org/repo are addresses of machines, not people.
    if (start > 0 && m.input.charCodeAt(start - 1) === 47 /* / */) return false;
    if (m[1] === 'git') return false;
    return !FILE_EXT.test(m[0].slice(m[0].lastIndexOf('.') + 1));
  },
  start: (m) => m.index - m[1]!.length,
  mask: fixed('email'),
};

const iban: Detector = {
  kind: 'iban',
  pattern: /(?=[A-Z])(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?:[ -]?[A-Z0-9]){11,32}(?![A-Za-z0-9])/g,
  trigger: { minLength: 15, upper: 2, digits: 8 },
  validate: (m) => ibanEnd(m[0]) > 0,
  // The greedy run may take a trailing word ("... 0130 00 EUR"): mask only the IBAN itself.
  mask: (m) => `[iban]${m[0].slice(ibanEnd(m[0]))}`,
};

/** Index in `s` just past a valid IBAN that starts it, or 0. No allocation: runs on every candidate. */
function ibanEnd(s: string): number {
  const length = IBAN_LENGTHS[s.slice(0, 2)];
  if (length === undefined) return 0;
  // mod 97 of the IBAN rotated by four (BBAN first, then country and check digits), letters as 10..35.
  let rem = 0;
  let n = 0;
  let i = 0;
  for (; i < s.length && n < length; i++) {
    const c = s.charCodeAt(i);
    if (c === 32 || c === 45) continue;
    n++;
    if (n <= 4) continue;
    rem = c <= 57 ? (rem * 10 + (c - 48)) % 97 : (rem * 100 + (c - 55)) % 97;
  }
  if (n !== length) return 0;
  for (let k = 0; k < 4; k++) {
    const c = s.charCodeAt(k);
    rem = c <= 57 ? (rem * 10 + (c - 48)) % 97 : (rem * 100 + (c - 55)) % 97;
  }
  return rem === 1 ? i : 0;
}

/**
 * Candidate runs (cards, phones) are greedy and may carry a neighbour: "4111 1111 1111 1111 12/26",
 * "415-555-0134 2 times". The datum is the longest prefix of the run that ends at a group boundary
 * and passes `accept`; returns its length, or 0.
 */
function longestPrefix(run: string, accept: (prefix: string) => boolean): number {
  for (let end = run.length; end > 0; end--) {
    if (end < run.length) {
      const next = run.charCodeAt(end);
      if (next >= 48 && next <= 57) continue; // inside a group
    }
    const last = run.charCodeAt(end - 1);
    if (last < 48 || last > 57) continue;
    if (accept(run.slice(0, end))) return end;
  }
  return 0;
}

function isCard(s: string): boolean {
  const digits = s.replace(/[ -]/g, '');
  if (digits.length < 13 || digits.length > 19) return false;
  const first = digits.charCodeAt(0);
  if (first < 50 || first > 54) return false; // issuers start with 2-6 (Mastercard .. Discover/UnionPay)
  if (s.includes(' ') && s.includes('-')) return false;
  return luhnValid(digits);
}

const card: Detector = {
  kind: 'card',
  // 13-19 digits with single spaces or dashes between; Luhn and issuer checked in code.
  pattern: /(?<![\w-]|\d[ -])\d(?:[ -]?\d){12,24}(?!\w)/g,
  trigger: { chain: 13 },
  validate: (m) => longestPrefix(m[0], isCard) > 0,
  mask: (m) => {
    const end = longestPrefix(m[0], isCard);
    return `[card …${m[0].slice(0, end).replace(/[ -]/g, '').slice(-4)}]${m[0].slice(end)}`;
  },
};

const ssn: Detector = {
  kind: 'ssn',
  // US SSN only shortly after a word naming it; bare 3-2-4 numbers are too often part numbers.
  pattern:
    /(?<=(?<![a-z])(?:ssn|social[ -]security(?:[ -](?:number|no\.?|#))?|ss#)[^\d\n]{0,24})(?<!\d)\d{3}([- ]?)\d{2}\1\d{4}(?![\d-])/gi,
  trigger: { chain: 9 },
  validate: (m) => {
    const d = m[0].replace(/\D/g, '');
    const area = d.slice(0, 3);
    return area !== '000' && area !== '666' && d[0] !== '9' && d.slice(3, 5) !== '00' && d.slice(5) !== '0000';
  },
  mask: fixed('ssn'),
};

const DATE_LIKE = /^(?:\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4})(?!\d)/;
// North American: (415) 555-0134, 415-555-0134, 415.555.0134, 1-800-555-0199 (one separator kind).
const NANP = /^(?:1[ .-]?)?(?:\([2-9]\d{2}\) ?\d{3}[ .-]\d{4}|[2-9]\d{2}([ .-])\d{3}\1\d{4})$/;
// Trunk prefix 0 (most of Europe, UK, AU, JP...): 020 7946 0958, 07700 900123, 01 23 45 67 89, 030/1234567.
const TRUNK_ZERO = /^(?:\(0[1-9]\d{0,4}\) ?|0[1-9]\d{0,4}[ /.-])\d{2,8}(?:[ .-]\d{2,5}){0,3}$/;
// Area code in parentheses without trunk 0: (11) 91234-5678.
const PAREN_AREA = /^\(\d{2,4}\) ?\d{3,5}[ -]?\d{4}$/;
const PHONE_CONTEXT = /\b(?:phone|tel|telephone|mobile|cell|call|whatsapp|sms|fax)\b/i;

function phoneShape(s: string, contextBefore: string): boolean {
  const digits = s.replace(/\D/g, '');
  const n = digits.length;
  if (s[0] === '+' || s.startsWith('(+')) return n >= 8 && n <= 15 && digits[0] !== '0';
  if (/^00[1-9]/.test(s)) return n >= 11 && n <= 17 && /[ ()./-]/.test(s);
  if (n < 7 || n > 13 || DATE_LIKE.test(s)) return false;
  // A bare digit run is an order number unless the text calls it a phone.
  if (/^\d+$/.test(s)) return n >= 8 && PHONE_CONTEXT.test(contextBefore);
  if (NANP.test(s)) return true;
  if (TRUNK_ZERO.test(s)) return n >= 9 && n <= 12;
  return PAREN_AREA.test(s);
}

function phoneEnd(m: RegExpExecArray): number {
  const before = m.input.slice(Math.max(0, m.index - 32), m.index);
  return longestPrefix(m[0], (p) => phoneShape(p, before));
}

const phone: Detector = {
  kind: 'phone',
  // Candidate runs of digits and phone punctuation; the shape is judged in code.
  // Not inside a sequence of digit groups (an account number, a bad IBAN): only its start is tried.
  pattern: /(?=[+(\d])(?<![\w+.:/(-]|\d[ ./-])(?:\+|\(\+?)?\(?\d[\d ()./-]{5,24}\d(?!\w)/g,
  trigger: { chain: 8 },
  validate: (m) => phoneEnd(m) > 0,
  mask: (m) => `[phone]${m[0].slice(phoneEnd(m))}`,
};

/**
 * All built-in detectors, in the order they run: the most specific first, so that a provider key
 * inside `api_key=...` is reported as that provider's key, and masks are never re-matched.
 */
export const BUILTIN_DETECTORS: readonly Detector[] = [
  privateKey,
  jwt,
  anthropicKey,
  openaiKey,
  googleApiKey,
  githubToken,
  slackToken,
  stripeKey,
  huggingfaceToken,
  awsAccessKeyId,
  awsSecretKey,
  azureKey,
  urlPassword,
  bearerToken,
  basicAuth,
  secretAssignment,
  email,
  iban,
  ssn,
  card,
  phone,
];

export const BUILTIN_KINDS: readonly string[] = BUILTIN_DETECTORS.map((d) => d.kind);

const SECRET_KEY_NAME = new RegExp(String.raw`(${SECRET_WORDS})$`, 'i');
// As object keys, only these two name non-secrets often enough ({ auth: 'required' }).
const WEAK_KEY_WORDS = /^(?:auth|signature)$/i;
/** Longest secret word plus one character for its left-boundary check: keys are tested on this tail. */
const KEY_TAIL = 16;
/** Last three letters of every secret word, lower-cased into one number: most keys end otherwise. */
const SECRET_ENDINGS = new Set(
  ['password', 'passwd', 'passphrase', 'pwd', 'pass', 'secret', 'token', 'key', 'credential', 'credentials', 'authorization', 'auth', 'signature'].map(
    (w) => ending(w),
  ),
);

function ending(s: string): number {
  const n = s.length;
  return ((s.charCodeAt(n - 3) | 32) << 16) | ((s.charCodeAt(n - 2) | 32) << 8) | (s.charCodeAt(n - 1) | 32);
}

/**
 * Whether an object key or attribute name names a secret: 'strong' (its whole value is masked),
 * 'weak' (masked when the value looks like a credential), or null.
 */
export function secretKeyStrength(name: string): 'strong' | 'weak' | null {
  if (name.length < 3 || !SECRET_ENDINGS.has(ending(name))) return null;
  // An unanchored-left regex would try every position of a long key; the word can only be at the end.
  const m = SECRET_KEY_NAME.exec(name.length > KEY_TAIL ? name.slice(-KEY_TAIL) : name);
  if (m === null) return null;
  return WEAK_KEY_WORDS.test(m[1]!) ? 'weak' : 'strong';
}
