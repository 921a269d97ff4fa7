/**
 * WebSocket frames on GET /v1/ws: JSON text frames, each an object with a `t` tag. The first
 * client frame must be `hello`; requests carry a client-chosen `rid` that the answer echoes.
 *
 * Delivery contract: a `send` is answered `ok` only after the message and its mailbox entries are
 * durable. The server pushes mailbox items in `deliver` frames, in mailbox order (which keeps the
 * order of every conversation), at least once; an item leaves the mailbox when the device sends
 * `ack` with its id. Clients drop duplicates by `msgId`.
 */
import { z } from 'zod';
import { b64 } from './bytes.ts';
import { type ErrorCode, errorCodes } from './errors.ts';
import { DeviceId, GroupId, MessageId, Millis, SessionId, UserId } from './ids.ts';
import { Limits } from './limits.ts';
import { Franking, FrankingBytes, Notice } from './moderation.ts';

const Rid = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);
const Body = b64(1, Limits.maxMessageBytes);
const Epoch = z.number().int().nonnegative();

export const MemberRef = z.object({ userId: UserId, deviceId: DeviceId });
export type MemberRef = z.infer<typeof MemberRef>;

/** Kinds of MLS traffic the delivery service orders. Bodies are opaque MLSMessage bytes. */
export const MessageKind = z.enum(['application', 'commit', 'proposal']);
export type MessageKind = z.infer<typeof MessageKind>;

export const OutgoingMessage = z.object({
  /** Stable across retries: the server answers a repeated msgId from the same device with the first result. */
  msgId: MessageId,
  groupId: GroupId,
  kind: MessageKind,
  /** The epoch the message was made in. A commit must match the group's current epoch exactly. */
  epoch: Epoch,
  body: Body,
  /** Commits only: the devices the commit adds (they get `welcome`, not the commit) and removes. */
  adds: z.array(MemberRef).max(Limits.maxGroupMembers).optional(),
  removes: z.array(DeviceId).max(Limits.maxGroupMembers).optional(),
  welcome: Body.optional(),
  /**
   * Application messages only (typing indicators): fanned out to the member devices connected at
   * this moment, never stored in a mailbox; answered `ok` with seq 0. Offline devices never see it.
   */
  ephemeral: z.boolean().optional(),
  /**
   * Durable application messages only: what offline recipients' Web Push says. `call` for the
   * offer that starts a call (pushed at once, not coalesced, so a closed app can ring), and
   * `missed-call` for the cancel that ends it unanswered. Absent: an ordinary coalesced `wake`.
   * The cost: the server learns that this message starts or ends a call (it sees their timing and
   * size anyway); it never learns more.
   */
  push: z.enum(['call', 'missed-call']).optional(),
  /**
   * Durable application messages only: the franking commitment `cf` (moderation.ts). The server
   * binds it to the sender, group, msgId and time and delivers it with the item, so that a
   * recipient can later prove in a report that this account sent these bytes.
   */
  franking: FrankingBytes.optional(),
});
export type OutgoingMessage = z.input<typeof OutgoingMessage>;

export const ClientFrame = z.discriminatedUnion('t', [
  z.object({ t: z.literal('hello'), v: z.number().int(), token: z.string().min(16).max(128) }),
  z.object({ t: z.literal('send'), rid: Rid, msg: OutgoingMessage }),
  z.object({
    t: z.literal('ack'),
    ids: z
      .array(z.number().int().nonnegative())
      .min(1)
      .max(Limits.maxInFlight * 4),
  }),
  /**
   * Keep-alive and catch-up barrier: the server answers `pong` only after it has pushed every
   * mailbox item committed before the ping arrived (as far as the in-flight window allows).
   */
  z.object({ t: z.literal('ping'), rid: Rid }),
]);
export type ClientFrame = z.input<typeof ClientFrame>;

export const MailboxItem = z.object({
  /** Mailbox entry id: acknowledge this. Increases within a device's mailbox. */
  id: z.number().int().nonnegative(),
  msgId: MessageId,
  groupId: GroupId,
  /** Position in the group's handshake+application order, assigned by the server. */
  seq: z.number().int().nonnegative(),
  kind: z.enum(['application', 'commit', 'proposal', 'welcome']),
  epoch: Epoch,
  body: z.string(),
  sender: MemberRef,
  sentAt: Millis,
  /** Franked application messages: the sender's commitment and the server's tag over it. */
  franking: Franking.optional(),
});
export type MailboxItem = z.infer<typeof MailboxItem>;

/** An ephemeral application message pushed to a connected device: no mailbox id, no ack, no seq. */
export const EphemeralItem = z.object({
  msgId: MessageId,
  groupId: GroupId,
  epoch: Epoch,
  body: z.string(),
  sender: MemberRef,
  sentAt: Millis,
});
export type EphemeralItem = z.infer<typeof EphemeralItem>;

export const ServerEvent = z.discriminatedUnion('type', [
  z.object({ type: z.literal('keypackages-low'), remaining: z.number().int().nonnegative() }),
  z.object({ type: z.literal('device-added'), userId: UserId, deviceId: DeviceId }),
  z.object({ type: z.literal('device-revoked'), userId: UserId, deviceId: DeviceId }),
  /** Sent to the connected devices that shared a group with an account when it was deleted. */
  z.object({ type: z.literal('account-deleted'), userId: UserId }),
  /** An operator's warning, suspension or lifting of it (also kept for GET /v1/notices). */
  z.object({ type: z.literal('notice'), notice: Notice }),
]);
export type ServerEvent = z.infer<typeof ServerEvent>;

export const ServerFrame = z.discriminatedUnion('t', [
  z.object({
    t: z.literal('ready'),
    v: z.number().int(),
    userId: UserId,
    deviceId: DeviceId,
    sessionId: SessionId,
    serverTime: Millis,
  }),
  z.object({
    t: z.literal('ok'),
    rid: Rid,
    msgId: MessageId,
    seq: z.number().int().nonnegative(),
    epoch: Epoch,
  }),
  z.object({
    t: z.literal('error'),
    rid: Rid.optional(),
    code: z.enum(errorCodes as [ErrorCode, ...ErrorCode[]]),
    message: z.string(),
    details: z.record(z.string(), z.unknown()).optional(),
  }),
  z.object({ t: z.literal('deliver'), items: z.array(MailboxItem) }),
  z.object({ t: z.literal('event'), event: ServerEvent }),
  z.object({ t: z.literal('pong'), rid: Rid }),
  /** An ephemeral message (see OutgoingMessage.ephemeral): not acknowledged, not redelivered. */
  z.object({ t: z.literal('ephemeral'), item: EphemeralItem }),
  /**
   * The server has pushed every mailbox item that was waiting: sent once the backlog is out after
   * `ready`, and again each time the push loop runs dry. Lets a client know it is caught up.
   */
  z.object({ t: z.literal('synced') }),
]);
export type ServerFrame = z.infer<typeof ServerFrame>;

/** WebSocket close codes the server uses (4000-4999 is the application range). */
export const CloseCode = {
  Normal: 1000,
  GoingAway: 1001,
  ProtocolError: 4400,
  Unauthorized: 4401,
  SessionRevoked: 4403,
  HelloTimeout: 4408,
  /** The device opened more sockets than the server allows; this (its oldest) one is closed. */
  TooManyConnections: 4409,
  TooSlow: 4429,
  ServerShutdown: 4503,
} as const;
