import { ErrorCode } from '@kolokol/protocol';
import type { Context } from './context.ts';
import { sha256Hex } from './crypto.ts';
import { ServerError } from './errors.ts';

export interface Auth {
  userId: string;
  deviceId: string;
  sessionId: string;
  /** When the session expires: sockets authenticated with it are closed then. */
  expiresAt: number;
}

/** last_seen_at is a hint for the sessions list, not an audit log: write it at most this often. */
const TOUCH_EVERY_MS = 60_000;

/** Resolves a session token (HTTP Bearer or WebSocket hello) to its live session. */
export async function authenticateToken(
  ctx: Context,
  token: string,
  now = Date.now(),
  /** Only for POST /v1/appeals and GET /v1/notices: a suspended account may still use these. */
  opts: { allowSuspended?: boolean } = {},
): Promise<Auth> {
  if (token.length < 16 || token.length > 128) throw new ServerError(ErrorCode.Unauthorized, 'invalid token');
  const session = await ctx.store.sessionByTokenHash(sha256Hex(token));
  if (session === undefined) throw new ServerError(ErrorCode.Unauthorized, 'unknown or expired session');
  const device = await ctx.store.device(session.deviceId);
  if (device === undefined || device.revokedAt !== undefined) {
    throw new ServerError(ErrorCode.DeviceRevoked, 'this device has been revoked');
  }
  if (session.revokedAt !== undefined)
    throw new ServerError(ErrorCode.SessionRevoked, 'this session has been revoked');
  if (session.expiresAt <= now) throw new ServerError(ErrorCode.Unauthorized, 'unknown or expired session');
  // Suspension refuses the account's sessions without revoking them, so the one route that
  // takes an appeal can still tell who is appealing (moderation/service.ts).
  if (opts.allowSuspended !== true) await ctx.moderation.assertNotSuspended(session.userId);
  if (now - session.lastSeenAt > TOUCH_EVERY_MS) await ctx.store.touchSession(session.sessionId, now);
  return {
    userId: session.userId,
    deviceId: session.deviceId,
    sessionId: session.sessionId,
    expiresAt: session.expiresAt,
  };
}

export async function authenticateHeader(
  ctx: Context,
  header: string | undefined,
  opts: { allowSuspended?: boolean } = {},
): Promise<Auth> {
  const m = header === undefined ? null : /^Bearer\s+(\S+)\s*$/i.exec(header);
  const token = m?.[1];
  if (token === undefined)
    throw new ServerError(ErrorCode.Unauthorized, 'missing Authorization: Bearer token');
  return authenticateToken(ctx, token, Date.now(), opts);
}
