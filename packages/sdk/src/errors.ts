import { type ErrorCode, errorCodes, ProtocolError } from '@kolokol/protocol';

/** Client-side failure codes, on top of the wire codes the server sends. */
export const SdkOnlyCodes = [
  'NOT_REGISTERED',
  'ALREADY_REGISTERED',
  'NETWORK',
  'TIMEOUT',
  'CLOSED',
  'UNTRUSTED',
  'DECRYPT',
  'BAD_ENVELOPE',
  'BAD_RESPONSE',
  'NOT_FOUND_LOCAL',
  'INVALID_ARGUMENT',
  'STORE',
  'CRYPTO',
  /** The caller's AbortSignal fired (attachment upload or download). */
  'ABORTED',
  /** Held items were dropped: too many for a group or in all, or held longer than a day. */
  'DROPPED',
  /** A conversation's MLS group broke (a commit we cannot process); see the fork recovery. */
  'FORKED',
] as const;
export type SdkErrorCode = ErrorCode | (typeof SdkOnlyCodes)[number];

const allCodes: ReadonlySet<string> = new Set<string>([...errorCodes, ...SdkOnlyCodes]);
export const isSdkErrorCode = (s: string): s is SdkErrorCode => allCodes.has(s);

/** The SDK's one error type. `details` carries what the server attached (e.g. the epoch of STALE_EPOCH). */
export class SdkError extends Error {
  readonly code: SdkErrorCode;
  override readonly cause?: unknown;
  readonly details: Readonly<Record<string, unknown>> | undefined;
  constructor(
    code: SdkErrorCode,
    message: string,
    options?: { cause?: unknown; details?: Record<string, unknown> },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'SdkError';
    this.code = code;
    if (options?.cause !== undefined) this.cause = options.cause;
    this.details = options?.details;
  }

  /** Wraps anything thrown into an SdkError, keeping codes we already know. */
  static from(e: unknown, fallback: SdkErrorCode = 'INTERNAL'): SdkError {
    if (e instanceof SdkError) return e;
    if (e instanceof ProtocolError) {
      return new SdkError(e.code, e.message, {
        cause: e,
        ...(e.details === undefined ? {} : { details: { ...e.details } }),
      });
    }
    const message = e instanceof Error ? e.message : String(e);
    return new SdkError(fallback, message, { cause: e });
  }
}
