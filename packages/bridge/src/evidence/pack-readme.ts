/**
 * The README.md inside every evidence pack: what was proved, what was not, and how to check it
 * with otel-audit or without it. A test runs its Python sketch and its openssl commands on a
 * real pack (evidence/verify.test.ts), so the instructions stay true.
 */
import { checkpointBase, FILES } from './format.ts';

export interface ReadmeInfo {
  correlationId: string;
  createdAt: string;
  createdBy: string;
  bridgeVersion: string;
  tenants: string[];
  events: number;
  keyId: string;
  publicKeySha256: string;
  chains: Array<{ chainId: string; events: number; treeSize: number; createdAt: string; timestamps: string[] }>;
}

const q = (s: string) => JSON.stringify(s);

export function packReadme(i: ReadmeInfo): string {
  const first = i.chains[0];
  const cpBase = first ? checkpointBase(first.chainId, first.treeSize) : 'checkpoints/<chain>/<tree size>';
  const chainLines = i.chains
    .map(
      (c) =>
        `| \`${c.chainId}\` | ${c.events} | ${c.treeSize} | ${c.createdAt} | ${c.timestamps.length ? c.timestamps.join(', ') : 'none'} |`,
    )
    .join('\n');
  return `# Evidence pack: case ${q(i.correlationId)}

Made by otel-audit ${i.bridgeVersion} at ${i.createdAt} for ${q(i.createdBy)}. It holds the
${i.events} audit event${i.events === 1 ? '' : 's'} stored under correlation id ${q(i.correlationId)}
for the tenant${i.tenants.length === 1 ? '' : 's'} ${i.tenants.map(q).join(', ')}, each with a proof that it is
part of the operator's tamper-evident audit trail, unchanged.

| file | what it is |
|---|---|
| \`${FILES.events}\` | the events, one JSON object per line, exactly as stored (every column) |
| \`${FILES.csv}\` | the same events for spreadsheets (UTF-8, one row per line of ${FILES.events}) |
| \`${FILES.proofs}\` | line *n* is the inclusion proof of line *n* of ${FILES.events} |
| \`checkpoints/\` | the signed checkpoints the proofs lead to: the anchor record (\`.json\`), the exact signed bytes (\`.signed.txt\`), the raw signature (\`.sig\`), and RFC 3161 timestamp tokens (\`.timestamp-N.tst\`) when the operator uses a timestamp authority |
| \`${FILES.publicKey}\` | the operator's Ed25519 public key (key id \`${i.keyId}\`) |
| \`${FILES.schema}\` | the columns and how each enters an event's hash |
| \`${FILES.manifest}\` | the SHA-256 of every other file, the case, when and by whom the pack was made; signed in \`${FILES.manifestSig}\` |

| chain | events in this pack | checkpoint (tree size) | signed at | timestamped by |
|---|---|---|---|---|
${chainLines}

## What this pack proves

For every event in \`${FILES.events}\`:

1. **Its content is what the audit trail stored.** The event's \`hash\` is recomputed from all of
   its columns; any changed value gives another hash.
2. **It was in the trail when the checkpoint was signed, at its position.** Each chain of events is
   a Merkle tree (RFC 6962) whose leaf number \`seq - 1\` is the event's hash. The audit path in
   \`${FILES.proofs}\` leads from the event to the tree's root.
3. **The operator signed that root.** The checkpoint holding the root is signed with the
   operator's Ed25519 key, at the time it names, and was copied to the operator's anchors (and,
   when listed above, timestamped by a third-party timestamp authority, which cannot be backdated).

So no one, the operator's database administrators included, changed, removed from its place,
or replaced one of these events after its checkpoint was signed without the check failing.

**What it does not prove:**

- **That the case has no other events.** The pack holds what the bridge had stored under this
  correlation id for the tenants above when the pack was made. An event left out of a pack cannot
  be seen from the pack; the operator's \`otel-audit verify\` checks the whole trail.
- **That the key is the operator's.** Every check below is only as good as the public key. Compare
  \`${FILES.publicKey}\` (SHA-256 of its DER: \`${i.publicKeySha256}\`) with the key the operator
  published through a channel their database administrators do not control (\`otel-audit public-key\`).
  Anyone can make a pack that verifies against a key of their own.
- **That the events tell what the application did.** The trail proves what the bridge received
  and stored. Content is stored as the operator's privacy policy allows (masked values such as
  \`[email]\`; \`input_digest\` and \`output_digest\` are SHA-256 digests of the original text;
  \`content_sealed\` is encrypted and is shown only because the hash covers it).
- \`${FILES.csv}\` is a convenience copy: the check compares it with \`${FILES.events}\` cell by cell.

## Check it with otel-audit

\`\`\`sh
npx otel-audit verify-evidence pack.zip --public-key operator-key.pem
\`\`\`

It needs no network and no access to the operator's systems. Exit code 0: intact; 3: altered (it
names the file, the event by seq and event id, the proof, checkpoint or signature); 2: not a
usable pack. Without \`--public-key\` it trusts the key inside the pack and says so.

## Check it without otel-audit

You need SHA-256, Ed25519 (OpenSSL 3: \`openssl pkeyutl -rawin\`) and the rules below. Unzip the pack.

**1. The files.** \`${FILES.manifest}\` lists the SHA-256 of every other file. \`${FILES.manifestSig}\` is the
raw 64-byte Ed25519 signature of the exact bytes of \`${FILES.manifest}\`:

\`\`\`sh
openssl pkeyutl -verify -pubin -inkey operator-key.pem -rawin -in ${FILES.manifest} -sigfile ${FILES.manifestSig}
\`\`\`

**2. The checkpoints.** \`${cpBase}.json\` holds the checkpoint
(\`checkpoint\`: chain_id, tree_size, root_hash, ...). Its signature covers exactly these bytes
(UTF-8, each line ending in LF, values as in the JSON), which \`.signed.txt\` holds:

\`\`\`
otel-audit checkpoint
version=1
chain_id=<chain_id>
tree_size=<tree_size>
root_hash=<root_hash>
head_seq=<head_seq>
head_hash=<head_hash>
created_at=<created_at>
prev_tree_size=<prev_tree_size>
prev_root_hash=<prev_root_hash>
key_id=<key_id>
\`\`\`

\`\`\`sh
openssl pkeyutl -verify -pubin -inkey operator-key.pem -rawin -in ${cpBase}.signed.txt -sigfile ${cpBase}.sig
\`\`\`

Check that the lines of \`.signed.txt\` are the fields of the JSON: the \`root_hash\` you use below
must be the signed one. \`.sig\` is the base64-decoded \`signature\` field. A timestamp token
(\`.timestamp-N.tst\`) is over the SHA-256 of \`.signed.txt\`:
\`openssl ts -verify -in <token> -token_in -data ${cpBase}.signed.txt -CAfile <the TSA's CA>\`.

**3. Each event's hash** (column \`hash\`). An event with \`hash_version\` 2 (every event sealed
by this release) is hashed over its own ClickHouse RowBinary bytes, the bytes the bridge inserted:

\`\`\`
hash = hex(SHA-256("otel-audit/event/v2\\n" || RowBinary(the columns of hash_v2.columns in ${FILES.schema})))
\`\`\`

RowBinary: \`String\` as its UTF-8 length (LEB128) then the bytes; \`UInt8\`/\`UInt32\`/\`UInt64\`
little-endian; \`Float64\` IEEE 754 little-endian; \`Bool\` one byte; \`DateTime64(9)\` the
nanoseconds since 1970 (UTC) as a signed 64-bit little-endian integer; \`Nullable\` a byte 1 for
null, else 0 then the value; \`Array\` its length (LEB128) then the items; a named \`Tuple\` its
fields in order; \`Map\` its size (LEB128) then key, value, ... in key order (UTF-16 code units);
\`LowCardinality(T)\` as \`T\`.

An event with \`hash_version\` 0 (stored by a release before it) is hashed as:

\`\`\`
hash = hex(SHA-256("otel-audit/event/v1\\n" || JSON(values)))
\`\`\`

\`values\` is a JSON array (no spaces, non-ASCII written as UTF-8, as JavaScript's \`JSON.stringify\`
writes it) of the event's columns listed under \`columns\` in \`${FILES.schema}\`, in that order, each
written by its \`normalize\` rule:

- \`uint64\`: the decimal number as a JSON string (\`"42"\`), or \`null\`;
- \`map\`: an array of \`[key, value]\` pairs sorted by key (UTF-16 code units);
- \`tuples\`: each tuple as an array of its fields in the order of the column's type;
- \`as_is\`: the value as in the JSON line.

Then, for each of \`added_columns\` in order whose value is not empty (\`""\`, \`0\`, \`false\`, \`null\`,
\`[]\`, \`{}\`): the pair \`[name, value]\`, normalized the same way.

**4. Each proof** (line *n* of \`${FILES.proofs}\` for line *n* of \`${FILES.events}\`): its \`event_hash\` is
the event's \`hash\`, \`leaf_index\` is \`seq - 1\`, \`tree_size\` and the event's \`chain_id\` are the
checkpoint's. Then, with \`leaf = SHA-256(0x00 || the 32 bytes of the event hash)\` and
\`node(l, r) = SHA-256(0x01 || l || r)\` (RFC 6962), RFC 9162 section 2.1.3.2:

\`\`\`
fn = leaf_index; sn = tree_size - 1; r = leaf
for each p in audit_path:
    if sn == 0: fail
    if fn is odd or fn == sn:
        r = node(p, r)
        while fn is even and fn != 0: fn = fn >> 1; sn = sn >> 1
    else:
        r = node(r, p)
    fn = fn >> 1; sn = sn >> 1
ok if sn == 0 and r == root_hash of the checkpoint
\`\`\`

Steps 1, 3 and 4 in Python 3 (standard library only; short enough to read before you run it;
a score in \`sources\` written with an exponent would need JavaScript's number format):

\`\`\`python
import calendar, hashlib, json, struct, sys, time, zipfile
z = zipfile.ZipFile(sys.argv[1])
m = json.loads(z.read('manifest.json'))
for f in m['files']:
    print(f['name'], 'OK' if hashlib.sha256(z.read(f['name'])).hexdigest() == f['sha256'] else 'ALTERED')
s = json.loads(z.read('schema.json'))
def norm(c, v):
    if c['normalize'] == 'uint64': return None if v is None else str(v)
    if c['normalize'] == 'map': return [[k, v[k]] for k in sorted(v or {}, key=lambda k: k.encode('utf-16-be'))]
    if c['normalize'] == 'tuples':
        names = [f.split()[0] for f in c['type'][len('Array(Tuple('):-2].split(',')]
        return [t if isinstance(t, list) else [t.get(n) for n in names] for t in v or []]
    return v
def varint(n):
    out = bytearray()
    while n >= 0x80: out.append(n & 0x7f | 0x80); n >>= 7
    return bytes(out + bytes([n]))
def args(t):
    out, depth, start = [], 0, 0
    for i, ch in enumerate(t):
        depth += ch == '('; depth -= ch == ')'
        if ch == ',' and depth == 0: out.append(t[start:i].strip()); start = i + 1
    return out + [t[start:].strip()]
def rowbinary(t, v):
    if t.startswith('LowCardinality('): t = t[15:-1]
    if t == 'String': b = ('' if v is None else str(v)).encode('utf-8'); return varint(len(b)) + b
    if t in ('UInt8', 'UInt32', 'UInt64'): return int(v or 0).to_bytes({'UInt8': 1, 'UInt32': 4, 'UInt64': 8}[t], 'little')
    if t == 'Float64': return struct.pack('<d', float(v or 0))
    if t == 'Bool': return bytes([1 if v else 0])
    if t.startswith('DateTime64('):
        secs = calendar.timegm(time.strptime(v[:19], '%Y-%m-%d %H:%M:%S'))
        return (secs * 10**9 + int(v[20:].ljust(9, '0') or 0)).to_bytes(8, 'little', signed=True)
    if t.startswith('Nullable('): return b'\\x01' if v is None else b'\\x00' + rowbinary(t[9:-1], v)
    if t.startswith('Array('): return varint(len(v or [])) + b''.join(rowbinary(t[6:-1], x) for x in v or [])
    if t.startswith('Tuple('):
        fs = [f.split(None, 1) for f in args(t[6:-1])]
        return b''.join(rowbinary(ft, v[i] if isinstance(v, list) else v.get(n)) for i, (n, ft) in enumerate(fs))
    if t.startswith('Map('):
        kt, vt = args(t[4:-1]); v = v or {}
        ks = sorted(v, key=lambda k: k.encode('utf-16-be'))
        return varint(len(ks)) + b''.join(rowbinary(kt, k) + rowbinary(vt, v[k]) for k in ks)
    raise ValueError('type ' + t)
def event_hash(e):
    if int(e.get('hash_version') or 0) == 2:
        v2 = s['hash_v2']
        data = v2['hash_domain'].encode() + b''.join(rowbinary(c['type'], e.get(c['name'])) for c in v2['columns'])
        return hashlib.sha256(data).hexdigest()
    vals = [norm(c, e.get(c['name'])) for c in s['columns']]
    for c in s['added_columns']:
        v = norm(c, e.get(c['name']))
        if v not in (None, '', False, 0, '0', [], {}): vals.append([c['name'], v])
    text = s['hash_domain'] + json.dumps(vals, ensure_ascii=False, separators=(',', ':'))
    return hashlib.sha256(text.encode('utf-8')).hexdigest()
H = lambda b: hashlib.sha256(b).digest()
def root(p, leaf):
    fn, sn, r = p['leaf_index'], p['tree_size'] - 1, leaf
    for x in map(bytes.fromhex, p['audit_path']):
        if sn == 0: return None
        if fn & 1 or fn == sn:
            r = H(b'\\x01' + x + r)
            while fn & 1 == 0 and fn != 0: fn, sn = fn >> 1, sn >> 1
        else:
            r = H(b'\\x01' + r + x)
        fn, sn = fn >> 1, sn >> 1
    return r if sn == 0 else None
events = z.read('events.jsonl').decode('utf-8').splitlines()
proofs = z.read('proofs.jsonl').decode('utf-8').splitlines()
for n, (e, p) in enumerate(zip(events, proofs), 1):
    e, p = json.loads(e), json.loads(p)
    cp = json.loads(z.read(p['checkpoint']))['checkpoint']
    ok = (event_hash(e) == e['hash'] == p['event_hash'] and int(e['seq']) == p['leaf_index'] + 1
          and e['chain_id'] == cp['chain_id'] and p['tree_size'] == cp['tree_size']
          and root(p, H(b'\\x00' + bytes.fromhex(e['hash']))) == bytes.fromhex(cp['root_hash']))
    print('line', n, 'seq', e['seq'], e['event_id'], 'OK' if ok else 'ALTERED')
print(len(events), 'events,', len(proofs), 'proofs')
\`\`\`
`;
}
