export { type Io, main } from './cli.ts';
export { CliError, type CliErrorCode } from './errors.ts';
