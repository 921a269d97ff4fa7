/**
 * The plaintext inside every MLS application message: a small versioned JSON object. Decrypted
 * bytes are untrusted (any group member can send anything), so they are parsed with zod like any
 * other input, and `decodeEnvelope` never throws.
 */
import { AttachmentId, b64Exact } from '@kolokol/protocol';
import { z } from 'zod';

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
});
export const AttachmentEnvelope = AttachmentRef.extend({ v: z.literal(1), type: z.literal('attachment') });
/** Conversation metadata: sent by whoever creates a group or adds members, so joiners learn it. */
export const MetaEnvelope = z.object({
  v: z.literal(1),
  type: z.literal('meta'),
  kind: z.enum(['direct', 'group']),
  title: z.string().max(200),
});
/** "I (all my devices) leave": MLS forbids removing yourself, so another member commits the removal. */
export const LeaveEnvelope = z.object({ v: z.literal(1), type: z.literal('leave') });

export const Envelope = z.discriminatedUnion('type', [
  TextEnvelope,
  AttachmentEnvelope,
  MetaEnvelope,
  LeaveEnvelope,
]);
export type Envelope = z.infer<typeof Envelope>;

/** What a stored message holds (meta and leave envelopes change the conversation instead). */
export const MessageBody = z.discriminatedUnion('type', [
  z.object({ type: z.literal('text'), text: z.string() }),
  z.object({ type: z.literal('attachment'), attachment: AttachmentRef }),
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

export function envelopeOf(body: MessageBody): Envelope {
  return body.type === 'text'
    ? { v: 1, type: 'text', text: body.text }
    : { v: 1, type: 'attachment', ...body.attachment };
}
