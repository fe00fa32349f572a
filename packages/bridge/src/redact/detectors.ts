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
 *  - a provider prefix may follow identifier glue (`user_42_ghp_…`, `cfg_sk-…`): its lookbehind
 *    rejects only letters and digits; `validate` keeps snake_case and kebab-case words out;
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
  /**
   * Where the datum ends when it runs past the match (a JSON object under a secret key, a cookie
   * header); default the end of the match. Called only on accepted candidates.
   */
  end?(match: RegExpExecArray): number;
  /** The replacement of the datum (from `start` to its end); keeps the kind visible, e.g. `[email]`. */
  mask(match: RegExpExecArray): string;
}


/** A mask this stage wrote, so that later detectors leave it alone. */
export const MASK_TOKEN = /\[[a-z][a-z0-9-]*(?: …\d{4})?\]/;
/** A value that starts with a mask (see secretAssignment). */
const MASK_PREFIX = /^\[[a-z][a-z0-9-]*(?: …\d{4})?\]/;
/** Escapes and percent-encodings, to see whether text holds more than encoded quotes and spaces. */
const ENCODED = /\\+(?:u[0-9A-Fa-f]{4}|[^u])|%[0-9A-Fa-f]{2}/g;

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

/**
 * A provider key's body is random: it mixes lower case, upper case and digits, or (an all-lower-case
 * key) holds a run of 20 letters and digits with both in it. Words joined by '-' or '_'
 * (sk-learn-0-24-release-notes, github_pat_rotation_for_all) have no such run.
 */
function randomBody(s: string): boolean {
  if (mixes(s, 3)) return true;
  let run = 0;
  let letters = 0;
  let digits = 0;
  for (let i = 0; i <= s.length; i++) {
    const c = i < s.length ? s.charCodeAt(i) | 32 : 0;
    if (c >= 97 && c <= 122) letters++;
    else if (c >= 48 && c <= 57) digits++;
    else {
      if (run >= 20 && letters > 0 && digits > 0) return true;
      run = letters = digits = 0;
      continue;
    }
    run++;
  }
  return false;
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
    /(?<![A-Za-z0-9])eyJ[A-Za-z0-9_-]{4,8000}\.[A-Za-z0-9_-]{4,8000}(?:\.[A-Za-z0-9_-]{0,8000}){1,3}/g,
  trigger: { minLength: 30, upper: 3, all: DOT },
  mask: fixed('jwt'),
};

const anthropicKey: Detector = {
  kind: 'anthropic-key',
  pattern: /(?<![A-Za-z0-9])sk-ant-[A-Za-z0-9_-]{20,1000}/g,
  trigger: { minLength: 27, digits: 1, all: DASH },
  validate: (m) => randomBody(m[0].slice(7)),
  mask: fixed('anthropic-key'),
};

const openaiKey: Detector = {
  kind: 'openai-key',
  // sk-..., sk-proj-..., sk-svcacct-..., sk-admin-...; a slug like sk-learn-docs is not random.
  pattern: /(?<![A-Za-z0-9])sk-(?!ant-)[A-Za-z0-9_-]{20,1000}/g,
  trigger: { minLength: 23, digits: 1, all: DASH },
  validate: (m) => randomBody(m[0].slice(3)),
  mask: fixed('openai-key'),
};

const googleApiKey: Detector = {
  kind: 'google-api-key',
  pattern: /(?<![A-Za-z0-9])AIza[0-9A-Za-z_-]{35}(?![A-Za-z0-9_-])/g,
  trigger: { minLength: 39, upper: 2 },
  mask: fixed('google-api-key'),
};

const githubToken: Detector = {
  kind: 'github-token',
  pattern: /(?<![A-Za-z0-9])(?:gh[pousr]_[A-Za-z0-9]{36,251}|github_pat_[A-Za-z0-9_]{22,251})/g,
  trigger: { minLength: 33, all: UNDERSCORE },
  validate: (m) => m[0].charCodeAt(3) === 95 /* gh?_ */ || randomBody(m[0].slice(11)),
  mask: fixed('github-token'),
};

const slackToken: Detector = {
  kind: 'slack-token',
  pattern: /(?<![A-Za-z0-9])(?:xox[abposre]|xapp)-[A-Za-z0-9-]{10,250}/g,
  trigger: { minLength: 15, digits: 4, all: DASH },
  validate: (m) => mixes(m[0], 2),
  mask: fixed('slack-token'),
};

const stripeKey: Detector = {
  kind: 'stripe-key',
  pattern: /(?<![A-Za-z0-9])(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,247}/g,
  trigger: { minLength: 24, digits: 1, all: UNDERSCORE },
  validate: (m) => mixes(m[0].slice(8), 2),
  mask: fixed('stripe-key'),
};

const huggingfaceToken: Detector = {
  kind: 'huggingface-token',
  pattern: /(?<![A-Za-z0-9])hf_[A-Za-z0-9]{30,60}(?![A-Za-z0-9_])/g,
  trigger: { minLength: 33, all: UNDERSCORE },
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
const SECRET_WORDS = String.raw`passw(?:or)?d|passphrase|(?<![a-z])pwd|(?<![a-z])pass|secret|token|(?:api|access|secret|private|signing|encryption|master)[_. -]?key|apikey|(?<![a-z])auth|credentials?|authorization|signature|cookies?`;
// Words that are secret only when the value also looks like one (they are common English).
const WEAK_WORDS = /^(?:token|secret|pass|auth|credentials?|authorization|signature|cookies?)$/i;
const COOKIE_WORD = /^cookies?$/i;

const secretAssignment: Detector = {
  kind: 'secret-assignment',
  // Anchored on the separator (or on "is"), the key seen through a lookbehind.
  pattern: new RegExp(
    String.raw`(?:(?<=(${SECRET_WORDS})${KEY_QUOTE})(${SEP})|(?<=(${SECRET_WORDS})\s{1,3})(is\s{1,3}))` +
      // quoted "..." (JSON, also JSON inside a JSON string), quoted '...', bare up to a delimiter
      // (perhaps after a mask: see validate), or the bracket opening an object or array (its end is
      // found in code: `end`)
      String.raw`(?:(\\{0,15}")((?:[^"\\\r\n]|\\[^"\\\r\n]){1,1024})|(\\{0,15}')([^'\\\r\n]{1,1024})|((?:\[[a-z][a-z0-9-]{0,40}\])?[^\s"'\\;<>{}()[\]]{1,1024})|([[{]))`,
    'gi',
  ),
  trigger: { minLength: 5, any: EQUALS | COLON | SPACE },
  validate: (m) => {
    if (m[10] !== undefined) return containerIsSecret(m);
    const value = m[6] ?? m[8] ?? m[9]!.slice(0, bareEnd(m[9]!));
    // The decoded view masked the value up to a delimiter the text has encoded
    // (password=my%20long%20phrase, "my\u0022pass"): the rest of it goes too.
    const masked = MASK_PREFIX.exec(value);
    if (masked !== null) return /\S/.test(value.slice(masked[0].length).replace(ENCODED, ''));
    if (value === '' || MASK_TOKEN.test(value) || PLACEHOLDER.test(value)) return false;
    const bare = m[9] !== undefined;
    const prose = m[4] !== undefined;
    if (bare && /^(?:bearer|basic|token|digest)$/i.test(value)) return false; // a scheme: see bearer-token
    if (prose) return looksLikeCredential(value);
    // "Cookie: theme=dark; sid=…" is a header; "cookies: Settings > Privacy" is prose.
    if (bare && COOKIE_WORD.test(m[1]!)) return value.includes('=') || looksLikeCredential(value);
    if (bare && WEAK_WORDS.test(m[1]!)) return looksLikeCredential(value);
    return true;
  },
  end: (m) => {
    if (m[10] !== undefined) return containerEnd(m);
    // Every cookie of the header is someone's session: mask to the end of the line.
    if (m[9] !== undefined && m[1] !== undefined && COOKIE_WORD.test(m[1])) return lineEnd(m.input, m.index + m[0].length);
    return m.index + m[0].length;
  },
  mask: (m) => {
    const valueQuote = m[5] ?? m[7];
    const bare = m[9];
    // A bare value in a query string ends where the next parameter starts: ?password=x&next=/home
    const rest = bare === undefined ? '' : bare.slice(bareEnd(bare));
    if (m[2] === undefined) return `${m[4]}${valueQuote ?? ''}[secret]${rest}`;
    if (valueQuote !== undefined) return `${m[2]}${valueQuote}[secret]`;
    if (m[10] === undefined && COOKIE_WORD.test(m[1]!)) return `${m[2]}[secret]`; // to the end of the line (`end`)
    // An object, or a bare value after a quoted key (a JSON number or literal): a string in its
    // place keeps the JSON valid, quoted as the key is.
    const q = keyQuote(m);
    const quote = q.quote === '' ? '' : '\\'.repeat(q.escapes) + q.quote;
    return `${m[2]}${quote}[secret]${quote}${rest}`;
  },
};

/** Longest object or array under a secret key that is masked; a longer one is masked up to here. */
const MAX_CONTAINER = 65_536;
/** Longest object checked for being a JSON Schema; a longer one is masked without parsing. */
const MAX_SCHEMA = 512;

/** The quote before the separator of `"key": {` and the backslashes escaping it (JSON in a JSON string). */
function keyQuote(m: RegExpExecArray): { quote: string; escapes: number } {
  let i = m.index - 1;
  while (i >= 0 && /\s/.test(m.input[i]!)) i--;
  const quote = m.input[i] === '"' || m.input[i] === "'" ? m.input[i]! : '';
  let escapes = 0;
  if (quote !== '') while (i - escapes > 0 && m.input.charCodeAt(i - escapes - 1) === 92) escapes++;
  return { quote, escapes };
}

/**
 * An object or array after `"key":` is masked whole when the key is quoted (JSON, a Python repr):
 * after a bare word it is prose or YAML, where brackets are links, lists and placeholders. `auth`
 * and `signature` name settings as often as secrets ({"auth": {"type": "oauth2"}}), as object keys
 * do (`secretKeyStrength`). Empty ones hold nothing, and a JSON Schema (a tool definition's
 * `"password": {"type": "string"}`) describes a secret without holding one.
 */
function containerIsSecret(m: RegExpExecArray): boolean {
  if (m[2] === undefined || WEAK_KEY_WORDS.test(m[1]!)) return false;
  const { quote, escapes } = keyQuote(m);
  if (quote === '') return false;
  const open = m.index + m[0].length - 1;
  let i = open + 1;
  while (i < m.input.length && /\s/.test(m.input[i]!)) i++;
  const close = m[10] === '{' ? '}' : ']';
  if (m.input[i] === close) return false;
  const end = containerEnd(m);
  // Only short, closed objects are parsed, so a rejected candidate costs a bounded scan.
  if (m[10] !== '{' || quote !== '"' || end - open > MAX_SCHEMA || m.input[end - 1] !== '}') return true;
  return !isJsonSchema(parseAtLevel(m.input.slice(open, end), trailingOnes(escapes)));
}

/** JSON text inside `level` JSON strings, parsed; undefined when it is not JSON. */
function parseAtLevel(text: string, level: number): unknown {
  try {
    let t = text;
    for (let l = 0; l < level; l++) t = JSON.parse(`"${t}"`) as string;
    return JSON.parse(t);
  } catch {
    return undefined;
  }
}

const SCHEMA_TYPES = new Set(['string', 'number', 'integer', 'boolean', 'object', 'array', 'null']);
const SCHEMA_WORDS = new Set([
  'type', '$ref', 'description', 'title', 'format', 'pattern', 'minLength', 'maxLength', 'minimum', 'maximum',
  'nullable', 'readOnly', 'writeOnly', 'deprecated',
]);

/**
 * A flat JSON Schema of one value (`{"type": "string", "minLength": 12}`), as tool definitions
 * give for a password or key parameter. `default`, `enum`, `examples` and nested schemas are not
 * accepted: those can hold a value.
 */
export function isJsonSchema(v: unknown): boolean {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return false;
  const o = v as Record<string, unknown>;
  if (!(typeof o.type === 'string' && SCHEMA_TYPES.has(o.type)) && typeof o.$ref !== 'string') return false;
  for (const k in o) {
    const x = o[k];
    if (!SCHEMA_WORDS.has(k) || (x !== null && typeof x === 'object')) return false;
  }
  return true;
}

/**
 * The JSON string nesting level of a quote after `run` backslashes: 0 for `"`, 1 for `\"`, 2 for
 * `\\\"`; an escaped backslash before it does not count (`\\"` is level 0). That is the number of
 * trailing one bits of `run`.
 */
function trailingOnes(run: number): number {
  return 31 - Math.clz32(~run & (run + 1));
}

/**
 * Where the object or array opened at the end of the match closes (just past it). Brackets inside
 * strings do not count. Strings at the key's level delimit, a quote at a lower level ends the
 * enclosing string and so the container (`{"a":"{\"k\":[1}"}`). Unclosed: the end of the text or
 * MAX_CONTAINER, so a truncated object is masked to its end.
 */
function containerEnd(m: RegExpExecArray): number {
  const s = m.input;
  const open = m.index + m[0].length - 1;
  if (cachedInput === s && cachedOpen === open) return cachedEnd;
  const { quote: q, escapes } = keyQuote(m);
  const quote = q.charCodeAt(0);
  const level = trailingOnes(escapes);
  const limit = Math.min(s.length, open + MAX_CONTAINER);
  let end = limit;
  let depth = 0;
  let inString = false;
  let run = 0;
  for (let i = open; i < limit; i++) {
    const c = s.charCodeAt(i);
    if (c === 92) {
      run++;
      continue;
    }
    if (c === quote) {
      const at = trailingOnes(run);
      if (at < level) {
        end = i;
        break;
      }
      if (at === level) inString = !inString;
    } else if (!inString) {
      if (c === 123 || c === 91) depth++;
      else if ((c === 125 || c === 93) && --depth === 0) {
        end = i + 1;
        break;
      }
    }
    run = 0;
  }
  cachedInput = s;
  cachedOpen = open;
  cachedEnd = end;
  return end;
}

// containerEnd runs in validate and again in end on the same candidate: the second call is free.
let cachedInput = '';
let cachedOpen = -1;
let cachedEnd = 0;

/** Where the header line that continues at `from` ends: a line break, a quote, a backslash (`\n` in JSON). */
function lineEnd(s: string, from: number): number {
  const limit = Math.min(s.length, from + 4096);
  let i = from;
  while (i < limit) {
    const c = s.charCodeAt(i);
    if (c === 10 || c === 13 || c === 34 || c === 39 || c === 92) break;
    i++;
  }
  return i;
}

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
  ['password', 'passwd', 'passphrase', 'pwd', 'pass', 'secret', 'token', 'key', 'credential', 'credentials', 'authorization', 'auth', 'signature', 'cookie', 'cookies'].map(
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
