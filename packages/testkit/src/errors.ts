/** The package's one error type: a short code to switch on, a message for the test log, a cause. */
export type TestkitErrorCode = 'TIMEOUT' | 'SERVER_START' | 'SERVER_EXIT' | 'HTTP' | 'WS' | 'BAD_STATE';

export class TestkitError extends Error {
  readonly code: TestkitErrorCode;
  constructor(code: TestkitErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'TestkitError';
    this.code = code;
  }
}
