/**
 * The load generator: a child process (forked by bench/run.ts, driven over IPC) so that the
 * bridge's CPU is measured alone. It encodes one template request in its setup phase and
 * sends copies with fresh ids (bench/payload.ts) over keep-alive HTTP connections.
 *
 * Messages in:  {type:'init', url, traces, nonce}
 *               {type:'closed', seconds, concurrency}       closed loop: send as fast as acked
 *               {type:'open', seconds, rate, maxSockets}    open loop: fixed request rate (spans/s)
 *               {type:'exit'}
 * Messages out: {type:'ready', ...} / {type:'result', ...} / {type:'error', message}
 */
import { Agent, request } from 'node:http';
import { buildTemplate, PayloadFactory, SPANS_PER_TRACE, type Risk } from './payload.ts';

export interface PhaseResult {
  type: 'result';
  /** Epoch ms of the first send and of the last answer. */
  startedAt: number;
  endedAt: number;
  requests: number;
  okRequests: number;
  okSpans: number;
  /** Non-2xx answers by status (0: network error). */
  errors: Record<string, number>;
  /** Ack latencies of the successful requests, ms (open loop: from the scheduled send time). */
  latencies: number[];
  /** Seconds since the phase start at which each of `latencies` was sent (scheduled). */
  sentAt: number[];
  /** Open loop: requests that could not go out on time because all sockets were busy. */
  lateStarts: number;
  /** CPU seconds used by this generator during the phase. */
  cpuSeconds: number;
}

export interface ReadyMessage {
  type: 'ready';
  spansPerRequest: number;
  tracesPerRequest: number;
  bytesPerRequest: number;
  setupMs: number;
}

let factory: PayloadFactory | null = null;
let url: URL | null = null;
let spansPerRequest = 0;

function send(agent: Agent, body: Buffer): Promise<number> {
  return new Promise((resolve) => {
    const req = request(
      {
        host: url!.hostname,
        port: url!.port,
        path: '/v1/traces',
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/x-protobuf', 'content-length': body.length },
      },
      (res) => {
        res.on('data', () => {});
        res.on('end', () => resolve(res.statusCode ?? 0));
        res.on('error', () => resolve(0));
      },
    );
    req.on('error', () => resolve(0));
    req.end(body);
  });
}

function cpuNow(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

function newResult(): PhaseResult {
  return { type: 'result', startedAt: Date.now(), endedAt: 0, requests: 0, okRequests: 0, okSpans: 0, errors: {}, latencies: [], sentAt: [], lateStarts: 0, cpuSeconds: 0 };
}

function record(r: PhaseResult, status: number, latency: number, sentAt: number): void {
  r.requests++;
  if (status >= 200 && status < 300) {
    r.okRequests++;
    r.okSpans += spansPerRequest;
    r.latencies.push(latency);
    r.sentAt.push(sentAt / 1000);
  } else {
    r.errors[String(status)] = (r.errors[String(status)] ?? 0) + 1;
  }
}

async function closedLoop(seconds: number, concurrency: number): Promise<PhaseResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  const r = newResult();
  const cpu0 = cpuNow();
  const phaseStart = performance.now();
  const deadline = phaseStart + seconds * 1000;
  const worker = async () => {
    while (performance.now() < deadline) {
      const body = factory!.next();
      const t0 = performance.now();
      const status = await send(agent, body);
      record(r, status, performance.now() - t0, t0 - phaseStart);
      if (status !== 200) await new Promise((res) => setTimeout(res, 50));
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  r.endedAt = Date.now();
  r.cpuSeconds = cpuNow() - cpu0;
  agent.destroy();
  return r;
}

async function openLoop(seconds: number, rate: number, maxSockets: number): Promise<PhaseResult> {
  const agent = new Agent({ keepAlive: true, maxSockets });
  const r = newResult();
  const cpu0 = cpuNow();
  const intervalMs = (spansPerRequest / rate) * 1000;
  const start = performance.now();
  const total = Math.max(1, Math.floor((seconds * 1000) / intervalMs));
  let inFlight = 0;
  const pending: Promise<void>[] = [];
  for (let i = 0; i < total; i++) {
    const scheduled = start + i * intervalMs;
    const wait = scheduled - performance.now();
    if (wait > 1) await new Promise((res) => setTimeout(res, wait));
    if (inFlight >= maxSockets) r.lateStarts++;
    const body = factory!.next();
    inFlight++;
    pending.push(
      send(agent, body).then((status) => {
        inFlight--;
        // From the scheduled time: a late send counts against the latency (no coordinated omission).
        record(r, status, performance.now() - scheduled, scheduled - start);
      }),
    );
  }
  await Promise.all(pending);
  r.endedAt = Date.now();
  r.cpuSeconds = cpuNow() - cpu0;
  agent.destroy();
  return r;
}

type InMessage =
  | { type: 'init'; url: string; traces: number; nonce: number; risk: Risk }
  | { type: 'closed'; seconds: number; concurrency: number }
  | { type: 'open'; seconds: number; rate: number; maxSockets: number }
  | { type: 'exit' };

process.on('message', (msg: InMessage) => {
  const reply = (m: unknown) => process.send!(m);
  (async () => {
    switch (msg.type) {
      case 'init': {
        const t0 = performance.now();
        url = new URL(msg.url);
        const template = buildTemplate(msg.traces, Date.now(), msg.risk);
        factory = new PayloadFactory(template, msg.nonce);
        spansPerRequest = template.traces * SPANS_PER_TRACE;
        const ready: ReadyMessage = {
          type: 'ready',
          spansPerRequest,
          tracesPerRequest: template.traces,
          bytesPerRequest: template.bytes.length,
          setupMs: performance.now() - t0,
        };
        reply(ready);
        break;
      }
      case 'closed':
        reply(await closedLoop(msg.seconds, msg.concurrency));
        break;
      case 'open':
        reply(await openLoop(msg.seconds, msg.rate, msg.maxSockets));
        break;
      case 'exit':
        process.disconnect();
        process.exit(0);
    }
  })().catch((err) => reply({ type: 'error', message: (err as Error).stack ?? String(err) }));
});
