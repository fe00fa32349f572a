import { isRecord, parseJsonish, str } from './values.ts';

/**
 * Whether a guardrail's output says it blocked: Guardrails AI `validation_passed: false`,
 * OpenAI Agents `tripwire_triggered: true`, moderation-style `flagged: true`, or an explicit
 * block/deny action. Anything else (free text, unknown shapes) is not taken as a block.
 */
export function blockedSignal(output: unknown): boolean {
  const o = parseJsonish(output);
  if (!isRecord(o)) return false;
  for (const k of ['validation_passed', 'passed', 'valid', 'allowed']) if (o[k] === false) return true;
  for (const k of ['blocked', 'flagged', 'tripwire_triggered', 'triggered']) if (o[k] === true) return true;
  const action = str(o.action ?? o.decision)?.toLowerCase();
  return action !== undefined && /^(block|blocked|deny|denied|reject|rejected)$/.test(action);
}
