/**
 * An automatic check of the assistant's draft reply against the knowledge-base articles it was
 * given, standing in for an evaluation tool or an LLM judge. The assistant records its result
 * with `recordEvaluation` (an `evaluation` event linked to the model call), so the trail shows
 * how the answer was judged before a person saw it.
 *
 * Two checks, each applied only when the reply makes the claim:
 *   - a refund time it promises ("3 to 5 business days") is the one an article states;
 *   - a refund it mentions is promised only once approved, as the approval policy says.
 * The score is the share of the checks that apply and pass (1 when none applies).
 */
import type { Hit } from './knowledge-base.ts';

export interface ReplyCheck {
  name: string;
  score: number;
  label: 'consistent' | 'inconsistent';
  explanation: string;
}

const DAYS = /(\d+)\s*(?:to|-|–)\s*(\d+)\s+business days/i;

export function checkReply(reply: string, hits: readonly Hit[]): ReplyCheck {
  const findings: Array<{ ok: boolean; text: string }> = [];
  const promised = DAYS.exec(reply);
  if (promised) {
    const days = `${promised[1]} to ${promised[2]} business days`;
    const source = hits.find((h) => DAYS.exec(h.article.body)?.slice(1, 3).join(' to ') === `${promised[1]} to ${promised[2]}`);
    findings.push(
      source
        ? { ok: true, text: `the refund time (${days}) is the one ${source.article.id} states` }
        : { ok: false, text: `the refund time (${days}) is in none of the retrieved articles (${hits.map((h) => h.article.id).join(', ')})` },
    );
  }
  if (/\brefund/i.test(reply)) {
    const policy = hits.find((h) => /approved by a team lead/i.test(h.article.body));
    if (policy) {
      const conditional = /\b(once|when|after|if)\b[^.]*\bapprov/i.test(reply);
      findings.push(
        conditional
          ? { ok: true, text: `the refund is promised only once approved, as ${policy.article.id} requires` }
          : { ok: false, text: `the refund is promised outright, though ${policy.article.id} requires a team lead's approval first` },
      );
    }
  }
  const passed = findings.filter((f) => f.ok).length;
  const score = findings.length === 0 ? 1 : Math.round((100 * passed) / findings.length) / 100;
  return {
    name: 'kb_consistency',
    score,
    label: passed === findings.length ? 'consistent' : 'inconsistent',
    explanation: findings.length === 0 ? 'The reply makes no claim the articles could confirm or contradict.' : `${findings.map((f) => f.text).join('; ')}.`.replace(/^./, (c) => c.toUpperCase()),
  };
}
