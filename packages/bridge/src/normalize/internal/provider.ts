/**
 * Provider names differ between instrumentations (CONVENTIONS pitfall 1): 'OpenAI' vs 'openai',
 * 'az.ai.openai' (semconv < 1.37) vs 'azure.ai.openai', Vercel's 'openai.chat'. One spelling
 * per provider keeps `provider` groupable; the raw value is kept when it differs.
 */
import type { DraftBuilder } from '../types.ts';
import { setField, str } from './values.ts';

const EXACT: Record<string, string> = {
  openai: 'openai',
  'az.ai.openai': 'azure.ai.openai',
  'azure.ai.openai': 'azure.ai.openai',
  azure: 'azure.ai.openai',
  azure_openai: 'azure.ai.openai',
  'azure-openai': 'azure.ai.openai',
  azureopenai: 'azure.ai.openai',
  'az.ai.inference': 'azure.ai.inference',
  'azure.ai.inference': 'azure.ai.inference',
  aws: 'aws.bedrock',
  'aws.bedrock': 'aws.bedrock',
  aws_bedrock: 'aws.bedrock',
  bedrock: 'aws.bedrock',
  'amazon-bedrock': 'aws.bedrock',
  anthropic: 'anthropic',
  mistralai: 'mistral_ai',
  mistral: 'mistral_ai',
  mistral_ai: 'mistral_ai',
  cohere: 'cohere',
  groq: 'groq',
  deepseek: 'deepseek',
  xai: 'x_ai',
  x_ai: 'x_ai',
  perplexity: 'perplexity',
  ibm: 'ibm.watsonx.ai',
  watsonx: 'ibm.watsonx.ai',
  'ibm.watsonx.ai': 'ibm.watsonx.ai',
};

/** Vendor prefixes of the Vercel AI SDK provider ids ('openai.chat', 'amazon-bedrock.chat'). */
const PREFIXES: Array<[string, string]> = [
  ['azure-openai', 'azure.ai.openai'],
  ['amazon-bedrock', 'aws.bedrock'],
  ['openai', 'openai'],
  ['anthropic', 'anthropic'],
  ['mistral', 'mistral_ai'],
  ['cohere', 'cohere'],
  ['groq', 'groq'],
  ['deepseek', 'deepseek'],
  ['xai', 'x_ai'],
  ['perplexity', 'perplexity'],
  ['bedrock', 'aws.bedrock'],
];

/** '' for an empty value. google / gcp.* and unknown providers are only lowercased. */
export function normalizeProvider(raw: string): string {
  const lower = raw.trim().toLowerCase();
  if (lower === '') return '';
  const exact = EXACT[lower];
  if (exact) return exact;
  if (lower.startsWith('gcp.') || lower.startsWith('google')) return lower;
  for (const [prefix, mapped] of PREFIXES) {
    if (lower.startsWith(prefix + '.') || lower.startsWith(prefix + '-')) return mapped;
  }
  return lower;
}

/** Sets provider (and provider_raw when normalization changed it) unless already set. */
export function setProvider(draft: DraftBuilder, raw: unknown): void {
  const value = str(raw);
  if (value === undefined || draft.fields.provider !== undefined) return;
  const norm = normalizeProvider(value);
  setField(draft.fields, 'provider', norm);
  if (norm !== value) draft.fields.provider_raw = value;
}
