/**
 * The exact bytes that identity and device keys sign. Both the clients (packages/crypto) and the
 * server (which checks login challenges and device certificates) build them here, so the two can
 * never disagree. Each starts with a distinct context string so that no signature can be replayed
 * in another role.
 */
const enc = new TextEncoder();

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

function u16(n: number): Uint8Array {
  return new Uint8Array([(n >>> 8) & 0xff, n & 0xff]);
}

function u64(n: number): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, BigInt(n));
  return out;
}

function lp(bytes: Uint8Array): Uint8Array {
  return concat(u16(bytes.length), bytes);
}

export const DEVICE_CERT_CONTEXT = 'kolokol/device-cert/v1';
export const LOGIN_CONTEXT = 'kolokol/login/v1';

/**
 * What an account's identity key signs to certify one device's signature key (Ed25519, also used
 * as the device's MLS signature key). issuedAt is in milliseconds.
 */
export function deviceCertTbs(deviceId: string, deviceKey: Uint8Array, issuedAt: number): Uint8Array {
  return concat(lp(enc.encode(DEVICE_CERT_CONTEXT)), lp(enc.encode(deviceId)), lp(deviceKey), u64(issuedAt));
}

/** What a device key signs to answer a login challenge. */
export function loginTbs(deviceId: string, challenge: Uint8Array): Uint8Array {
  return concat(lp(enc.encode(LOGIN_CONTEXT)), lp(enc.encode(deviceId)), lp(challenge));
}

export const FRANKING_CONTEXT = 'kolokol/franking/v1';

/**
 * What the server MACs to bind a message's franking commitment to who sent it, where and when
 * (see moderation.ts): its own key, so that a report can prove the server delivered exactly this.
 */
export function frankingTagTbs(
  commitment: Uint8Array,
  senderUserId: string,
  groupId: string,
  msgId: string,
  receivedAt: number,
): Uint8Array {
  return concat(
    lp(enc.encode(FRANKING_CONTEXT)),
    lp(commitment),
    lp(enc.encode(senderUserId)),
    lp(enc.encode(groupId)),
    lp(enc.encode(msgId)),
    u64(receivedAt),
  );
}
