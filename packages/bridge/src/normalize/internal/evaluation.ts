import { isRecord, num, parseJsonish, str } from './values.ts';

/**
 * An evaluator's result (`{score, label}` in its output, as @arizeai/phoenix-evals returns it
 * and Langfuse evaluator observations carry it) in the GenAI evaluation attribute names, so that
 * the `evaluations` view reads every family alike; the evaluator is the span's name. The
 * explanation stays content. For EventDraft.derived.
 */
export function evaluatorAttributes(name: string, output: unknown): Record<string, string> {
  const out: Record<string, string> = { 'gen_ai.evaluation.name': name };
  const o = parseJsonish(output);
  if (isRecord(o)) {
    const score = num(o.score ?? o.value);
    if (score !== undefined) out['gen_ai.evaluation.score.value'] = String(score);
    const label = str(o.label);
    if (label !== undefined) out['gen_ai.evaluation.score.label'] = label;
  }
  return out;
}
