import { sha512 } from '@noble/hashes/sha2.js';
import { concatBytes } from './bytes.ts';

/*
 * Safety numbers, modelled on Signal's NumericFingerprintGenerator (v2 of their scheme):
 *
 *   h_0     = u16(VERSION) || identityKey (32 bytes, raw Ed25519) || UTF-8(userId)
 *   h_{i+1} = SHA-512(h_i || identityKey)          for i in 0..ITERATIONS-1
 *   fingerprint = h_ITERATIONS (64 bytes)
 *   digits(fp) = for each of the first 6 five-byte chunks c of fp:
 *                  (c as a big-endian 40-bit integer) mod 100000, zero-padded to 5 digits
 *                => 30 digits per party
 *
 * The displayed number is the two 30-digit strings sorted lexicographically and concatenated
 * (60 digits), in 12 groups of 5. Sorting makes it the same on both phones. The key is fixed-length
 * and comes before the user id, so (key, userId) pairs never collide by shifting bytes between
 * them. The iteration count makes brute-forcing a second key with the same 30 digits (about 2^100
 * tries) costlier still, as in Signal.
 *
 * The QR payload is: u8 QR_VERSION || first 32 bytes of the lower fingerprint || first 32 bytes
 * of the higher one (sorted by the same digit order as the display). A scanner compares it with
 * its own computation byte for byte. Unlike Signal we put our own version in both places.
 */
const VERSION = 0x4b01; // 'K' + 1: our scheme, distinct from Signal's version 0
const ITERATIONS = 5200;
const QR_VERSION = 1;
const enc = new TextEncoder();

function fingerprint(userId: string, identityKey: Uint8Array): Uint8Array {
  if (identityKey.length !== 32) throw new RangeError('safetyNumber: identity key must be 32 bytes');
  let h = concatBytes(new Uint8Array([VERSION >>> 8, VERSION & 0xff]), identityKey, enc.encode(userId));
  for (let i = 0; i < ITERATIONS; i++) h = sha512(concatBytes(h, identityKey));
  return h;
}

function digits30(fp: Uint8Array): string {
  let out = '';
  for (let i = 0; i < 30; i += 5) {
    // 40-bit chunk: exceeds 32-bit bitwise ops, so accumulate with arithmetic.
    let v = 0;
    for (let j = 0; j < 5; j++) v = v * 256 + (fp[i + j] ?? 0);
    out += String(v % 100000).padStart(5, '0');
  }
  return out;
}

export function safetyNumber(
  a: { userId: string; identityKey: Uint8Array },
  b: { userId: string; identityKey: Uint8Array },
): { digits: string; qr: Uint8Array } {
  const fa = fingerprint(a.userId, a.identityKey);
  const fb = fingerprint(b.userId, b.identityKey);
  const da = digits30(fa);
  const db = digits30(fb);
  // Ties (identical digits) only happen for identical inputs or a 2^-100 accident; then order
  // does not matter for the digits, and we break it on the raw fingerprint for the QR.
  const aFirst = da < db || (da === db && compareBytes(fa, fb) <= 0);
  const [lo, hi] = aFirst ? [fa, fb] : [fb, fa];
  const all = aFirst ? da + db : db + da;
  const groups = all.match(/\d{5}/g) ?? [];
  return {
    digits: groups.join(' '),
    qr: concatBytes(new Uint8Array([QR_VERSION]), lo.subarray(0, 32), hi.subarray(0, 32)),
  };
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d !== 0) return d;
  }
  return a.length - b.length;
}
