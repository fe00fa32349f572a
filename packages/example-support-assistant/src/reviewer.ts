/**
 * The reviewer: a separate process (in real life the back end of a review console, run minutes
 * or hours later) where a team lead decides on the assistant's queued proposals.
 *
 *   node src/reviewer.ts --otlp http://127.0.0.1:4318 --queue /tmp/review-queue.json --crm /tmp/crm.json
 *                        [--case ID] [--decision approved|rejected]
 *
 * For each pending proposal it records, in a trace of its own:
 *   - the decision, linked to the proposing tool-call span through the stored ref → an `approval` event
 *   - the team lead's own reply in place of the assistant's draft, linked to the
 *     model call that wrote the draft, the original beside the final            → an `approval` event (overridden)
 *   - when approved, the change applied to the CRM                                 → a `system_effect` event
 *   - how the case ended                                                          → an `outcome` event
 * all under the proposal's case id, which travels inside the ref.
 *
 * Prints one JSON line per decision: { case_id, decision, approval_trace_id, approval_span_id, linked, override_span_id, override_linked }.
 */
import { context, trace } from '@opentelemetry/api';
import { parseProposalRef, recordApproval, recordOutcome, recordOverride, recordSystemEffect, withAuditContext } from '@otel-audit/instrumentation';
import { httpUrl, info, parseFlags, required, runMain, UsageError } from './cli.ts';
import { updateCase } from './crm.ts';
import { decide, readQueue, type Proposal } from './review-queue.ts';
import { startTelemetry, stopTelemetry, TENANT } from './telemetry.ts';

const USAGE = `usage: node src/reviewer.ts --otlp URL --queue FILE --crm FILE [--case ID] [--decision approved|rejected]\n`;

const REVIEWER = { id: 'lead-7', role: 'team_lead' };

/**
 * What the team lead sends the customer instead of the assistant's draft, which was written
 * before anyone had decided and so could only promise the refund "once approved".
 */
function finalReply(proposal: Proposal, decision: 'approved' | 'rejected'): string {
  return decision === 'approved'
    ? `Your refund of the duplicate charge has been approved and issued under case ${proposal.case_id}. It will be back on your card within 3 to 5 business days.`
    : `We looked into the charge under case ${proposal.case_id} and cannot refund it under our refund policy. A colleague will call you to explain why.`;
}

async function review(proposal: Proposal, decision: 'approved' | 'rejected', crmPath: string, queuePath: string) {
  // The ref carries the case id, so the decision lands under the same case as the proposal.
  const { correlationId } = parseProposalRef(proposal.ref);
  const audit = {
    correlationId: correlationId ?? proposal.case_id,
    actor: { id: REVIEWER.id, type: 'human', role: REVIEWER.role },
    initiation: 'human',
    purpose: 'update',
    risk: 'medium',
    tenant: TENANT,
  } as const;

  return withAuditContext(audit, async () => {
    const approval = recordApproval({
      proposal: proposal.ref,
      decision,
      reviewer: REVIEWER,
      rationale: decision === 'approved' ? 'Duplicate charge confirmed on order 1182; refund within policy KB-102.' : 'Not within the refund policy.',
    });
    if (!approval.linked) info('reviewer', `warning: the approval is not linked to its proposal: ${approval.error}`);

    // The lead replaces the assistant's draft reply with their own: an override of the AI's
    // output, linked to the model call that wrote it, with the original beside the final (the
    // bridge stores both digests, and the texts as the risk allows).
    const override = proposal.draft_reply
      ? recordOverride({
          proposal: proposal.draft_reply.ref,
          reviewer: REVIEWER,
          originalOutput: proposal.draft_reply.text,
          finalOutput: finalReply(proposal, decision),
          rationale: decision === 'approved' ? 'The refund is approved now: the customer is told it is issued, not that it waits for approval.' : 'The refund was not approved: the draft told the customer it would follow once approved.',
        })
      : undefined;
    if (override && !override.linked) info('reviewer', `warning: the override is not linked to the model call: ${override.error}`);

    // What the decision causes happens under the approval span, in the reviewer's trace.
    const underApproval = approval.spanContext ? trace.setSpanContext(context.active(), approval.spanContext) : context.active();
    await context.with(underApproval, async () => {
      if (decision === 'approved') {
        await updateCase(crmPath, proposal.target_id, proposal.changes, REVIEWER.id);
        recordSystemEffect({ effect: 'record_updated', targetSystem: proposal.target_system, targetId: proposal.target_id, action: 'update' });
        recordOutcome({ outcome: 'completed' });
      } else {
        recordOutcome({ outcome: 'rejected', reason: 'the reviewer rejected the proposed change' });
      }
    });
    await decide(queuePath, proposal.ref, { status: decision, decided_by: REVIEWER.id, decided_at: new Date().toISOString() });
    return {
      case_id: audit.correlationId,
      decision,
      approval_trace_id: approval.spanContext?.traceId ?? null,
      approval_span_id: approval.spanContext?.spanId ?? null,
      linked: approval.linked,
      override_span_id: override?.spanContext?.spanId ?? null,
      override_linked: override?.linked ?? false,
    };
  });
}

await runMain('reviewer', USAGE, async () => {
  const flags = parseFlags(process.argv.slice(2), {
    otlp: { type: 'string' },
    queue: { type: 'string' },
    crm: { type: 'string' },
    case: { type: 'string' },
    decision: { type: 'string', default: 'approved' },
  });
  const otlp = required('--otlp', httpUrl('--otlp', flags.otlp));
  const queue = required('--queue', flags.queue);
  const crm = required('--crm', flags.crm);
  const decision = flags.decision;
  if (decision !== 'approved' && decision !== 'rejected') throw new UsageError(`--decision must be approved or rejected, got ${JSON.stringify(decision)}`);

  const pending = (await readQueue(queue)).filter((p) => p.status === 'pending' && (flags.case === undefined || p.case_id === flags.case));
  if (pending.length === 0) {
    info('reviewer', `nothing to review in ${queue}${flags.case ? ` for ${flags.case}` : ''}`);
    return 0;
  }
  const telemetry = await startTelemetry('support-review-console', otlp);
  const results: Array<Awaited<ReturnType<typeof review>>> = [];
  let failed = true;
  try {
    for (const proposal of pending) {
      results.push(await review(proposal, decision, crm, queue));
      info('reviewer', `pid ${process.pid}: ${REVIEWER.id} ${decision} the ${proposal.tool} proposal for ${proposal.case_id}` + (decision === 'approved' ? `; ${crm} updated` : ''));
    }
    failed = false;
  } finally {
    await stopTelemetry(telemetry, otlp, failed);
  }
  for (const r of results) process.stdout.write(JSON.stringify(r) + '\n');
});
