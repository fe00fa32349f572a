/**
 * The `otel-audit` command (README.md): `main(argv)`, what bin/otel-audit.js runs, and the
 * definitions that deploy files and docs/ are checked against (the flags of `serve`, the
 * client commands' `--api-url` and `--token`).
 */
export { main, EXIT } from './main.ts';
export { serve } from './commands/serve.ts';
export { API_URL_OPTION, type Command } from './shared.ts';
