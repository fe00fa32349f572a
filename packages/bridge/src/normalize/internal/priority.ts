/**
 * Event-type proposal priorities: the highest wins. An explicit audit.* statement beats any
 * convention; a convention-specific kind (OpenInference TOOL, Vercel doGenerate) beats the
 * generic gen_ai.operation.name, which beats a guess from the span name or from the mere
 * presence of a model name.
 */
export const PRIORITY = {
  AUDIT_EVENT_TYPE: 100,
  AUDIT_APPROVAL: 90,
  AUDIT_EFFECT: 85,
  /** audit.deployment.* (a model version promoted to an environment). */
  AUDIT_DEPLOYMENT: 85,
  AUDIT_OUTCOME: 80,
  /** Also the level a convention uses to suppress (nested CHAIN, outer Vercel span). */
  CONVENTION: 60,
  GENAI_OPERATION: 50,
  SPAN_NAME: 40,
  AUDIT_TOOL: 15,
  GENAI_FALLBACK: 10,
  /** An entry span (root, or server/consumer) that states who acts or for which case. */
  AUDIT_REQUEST: 5,
} as const;
