import { deviceCertTbs, loginTbs, toB64 } from '@kolokol/protocol';
import { ed25519 } from '@noble/curves/ed25519.js';
import { bytesToHex as toHex } from '@noble/hashes/utils.js';
import { concatBytes, randomBytes } from './bytes.ts';

/** An account's long-term Ed25519 identity key. It only ever certifies device keys. */
export interface IdentityKeyPair {
  publicKey: Uint8Array;
  privateKey: Uint8Array;
}

/**
 * One device's Ed25519 key (also its MLS signature key) with the identity key's certificate over
 * it: cert = Ed25519(identity, deviceCertTbs(deviceId, publicKey, issuedAt)).
 */
export interface DeviceKeys {
  deviceId: string;
  publicKey: Uint8Array;
  privateKey: Uint8Array;
  issuedAt: number;
  cert: Uint8Array;
}

export function generateIdentity(): IdentityKeyPair {
  const privateKey = ed25519.utils.randomSecretKey();
  return { publicKey: ed25519.getPublicKey(privateKey), privateKey };
}

/** 16 random bytes, base64url without padding (22 characters). */
export function newDeviceId(): string {
  return toB64(randomBytes(16));
}

/** A fresh device key certified by the identity key. */
export function certifyDevice(
  identity: IdentityKeyPair,
  opts?: { deviceId?: string; now?: number },
): DeviceKeys {
  const deviceId = opts?.deviceId ?? newDeviceId();
  const issuedAt = opts?.now ?? Date.now();
  const privateKey = ed25519.utils.randomSecretKey();
  const publicKey = ed25519.getPublicKey(privateKey);
  const cert = ed25519.sign(deviceCertTbs(deviceId, publicKey, issuedAt), identity.privateKey);
  return { deviceId, publicKey, privateKey, issuedAt, cert };
}

/** Never throws: malformed keys, signatures or timestamps simply do not verify. */
export function verifyDeviceCert(
  identityKey: Uint8Array,
  deviceId: string,
  deviceKey: Uint8Array,
  issuedAt: number,
  cert: Uint8Array,
): boolean {
  if (identityKey.length !== 32 || deviceKey.length !== 32 || cert.length !== 64) return false;
  if (!Number.isSafeInteger(issuedAt) || issuedAt < 0) return false;
  const tbs = deviceCertTbs(deviceId, deviceKey, issuedAt);
  // The auth service checks the sender's certificate on every message; an Ed25519 verify in pure
  // JS costs about as much as the rest of the message. Verification is a pure function of these
  // bytes, so a certificate that verified once is remembered (bounded, oldest forgotten first).
  const key = toHex(concatBytes(identityKey, cert, tbs));
  if (verifiedCerts.has(key)) return true;
  let ok: boolean;
  try {
    // zip215: false gives the strict RFC 8032 rules, so a cert has exactly one valid encoding.
    ok = ed25519.verify(cert, tbs, identityKey, { zip215: false });
  } catch {
    return false;
  }
  if (ok) {
    verifiedCerts.add(key);
    if (verifiedCerts.size > VERIFIED_CERTS_MAX) {
      const oldest = verifiedCerts.values().next();
      if (!oldest.done) verifiedCerts.delete(oldest.value);
    }
  }
  return ok;
}

const VERIFIED_CERTS_MAX = 4096;
const verifiedCerts = new Set<string>();

/** The answer to a login challenge: Ed25519(device key, loginTbs(deviceId, challenge)). */
export function signLogin(device: DeviceKeys, challenge: Uint8Array): Uint8Array {
  return ed25519.sign(loginTbs(device.deviceId, challenge), device.privateKey);
}
