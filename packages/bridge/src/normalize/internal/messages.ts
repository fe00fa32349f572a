/**
 * Conversion of the message shapes found in the wild into EventContent's ContentMessage
 * (the OTel GenAI `{role, parts}` shape): semconv parts, OpenAI chat `{role, content,
 * tool_calls}`, Vercel AI SDK `{role, content:[{type:'tool-call', ...}]}`, plain strings.
 */
import { createHash } from 'node:crypto';
import type { ContentMessage, ContentPart } from '../../model.ts';
import { isRecord, parseJsonish, rawStr, str } from './values.ts';

export const REDACTED_MARKER = '__REDACTED__';

export function textMessage(role: string, text: string, finishReason?: string): ContentMessage {
  const m: ContentMessage = { role, parts: [{ type: 'text', content: text }] };
  if (finishReason) m.finish_reason = finishReason;
  return m;
}

export function toolCallPart(id: unknown, name: unknown, args: unknown): ContentPart {
  const part: { type: 'tool_call'; id?: string; name: string; arguments?: unknown } = {
    type: 'tool_call',
    name: str(name) ?? '',
  };
  const cid = str(id);
  if (cid !== undefined) part.id = cid;
  if (args !== undefined && args !== null) part.arguments = parseJsonish(args);
  return part;
}

export function toolResponsePart(id: unknown, response: unknown): ContentPart {
  const part: { type: 'tool_call_response'; id?: string; response?: unknown } = {
    type: 'tool_call_response',
  };
  const cid = str(id);
  if (cid !== undefined) part.id = cid;
  if (response !== undefined) part.response = parseJsonish(response);
  return part;
}

/** OpenAI chat `tool_calls` entries: `{id, type:'function', function:{name, arguments}}`. */
export function openAiToolCalls(v: unknown): ContentPart[] {
  const list = parseJsonish(v);
  if (!Array.isArray(list)) return [];
  const parts: ContentPart[] = [];
  for (const tc of list) {
    if (!isRecord(tc)) continue;
    const fn = isRecord(tc.function) ? tc.function : tc;
    parts.push(toolCallPart(tc.id ?? tc.toolCallId, fn.name ?? tc.toolName, fn.arguments ?? tc.args ?? tc.input));
  }
  return parts;
}

function normalizePart(p: unknown): ContentPart | undefined {
  if (typeof p === 'string') return { type: 'text', content: p };
  if (!isRecord(p)) return undefined;
  const type = typeof p.type === 'string' ? p.type : undefined;
  switch (type) {
    case 'text':
    case 'input_text':
    case 'output_text': {
      const t = rawStr(p.content) ?? rawStr(p.text);
      return t === undefined ? { ...p, type: 'text' } : { type: 'text', content: t };
    }
    case 'tool_call':
      return toolCallPart(p.id, p.name, p.arguments);
    case 'tool-call': // Vercel AI SDK
      return toolCallPart(p.toolCallId, p.toolName, p.args ?? p.input);
    case 'tool_call_response':
      return toolResponsePart(p.id, p.response ?? p.result);
    case 'tool-result': // Vercel AI SDK
      return toolResponsePart(p.toolCallId, unwrapVercelOutput(p.result ?? p.output));
    case 'reasoning':
    case 'thinking': {
      const t = rawStr(p.content) ?? rawStr(p.text) ?? rawStr(p.thinking);
      return t === undefined ? { ...p, type: 'reasoning' } : { type: 'reasoning', content: t };
    }
    case 'uri':
    case 'image_url':
    case 'input_image': {
      const uri = str(p.uri) ?? str(p.url) ?? (isRecord(p.image_url) ? str(p.image_url.url) : str(p.image_url));
      // A data: URI is a blob in disguise.
      if (uri?.startsWith('data:')) return blobPart({ ...p, mime_type: p.mime_type ?? dataUriMime(uri) }, dataUriPayload(uri));
      return { ...p, type } as ContentPart;
    }
    case 'blob':
      return blobPart(p, p.content ?? p.data);
    case 'file':
    case 'image':
    case 'input_audio':
    case 'input_file': {
      // Inline bytes (semconv `content`, AI SDK `data`/`image`, OpenAI `file_data`,
      // `input_audio.data`) never pass raw; a reference (file id, URL) does.
      const inline = p.content ?? p.data ?? p.image ?? p.file_data ?? (isRecord(p.input_audio) ? p.input_audio.data : undefined);
      if (typeof inline === 'string' && inline.startsWith('data:')) {
        return blobPart({ ...p, mime_type: p.mime_type ?? p.mediaType ?? dataUriMime(inline) }, dataUriPayload(inline));
      }
      if (inline !== undefined && !(typeof inline === 'string' && /^[a-z][a-z0-9+.-]*:\/\//i.test(inline))) return blobPart(p, inline);
      return { ...p, type } as ContentPart;
    }
    case undefined:
      if (typeof p.text === 'string') return { type: 'text', content: p.text };
      if (typeof p.content === 'string') return { type: 'text', content: p.content };
      return undefined;
    default:
      // Unknown part types pass as they are, except raw bytes, which never do.
      for (const k in p) if (p[k] instanceof Uint8Array) return blobPart(p, p[k]);
      return { ...p, type } as ContentPart;
  }
}

function withMedia(part: ContentPart, p: Record<string, unknown>): ContentPart {
  const out = part as Record<string, unknown>;
  const mime = str(p.mime_type) ?? str(p.mediaType) ?? str(p.mimeType) ?? str(p.media_type);
  if (mime !== undefined) out.mime_type = mime;
  const modality = str(p.modality);
  if (modality !== undefined) out.modality = modality;
  return part;
}

function dataUriMime(uri: string): string | undefined {
  const m = /^data:([^;,]+)/.exec(uri);
  return m ? m[1] : undefined;
}

function dataUriPayload(uri: string): string {
  const comma = uri.indexOf(',');
  return comma < 0 ? '' : uri.slice(comma + 1);
}

/**
 * Inline binary content (an image, audio, a file) is never kept raw: a part
 * `{type:'blob', mime_type, modality, size, sha256}` stands for it, the digest over the decoded
 * bytes (base64 as the conventions send it; raw bytes from structured OTLP values).
 */
export function blobPart(p: Record<string, unknown>, payload: unknown): ContentPart {
  let bytes: Buffer;
  if (payload instanceof Uint8Array) bytes = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
  else if (typeof payload === 'string') bytes = Buffer.from(payload.replace(/\s+/g, ''), 'base64');
  else if (Array.isArray(payload) && payload.every((x) => typeof x === 'number')) bytes = Buffer.from(payload as number[]);
  else bytes = Buffer.from(JSON.stringify(payload ?? null));
  const part = { type: 'blob', size: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') };
  return withMedia(part as ContentPart, p);
}

/** AI SDK v5 tool results are `{type:'json'|'text', value}`. */
function unwrapVercelOutput(v: unknown): unknown {
  if (isRecord(v) && (v.type === 'json' || v.type === 'text') && 'value' in v) return v.value;
  return v;
}

export function contentToParts(content: unknown): ContentPart[] {
  if (content === undefined || content === null) return [];
  if (typeof content === 'string') return [{ type: 'text', content }];
  if (Array.isArray(content)) {
    const parts: ContentPart[] = [];
    for (const p of content) {
      const np = normalizePart(p);
      if (np) parts.push(np);
    }
    return parts;
  }
  const np = normalizePart(content);
  return np ? [np] : [];
}

function toMessage(item: unknown, defaultRole: string): ContentMessage | undefined {
  if (typeof item === 'string') return textMessage(defaultRole, item);
  if (!isRecord(item)) return undefined;
  const role = str(item.role) ?? defaultRole;
  let parts: ContentPart[];
  if (Array.isArray(item.parts)) {
    parts = contentToParts(item.parts);
  } else {
    parts = contentToParts(item.content);
    if (item.tool_calls !== undefined) parts.push(...openAiToolCalls(item.tool_calls));
    if (role === 'tool' && item.tool_call_id !== undefined) {
      // OpenAI tool message: the content is the response of that call.
      parts = [toolResponsePart(item.tool_call_id, item.content)];
    }
  }
  const m: ContentMessage = { role, parts };
  const fr = str(item.finish_reason) ?? str(item.finishReason);
  if (fr) m.finish_reason = fr;
  return m;
}

/**
 * Any list of messages (JSON string or structured) → ContentMessage[]. An object with a
 * `messages` array is accepted; a single message object too. undefined when not message-like.
 */
export function toMessages(value: unknown, defaultRole = 'user'): ContentMessage[] | undefined {
  let v = parseJsonish(value);
  if (isRecord(v)) {
    if (Array.isArray(v.messages)) v = v.messages;
    else if ('role' in v || 'parts' in v) v = [v];
    else return undefined;
  }
  if (!Array.isArray(v)) return typeof v === 'string' ? [textMessage(defaultRole, v)] : undefined;
  const out: ContentMessage[] = [];
  for (const item of v) {
    const m = toMessage(item, defaultRole);
    if (m) out.push(m);
  }
  return out;
}

/** Like toMessages but only when the value clearly is a message list (has roles). */
export function asMessageList(value: unknown): ContentMessage[] | undefined {
  const v = parseJsonish(value);
  const list = isRecord(v) && Array.isArray(v.messages) ? v.messages : v;
  if (!Array.isArray(list) || list.length === 0) return undefined;
  if (!list.every((m) => isRecord(m) && typeof m.role === 'string')) return undefined;
  return toMessages(list);
}

/** `gen_ai.system_instructions`: an array of parts (not messages), a string, or messages. */
export function toSystemInstructions(value: unknown): ContentMessage[] | undefined {
  const v = parseJsonish(value);
  if (typeof v === 'string') return [textMessage('system', v)];
  if (!Array.isArray(v)) return isRecord(v) ? toMessages([v], 'system') : undefined;
  if (v.length > 0 && v.every((x) => isRecord(x) && typeof x.role === 'string')) {
    return toMessages(v, 'system');
  }
  return [{ role: 'system', parts: contentToParts(v) }];
}

/** Legacy formats mix system prompts into the message list: move them to content.system. */
export function splitSystem(messages: ContentMessage[]): {
  system: ContentMessage[];
  rest: ContentMessage[];
} {
  const system: ContentMessage[] = [];
  const rest: ContentMessage[] = [];
  for (const m of messages) (m.role === 'system' ? system : rest).push(m);
  return { system, rest };
}

/** True when any string in the value (depth-limited) is the OpenInference redaction marker. */
export function hasRedactionMarker(v: unknown, depth = 0): boolean {
  if (typeof v === 'string') return v === REDACTED_MARKER;
  if (depth > 6) return false;
  if (Array.isArray(v)) return v.some((x) => hasRedactionMarker(x, depth + 1));
  if (isRecord(v)) {
    for (const k in v) if (hasRedactionMarker(v[k], depth + 1)) return true;
  }
  return false;
}
