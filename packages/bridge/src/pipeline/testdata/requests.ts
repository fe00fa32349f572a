/** OTLP/JSON requests for the pipeline's tests. */
import { randomBytes } from 'node:crypto';

const attr = (key: string, value: string) => ({ key, value: { stringValue: value } });

export interface ModelCallsOptions {
  /** Spans (one model call each, each its own trace); default 1. */
  spans?: number;
  /** `audit.risk`; default high (content sealed). */
  risk?: 'high' | 'medium' | 'low';
  /** Each span's correlation id and input text, by its index (default: `caseId` and an email address). */
  caseId: string | ((i: number) => string);
  input?: (caseId: string) => string;
  /** Appended to the input (larger events). */
  padding?: string;
  /** Each span names a parent that never arrives: its event waits the decision window. */
  orphan?: boolean;
}

/** The input text of a model call of the case, by default: it holds an email address. */
export const defaultInput = (caseId: string) => `refund for jane.doe@example.com (${caseId})`;

/** An OTLP/JSON request of model calls by `agent-7`, with their input and output messages. */
export function modelCalls(o: ModelCallsOptions): Buffer {
  const now = BigInt(Date.now()) * 1_000_000n;
  const caseOf = typeof o.caseId === 'string' ? () => o.caseId as string : o.caseId;
  const input = o.input ?? defaultInput;
  const span = (_: unknown, i: number) => ({
    traceId: randomBytes(16).toString('hex'),
    spanId: randomBytes(8).toString('hex'),
    ...(o.orphan ? { parentSpanId: randomBytes(8).toString('hex') } : {}),
    name: 'chat gpt-4o',
    kind: 3,
    startTimeUnixNano: String(now - 1_000_000n),
    endTimeUnixNano: String(now),
    attributes: [
      attr('gen_ai.operation.name', 'chat'),
      attr('gen_ai.provider.name', 'openai'),
      attr('gen_ai.request.model', 'gpt-4o'),
      attr('audit.risk', o.risk ?? 'high'),
      attr('audit.actor.id', 'agent-7'),
      attr('audit.correlation_id', caseOf(i)),
      attr('gen_ai.input.messages', JSON.stringify([{ role: 'user', parts: [{ type: 'text', content: `${input(caseOf(i))}${o.padding ?? ''}` }] }])),
      attr('gen_ai.output.messages', JSON.stringify([{ role: 'assistant', parts: [{ type: 'text', content: 'done' }] }])),
    ],
  });
  const spans = Array.from({ length: o.spans ?? 1 }, span);
  return Buffer.from(JSON.stringify({ resourceSpans: [{ resource: { attributes: [attr('service.name', 'pipeline-test')] }, scopeSpans: [{ spans }] }] }));
}

/** Checks that rows (seq order) form an unbroken chain from its genesis, every hash recomputed by `hashOf`. */
export function chainBreaks(rows: Array<Record<string, unknown>>, genesis: string, hashOf: (row: Record<string, unknown>) => string): string[] {
  const breaks: string[] = [];
  let prev = genesis;
  rows.forEach((row, i) => {
    if (Number(row.seq) !== i + 1) breaks.push(`row ${i}: seq ${String(row.seq)}, expected ${i + 1}`);
    if (row.prev_hash !== prev) breaks.push(`seq ${String(row.seq)}: prev_hash is not the hash before it`);
    if (row.hash !== hashOf(row)) breaks.push(`seq ${String(row.seq)}: hash does not match the row`);
    prev = row.hash as string;
  });
  return breaks;
}
