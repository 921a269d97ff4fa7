import { toB64 } from '@kolokol/protocol';
import { z } from 'zod';
import { ServerError } from '../errors.ts';

/** An integer as the database returns it: a number (SQLite), or a string/bigint (PostgreSQL BIGINT). */
export const DbInt = z
  .union([z.number(), z.bigint(), z.string().regex(/^-?\d+$/)])
  .transform((v) => Number(v))
  .pipe(z.number().int());
export const DbText = z.string();
export const DbBytes = z.instanceof(Uint8Array);
const nullable = <T extends z.ZodType>(t: T) =>
  t.nullable().transform((v): z.output<T> | undefined => (v === null ? undefined : v));
export const DbIntOrNull = nullable(DbInt);
export const DbTextOrNull = nullable(DbText);
export const DbBytesOrNull = nullable(DbBytes);

/** Rows are untrusted input too: a row that does not parse is an internal error, never a client's. */
export function parseRow<S extends z.ZodType>(schema: S, row: unknown, what: string): z.output<S> {
  const r = schema.safeParse(row);
  if (r.success) return r.data;
  throw new ServerError('INTERNAL', `malformed ${what} row in the database`, { cause: r.error });
}

export const AccountRow = z
  .object({
    user_id: DbText,
    username: DbText,
    display_name: DbTextOrNull,
    identity_key: DbText,
    created_at: DbInt,
    deleted_at: DbIntOrNull.optional(),
  })
  .transform((r) => ({
    userId: r.user_id,
    username: r.username,
    displayName: r.display_name,
    identityKey: r.identity_key,
    createdAt: r.created_at,
    deletedAt: r.deleted_at,
  }));
export type Account = z.output<typeof AccountRow>;

export const DeviceRow = z
  .object({
    device_id: DbText,
    user_id: DbText,
    device_key: DbText,
    cert: DbText,
    issued_at: DbInt,
    name: DbTextOrNull,
    created_at: DbInt,
    revoked_at: DbIntOrNull,
  })
  .transform((r) => ({
    deviceId: r.device_id,
    userId: r.user_id,
    deviceKey: r.device_key,
    cert: r.cert,
    issuedAt: r.issued_at,
    name: r.name,
    createdAt: r.created_at,
    revokedAt: r.revoked_at,
  }));
export type Device = z.output<typeof DeviceRow>;

export const SessionRow = z
  .object({
    session_id: DbText,
    device_id: DbText,
    user_id: DbText,
    token_hash: DbText,
    created_at: DbInt,
    last_seen_at: DbInt,
    expires_at: DbInt,
    revoked_at: DbIntOrNull,
  })
  .transform((r) => ({
    sessionId: r.session_id,
    deviceId: r.device_id,
    userId: r.user_id,
    tokenHash: r.token_hash,
    createdAt: r.created_at,
    lastSeenAt: r.last_seen_at,
    expiresAt: r.expires_at,
    revokedAt: r.revoked_at,
  }));
export type Session = z.output<typeof SessionRow>;

export const MailboxKind = z.enum(['application', 'commit', 'proposal', 'welcome']);

const mailboxJoinRow = (int: z.ZodType<number, unknown>) =>
  z
    .object({
      id: int,
      msg_id: DbText,
      group_id: DbText,
      seq: int,
      kind: MailboxKind,
      epoch: int,
      body: DbBytes,
      sender_user: DbText,
      sender_device: DbText,
      created_at: int,
      franking_cf: DbBytesOrNull.optional(),
      franking_tag: DbBytesOrNull.optional(),
    })
    .transform((r) => ({
      ...(r.franking_cf !== undefined && r.franking_tag !== undefined
        ? { franking: { cf: toB64(r.franking_cf), tag: toB64(r.franking_tag) } }
        : {}),
      id: r.id,
      msgId: r.msg_id,
      groupId: r.group_id,
      seq: r.seq,
      kind: r.kind,
      epoch: r.epoch,
      body: r.body,
      sender: { userId: r.sender_user, deviceId: r.sender_device },
      sentAt: r.created_at,
    }));
export const MailboxJoinRow = mailboxJoinRow(DbInt);
/**
 * node:sqlite returns INTEGER columns as numbers, never strings or bigints: the message path's rows
 * (sqlite-hot.ts) are checked with this cheaper integer.
 */
export const SqliteInt = z.number().int();
export const SqliteMailboxJoinRow = mailboxJoinRow(SqliteInt);
export type StoredMailboxItem = z.output<typeof MailboxJoinRow>;

export const LinkRow = z
  .object({
    link_id: DbText,
    user_id: DbText,
    sealed: DbText,
    created_at: DbInt,
    expires_at: DbInt,
    used_at: DbIntOrNull,
  })
  .transform((r) => ({
    linkId: r.link_id,
    userId: r.user_id,
    sealed: r.sealed,
    createdAt: r.created_at,
    expiresAt: r.expires_at,
    usedAt: r.used_at,
  }));
export type Link = z.output<typeof LinkRow>;

export const CountRow = z.object({ n: DbInt });

export const UploadRow = z
  .object({
    upload_id: DbText,
    attachment_id: DbText,
    device_id: DbText,
    size: DbInt,
    received: DbInt,
    created_at: DbInt,
  })
  .transform((r) => ({
    uploadId: r.upload_id,
    attachmentId: r.attachment_id,
    deviceId: r.device_id,
    size: r.size,
    received: r.received,
    createdAt: r.created_at,
  }));
export type Upload = z.output<typeof UploadRow>;

export const PushSubscriptionRow = z
  .object({ device_id: DbText, endpoint: DbText, p256dh: DbText, auth: DbText, created_at: DbInt })
  .transform((r) => ({
    deviceId: r.device_id,
    endpoint: r.endpoint,
    keys: { p256dh: r.p256dh, auth: r.auth },
    createdAt: r.created_at,
  }));
export type PushSubscription = z.output<typeof PushSubscriptionRow>;
