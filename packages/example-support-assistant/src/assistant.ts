/**
 * The support assistant: handles one customer ticket as an AI agent acting for the customer.
 *
 *   node src/assistant.ts --otlp http://127.0.0.1:4318 --case CASE-1 --queue /tmp/review-queue.json
 *                         [--openai-base-url URL]   (default: a local stand-in of the OpenAI API)
 *
 * Under one audit context (the case id, the agent, the customer it acts for, ...) it
 *   1. retrieves knowledge-base articles                     → a `retrieval` event
 *   2. asks the model, through the real `openai` client       → a `model_call` event
 *   3. checks the draft reply against the articles            → an `evaluation` event, linked to the model call
 *   4. proposes the CRM change the model asked for, without
 *      applying it: it goes to the review queue with its ref,
 *      the draft reply and a ref to the model call beside it  → a `tool_call` event (approval required)
 * all inside the `handle ticket` SERVER span                   → the `request` event.
 *
 * Prints one JSON line: { case_id, trace_id, tool_span_id, model_call_span_id, proposal_ref, evaluation, reply }.
 */
import { createRequire } from 'node:module';
import { SpanKind, SpanStatusCode, trace, type SpanContext } from '@opentelemetry/api';
import { proposalRef, recordEvaluation, traceRetrieval, traceToolCall, withAuditContext } from '@otel-audit/instrumentation';
import type OpenAI from 'openai';
import { httpUrl, info, parseFlags, required, runMain } from './cli.ts';
import { searchKnowledgeBase, toSourceRefs } from './knowledge-base.ts';
import { startOpenAIStandIn } from './openai-stand-in.ts';
import { checkReply } from './reply-check.ts';
import { enqueue } from './review-queue.ts';
import { startTelemetry, stopTelemetry, TENANT } from './telemetry.ts';

const USAGE = `usage: node src/assistant.ts --otlp URL --case ID --queue FILE [--openai-base-url URL]\n`;

export interface Ticket {
  caseId: string;
  customerId: string;
  channel: string;
  body: string;
}

/** The tool the model may call. The assistant never applies it itself: a team lead approves first. */
const UPDATE_CRM_CASE: OpenAI.Chat.Completions.ChatCompletionFunctionTool = {
  type: 'function',
  function: {
    name: 'update_crm_case',
    description: 'Propose a change to the CRM case record. A team lead reviews it before it is applied.',
    parameters: {
      type: 'object',
      properties: { case_id: { type: 'string' }, status: { type: 'string' }, note: { type: 'string' } },
      required: ['case_id', 'status'],
    },
  },
};

export async function handleTicket(client: OpenAI, ticket: Ticket, queuePath: string) {
  const tracer = trace.getTracer('example-support-assistant', '0.1.0');
  const audit = {
    correlationId: ticket.caseId,
    actor: { id: 'support-assistant', type: 'agent' },
    onBehalfOf: ticket.customerId,
    initiation: 'ai_assisted',
    purpose: 'answer',
    risk: 'medium',
    tenant: TENANT,
  } as const;

  return withAuditContext(audit, () =>
    // The entry span of the activity. The AuditSpanProcessor stamps the audit context on it (and on
    // every span below, the openai instrumentation's included); the bridge makes it the `request`.
    tracer.startActiveSpan('handle ticket', { kind: SpanKind.SERVER, attributes: { 'support.channel': ticket.channel } }, async (root) => {
      try {
        const hits = await traceRetrieval({ query: ticket.body, dataSource: 'support-kb', sourcesFrom: toSourceRefs }, () => searchKnowledgeBase(ticket.body));

        // No traceModelCall needed: @opentelemetry/instrumentation-openai makes the span (and
        // sends the prompt and completion as log records). That span is the instrumentation's,
        // not ours, but it is the active span while the client sends its request: note it there,
        // so that the evaluation below and the reviewer's override can point at the model call.
        let modelCall: SpanContext | undefined;
        const noting = client.withOptions({
          fetch: (url, init) => {
            // (Were the client not instrumented, the active span would be ours: no model call then.)
            const active = trace.getActiveSpan()?.spanContext();
            if (active && active.spanId !== root.spanContext().spanId) modelCall ??= active;
            return fetch(url, init);
          },
        });
        const completion = await noting.chat.completions.create({
          model: 'gpt-4o-mini',
          messages: [
            {
              role: 'system',
              content:
                'You are the support assistant of Acme. Answer from the knowledge-base articles below. ' +
                'Propose CRM changes with update_crm_case; a team lead approves them.\n\n' +
                hits.map((h) => `[${h.article.id}] ${h.article.title}: ${h.article.body}`).join('\n'),
            },
            { role: 'user', content: `Case id: ${ticket.caseId}\nCustomer: ${ticket.customerId}\n\n${ticket.body}` },
          ],
          tools: [UPDATE_CRM_CASE],
        });
        const message = completion.choices[0]?.message;
        const reply = message?.content ?? '';

        // Judge the draft before a person sees it: an `evaluation` event linked to the model call
        // (and carrying its response id). The explanation is content: recorded with captureContent.
        const check = reply ? checkReply(reply, hits) : undefined;
        if (check) recordEvaluation({ name: check.name, score: check.score, label: check.label, explanation: check.explanation, target: modelCall, responseId: completion.id });
        // The reviewer may replace the draft: a ref to the model call goes with it.
        const draftReply = reply && modelCall ? { text: reply, ref: proposalRef(modelCall, { correlationId: ticket.caseId }) } : undefined;
        const call = message?.tool_calls?.find((c) => c.type === 'function' && c.function.name === UPDATE_CRM_CASE.function.name);

        let ref: string | undefined;
        let toolSpanId: string | undefined;
        if (call !== undefined && call.type === 'function') {
          const args = JSON.parse(call.function.arguments) as { case_id?: string; status?: string; note?: string };
          // The model chooses the change; the assistant pins its target to the case it works on.
          const changes = { status: args.status, note: args.note };
          ref = await traceToolCall(
            { name: call.function.name, callId: call.id, type: 'function', action: 'update', targetSystem: 'crm', targetId: ticket.caseId, approvalRequired: true, arguments: args },
            async (tool) => {
              toolSpanId = tool.span.spanContext().spanId;
              // Store a reference to this span (the proposal) next to the proposal itself.
              const ref = proposalRef();
              await enqueue(queuePath, {
                ref,
                case_id: ticket.caseId,
                tool: call.function.name,
                target_system: 'crm',
                target_id: ticket.caseId,
                changes,
                proposed_by: audit.actor.id,
                proposed_at: new Date().toISOString(),
                status: 'pending',
                ...(draftReply ? { draft_reply: draftReply } : {}),
              });
              tool.setResult({ status: 'pending_approval' });
              return ref;
            },
          );
        }
        root.setStatus({ code: SpanStatusCode.OK });
        return {
          case_id: ticket.caseId,
          trace_id: root.spanContext().traceId,
          tool_span_id: toolSpanId ?? null,
          model_call_span_id: modelCall?.spanId ?? null,
          proposal_ref: ref ?? null,
          evaluation: check ? { name: check.name, score: check.score, label: check.label } : null,
          reply,
        };
      } catch (err) {
        root.recordException(err as Error);
        root.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error).message });
        throw err;
      } finally {
        root.end();
      }
    }),
  );
}

/** The ticket the demo handles. The card number and e-mail address are there on purpose: the bridge masks them. */
export function sampleTicket(caseId: string): Ticket {
  return {
    caseId,
    customerId: 'cust-1042',
    channel: 'email',
    body: 'Hello, I was charged twice for order 1182. Please refund the duplicate charge to my card 4111 1111 1111 1111. You can reach me at jane.doe@example.com.',
  };
}

await runMain('assistant', USAGE, async () => {
  const flags = parseFlags(process.argv.slice(2), {
    otlp: { type: 'string' },
    case: { type: 'string' },
    queue: { type: 'string' },
    'openai-base-url': { type: 'string' },
  });
  const otlp = required('--otlp', httpUrl('--otlp', flags.otlp));
  const caseId = required('--case', flags.case);
  const queue = required('--queue', flags.queue);
  const openaiBaseUrl = httpUrl('--openai-base-url', flags['openai-base-url']);

  const telemetry = await startTelemetry('support-assistant', otlp);
  // Loaded after startAudit(), so that the instrumentation's require hook patches it. (An app
  // that imports openai statically preloads its telemetry: node --import ./telemetry.ts with
  // OpenTelemetry's ESM loader hook.)
  const { OpenAI } = createRequire(import.meta.url)('openai') as typeof import('openai');
  const standIn = openaiBaseUrl === undefined ? await startOpenAIStandIn() : undefined;
  let result: Awaited<ReturnType<typeof handleTicket>> | undefined;
  try {
    const client = new OpenAI({ apiKey: process.env.OPENAI_API_KEY ?? 'sk-demo-not-a-real-key', baseURL: openaiBaseUrl ?? standIn!.baseURL, maxRetries: 0 });
    info('assistant', `pid ${process.pid}: handling ${caseId} (OpenAI API at ${openaiBaseUrl ?? `${standIn!.baseURL}, a local stand-in`})`);
    result = await handleTicket(client, sampleTicket(caseId), queue);
  } finally {
    await standIn?.close();
    await stopTelemetry(telemetry, otlp, result === undefined);
  }
  info('assistant', result.proposal_ref ? `proposed a CRM update, queued for review in ${queue}` : 'the model proposed no CRM change');
  process.stdout.write(JSON.stringify(result) + '\n');
});
