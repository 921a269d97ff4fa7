import type { ErrorCode } from '@kolokol/protocol';

/** The server's one error type. 'CONFIG' never reaches the wire: it stops the process at start. */
export type ServerErrorCode = ErrorCode | 'CONFIG';

export class ServerError extends Error {
  readonly code: ServerErrorCode;
  readonly details: Readonly<Record<string, unknown>> | undefined;
  constructor(
    code: ServerErrorCode,
    message: string,
    options?: { cause?: unknown; details?: Record<string, unknown> },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ServerError';
    this.code = code;
    this.details = options?.details;
  }
}
