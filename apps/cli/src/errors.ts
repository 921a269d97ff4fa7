/**
 * The CLI's one error type. Every failure ends as one line on stderr and an exit code: 2 for a
 * usage mistake, 1 for anything else (server down, unknown user, not registered, timeout).
 */
export type CliErrorCode =
  | 'USAGE'
  | 'NOT_REGISTERED'
  | 'ALREADY_REGISTERED'
  | 'SERVER_UNREACHABLE'
  | 'SERVER'
  | 'NOT_FOUND'
  | 'TIMEOUT'
  | 'IO';

export class CliError extends Error {
  readonly code: CliErrorCode;
  constructor(code: CliErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'CliError';
    this.code = code;
  }

  get exitCode(): number {
    return this.code === 'USAGE' ? 2 : 1;
  }
}

/** Collapses a message to one line: stderr output must stay one line per failure. */
export const oneLine = (s: string): string => s.replace(/\s*[\r\n]+\s*/g, ' ').trim();
