/**
 * Bad configuration (flags, environment, files), with a code. Here, not in config.ts, so that
 * the CLI can tell it apart without loading the whole bridge (config.ts imports every stage).
 */
export class ConfigError extends Error {
  /** What kind of bad configuration (CONFIG_INVALID unless a stage says more, e.g. RETENTION_BELOW_REGIME). */
  readonly code: string;
  constructor(message: string, code = 'CONFIG_INVALID') {
    super(message);
    this.code = code;
  }
}
