/**
 * The write path, wired (README.md): `AuditPipeline` takes requests from the receivers and
 * hands them through intake, the correlator, the chain and the spool.
 */
export { checkPipelineConfig, DEFAULT_PIPELINE_CONFIG, MAX_INTAKE_WORKERS, PipelineConfigError, type PipelineConfig } from './config.ts';
export { AuditPipeline } from './pipeline.ts';
