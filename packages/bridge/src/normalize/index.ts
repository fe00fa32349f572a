/** The normalize stage's public surface. */
export { normalizeSpan, spanContext, normalizeLog, logEventSpan } from './normalize.ts';
export type { LogContent } from './normalize.ts';
export { MAPPERS } from './registry.ts';
export { normalizeProvider } from './internal/provider.ts';
export type {
  AuditContext,
  ContentState,
  ContextSink,
  DraftBuilder,
  EventDraft,
  MappedFields,
  Mapper,
} from './types.ts';
