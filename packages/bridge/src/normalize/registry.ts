/**
 * The convention families, in order of authority: for a field two families both set, the
 * earlier one wins (audit.* first, then the standard GenAI conventions, then the
 * vendor-specific ones). Adding a family = one mapper file under mappers/ + one line here.
 */
import type { Mapper } from './types.ts';
import { auditMapper } from './mappers/audit.ts';
import { langfuseMapper } from './mappers/langfuse.ts';
import { mcpMapper } from './mappers/mcp.ts';
import { openInferenceMapper } from './mappers/openinference.ts';
import { openllmetryMapper } from './mappers/openllmetry.ts';
import { otelGenAiMapper } from './mappers/otel-genai.ts';
import { vercelAiMapper } from './mappers/vercel-ai.ts';

export const MAPPERS: readonly Mapper[] = [
  auditMapper,
  otelGenAiMapper,
  mcpMapper,
  openllmetryMapper,
  openInferenceMapper,
  vercelAiMapper,
  langfuseMapper,
];
