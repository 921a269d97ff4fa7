/**
 * Attachment encryption: a fresh AES-256-GCM key per file; the server stores only
 * nonce || ciphertext || tag. The key and the SHA-256 digest of that blob travel inside the MLS
 * message, so only group members can fetch-and-decrypt, and a swapped blob is caught before
 * decryption even starts.
 */

import { randomBytes } from '@kolokol/crypto';
import { gcm } from '@noble/ciphers/aes.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { SdkError } from './errors.ts';

const NONCE = 12;

export interface EncryptedAttachment {
  key: Uint8Array;
  digest: Uint8Array;
  blob: Uint8Array;
}

export function encryptAttachment(plaintext: Uint8Array): EncryptedAttachment {
  const key = randomBytes(32);
  const nonce = randomBytes(NONCE);
  const ct = gcm(key, nonce).encrypt(plaintext);
  const blob = new Uint8Array(NONCE + ct.length);
  blob.set(nonce, 0);
  blob.set(ct, NONCE);
  return { key, digest: sha256(blob), blob };
}

export function decryptAttachment(blob: Uint8Array, key: Uint8Array, digest: Uint8Array): Uint8Array {
  const actual = sha256(blob);
  if (actual.length !== digest.length || actual.some((b, i) => b !== digest[i])) {
    throw new SdkError('DECRYPT', 'attachment digest mismatch');
  }
  if (blob.length < NONCE + 16) throw new SdkError('DECRYPT', 'attachment too short');
  try {
    return gcm(key, blob.subarray(0, NONCE)).decrypt(blob.subarray(NONCE));
  } catch (cause) {
    throw new SdkError('DECRYPT', 'attachment does not decrypt', { cause });
  }
}
