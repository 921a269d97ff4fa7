import { z } from 'zod';

/**
 * Usernames: 3-32 characters, lower-case latin letters, digits and underscore, starting with a
 * letter. Stored and compared lower-case; no phone numbers or e-mail addresses anywhere.
 */
export const USERNAME_RE = /^[a-z][a-z0-9_]{2,31}$/;
export const normalizeUsername = (name: string): string => name.trim().toLowerCase();
export const Username = z
  .string()
  .transform(normalizeUsername)
  .pipe(z.string().regex(USERNAME_RE, 'username: 3-32 of a-z 0-9 _, starting with a letter'));

/** Opaque identifiers: url-safe, bounded. Random 128-bit values encode to 22 characters. */
const idString = (what: string) =>
  z
    .string()
    .min(8)
    .max(64)
    .regex(/^[A-Za-z0-9_-]+$/, `${what} must be url-safe`);

export const UserId = idString('userId');
export const DeviceId = idString('deviceId');
export const GroupId = idString('groupId');
export const MessageId = idString('msgId');
export const SessionId = idString('sessionId');
export const AttachmentId = idString('attachmentId');
export const LinkId = idString('linkId');

export const DisplayName = z.string().trim().min(1).max(64);
export const DeviceName = z.string().trim().min(1).max(64);
/** Milliseconds since the epoch. */
export const Millis = z.number().int().nonnegative();
