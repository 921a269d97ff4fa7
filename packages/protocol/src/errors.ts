/**
 * Every error that crosses the wire carries one of these codes. The server maps anything thrown to
 * one of them in a single function (packages/server/src/http/errors.ts); clients switch on them.
 */
export const ErrorCode = {
  BadRequest: 'BAD_REQUEST',
  Unauthorized: 'UNAUTHORIZED',
  Forbidden: 'FORBIDDEN',
  NotFound: 'NOT_FOUND',
  UsernameTaken: 'USERNAME_TAKEN',
  InviteRequired: 'INVITE_REQUIRED',
  InvalidInvite: 'INVALID_INVITE',
  ChallengeFailed: 'CHALLENGE_FAILED',
  SessionRevoked: 'SESSION_REVOKED',
  DeviceRevoked: 'DEVICE_REVOKED',
  NotGroupMember: 'NOT_GROUP_MEMBER',
  GroupExists: 'GROUP_EXISTS',
  /** The commit was built on an old epoch: fetch pending handshake messages, process them, retry. */
  StaleEpoch: 'STALE_EPOCH',
  NoKeyPackage: 'NO_KEY_PACKAGE',
  PayloadTooLarge: 'PAYLOAD_TOO_LARGE',
  RateLimited: 'RATE_LIMITED',
  /** The account is suspended (details: reason, suspendedAt, appeal); only POST /v1/appeals still works. */
  Suspended: 'SUSPENDED',
  /** A report whose message franking does not verify: not sent by that account, or altered. */
  ReportUnverified: 'REPORT_UNVERIFIED',
  LinkExpired: 'LINK_EXPIRED',
  UnsupportedVersion: 'UNSUPPORTED_VERSION',
  Unavailable: 'UNAVAILABLE',
  Internal: 'INTERNAL',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export const errorCodes: readonly ErrorCode[] = Object.values(ErrorCode);

/** HTTP status for each wire code; WebSocket errors carry the code alone. */
export const httpStatusOf: Record<ErrorCode, number> = {
  BAD_REQUEST: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  USERNAME_TAKEN: 409,
  INVITE_REQUIRED: 403,
  INVALID_INVITE: 403,
  CHALLENGE_FAILED: 401,
  SESSION_REVOKED: 401,
  DEVICE_REVOKED: 401,
  NOT_GROUP_MEMBER: 403,
  GROUP_EXISTS: 409,
  STALE_EPOCH: 409,
  NO_KEY_PACKAGE: 404,
  PAYLOAD_TOO_LARGE: 413,
  RATE_LIMITED: 429,
  SUSPENDED: 403,
  REPORT_UNVERIFIED: 422,
  LINK_EXPIRED: 410,
  UNSUPPORTED_VERSION: 426,
  UNAVAILABLE: 503,
  INTERNAL: 500,
};

/** Codes a client may retry unchanged after a pause (the rest need a changed request). */
export const retryableCodes: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  ErrorCode.RateLimited,
  ErrorCode.Unavailable,
  ErrorCode.Internal,
]);

/** The package's one error type: a wire code, a human message, the cause it came from. */
export class ProtocolError extends Error {
  readonly code: ErrorCode;
  readonly details: Readonly<Record<string, unknown>> | undefined;
  constructor(
    code: ErrorCode,
    message: string,
    options?: { cause?: unknown; details?: Record<string, unknown> },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ProtocolError';
    this.code = code;
    this.details = options?.details;
  }
}
