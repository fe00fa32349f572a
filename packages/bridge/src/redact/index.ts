export { Redactor, RedactorConfigError } from './redactor.ts';
export type { CustomPattern, RedactionResult, RedactorConfig, ValueRedaction } from './redactor.ts';
export { BUILTIN_KINDS, secretKeyStrength } from './detectors.ts';
export type { Detector } from './detectors.ts';
