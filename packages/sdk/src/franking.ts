/**
 * The client's half of message franking (see @kolokol/protocol moderation.ts). A sender puts a
 * fresh key `nf` into the envelope and commits to the exact plaintext bytes with
 * `cf = HMAC-SHA256(nf, bytes)`, sent beside the ciphertext. A recipient checks the commitment the
 * server delivered against what it decrypted and keeps `(bytes, nf, cf, tag, at, sender)` with
 * the message: that is what a report later hands to the server, which can then verify that this
 * account sent exactly these bytes, and nothing else.
 */
import { randomBytes } from '@kolokol/crypto';
import { FrankingBytes, fromB64, type MailboxItem, type ReportedMessage, toB64 } from '@kolokol/protocol';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { z } from 'zod';
import type { Envelope } from './envelope.ts';

const enc = new TextEncoder();
const dec = new TextDecoder('utf-8', { fatal: true });

/** What a device keeps with a received franked message. `valid: false`: the commitment did not open. */
export const FrankingRecord = z.object({
  /** The decrypted envelope bytes, base64url: a report must carry exactly these. */
  plaintext: z.string(),
  nf: z.string().optional(),
  cf: z.string(),
  tag: z.string(),
  at: z.number(),
  /** The sender and MLS group the server named (and bound in its tag). */
  sender: z.string(),
  groupId: z.string(),
  valid: z.boolean(),
});
export type FrankingRecord = z.infer<typeof FrankingRecord>;

/** Only the `nf` of an envelope; every envelope type may carry it (older clients strip it). */
const WithNf = z.object({ nf: FrankingBytes });

/** Constant time, since `cf` comes from the network (not that a recipient has much to hide). */
function same(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= (a[i] ?? 0) ^ (b[i] ?? 0);
  return d === 0;
}

export const commit = (nf: Uint8Array, plaintext: Uint8Array): Uint8Array => hmac(sha256, nf, plaintext);

/** The plaintext to encrypt (the envelope with a fresh `nf`) and the commitment to send beside it. */
export function frankEnvelope(envelope: Envelope): { plaintext: Uint8Array; cf: string } {
  const nf = randomBytes(32);
  const plaintext = enc.encode(JSON.stringify({ ...envelope, nf: toB64(nf) }));
  return { plaintext, cf: toB64(commit(nf, plaintext)) };
}

/**
 * What to keep of a received item's franking, or undefined when it has none (an older sender, or
 * not an application message). A commitment that does not open to these bytes is kept but marked
 * `valid: false`: the message is flagged, and it cannot be reported.
 */
export function checkFranking(item: MailboxItem, plaintext: Uint8Array): FrankingRecord | undefined {
  if (item.franking === undefined) return undefined;
  let nf: string | undefined;
  try {
    const r = WithNf.safeParse(JSON.parse(dec.decode(plaintext)));
    if (r.success) nf = r.data.nf;
  } catch {
    nf = undefined;
  }
  let valid = false;
  try {
    valid = nf !== undefined && same(commit(fromB64(nf), plaintext), fromB64(item.franking.cf));
  } catch {
    // Base64 the schema let through but that does not decode (non-zero padding bits): not valid.
  }
  return {
    plaintext: toB64(plaintext),
    ...(nf === undefined ? {} : { nf }),
    cf: item.franking.cf,
    tag: item.franking.tag,
    at: item.sentAt,
    sender: item.sender.userId,
    groupId: item.groupId,
    valid,
  };
}

/** A stored message's franking as a report carries it, or why it cannot be reported. */
export function reportedMessage(msgId: string, f: FrankingRecord | undefined): ReportedMessage | string {
  if (f === undefined) return 'it carries no franking (sent by an older client, or by us)';
  if (!f.valid || f.nf === undefined) return 'its franking did not verify when it arrived';
  return {
    msgId,
    groupId: f.groupId,
    sender: f.sender,
    at: f.at,
    plaintext: f.plaintext,
    nf: f.nf,
    cf: f.cf,
    tag: f.tag,
  };
}
