/**
 * The plaintext inside every MLS application message: a small versioned JSON object. Decrypted
 * bytes are untrusted (any group member can send anything), so they are parsed with zod like any
 * other input, and `decodeEnvelope` never throws.
 */
import { AttachmentId, b64Exact, GroupId, MessageId } from '@kolokol/protocol';
import { z } from 'zod';
import { ConsentRules } from './consent/rules.ts';

export const ENVELOPE_VERSION = 1;
const MAX_TEXT = 64 * 1024;

export const AttachmentRef = z.object({
  attachmentId: AttachmentId,
  /** AES-256-GCM key, base64url. */
  key: b64Exact(32),
  /** SHA-256 of the uploaded ciphertext (nonce || ciphertext || tag), base64url. */
  digest: b64Exact(32),
  size: z.number().int().nonnegative(),
  name: z.string().min(1).max(255),
  mime: z.string().min(1).max(255),
});
export type AttachmentRef = z.infer<typeof AttachmentRef>;

export const TextEnvelope = z.object({
  v: z.literal(1),
  type: z.literal('text'),
  text: z.string().max(MAX_TEXT),
  /** The msgId of the message this one answers. */
  replyTo: MessageId.optional(),
});
export const AttachmentEnvelope = AttachmentRef.extend({ v: z.literal(1), type: z.literal('attachment') });
export const MAX_TITLE = 200;
/**
 * Conversation metadata: sent by whoever creates a group, adds members or renames it, or changes
 * its admins, so joiners learn it. `admins` (userIds) came later within v1: clients that predate it
 * strip it, and a meta without it leaves the receiver's admin list as it was. Receivers apply a
 * meta only from an admin (see groups.ts).
 */
export const MetaEnvelope = z.object({
  v: z.literal(1),
  type: z.literal('meta'),
  kind: z.enum(['direct', 'group']),
  title: z.string().max(MAX_TITLE),
  admins: z.array(z.string().min(1).max(64)).max(1000).optional(),
});
/** "I (all my devices) leave": MLS forbids removing yourself, so another member commits the removal. */
export const LeaveEnvelope = z.object({ v: z.literal(1), type: z.literal('leave') });

/** The sender's profile: sent to every conversation when it changes and to new ones. */
export const ProfileEnvelope = z.object({
  v: z.literal(1),
  type: z.literal('profile'),
  displayName: z.string().trim().min(1).max(64).optional(),
  /** An encrypted attachment; absent or null = no avatar. */
  avatar: AttachmentRef.nullable().optional(),
  /** Sender's clock: the newest profile wins when copies arrive through several conversations. */
  updatedAt: z.number().int().nonnegative(),
});
export const Emoji = z.string().min(1).max(32);
/** The sender's one reaction to `target` (a msgId); null takes it back. */
export const ReactionEnvelope = z.object({
  v: z.literal(1),
  type: z.literal('reaction'),
  target: MessageId,
  emoji: Emoji.nullable(),
});
/** New text for the sender's own message `target`. */
export const EditEnvelope = z.object({
  v: z.literal(1),
  type: z.literal('edit'),
  target: MessageId,
  text: z.string().max(MAX_TEXT),
});
/** Delete-for-everyone of the sender's own message `target`: receivers keep a tombstone. */
export const DeleteEnvelope = z.object({ v: z.literal(1), type: z.literal('delete'), target: MessageId });
/** Delivery (any of the recipient's devices stored them) or read (up to and including) receipts. */
export const ReceiptEnvelope = z.object({
  v: z.literal(1),
  type: z.literal('receipt'),
  kind: z.enum(['delivered', 'read']),
  ids: z.array(MessageId).min(1).max(500),
});
/** Typing indicator; travels as an ephemeral message (never stored by the server). */
export const TypingEnvelope = z.object({ v: z.literal(1), type: z.literal('typing'), typing: z.boolean() });

const CallId = z.string().min(8).max(64);
const Sdp = z
  .string()
  .min(1)
  .max(64 * 1024);
/**
 * Call signalling (see ARCHITECTURE, "Life of a call"). Offers, answers, `selected`, decline,
 * busy, cancel and hang-up are durable (an offline device of the callee must learn that a call
 * ended); candidates, `ringing` and `restart` take the ephemeral path.
 */
export const CallSignal = z.discriminatedUnion('kind', [
  /** Caller -> conversation; `restart` re-offers an existing call with new ICE credentials. */
  z.object({ kind: z.literal('offer'), sdp: Sdp, video: z.boolean(), restart: z.boolean().optional() }),
  /** Callee device -> caller. The answering device is the MLS sender. */
  z.object({ kind: z.literal('answer'), sdp: Sdp }),
  /** Caller -> everyone: the callee device whose answer it took; every other device stops. */
  z.object({ kind: z.literal('selected'), deviceId: z.string().min(1).max(64) }),
  z.object({ kind: z.literal('candidate'), candidate: z.string().max(1024) }),
  z.object({ kind: z.literal('ringing') }),
  /**
   * Answering device -> caller: media stopped reaching it. Only the caller offers, so only it can
   * restart ICE; the callee asks.
   */
  z.object({ kind: z.literal('restart') }),
  z.object({ kind: z.literal('decline') }),
  z.object({ kind: z.literal('busy') }),
  /** Caller gave up before anyone answered. */
  z.object({ kind: z.literal('cancel'), reason: z.enum(['cancelled', 'timeout']) }),
  z.object({ kind: z.literal('hangup') }),
]);
export type CallSignal = z.infer<typeof CallSignal>;
export const CallEnvelope = z.object({
  v: z.literal(1),
  type: z.literal('call'),
  callId: CallId,
  signal: CallSignal,
});
export type CallEnvelope = z.infer<typeof CallEnvelope>;

/**
 * Consent sync between the devices of one account (receivers take it only from their own user):
 * the rules (newest `updatedAt` wins), and answers to message requests and call requests.
 */
export const ConsentEnvelope = z.object({
  v: z.literal(1),
  type: z.literal('consent'),
  rules: ConsentRules.optional(),
  request: z.object({ conversationId: GroupId, action: z.enum(['accept', 'decline']) }).optional(),
  callRequest: z.object({ callId: CallId, action: z.enum(['accept', 'ignore']) }).optional(),
});
export type ConsentEnvelope = z.infer<typeof ConsentEnvelope>;

export const Envelope = z.discriminatedUnion('type', [
  TextEnvelope,
  AttachmentEnvelope,
  MetaEnvelope,
  LeaveEnvelope,
  ProfileEnvelope,
  ReactionEnvelope,
  EditEnvelope,
  DeleteEnvelope,
  ReceiptEnvelope,
  TypingEnvelope,
  CallEnvelope,
  ConsentEnvelope,
]);
export type Envelope = z.infer<typeof Envelope>;

/** What a stored message holds (meta and leave envelopes change the conversation instead). */
export const SystemEvent = z.enum(['safety-number-changed', 'account-deleted', 'missed-call']);
export type SystemEvent = z.infer<typeof SystemEvent>;
export const MessageBody = z.discriminatedUnion('type', [
  z.object({ type: z.literal('text'), text: z.string() }),
  z.object({ type: z.literal('attachment'), attachment: AttachmentRef }),
  /** A local notice (never sent): `userId` is whom it is about; `callId` for a missed call. */
  z.object({
    type: z.literal('system'),
    event: SystemEvent,
    userId: z.string(),
    callId: z.string().optional(),
  }),
]);
export type MessageBody = z.infer<typeof MessageBody>;

const enc = new TextEncoder();
const dec = new TextDecoder('utf-8', { fatal: true });

export function encodeEnvelope(e: Envelope): Uint8Array {
  return enc.encode(JSON.stringify(e));
}

export type DecodedEnvelope = { ok: true; envelope: Envelope } | { ok: false; reason: string };

/** Never throws: bad UTF-8, bad JSON and schema mismatches are all `{ ok: false }`. */
export function decodeEnvelope(bytes: Uint8Array): DecodedEnvelope {
  let value: unknown;
  try {
    value = JSON.parse(dec.decode(bytes));
  } catch {
    return { ok: false, reason: 'not UTF-8 JSON' };
  }
  const r = Envelope.safeParse(value);
  if (!r.success) return { ok: false, reason: r.error.issues.map((i) => i.message).join('; ') };
  return { ok: true, envelope: r.data };
}

export function bodyOf(e: Envelope): MessageBody | undefined {
  switch (e.type) {
    case 'text':
      return { type: 'text', text: e.text };
    case 'attachment': {
      const { v: _v, type: _t, ...attachment } = e;
      return { type: 'attachment', attachment };
    }
    default:
      return undefined;
  }
}

export function envelopeOf(body: MessageBody): Envelope | undefined {
  if (body.type === 'system') return undefined;
  return body.type === 'text'
    ? { v: 1, type: 'text', text: body.text }
    : { v: 1, type: 'attachment', ...body.attachment };
}
