/**
 * The server's half of message franking (see @kolokol/protocol moderation.ts): it binds each
 * franked message's commitment to sender, group, msgId and time with its own HMAC key, and checks
 * both MACs when a report comes back. HMAC-SHA256 from node:crypto, compared in constant time.
 */

import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { frankingTagTbs } from '@kolokol/protocol';
import { ServerError } from '../errors.ts';

const KEY_FILE = 'franking-key';
/** A configured key shorter than this is refused: it is all that stands between a report and a forgery. */
export const MIN_FRANKING_KEY_CHARS = 32;

/** The configured key, or the one kept in `<dataDir>/franking-key` (made on first start, 0600). */
export function loadFrankingKey(dataDir: string, configured: string | undefined): Uint8Array {
  if (configured !== undefined) return Buffer.from(configured, 'utf8');
  const path = join(dataDir, KEY_FILE);
  try {
    const kept = readFileSync(path, 'utf8').trim();
    if (kept.length >= MIN_FRANKING_KEY_CHARS) return Buffer.from(kept, 'utf8');
  } catch {
    // Not there yet.
  }
  const key = randomBytes(32).toString('base64url');
  try {
    writeFileSync(path, `${key}\n`, { mode: 0o600 });
    chmodSync(path, 0o600);
  } catch (cause) {
    throw new ServerError('CONFIG', `invalid setting --data (KOLOKOL_DATA_DIR): cannot write ${path}`, {
      cause,
    });
  }
  return Buffer.from(key, 'utf8');
}

const hmac = (key: Uint8Array, data: Uint8Array): Buffer => createHmac('sha256', key).update(data).digest();

const same = (a: Uint8Array, b: Uint8Array): boolean => a.length === b.length && timingSafeEqual(a, b);

export interface FrankedFacts {
  commitment: Uint8Array;
  senderUserId: string;
  groupId: string;
  msgId: string;
  receivedAt: number;
}

/** tag = HMAC-SHA256(serverKey, cf || sender || group || msgId || receivedAt), length-prefixed. */
export function frankingTag(key: Uint8Array, f: FrankedFacts): Uint8Array {
  return hmac(key, frankingTagTbs(f.commitment, f.senderUserId, f.groupId, f.msgId, f.receivedAt));
}

export type FrankingVerdict = 'ok' | 'tag' | 'commitment';

/**
 * Checks one reported message: the tag must be ours over exactly these facts (else someone changed
 * the sender, group, msgId, time or commitment, or made the tag up), and the commitment must open
 * to these bytes under `nf` (else the plaintext or the key was changed).
 */
export function verifyFranked(
  key: Uint8Array,
  f: FrankedFacts & { tag: Uint8Array; plaintext: Uint8Array; nf: Uint8Array },
): FrankingVerdict {
  if (!same(frankingTag(key, f), f.tag)) return 'tag';
  if (!same(hmac(f.nf, f.plaintext), f.commitment)) return 'commitment';
  return 'ok';
}
