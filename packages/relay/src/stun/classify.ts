/**
 * Telling STUN apart from other protocols on a shared port (RFC 7983 style demultiplexing): the
 * app's TLS listener peeks at the first decrypted bytes and hands STUN streams to the relay.
 */
import { MAGIC_COOKIE } from './constants.ts';

/** Bytes needed by isStun: message type, length and magic cookie. */
export const STUN_SNIFF_BYTES = 8;

/** A STUN message starts with two zero bits and has the magic cookie at offset 4. */
export function isStun(bytes: Uint8Array): boolean {
  if (bytes.length < STUN_SNIFF_BYTES) return false;
  if (((bytes[0] ?? 0xff) & 0xc0) !== 0) return false;
  const cookie =
    (((bytes[4] ?? 0) << 24) | ((bytes[5] ?? 0) << 16) | ((bytes[6] ?? 0) << 8) | (bytes[7] ?? 0)) >>> 0;
  return cookie === MAGIC_COOKIE;
}

/**
 * A ChannelData frame starts with 0x40-0x4F (channel numbers 0x4000-0x4FFF). Only meaningful on a
 * stream or 5-tuple already known to speak TURN: on its own, one byte says little.
 */
export function isChannelData(bytes: Uint8Array): boolean {
  const b = bytes[0];
  return b !== undefined && b >= 0x40 && b <= 0x4f && bytes.length >= 4;
}
