/**
 * How fast the reviewer's desk pages a large case (docs/api.md, "Performance").
 *
 *   node bench/case-pages.ts [--events 50000] [--noise 50000] [--page 100]
 *
 * Starts the real bridge (embedded chDB, fresh data directory), sends one case of --events
 * events and --noise events of 1,000 other cases through OTLP/HTTP (bulk requests of 1,000
 * spans), waits until they are stored and covered by checkpoints, then times:
 *  - GET /api/v1/cases/:id/events pages (with and without integrity): the first, every page of a
 *    walk through the whole case by cursor, and the last;
 *  - GET /api/v1/cases/:id (summary; with the integrity of every event, and without);
 *  - GET /api/v1/events?format=json&correlation_id= (the event order, not the sort key's);
 *  - GET /api/v1/events?format=csv&export=1&correlation_id= (the whole case as CSV).
 */
import { parseArgs } from 'node:util';
import { flush, sql, startBridge } from '../test/helpers/bridge-process.ts';
import { encodeTraces, postOtlp, spanId, traceId, type SpanSpec } from '../test/helpers/otlp.ts';

const { values } = parseArgs({ options: { events: { type: 'string', default: '50000' }, noise: { type: 'string', default: '50000' }, page: { type: 'string', default: '100' } } });
const EVENTS = Number(values.events);
const NOISE = Number(values.noise);
const PAGE = Number(values.page);
const CASE = 'CASE-BIG';

const log = (msg: string) => process.stderr.write(`${msg}\n`);
const bridge = await startBridge({ args: ['--otlp-grpc', 'off'] });
log(`bridge at ${bridge.apiUrl}, data in ${bridge.dataDir}`);

try {
  const t0 = Date.now() - 86_400_000;
  const span = (i: number, caseId: string): SpanSpec => ({
    traceId: traceId(),
    spanId: spanId(),
    name: `execute_tool refund ${i}`,
    startMs: t0 + i * 10,
    attributes: {
      'gen_ai.operation.name': 'execute_tool',
      'gen_ai.tool.name': i % 3 ? 'refund' : 'lookup',
      'gen_ai.tool.call.arguments': JSON.stringify({ order: `ORD-${i}`, amount: i % 100 }),
      'audit.correlation_id': caseId,
      'audit.actor.id': `agent-${i % 7}`,
      'audit.tool.action': 'update',
      'audit.target.system': 'orders',
      'audit.target.id': `ORD-${i}`,
    },
  });
  const send = async (total: number, caseOf: (i: number) => string) => {
    for (let i = 0; i < total; i += 1000) {
      const body = encodeTraces(Array.from({ length: Math.min(1000, total - i) }, (_, k) => span(i + k, caseOf(i + k))), 'protobuf');
      const r = await postOtlp(bridge.otlpUrl, 'traces', body, { format: 'protobuf' });
      if (r.status !== 200) throw new Error(`OTLP answered ${r.status}`);
    }
  };
  let t = Date.now();
  await send(NOISE / 2, (i) => `CASE-N${i % 1000}`);
  await send(EVENTS, () => CASE);
  await send(NOISE / 2, (i) => `CASE-M${i % 1000}`);
  await flush(bridge.apiUrl);
  const [{ n }] = await sql<{ n: string }>(bridge.apiUrl, 'SELECT count() AS n FROM otel_audit.events');
  log(`stored ${n} events in ${((Date.now() - t) / 1000).toFixed(1)} s`);
  // Cover every event with a checkpoint (as the bridge does every 10,000 events or 60 s).
  const heads = await sql<{ event_id: string }>(bridge.apiUrl, 'SELECT argMax(event_id, seq) AS event_id FROM otel_audit.events GROUP BY chain_id');
  for (const h of heads) await fetch(`${bridge.apiUrl}/api/v1/proof/${h.event_id}`).then((r) => r.arrayBuffer());

  const time = async (path: string): Promise<{ ms: number; body: string; status: number }> => {
    const s = performance.now();
    const r = await fetch(`${bridge.apiUrl}${path}`);
    const body = await r.text();
    return { ms: performance.now() - s, body, status: r.status };
  };
  const stats = (xs: number[]) => {
    const s = [...xs].sort((a, b) => a - b);
    const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))];
    return `n=${s.length} p50 ${q(0.5).toFixed(1)} ms, p95 ${q(0.95).toFixed(1)} ms, max ${s[s.length - 1].toFixed(1)} ms`;
  };
  const rows: Array<[string, string]> = [];
  for (const integrity of ['1', '0']) {
    const lat: number[] = [];
    let cursor: string | null = null;
    let pages = 0;
    let seen = 0;
    let first = 0;
    let last = 0;
    t = Date.now();
    do {
      const r = await time(`/api/v1/cases/${CASE}/events?limit=${PAGE}&integrity=${integrity}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
      if (r.status !== 200) throw new Error(`page ${pages}: ${r.status} ${r.body.slice(0, 300)}`);
      const page = JSON.parse(r.body) as { events: unknown[]; next_cursor: string | null };
      if (pages === 0) first = r.ms;
      last = r.ms;
      lat.push(r.ms);
      seen += page.events.length;
      cursor = page.next_cursor;
      pages++;
    } while (cursor);
    if (seen !== EVENTS) throw new Error(`the walk saw ${seen} events, expected ${EVENTS}`);
    rows.push([`case pages of ${PAGE}, integrity=${integrity}`, `first ${first.toFixed(1)} ms, last ${last.toFixed(1)} ms; all ${pages} pages: ${stats(lat)}; walk ${((Date.now() - t) / 1000).toFixed(1)} s`]);
  }
  for (const q of ['', '?integrity=0']) {
    const r = await time(`/api/v1/cases/${CASE}${q}`);
    const s = JSON.parse(r.body);
    rows.push([`case summary${q}`, `${r.ms.toFixed(0)} ms (${s.integrity ? s.integrity.summary.slice(0, 90) : 'no integrity'})`]);
  }
  const ev = await time(`/api/v1/events?format=json&correlation_id=${CASE}&limit=${PAGE}`);
  rows.push([`/events json page of ${PAGE} (event order)`, `${ev.ms.toFixed(1)} ms`]);
  const csv = await time(`/api/v1/events?format=csv&export=1&correlation_id=${CASE}`);
  rows.push(['export the case as CSV', `${csv.ms.toFixed(0)} ms, ${(csv.body.length / 1e6).toFixed(1)} MB, ${csv.body.split('\n').length - 2} rows`]);
  process.stdout.write(`\n${EVENTS} events in the case, ${NOISE} others, ${n} stored in total\n`);
  for (const [k, v] of rows) process.stdout.write(`${k.padEnd(44)} ${v}\n`);
} finally {
  await bridge.stop();
}
