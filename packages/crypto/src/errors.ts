/** Why an expected crypto operation failed. Callers switch on `code`; `message` is for humans. */
export type CryptoErrorCode =
  | 'BAD_SIGNATURE'
  | 'UNTRUSTED_CREDENTIAL'
  | 'UNKNOWN_GROUP'
  | 'WRONG_EPOCH'
  | 'DECRYPT_FAILED'
  | 'MALFORMED'
  | 'NO_KEY_PACKAGE'
  | 'NOT_A_MEMBER'
  | 'REPLAY'
  | 'UNSUPPORTED';

/** The package's one error type. */
export class CryptoError extends Error {
  readonly code: CryptoErrorCode;
  override readonly cause?: unknown;
  constructor(code: CryptoErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'CryptoError';
    this.code = code;
    if (options?.cause !== undefined) this.cause = options.cause;
  }
}

export type Result<T, E = CryptoError> = { ok: true; value: T } | { ok: false; error: E };

export const ok = <T>(value: T): { ok: true; value: T } => ({ ok: true, value });
export const err = (
  code: CryptoErrorCode,
  message: string,
  cause?: unknown,
): { ok: false; error: CryptoError } => ({
  ok: false,
  error: new CryptoError(code, message, cause === undefined ? undefined : { cause }),
});
