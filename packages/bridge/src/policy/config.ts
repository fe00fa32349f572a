import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { loadPolicy, type PrivacyPolicy } from './policy.ts';

/** The serve options of the privacy stage (config.ts merges them into BridgeConfig). */
export interface PrivacyServeOptions {
  /** `--policy FILE` (JSON); OTEL_AUDIT_POLICY. */
  policy?: string;
  /** `--reviewer-token-file FILE`; OTEL_AUDIT_REVIEWER_TOKEN_FILE, or the token itself in OTEL_AUDIT_REVIEWER_TOKEN. */
  reviewerTokenFile?: string;
}

export interface PrivacyConfig {
  /** The validated policy file; absent: DEFAULT_POLICY. */
  policy?: PrivacyPolicy;
  /** The token reviewers present to read sealed content and to erase subjects; absent: refused (403). */
  reviewerToken?: string;
}

/** Shortest reviewer token accepted: a guessable one would be worse than none. */
export const MIN_TOKEN_LENGTH = 16;

/** A reviewer token from a file or from the environment; throws (with the reason) when unusable. */
export function readReviewerToken(file: string | undefined, envValue: string | undefined): string | undefined {
  let token: string | undefined;
  let where = 'OTEL_AUDIT_REVIEWER_TOKEN';
  if (file) {
    where = `reviewer token file ${file}`;
    try {
      token = readFileSync(resolve(file), 'utf8').trim();
    } catch (err) {
      throw new Error(`cannot read the ${where}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  } else if (envValue !== undefined && envValue !== '') {
    token = envValue.trim();
  }
  if (token === undefined) return undefined;
  if (token.length < MIN_TOKEN_LENGTH || /\s/.test(token)) {
    throw new Error(`the ${where} must hold one token of at least ${MIN_TOKEN_LENGTH} characters without spaces (for example: openssl rand -hex 32)`);
  }
  return token;
}

/** Flags win over environment variables. Throws PolicyError or Error with a message for the user. */
export function resolvePrivacyConfig(o: PrivacyServeOptions, env: NodeJS.ProcessEnv = process.env): PrivacyConfig {
  const out: PrivacyConfig = {};
  const policyFile = o.policy ?? env.OTEL_AUDIT_POLICY;
  if (policyFile) out.policy = loadPolicy(resolve(policyFile));
  const token = readReviewerToken(o.reviewerTokenFile ?? env.OTEL_AUDIT_REVIEWER_TOKEN_FILE, env.OTEL_AUDIT_REVIEWER_TOKEN);
  if (token) out.reviewerToken = token;
  return out;
}
