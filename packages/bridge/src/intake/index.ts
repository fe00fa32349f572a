/**
 * Intake (README.md): where a span becomes an audit event. decode → normalize → privacy floor
 * → event draft, per request, on worker threads (IntakePool) or on the calling thread
 * (runIntake); the context that spans inherit from others is decided later, by correlate/.
 */
export { defaultIntakeWorkers, IntakePool, runIntake, type IntakeJob, type IntakeResult, type IntakeWorkerData, type SealJob } from './intake-pool.ts';
export { eventId, intakeLogs, intakeSpans, type IntakeOptions, type IntakePrivacy, type LogIntake, type SpanIntake } from './intake.ts';
export { ERASED, HeldEvents, NOT_SEALED, type EncodedRows, type EncodeItem, type Finalized, type FinalizeItem } from './held.ts';
