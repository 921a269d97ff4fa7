/**
 * The relay's one error type. Codes never reach the wire as such: STUN failures answer with a STUN
 * ERROR-CODE, and malformed input is dropped and counted rather than thrown.
 */
export type RelayErrorCode =
  /** Invalid configuration: stops the process at start. */
  | 'CONFIG'
  /** Bytes that are not a well-formed STUN message or ChannelData frame. */
  | 'MALFORMED'
  /** A listener or relay socket could not be bound. */
  | 'BIND'
  /** The relay was used after close(). */
  | 'CLOSED';

export class RelayError extends Error {
  readonly code: RelayErrorCode;
  constructor(code: RelayErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'RelayError';
    this.code = code;
  }
}
