import { bytesEqual } from './bytes.ts';
import { err, ok, type Result } from './errors.ts';

/**
 * Who a leaf of an MLS group is: one device of one user, with everything needed to check, offline,
 * that the user's identity key certified the device key. It is the `identity` field of the MLS
 * BasicCredential.
 */
export interface MemberIdentity {
  userId: string;
  deviceId: string;
  identityKey: Uint8Array;
  deviceKey: Uint8Array;
  issuedAt: number;
  cert: Uint8Array;
}

/*
 * Encoding (all integers big-endian), version 1:
 *   u8  version = 1
 *   u8  len, userId   (UTF-8, 1..255 bytes)
 *   u8  len, deviceId (UTF-8, 1..255 bytes)
 *   32  identityKey (Ed25519)
 *   32  deviceKey   (Ed25519)
 *   u64 issuedAt (ms, <= 2^53-1)
 *   64  cert (Ed25519 signature over deviceCertTbs)
 * Hand-written rather than zod/JSON because it must be canonical: one MemberIdentity has exactly
 * one encoding, so two credentials are equal exactly when their bytes are.
 */
const VERSION = 1;
const KEY = 32;
const SIG = 64;
const enc = new TextEncoder();
const dec = new TextDecoder('utf-8', { fatal: true });

function idBytes(what: string, s: string): Uint8Array {
  const b = enc.encode(s);
  if (b.length < 1 || b.length > 255) throw new RangeError(`${what} must be 1..255 UTF-8 bytes`);
  return b;
}

/** Throws on a value no caller should ever build (wrong key sizes, empty ids): that is a bug. */
export function encodeMemberIdentity(m: MemberIdentity): Uint8Array {
  const user = idBytes('userId', m.userId);
  const device = idBytes('deviceId', m.deviceId);
  if (m.identityKey.length !== KEY || m.deviceKey.length !== KEY)
    throw new RangeError('keys must be 32 bytes');
  if (m.cert.length !== SIG) throw new RangeError('cert must be 64 bytes');
  if (!Number.isSafeInteger(m.issuedAt) || m.issuedAt < 0)
    throw new RangeError('issuedAt must be a safe integer >= 0');
  const out = new Uint8Array(1 + 1 + user.length + 1 + device.length + KEY + KEY + 8 + SIG);
  const view = new DataView(out.buffer);
  let off = 0;
  out[off++] = VERSION;
  out[off++] = user.length;
  out.set(user, off);
  off += user.length;
  out[off++] = device.length;
  out.set(device, off);
  off += device.length;
  out.set(m.identityKey, off);
  off += KEY;
  out.set(m.deviceKey, off);
  off += KEY;
  view.setBigUint64(off, BigInt(m.issuedAt));
  off += 8;
  out.set(m.cert, off);
  return out;
}

/** Never throws: anything but a canonical version-1 encoding is a MALFORMED error. */
export function decodeMemberIdentity(bytes: Uint8Array): Result<MemberIdentity> {
  const bad = (why: string) => err('MALFORMED', `member identity: ${why}`);
  let off = 0;
  const take = (n: number): Uint8Array | undefined => {
    if (off + n > bytes.length) return undefined;
    const s = bytes.slice(off, off + n);
    off += n;
    return s;
  };
  const str = (): string | undefined => {
    const len = take(1)?.[0];
    if (len === undefined || len === 0) return undefined;
    const raw = take(len);
    if (raw === undefined) return undefined;
    try {
      const s = dec.decode(raw);
      // TextDecoder silently drops a leading BOM; re-encoding catches that non-canonical form.
      return bytesEqual(enc.encode(s), raw) ? s : undefined;
    } catch {
      return undefined;
    }
  };
  if (take(1)?.[0] !== VERSION) return bad('unknown version');
  const userId = str();
  if (userId === undefined) return bad('bad userId');
  const deviceId = str();
  if (deviceId === undefined) return bad('bad deviceId');
  const identityKey = take(KEY);
  const deviceKey = take(KEY);
  const ts = take(8);
  const cert = take(SIG);
  if (!identityKey || !deviceKey || !ts || !cert) return bad('truncated');
  if (off !== bytes.length) return bad('trailing bytes');
  const issued = new DataView(ts.buffer, ts.byteOffset, 8).getBigUint64(0);
  if (issued > BigInt(Number.MAX_SAFE_INTEGER)) return bad('issuedAt out of range');
  return ok({ userId, deviceId, identityKey, deviceKey, issuedAt: Number(issued), cert });
}
