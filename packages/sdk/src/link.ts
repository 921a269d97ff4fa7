/** The sealed bundle a link code unlocks: what a new device needs to act as the account. */
import { fromB64, toB64 } from '@kolokol/protocol';
import { z } from 'zod';
import { SdkError } from './errors.ts';
import { Bytes } from './store/records.ts';

export const LinkBundle = z.object({
  v: z.literal(1),
  userId: z.string(),
  username: z.string(),
  displayName: z.string().optional(),
  identity: z.object({ publicKey: Bytes, privateKey: Bytes }),
  pins: z
    .array(z.object({ userId: z.string(), username: z.string(), identityKey: Bytes, verified: z.boolean() }))
    .max(10_000),
  conversations: z
    .array(
      z.object({
        id: z.string(),
        kind: z.enum(['direct', 'group']),
        title: z.string(),
        admins: z.array(z.string()).max(1000).optional(),
      }),
    )
    .max(10_000),
});
export type LinkBundle = z.output<typeof LinkBundle>;

const enc = new TextEncoder();
const dec = new TextDecoder('utf-8', { fatal: true });

export const encodeLinkBundle = (b: LinkBundle): Uint8Array =>
  enc.encode(JSON.stringify(z.encode(LinkBundle, b)));

export function decodeLinkBundle(bytes: Uint8Array): LinkBundle {
  try {
    return LinkBundle.parse(JSON.parse(dec.decode(bytes)));
  } catch (cause) {
    throw new SdkError('BAD_RESPONSE', 'link bundle is malformed', { cause });
  }
}

/** `${linkId}.${base64url(secret)}`: the secret never reaches the server. */
export const formatLinkCode = (linkId: string, secret: Uint8Array): string => `${linkId}.${toB64(secret)}`;

export function parseLinkCode(code: string): { linkId: string; secret: Uint8Array } {
  const m = /^([A-Za-z0-9_-]{8,64})\.([A-Za-z0-9_-]{43})$/.exec(code.trim());
  if (m === null || m[1] === undefined || m[2] === undefined) {
    throw new SdkError('INVALID_ARGUMENT', 'not a link code');
  }
  return { linkId: m[1], secret: fromB64(m[2]) };
}

/** Associated data for the sealed bundle: binds it to its purpose. */
export const LINK_AAD = enc.encode('kolokol/link-bundle/v1');
