/**
 * Detections (README.md): rules over the stored trail that say what should not have happened,
 * stored as alerts. The bridge makes one Detector; the API lists alerts and re-runs a range.
 */
export {
  COVERAGE_CHECKS,
  DEFAULT_DETECT_CONFIG,
  DetectConfigError,
  parseDetections,
  resolveDetectConfig,
  RULE_IDS,
  SEVERITIES,
  WRITE_ACTIONS,
  type DetectConfig,
  type RuleId,
  type Severity,
} from './config.ts';
export { chTime, DetectError, Detector, toAlert, type Alert, type Evaluation, type EvaluateOptions } from './detector.ts';
export { AlertWebhooks, signature, WebhookConfigError, type WebhookConfig } from './webhooks.ts';
