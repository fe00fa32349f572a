import { resolve } from 'node:path';
import { loadPolicy, type PrivacyPolicy } from './policy.ts';

/** The serve options of the privacy stage (config.ts merges them into BridgeConfig). */
export interface PrivacyServeOptions {
  /** `--policy FILE` (JSON); OTEL_AUDIT_POLICY. */
  policy?: string;
}

export interface PrivacyConfig {
  /** The validated policy file; absent: DEFAULT_POLICY. */
  policy?: PrivacyPolicy;
}

/** Flags win over environment variables. Throws PolicyError or Error with a message for the user. */
export function resolvePrivacyConfig(o: PrivacyServeOptions, env: NodeJS.ProcessEnv = process.env): PrivacyConfig {
  const out: PrivacyConfig = {};
  const policyFile = o.policy ?? env.OTEL_AUDIT_POLICY;
  if (policyFile) out.policy = loadPolicy(resolve(policyFile));
  return out;
}
