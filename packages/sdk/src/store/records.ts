/**
 * What the store persists, as zod codecs: `parse` turns the stored JSON form (bytes as base64url)
 * into the typed form, `z.encode` turns it back. Every read goes through `parse`, because storage
 * is as untrusted as the network (another version of the app, a browser extension, a bad disk).
 */
import { fromB64, MailboxItem, toB64 } from '@kolokol/protocol';
import { z } from 'zod';
import { AttachmentRef, MessageBody } from '../envelope.ts';
import { FrankingRecord } from '../franking.ts';

const B64_RE = /^[A-Za-z0-9_-]*$/;
export const Bytes = z.codec(
  z.string().regex(B64_RE),
  z.custom<Uint8Array>((v) => v instanceof Uint8Array),
  {
    decode: (s) => fromB64(s),
    encode: (b) => toB64(b),
  },
);

export const AccountRecord = z.object({
  userId: z.string(),
  username: z.string(),
  displayName: z.string().optional(),
  server: z.string(),
  identity: z.object({ publicKey: Bytes, privateKey: Bytes }),
  device: z.object({
    deviceId: z.string(),
    publicKey: Bytes,
    privateKey: Bytes,
    issuedAt: z.number().int().nonnegative(),
    cert: Bytes,
  }),
  deviceName: z.string().optional(),
  createdAt: z.number(),
});
export type AccountRecord = z.output<typeof AccountRecord>;

export const SessionRecord = z.object({ token: z.string(), sessionId: z.string(), expiresAt: z.number() });
export type SessionRecord = z.output<typeof SessionRecord>;

export const KeyPackageRecord = z.object({
  ref: z.string(),
  publicBytes: Bytes,
  privateBytes: Bytes,
  lastResort: z.boolean(),
  createdAt: z.number(),
});
export type KeyPackageRecord = z.output<typeof KeyPackageRecord>;

export const GroupStateRecord = z.object({
  groupId: z.string(),
  epoch: z.number().int().nonnegative(),
  state: Bytes,
});
export type GroupStateRecord = z.output<typeof GroupStateRecord>;

export const UserRef = z.object({ userId: z.string(), username: z.string() });
export type UserRef = z.output<typeof UserRef>;

export const ConversationRecord = z.object({
  id: z.string(),
  kind: z.enum(['direct', 'group']),
  title: z.string(),
  members: z.array(UserRef),
  peer: UserRef.optional(),
  createdAt: z.number(),
  updatedAt: z.number(),
  /** This device is no longer in the group (left, removed or revoked). */
  left: z.boolean(),
  lastSeq: z.number().int(),
  /**
   * Group admins (userIds), from the encrypted `meta` envelope; the creator is the first. Empty
   * for direct chats and for groups whose admins this device does not know yet (see groups.ts).
   */
  admins: z.array(z.string()).default([]),
  /** Not listed (e.g. a conversation a blocked user started: dropped, never joined). */
  hidden: z.boolean().optional(),
  /**
   * Sends to it are refused until the user acts: the server said NOT_GROUP_MEMBER (queued sends
   * stay in the outbox: `retryOutbox` / `discardOutbox`), or the group forked (`forked`).
   */
  readOnly: z.boolean().optional(),
  /**
   * The MLS group broke: a commit the server accepted cannot be processed here (security review
   * H2). Nothing is sent on it any more; a replacement group (`replacedBy`) takes over.
   */
  forked: z
    .object({
      at: z.number(),
      /** The device whose commit we could not process (the server-authenticated sender). */
      by: z.object({ userId: z.string(), deviceId: z.string() }),
      epoch: z.number().int().nonnegative(),
    })
    .optional(),
  /**
   * Someone outside the consent rules started it or added us (consent/): `pending` until its
   * kind is known (the first meta), then `request` (waits for accept / decline) or `refused`
   * (hidden; a 1:1 group is kept only while its person may still call). Not listed, no events,
   * nothing sent to it (no receipts, no profile) until accepted.
   */
  request: z
    .object({
      state: z.enum(['pending', 'request', 'refused']),
      /** Who started it or added us: the server's word for the sender of the welcome. */
      by: z.string(),
      at: z.number(),
    })
    .optional(),
  /** The MLS group that now carries this conversation (history stays under this id). */
  groupId: z.string().optional(),
});
export type ConversationRecord = z.output<typeof ConversationRecord>;

export const MessageRecord = z.object({
  id: z.string(),
  conversationId: z.string(),
  seq: z.number().int().nonnegative(),
  from: z.object({ userId: z.string(), username: z.string(), deviceId: z.string() }),
  sentAt: z.number(),
  receivedAt: z.number(),
  body: MessageBody,
  outgoing: z.boolean(),
  /** msgId of the message this one answers. */
  replyTo: z.string().optional(),
  /** emoji -> userIds; one reaction per user. */
  reactions: z.record(z.string(), z.array(z.string())).default({}),
  editedAt: z.number().optional(),
  /** Deleted for everyone: the body is emptied, the entry stays as a tombstone. */
  deleted: z.boolean().optional(),
  /** Outgoing only: 'sent' once the server has it, then 'delivered', then 'read'. */
  status: z.enum(['sending', 'sent', 'delivered', 'read']).optional(),
  /** Local entries (system notices) sort after server seq `seq` by this. */
  local: z.number().int().nonnegative().optional(),
  /** Received franked messages: what a report needs (franking.ts); `valid: false` flags a bad one. */
  franking: FrankingRecord.optional(),
});
export type MessageRecord = z.output<typeof MessageRecord>;
export type MessageStatus = NonNullable<MessageRecord['status']>;

export const OutboxRecord = z.object({
  msgId: z.string(),
  conversationId: z.string(),
  /** Sort key within the conversation: sends leave in this order. */
  order: z.string(),
  createdAt: z.number(),
  /** The plaintext envelope; parsed again with the envelope schema before sending. */
  envelope: z.unknown(),
});
export type OutboxRecord = z.output<typeof OutboxRecord>;

/**
 * A mailbox item this device could not process yet (a group it has no state for, an epoch it has
 * not reached). It is acknowledged to the server and kept here, so that it never holds the
 * server's in-flight window (security review H1); retried after each commit or welcome.
 */
export const PendingRecord = z.object({
  item: MailboxItem,
  /** When it was first held: it is dropped PENDING_TTL after that. */
  heldAt: z.number(),
});
export type PendingRecord = z.output<typeof PendingRecord>;

export const PinRecord = z.object({
  userId: z.string(),
  username: z.string(),
  identityKey: Bytes,
  pinnedAt: z.number(),
  /** Set when the user compared safety numbers. */
  verified: z.boolean(),
  /** Another key the server showed later: refused until the user verifies it (markVerified). */
  pendingKey: Bytes.optional(),
});
export type PinRecord = z.output<typeof PinRecord>;

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

export const ContactRecord = z.object({ userId: z.string(), username: z.string(), addedAt: z.number() });
export type ContactRecord = z.output<typeof ContactRecord>;

export const ProfileRecord = z.object({
  userId: z.string(),
  username: z.string(),
  displayName: z.string().optional(),
  avatar: AttachmentRef.optional(),
  /** The sender's clock when it changed: older copies are ignored. */
  updatedAt: z.number(),
});
export type ProfileRecord = z.output<typeof ProfileRecord>;

/** Per-conversation state the UI changes (kept apart from the MLS-driven conversation record). */
export const ConversationStateRecord = z.object({
  unread: z.number().int().nonnegative().default(0),
  lastMessage: z.object({ text: z.string(), at: z.number(), from: z.string() }).optional(),
  /** msgId of lastMessage, so that an edit or delete of it updates the preview. */
  lastMessageId: z.string().optional(),
  draft: z.string().optional(),
  muted: z.boolean().optional(),
  /** The newest message we sent a read receipt for. */
  readReceiptFor: z.string().optional(),
});
export type ConversationStateRecord = z.output<typeof ConversationStateRecord>;

export const SettingsRecord = z.object({
  readReceipts: z.boolean().default(true),
  typingIndicators: z.boolean().default(true),
  theme: z.enum(['system', 'light', 'dark']).default('system'),
  language: z.enum(['en', 'ru']).optional(),
});
export type SettingsRecord = z.output<typeof SettingsRecord>;

/** Why a call ended. `answered-elsewhere`: another device of ours took it. */
export const CallEndReason = z.enum([
  'hangup',
  'declined',
  'busy',
  'timeout',
  'cancelled',
  'answered-elsewhere',
  'failed',
]);
export type CallEndReason = z.output<typeof CallEndReason>;

/** One finished call, as this device saw it (call history). */
export const CallRecord = z.object({
  callId: z.string(),
  conversationId: z.string(),
  direction: z.enum(['outgoing', 'incoming']),
  peer: z.object({ userId: z.string(), username: z.string() }),
  video: z.boolean(),
  startedAt: z.number(),
  /** When a callee device answered (ours or, for outgoing calls, the peer's). */
  answeredAt: z.number().optional(),
  endedAt: z.number(),
  reason: CallEndReason,
  /** The callee device that took the call. */
  answeredBy: z.string().optional(),
  /** Incoming and nobody of ours answered or declined it. */
  missed: z.boolean(),
});
export type CallRecord = z.output<typeof CallRecord>;
