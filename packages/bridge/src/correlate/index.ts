/**
 * The correlator (README.md): holds a trace's events until the context they inherit is known,
 * then finalizes them (pseudonyms, content by policy) for the chain.
 */
export { checkCorrelatorConfig, CorrelatorConfigError, DEFAULT_CORRELATOR_CONFIG, type CorrelatorConfig } from './config.ts';
export { Correlator, type CorrelatorOptions, type CorrelatorStats } from './correlator.ts';
export { applyContext, assembleContent, finalizeEvent, sealContentNow, setSealedContent } from './finalize.ts';
export { isHeld } from './types.ts';
export type { ContentPiece, ContentSection, EventFinalizer, HeldEvent, HeldRow, PendingEvent, SpanNode, StoredEvent, WaitingEvent } from './types.ts';
