import { readFileSync } from 'node:fs';
import { formatMultiReport, formatReport, type MultiChainReport, type VerifyReport } from '../../chain/verify.ts';
import { API_URL_OPTION, apiUrl, callApi, CommandError, EXIT, UsageError, type Command } from '../shared.ts';

/** verify's exit code when it ran and found tampering (1 means it could not run). */
export const EXIT_TAMPERED = 3;

export function parseSeq(v: unknown, flag: string): number | undefined {
  if (v === undefined) return undefined;
  const s = String(v);
  if (!/^\d+$/.test(s) || Number(s) < 1 || !Number.isSafeInteger(Number(s))) throw new UsageError(`invalid ${flag} "${s}": expected a positive seq number`);
  return Number(s);
}

export function readPem(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read ${what} ${path}: ${(err as Error).message}`);
  }
}

/** 90s, 30m, 2h (a timestamp tolerance). */
export function parseTolerance(v: string): number {
  const m = /^(\d+)(ms|s|m|h)$/.exec(v.trim());
  if (!m) throw new UsageError(`invalid --timestamp-tolerance "${v}": expected a duration such as 90s, 30m or 2h`);
  return Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 'ms' | 's' | 'm' | 'h'];
}

export const verify: Command = {
  summary: 'check the hash chain, the signed checkpoints and every anchor (exit 3 on tampering)',
  usage:
    'otel-audit verify [--chain ID] [--from SEQ] [--to SEQ] [--public-key FILE] [--timestamp-tolerance DURATION] [--format text|json] [--api-url URL] [--token TOKEN]',
  options: {
    ...API_URL_OPTION,
    chain: { type: 'string' },
    from: { type: 'string' },
    to: { type: 'string' },
    // Gone (the bridge verifies against its configured anchors); kept to explain that.
    'anchor-dir': { type: 'string' },
    'public-key': { type: 'string' },
    'timestamp-tolerance': { type: 'string' },
    format: { type: 'string' },
  },
  details: `Runs inside the bridge (the store belongs to it) and streams the chain in seq order:
recomputes every event's hash, checks seq continuity and prev links, reproduces the Merkle
root and head of every anchored checkpoint, checks that successive anchored checkpoints are
consistent, and compares the checkpoints table with every anchor the bridge is configured
with (serve --anchor: directories, S3, RFC 3161 timestamp authorities).

--chain ID          the chain to check (default: every chain of the bridge: one per risk
                    level, <chain-id>-low|medium|high, plus the <chain-id> chain of older
                    installs if it has rows; reported per chain, exit 3 if any has findings)
--from SEQ --to SEQ a seq range; after dropping old partitions, start right after a
                    checkpoint (--from <tree_size + 1>) to keep the link into it checked
--public-key FILE   the PEM public key checkpoints must be signed with (default: the bridge's
                    own key; pass the one you hold to not trust the bridge)
--timestamp-tolerance DURATION  how long after its first new event a checkpoint may be
                    timestamped by an RFC 3161 anchor before it is reported late (default 1h;
                    it must exceed the longest store outage the bridge rode out)
--format text|json  text (default) or the JSON report on stdout

Exit codes: 0 intact, 3 integrity problems found (listed with seq, event id and kind),
1 could not verify, 2 bad usage. Progress goes to stderr on a terminal.`,
  async run(values, pos) {
    if (pos.length) throw new UsageError(`verify takes no positional arguments (got "${pos[0]}")`);
    const format = (values.format as string | undefined) ?? 'text';
    if (format !== 'text' && format !== 'json') throw new UsageError(`invalid --format "${format}": expected text or json`);
    const from = parseSeq(values.from, '--from');
    const to = parseSeq(values.to, '--to');
    if (from !== undefined && to !== undefined && to < from) throw new UsageError(`--to ${to} is below --from ${from}`);
    if (values['anchor-dir'] !== undefined) {
      throw new UsageError(
        'verify --anchor-dir is no longer accepted: the bridge verifies against the anchors it is configured with ' +
          '(serve --anchor URL, repeatable: file:///DIR, s3://bucket/prefix, rfc3161+https://tsa/). ' +
          'To check a copy of the anchors, configure it there (for example serve --anchor file:///DIR).',
      );
    }
    const body: Record<string, unknown> = { chain: values.chain, from, to };
    if (values['timestamp-tolerance'] !== undefined) body.timestamp_tolerance_ms = parseTolerance(String(values['timestamp-tolerance']));
    if (values['public-key']) body.public_key = readPem(String(values['public-key']), 'public key file');
    const res = await callApi(apiUrl(values), '/api/v1/verify', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    const tty = process.stderr.isTTY;
    let report: VerifyReport | null = null;
    let failure: string | null = null;
    const decoder = new TextDecoder();
    let buf = '';
    const reader = res.body!.getReader();
    const handle = (line: string) => {
      if (!line.trim()) return;
      const msg = JSON.parse(line) as { type: string; [k: string]: unknown };
      if (msg.type === 'progress' && tty) {
        const phase = msg.phase === 'content' ? '1/2 hashing events' : msg.phase === 'order' ? '2/2 checking order and checkpoints' : 'verifying';
        const chain = msg.chain_id ? `${msg.chain_id} ` : '';
        process.stderr.write(`\r${chain}${phase}: ${msg.events_checked} events (seq ${msg.seq})\x1b[K`);
      } else if (msg.type === 'report') {
        const { type: _t, ...rest } = msg;
        report = rest as unknown as VerifyReport;
      } else if (msg.type === 'error') {
        failure = String(msg.error);
      }
    };
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      buf += decoder.decode(value, { stream: true });
      const lines = buf.split('\n');
      buf = lines.pop() ?? '';
      for (const l of lines) handle(l);
    }
    handle(buf);
    if (tty) process.stderr.write('\r\x1b[K');
    if (failure) throw new CommandError(`verification failed to run: ${failure}`);
    if (!report) throw new CommandError('the bridge ended the verification without a report');
    const r = report as VerifyReport;
    const multi = Array.isArray((r as MultiChainReport).chains);
    process.stdout.write(format === 'json' ? JSON.stringify(r) + '\n' : multi ? formatMultiReport(r as MultiChainReport) : formatReport(r));
    return r.ok ? EXIT.OK : EXIT_TAMPERED;
  },
};
