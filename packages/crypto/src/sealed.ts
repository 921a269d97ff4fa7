import { gcm } from '@noble/ciphers/aes.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { concatBytes, randomBytes, wipe } from './bytes.ts';
import { err, ok, type Result } from './errors.ts';

export { randomBytes } from './bytes.ts';

/*
 * Format: u8 version(1) || salt(32) || nonce(12) || AES-256-GCM(ciphertext || tag(16)).
 * key = HKDF-SHA256(ikm = secret, salt, info = "kolokol/sealed/v1"). A fresh random salt gives a
 * fresh key for every seal, so one secret may seal many bundles without ever repeating a
 * (key, nonce) pair. The version byte is bound through the info string and the AAD.
 */
const VERSION = 1;
const SALT = 32;
const NONCE = 12;
const TAG = 16;
const HEADER = 1 + SALT + NONCE;
const INFO = new TextEncoder().encode('kolokol/sealed/v1');

function deriveKey(secret: Uint8Array, salt: Uint8Array): Uint8Array {
  return hkdf(sha256, secret, salt, INFO, 32);
}

function fullAad(aad: Uint8Array | undefined): Uint8Array {
  return concatBytes(new Uint8Array([VERSION]), aad ?? new Uint8Array(0));
}

/** Encrypts and authenticates plaintext (and aad) under a 32-byte secret. */
export function seal(secret: Uint8Array, plaintext: Uint8Array, aad?: Uint8Array): Uint8Array {
  if (secret.length !== 32) throw new RangeError('seal: secret must be 32 bytes');
  const salt = randomBytes(SALT);
  const nonce = randomBytes(NONCE);
  const key = deriveKey(secret, salt);
  try {
    const ct = gcm(key, nonce, fullAad(aad)).encrypt(plaintext);
    return concatBytes(new Uint8Array([VERSION]), salt, nonce, ct);
  } finally {
    wipe(key);
  }
}

/** Never throws: a wrong secret, wrong aad, truncation or any tampering is DECRYPT_FAILED. */
export function open(secret: Uint8Array, sealed: Uint8Array, aad?: Uint8Array): Result<Uint8Array> {
  if (secret.length !== 32) return err('MALFORMED', 'open: secret must be 32 bytes');
  if (sealed.length < HEADER + TAG || sealed[0] !== VERSION)
    return err('MALFORMED', 'open: not a sealed box');
  const salt = sealed.subarray(1, 1 + SALT);
  const nonce = sealed.subarray(1 + SALT, HEADER);
  const key = deriveKey(secret, salt);
  try {
    return ok(gcm(key, nonce, fullAad(aad)).decrypt(sealed.subarray(HEADER)));
  } catch (e) {
    return err('DECRYPT_FAILED', 'open: authentication failed', e);
  } finally {
    wipe(key);
  }
}
