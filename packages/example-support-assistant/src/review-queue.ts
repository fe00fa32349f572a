/**
 * The hand-off between the assistant and the human reviewer: a JSON file standing in for a
 * review queue (a database table, a ticket field, a message queue). What matters for the
 * audit trail is the `ref` stored with each proposal: the `proposalRef()` of the tool-call
 * span that proposed it. The reviewer, in another process and possibly hours later, passes
 * it to `recordApproval()`, which links the approval to the proposal.
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

export interface Proposal {
  /** `otel-audit-ref:v1:<traceId>:<spanId>:<correlationId>` from proposalRef() */
  ref: string;
  case_id: string;
  tool: string;
  target_system: string;
  target_id: string;
  changes: Record<string, unknown>;
  proposed_by: string;
  proposed_at: string;
  status: 'pending' | 'approved' | 'rejected';
  decided_by?: string;
  decided_at?: string;
  /** The assistant's draft reply to the customer, and the `proposalRef()` of the model call that wrote it. */
  draft_reply?: { text: string; ref: string };
}

interface QueueFile {
  proposals: Proposal[];
}

export async function readQueue(path: string): Promise<Proposal[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const parsed = JSON.parse(text) as Partial<QueueFile>;
  if (!Array.isArray(parsed.proposals)) throw new Error(`${path} is not a review queue (no "proposals" array)`);
  return parsed.proposals;
}

async function writeQueue(path: string, proposals: Proposal[]): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, JSON.stringify({ proposals }, null, 2) + '\n');
  await rename(tmp, path);
}

export async function enqueue(path: string, proposal: Proposal): Promise<void> {
  await writeQueue(path, [...(await readQueue(path)), proposal]);
}

export async function decide(path: string, ref: string, update: Pick<Proposal, 'status' | 'decided_by' | 'decided_at'>): Promise<void> {
  const proposals = await readQueue(path);
  await writeQueue(
    path,
    proposals.map((p) => (p.ref === ref ? { ...p, ...update } : p)),
  );
}
