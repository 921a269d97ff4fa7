import { createHash, createPublicKey, randomBytes, verify } from 'node:crypto';

/** Random url-safe identifiers and tokens (128 bits unless told otherwise). */
export const randomId = (bytes = 16): string => randomBytes(bytes).toString('base64url');

/** Tokens and invite codes are stored only as their SHA-256. */
export const sha256Hex = (text: string): string => createHash('sha256').update(text).digest('hex');

/**
 * Ed25519 verification with node:crypto. Returns false (never throws) for a key or signature that
 * is malformed, so callers treat every bad input the same way.
 */
export function verifyEd25519(publicKeyB64: string, message: Uint8Array, signatureB64: string): boolean {
  try {
    const raw = Buffer.from(publicKeyB64, 'base64url');
    const sig = Buffer.from(signatureB64, 'base64url');
    if (raw.length !== 32 || sig.length !== 64) return false;
    const key = createPublicKey({
      key: { kty: 'OKP', crv: 'Ed25519', x: raw.toString('base64url') },
      format: 'jwk',
    });
    return verify(null, message, key, sig);
  } catch {
    return false;
  }
}
