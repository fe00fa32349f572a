/**
 * A local stand-in for the OpenAI Chat Completions API, so that the example runs without an
 * API key or network. It speaks the real wire format, so the real `openai` client and
 * `@opentelemetry/instrumentation-openai` work against it unchanged.
 *
 * Its one trick: when the request offers the `update_crm_case` tool, it answers with a draft
 * reply and a call to that tool, as a model would for a refund request.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface StandIn {
  /** The base URL to give the openai client, ending in /v1. */
  baseURL: string;
  close(): Promise<void>;
}

interface ChatRequest {
  model?: string;
  messages?: Array<{ role: string; content?: unknown }>;
  tools?: Array<{ type: string; function?: { name?: string } }>;
}

const tokens = (text: string): number => Math.max(1, Math.ceil(text.length / 4));

function reply(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

function complete(req: ChatRequest): unknown {
  const messages = req.messages ?? [];
  const text = messages.map((m) => (typeof m.content === 'string' ? m.content : JSON.stringify(m.content ?? ''))).join('\n');
  const caseId = /Case id: (\S+)/.exec(text)?.[1] ?? 'unknown';
  const customer = /Customer: (\S+)/.exec(text)?.[1] ?? 'unknown';
  const offersTool = (req.tools ?? []).some((t) => t.function?.name === 'update_crm_case');
  const content =
    'Sorry about the double charge on order 1182. I have asked for the duplicate charge to be refunded to your card; ' +
    'you will see it within 3 to 5 business days once a team lead has approved it.';
  const toolCalls = offersTool
    ? [
        {
          id: 'call_crm_1',
          type: 'function',
          function: {
            name: 'update_crm_case',
            arguments: JSON.stringify({ case_id: caseId, customer_id: customer, status: 'refund_pending', note: 'Refund duplicate charge on order 1182 (KB-101)' }),
          },
        },
      ]
    : undefined;
  return {
    id: `chatcmpl-${Date.now().toString(36)}`,
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model: `${req.model ?? 'gpt-4o-mini'}-2024-07-18`,
    choices: [{ index: 0, message: { role: 'assistant', content, ...(toolCalls ? { tool_calls: toolCalls } : {}) }, finish_reason: toolCalls ? 'tool_calls' : 'stop' }],
    usage: { prompt_tokens: tokens(text), completion_tokens: tokens(content) + (toolCalls ? 24 : 0), total_tokens: tokens(text) + tokens(content) + (toolCalls ? 24 : 0) },
  };
}

async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
  let body = '';
  for await (const chunk of req) body += chunk;
  if (req.method !== 'POST' || req.url?.replace(/\?.*$/, '') !== '/v1/chat/completions') {
    return reply(res, 404, { error: { message: `the stand-in serves POST /v1/chat/completions only, not ${req.method} ${req.url}`, type: 'invalid_request_error' } });
  }
  let request: ChatRequest;
  try {
    request = JSON.parse(body) as ChatRequest;
  } catch {
    return reply(res, 400, { error: { message: 'request body is not JSON', type: 'invalid_request_error' } });
  }
  reply(res, 200, complete(request));
}

/** Starts the stand-in on 127.0.0.1 and an ephemeral port. */
export async function startOpenAIStandIn(): Promise<StandIn> {
  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => reply(res, 500, { error: { message: String(err), type: 'server_error' } }));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    baseURL: `http://127.0.0.1:${port}/v1`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
