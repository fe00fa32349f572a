/**
 * The offline verifier on the committed testdata pack (testdata/generate.ts) and on copies of it
 * altered the ways an insider would: each alteration is found and named. Also runs the pack
 * README's instructions for checking without otel-audit (its Python sketch and its openssl
 * commands), so that they stay true.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { generateKeyPairSync, sign } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { unzipSync, zipSync } from 'fflate';
import { describe, expect, it } from 'vitest';
import { eventHash, signCheckpoint, type Checkpoint } from '../chain/index.ts';
import { FILES } from './format.ts';
import { generateTestPack, TESTDATA_CASE, TESTDATA_PACK, testdataKey } from './testdata/generate.ts';
import { formatEvidenceReport, UnusablePackError, verifyEvidencePack, type EvidenceReport } from './verify.ts';

const pack = readFileSync(TESTDATA_PACK);
const key = testdataKey();
const MEDIUM = 'checkpoints/testdata-medium/00000000000000000011';

type Files = Record<string, Uint8Array>;
const text = (b: Uint8Array) => Buffer.from(b).toString('utf8');
const bytes = (s: string) => new Uint8Array(Buffer.from(s, 'utf8'));

/** A copy of the pack with its files changed by `edit`. */
function altered(edit: (f: Files) => void, from: Uint8Array = pack): Uint8Array {
  const files = unzipSync(from);
  edit(files);
  return zipSync(files);
}

/** Replaces the first occurrence of `a` in the file, which must hold it. */
function replaceIn(f: Files, name: string, a: string, b: string): void {
  const t = text(f[name]);
  expect(t, `${name} holds ${a}`).toContain(a);
  f[name] = bytes(t.replace(a, b));
}

function kinds(r: EvidenceReport): string[] {
  return [...new Set(r.findings.map((f) => f.kind))].sort();
}

const check = (data: Uint8Array, withKey = true) => verifyEvidencePack(data, withKey ? { publicKey: key.publicKey } : {});

describe('the committed testdata pack', () => {
  it('verifies, with the key inside it and with the key given', () => {
    for (const r of [check(pack, false), check(pack)]) {
      expect(r.findings).toEqual([]);
      expect(r).toMatchObject({ ok: true, correlation_id: TESTDATA_CASE, events: 6, proofs_verified: 6, findings_total: 0 });
      expect(r.chains.map((c) => [c.chain_id, c.tree_size, c.events, c.signature_ok])).toEqual([
        ['testdata-high', 5, 1, true],
        ['testdata-medium', 11, 5, true],
      ]);
    }
    expect(check(pack, false).key.source).toBe('pack');
    expect(formatEvidenceReport(check(pack, false), 'p.zip')).toMatch(/^OK: p\.zip: evidence pack of case "CASE-TESTDATA", 6 events:[^\n]*\n.*\nKey: the signatures were checked with the key inside the pack .*which was trusted as is\. Compare it with the public key the operator published \(otel-audit public-key\)/);
    expect(formatEvidenceReport(check(pack), 'p.zip')).toMatch(/\nKey: checked with the key you gave \(key id [0-9a-f]{16}\)\.\n/);
  });

  it('is what testdata/generate.ts makes (file by file)', async () => {
    const fresh = unzipSync(await generateTestPack());
    const committed = unzipSync(pack);
    expect(Object.keys(fresh)).toEqual(Object.keys(committed));
    for (const name of Object.keys(fresh)) expect(text(fresh[name]), `${name}: run node packages/bridge/src/evidence/testdata/generate.ts`).toBe(text(committed[name]));
  });

  it('holds the case: an approval linked to the tool call it approves, across two chains', () => {
    const events = text(unzipSync(pack)[FILES.events]).trim().split('\n').map((l) => JSON.parse(l));
    const tool = events.find((e) => e.event_type === 'tool_call');
    const approval = events.find((e) => e.event_type === 'approval');
    expect(tool).toMatchObject({ chain_id: 'testdata-high', approval_required: true });
    expect(approval.links).toEqual([{ trace_id: tool.trace_id, span_id: tool.span_id }]);
    expect(new Set(events.map((e) => e.correlation_id))).toEqual(new Set([TESTDATA_CASE]));
    // The spreadsheet does not run the rationale as a formula.
    expect(text(unzipSync(pack)[FILES.csv])).toContain(`"'=HYPERLINK(""http://example.invalid"") looks right, ""quoted"", with a comma"`);
  });
});

describe('an altered pack: exit 3, naming what', () => {
  it('one byte of an event in events.jsonl: the event (line, seq, event id), the file digest', () => {
    const r = check(altered((f) => replaceIn(f, FILES.events, '"target_id":"ACC-101"', '"target_id":"ACC-102"')));
    expect(r.ok).toBe(false);
    expect(kinds(r)).toEqual(['csv', 'event_hash', 'file_digest']);
    const ev = r.findings.find((x) => x.kind === 'event_hash')!;
    expect(ev).toMatchObject({ file: FILES.events, line: 4, chain_id: 'testdata-high', seq: 2, event_id: 'td-h-0000002t' });
    expect(ev.detail).toMatch(/^event td-h-0000002t \(chain testdata-high, seq 2, events\.jsonl line 4\): its columns hash to [0-9a-f]{16}…, not to its hash [0-9a-f]{16}…: the event was altered$/);
    expect(r.findings.find((x) => x.kind === 'file_digest')).toMatchObject({ file: FILES.events });
    expect(r.findings.find((x) => x.kind === 'csv')!.detail).toMatch(/events\.csv line 5 disagrees with events\.jsonl line 4 .* in target_id$/);
  });

  it('an event re-hashed after the change: its proof no longer leads to the signed root', () => {
    const r = check(
      altered((f) => {
        const lines = text(f[FILES.events]).split('\n');
        const e = JSON.parse(lines[1]);
        e.rationale = 'changed';
        e.hash = eventHash(e);
        lines[1] = JSON.stringify(e);
        f[FILES.events] = bytes(lines.join('\n'));
      }),
    );
    expect(kinds(r)).toEqual(['csv', 'file_digest', 'proof']);
    expect(r.findings.find((x) => x.kind === 'proof')).toMatchObject({ file: FILES.proofs, line: 2, seq: 2, event_id: 'td-m-00000001' });
    expect(r.findings.find((x) => x.kind === 'proof')!.detail).toMatch(/the proof of event td-m-00000001 .* is for hash [0-9a-f]{16}…, not the event's/);
  });

  it('a proof: the audit path does not lead to the root', () => {
    const r = check(
      altered((f) => {
        const lines = text(f[FILES.proofs]).split('\n');
        const p = JSON.parse(lines[2]);
        p.audit_path[1] = p.audit_path[1].replace(/^./, (c: string) => (c === 'a' ? 'b' : 'a'));
        lines[2] = JSON.stringify(p);
        f[FILES.proofs] = bytes(lines.join('\n'));
      }),
    );
    expect(kinds(r)).toEqual(['file_digest', 'proof']);
    const p = r.findings.find((x) => x.kind === 'proof')!;
    expect(p).toMatchObject({ file: FILES.proofs, line: 3, seq: 3, event_id: 'td-m-00000002', chain_id: 'testdata-medium', tree_size: 11 });
    expect(p.detail).toMatch(/does not lead to the root of checkpoint testdata-medium@11: the event's hash, its position or the audit path was altered$/);
  });

  it('the checkpoint signature: the checkpoint, by chain and tree size', () => {
    const r = check(
      altered((f) => {
        const rec = JSON.parse(text(f[`${MEDIUM}.json`]));
        const s = Buffer.from(rec.checkpoint.signature, 'base64');
        s[10] ^= 1;
        rec.checkpoint.signature = s.toString('base64');
        f[`${MEDIUM}.json`] = bytes(JSON.stringify(rec, null, 2) + '\n');
      }),
    );
    expect(kinds(r)).toEqual(['checkpoint', 'checkpoint_signature', 'file_digest']);
    expect(r.findings.find((x) => x.kind === 'checkpoint_signature')).toMatchObject({ chain_id: 'testdata-medium', tree_size: 11, file: `${MEDIUM}.json` });
    expect(r.findings.find((x) => x.kind === 'checkpoint')!.detail).toBe(`${MEDIUM}.sig is not the signature of checkpoint testdata-medium@11`);
    expect(r.chains.find((c) => c.chain_id === 'testdata-medium')!.signature_ok).toBe(false);
  });

  it('a root replaced and signed again with another key: signature, and the proofs no longer lead to it', () => {
    const other = generateKeyPairSync('ed25519').privateKey;
    const r = check(
      altered((f) => {
        const rec = JSON.parse(text(f[`${MEDIUM}.json`]));
        const { signature: _s, key_id: _k, ...rest } = rec.checkpoint as Checkpoint;
        rec.checkpoint = signCheckpoint({ ...rest, root_hash: 'ab'.repeat(32) }, other);
        f[`${MEDIUM}.json`] = bytes(JSON.stringify(rec, null, 2) + '\n');
      }),
    );
    expect(kinds(r)).toEqual(['checkpoint', 'file_digest', 'manifest']);
    // The record no longer reproduces its root from its own compact range: malformed.
    expect(r.findings.find((x) => x.kind === 'checkpoint')!.detail).toMatch(/the accumulator state does not reproduce the signed root/);
  });

  it('the CSV: the row and the column', () => {
    const r = check(altered((f) => replaceIn(f, FILES.csv, 'support-assistant', 'support-assistanT')));
    expect(kinds(r)).toEqual(['csv', 'file_digest']);
    const c = r.findings.find((x) => x.kind === 'csv')!;
    expect(c).toMatchObject({ file: FILES.csv, line: 2, seq: 1, event_id: 'td-m-00000000' });
    expect(c.detail).toBe('events.csv line 2 disagrees with events.jsonl line 1 (event td-m-00000000 (chain testdata-medium, seq 1, events.jsonl line 1)) in service_name');
  });

  it('the manifest: its signature', () => {
    const r = check(altered((f) => replaceIn(f, FILES.manifest, '"created_by": "testdata"', '"created_by": "someone-else"')));
    expect(kinds(r)).toEqual(['manifest_signature']);
    expect(r.findings[0].detail).toMatch(/^manifest\.sig is not a valid signature of manifest\.json for key [0-9a-f]{16}: the manifest was altered, or signed by another key$/);
  });

  it('an event removed from every file, digests recomputed: the manifest signature and its count', () => {
    const r = check(
      altered((f) => {
        for (const name of [FILES.events, FILES.proofs]) f[name] = bytes(text(f[name]).split('\n').filter((_, i) => i !== 2).join('\n'));
        f[FILES.csv] = bytes(text(f[FILES.csv]).split('\r\n').filter((_, i) => i !== 3).join('\r\n'));
        const m = JSON.parse(text(f[FILES.manifest]));
        for (const file of m.files) {
          file.sha256 = execSha(f[file.name]);
          file.bytes = f[file.name].length;
        }
        f[FILES.manifest] = bytes(JSON.stringify(m, null, 2) + '\n');
      }),
    );
    expect(kinds(r)).toEqual(['manifest', 'manifest_signature']);
    expect(r.findings.find((x) => x.kind === 'manifest')!.detail).toBe('the manifest counts 6 events, events.jsonl holds 5: events were added or removed');
  });

  it('a pack made again with another key: fine with its own key, every signature fails with the operator key', () => {
    const other = generateKeyPairSync('ed25519');
    const forged = altered((f) => {
      f[FILES.publicKey] = bytes(other.publicKey.export({ type: 'spki', format: 'pem' }) as string);
      for (const name of Object.keys(f).filter((n) => n.endsWith('.json') && n.startsWith('checkpoints/'))) {
        const rec = JSON.parse(text(f[name]));
        const { signature: _s, key_id: _k, ...rest } = rec.checkpoint as Checkpoint;
        rec.checkpoint = signCheckpoint(rest, other.privateKey);
        f[name] = bytes(JSON.stringify(rec, null, 2) + '\n');
        const base = name.replace(/\.json$/, '');
        f[`${base}.sig`] = Buffer.from(rec.checkpoint.signature, 'base64');
        f[`${base}.signed.txt`] = bytes(text(f[`${base}.signed.txt`]).replace(/key_id=.*\n/, `key_id=${rec.checkpoint.key_id}\n`));
      }
      const m = JSON.parse(text(f[FILES.manifest]));
      for (const file of m.files) {
        file.sha256 = execSha(f[file.name]);
        file.bytes = f[file.name].length;
      }
      const mb = bytes(JSON.stringify(m, null, 2) + '\n');
      f[FILES.manifest] = mb;
      f[FILES.manifestSig] = sign(null, mb, other.privateKey);
    });
    expect(check(forged, false).ok).toBe(true);
    const r = check(forged);
    expect(kinds(r)).toEqual(['checkpoint_signature', 'key_mismatch', 'manifest_signature']);
    expect(r.findings.find((x) => x.kind === 'key_mismatch')!.detail).toMatch(/^the pack's public key \(key id [0-9a-f]{16}\) is not the key you gave \(key id [0-9a-f]{16}\): every signature is checked against yours$/);
  });

  it('a file added, an event of another case', () => {
    const r = check(
      altered((f) => {
        f['extra.txt'] = bytes('hello');
        replaceIn(f, FILES.events, `"correlation_id":"${TESTDATA_CASE}"`, '"correlation_id":"CASE-OTHER"');
      }),
    );
    expect(kinds(r)).toEqual(['correlation_id', 'csv', 'event_hash', 'file_digest', 'unlisted_file']);
    expect(r.findings.find((x) => x.kind === 'unlisted_file')).toMatchObject({ file: 'extra.txt' });
    expect(r.findings.find((x) => x.kind === 'correlation_id')).toMatchObject({ line: 1, seq: 1 });
  });

  it('garbage in a line of events.jsonl or proofs.jsonl', () => {
    const r = check(
      altered((f) => {
        f[FILES.events] = bytes(text(f[FILES.events]).replace(/^\{/, '['));
        f[FILES.proofs] = bytes(text(f[FILES.proofs]).replace(/\n\{/, '\nX'));
      }),
    );
    expect(r.findings.filter((x) => x.kind === 'event').map((x) => x.line)).toEqual([1]);
    expect(r.findings.filter((x) => x.kind === 'proof').map((x) => x.line)).toEqual([2]);
  });
});

describe('an unusable pack: exit 2', () => {
  it('not a zip, an empty file, a zip of something else, a file missing, the pack key unusable', () => {
    expect(() => check(Buffer.from('not a zip at all'))).toThrow(UnusablePackError);
    expect(() => check(new Uint8Array(0))).toThrow(/not a zip archive/);
    expect(() => check(zipSync({ 'hello.txt': bytes('hi') }))).toThrow(/not a complete evidence pack: .* missing \(is this an otel-audit evidence pack\?\)/);
    expect(() => check(altered((f) => delete f[FILES.csv]))).toThrow(/not a complete evidence pack: events\.csv missing/);
    expect(() => check(altered((f) => delete f[`${MEDIUM}.json`]))).toThrow(/listed in the manifest but missing/);
    expect(() => check(altered((f) => (f[FILES.publicKey] = bytes('junk'))), false)).toThrow(/public-key\.pem is not a usable Ed25519 public key/);
    // With the operator's key given, a junk pack key is a finding instead.
    expect(kinds(check(altered((f) => (f[FILES.publicKey] = bytes('junk')))))).toEqual(['file_digest', 'public_key']);
  });
});

function execSha(b: Uint8Array): string {
  return execFileSync('sha256sum', { input: b }).toString().split(' ')[0];
}

function have(cmd: string): boolean {
  return spawnSync(cmd, ['--version']).status === 0 || spawnSync(cmd, ['version']).status === 0;
}

describe("the pack README's instructions for checking without otel-audit", () => {
  const readme = text(unzipSync(pack)[FILES.readme]);

  it.skipIf(!have('python3'))('its Python sketch passes the pack and catches an altered event', () => {
    const code = /```python\n([\s\S]*?)```/.exec(readme)![1];
    const dir = mkdtempSync(join(tmpdir(), 'evidence-py-'));
    writeFileSync(join(dir, 'check.py'), code);
    writeFileSync(join(dir, 'ok.zip'), pack);
    writeFileSync(join(dir, 'bad.zip'), altered((f) => replaceIn(f, FILES.events, '"target_id":"ACC-101"', '"target_id":"ACC-102"')));
    const ok = execFileSync('python3', [join(dir, 'check.py'), join(dir, 'ok.zip')]).toString();
    expect(ok).not.toContain('ALTERED');
    expect(ok.match(/ OK$/gm)).toHaveLength(12 + 6);
    const bad = execFileSync('python3', [join(dir, 'check.py'), join(dir, 'bad.zip')]).toString();
    expect(bad).toMatch(/^events\.jsonl ALTERED$/m);
    expect(bad).toMatch(/^line 4 seq 2 td-h-0000002t ALTERED$/m);
  });

  it.skipIf(!have('openssl'))('its openssl commands verify the manifest and checkpoint signatures', () => {
    const dir = mkdtempSync(join(tmpdir(), 'evidence-ossl-'));
    const files = unzipSync(pack);
    for (const [name, b] of Object.entries(files)) {
      mkdirSync(dirname(join(dir, name)), { recursive: true });
      writeFileSync(join(dir, name), b);
    }
    writeFileSync(join(dir, 'operator-key.pem'), files[FILES.publicKey]);
    const commands = readme.match(/^openssl pkeyutl .*$/gm)!;
    expect(commands).toHaveLength(2);
    for (const c of commands) {
      const r = spawnSync('sh', ['-c', c], { cwd: dir });
      expect(r.stdout.toString() + r.stderr.toString(), c).toContain('Signature Verified Successfully');
    }
    writeFileSync(join(dir, FILES.manifest), text(files[FILES.manifest]).replace('testdata', 'tampered'));
    expect(spawnSync('sh', ['-c', commands[0]], { cwd: dir }).status).not.toBe(0);
  });
});
