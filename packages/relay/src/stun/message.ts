/**
 * STUN message codec (RFC 8489 §5, §14). The decoder is the parser for untrusted bytes: it never
 * throws, checks every length against the buffer, and returns either a message whose attributes are
 * raw (type, value) pairs or the reason it refused. Typed views of attribute values live in
 * attributes.ts and are parsed again at use.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { crc32 } from 'node:zlib';
import {
  AttributeType,
  FINGERPRINT_XOR,
  HEADER_LENGTH,
  MAGIC_COOKIE,
  type MessageClass,
  TRANSACTION_ID_LENGTH,
} from './constants.ts';

export interface RawAttribute {
  type: number;
  value: Buffer;
}

export interface StunMessage {
  /** 12-bit method (Method.*). */
  method: number;
  cls: MessageClass;
  /** 12 bytes. */
  transactionId: Buffer;
  /** In wire order, without MESSAGE-INTEGRITY(-SHA256) and FINGERPRINT, which the encoder adds. */
  attributes: RawAttribute[];
}

export interface DecodedMessage extends StunMessage {
  /** The exact bytes of the message, kept to verify MESSAGE-INTEGRITY. */
  raw: Buffer;
  /** Offset of the MESSAGE-INTEGRITY attribute header in `raw`, when present. */
  integrityOffset: number | undefined;
  /** Offset of the MESSAGE-INTEGRITY-SHA256 attribute header in `raw`, when present. */
  integritySha256Offset: number | undefined;
  /** A FINGERPRINT was present (and correct: the decoder refuses a wrong one). */
  hasFingerprint: boolean;
}

export type DecodeResult = { ok: true; message: DecodedMessage } | { ok: false; reason: string };

/** The 14-bit message type from method and class (the class bits sit at 4 and 8). */
export function messageType(method: number, cls: MessageClass): number {
  return (
    (method & 0x000f) |
    ((method & 0x0070) << 1) |
    ((method & 0x0f80) << 2) |
    ((cls & 1) << 4) |
    ((cls & 2) << 7)
  );
}

export function splitMessageType(type: number): { method: number; cls: MessageClass } {
  const method = (type & 0x000f) | ((type & 0x00e0) >> 1) | ((type & 0x3e00) >> 2);
  const cls = (((type >> 4) & 1) | ((type >> 7) & 2)) as MessageClass;
  return { method, cls };
}

const padded = (n: number) => (n + 3) & ~3;

export function decodeMessage(bytes: Uint8Array): DecodeResult {
  const raw = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (raw.length < HEADER_LENGTH) return { ok: false, reason: 'shorter than a STUN header' };
  const type = raw.readUInt16BE(0);
  if ((type & 0xc000) !== 0) return { ok: false, reason: 'top two bits not zero' };
  const length = raw.readUInt16BE(2);
  if (length % 4 !== 0) return { ok: false, reason: 'length not a multiple of 4' };
  if (raw.readUInt32BE(4) !== MAGIC_COOKIE) return { ok: false, reason: 'no magic cookie' };
  if (HEADER_LENGTH + length !== raw.length) return { ok: false, reason: 'length does not match the bytes' };
  const { method, cls } = splitMessageType(type);
  const transactionId = Buffer.from(raw.subarray(8, 8 + TRANSACTION_ID_LENGTH));
  const attributes: RawAttribute[] = [];
  let integrityOffset: number | undefined;
  let integritySha256Offset: number | undefined;
  let hasFingerprint = false;
  let offset = HEADER_LENGTH;
  while (offset < raw.length) {
    if (hasFingerprint) return { ok: false, reason: 'attribute after FINGERPRINT' };
    if (offset + 4 > raw.length) return { ok: false, reason: 'truncated attribute header' };
    const attrType = raw.readUInt16BE(offset);
    const attrLength = raw.readUInt16BE(offset + 2);
    const end = offset + 4 + attrLength;
    if (offset + 4 + padded(attrLength) > raw.length) return { ok: false, reason: 'truncated attribute' };
    const value = raw.subarray(offset + 4, end);
    if (attrType === AttributeType.Fingerprint) {
      if (attrLength !== 4) return { ok: false, reason: 'FINGERPRINT of wrong length' };
      if (value.readUInt32BE(0) !== fingerprintOf(raw, offset))
        return { ok: false, reason: 'wrong FINGERPRINT' };
      hasFingerprint = true;
    } else if (attrType === AttributeType.MessageIntegrity) {
      if (attrLength !== 20) return { ok: false, reason: 'MESSAGE-INTEGRITY of wrong length' };
      // A second one, or one after MESSAGE-INTEGRITY-SHA256, follows an integrity attribute: ignored.
      if (integrityOffset === undefined && integritySha256Offset === undefined) integrityOffset = offset;
    } else if (attrType === AttributeType.MessageIntegritySha256) {
      if (attrLength < 16 || attrLength > 32 || attrLength % 4 !== 0) {
        return { ok: false, reason: 'MESSAGE-INTEGRITY-SHA256 of wrong length' };
      }
      if (integritySha256Offset === undefined) integritySha256Offset = offset;
    } else if (integrityOffset === undefined && integritySha256Offset === undefined) {
      // RFC 8489 §14.5: everything after the integrity attributes except FINGERPRINT is ignored.
      attributes.push({ type: attrType, value: Buffer.from(value) });
    }
    offset += 4 + padded(attrLength);
  }
  return {
    ok: true,
    message: {
      method,
      cls,
      transactionId,
      attributes,
      raw,
      integrityOffset,
      integritySha256Offset,
      hasFingerprint,
    },
  };
}

export interface EncodeOptions {
  /** Append MESSAGE-INTEGRITY (HMAC-SHA1) with this key. */
  integrityKey?: Buffer;
  /** Append MESSAGE-INTEGRITY-SHA256 with this key (after MESSAGE-INTEGRITY when both are set). */
  integritySha256Key?: Buffer;
  /** Append FINGERPRINT. */
  fingerprint?: boolean;
}

export function encodeMessage(message: StunMessage, options: EncodeOptions = {}): Buffer {
  if (message.transactionId.length !== TRANSACTION_ID_LENGTH) {
    throw new RangeError('a STUN transaction id has 12 bytes');
  }
  const parts: Buffer[] = [];
  for (const attribute of message.attributes) parts.push(encodeAttribute(attribute.type, attribute.value));
  let body = Buffer.concat(parts);
  const header = Buffer.alloc(HEADER_LENGTH);
  header.writeUInt16BE(messageType(message.method, message.cls), 0);
  header.writeUInt32BE(MAGIC_COOKIE, 4);
  message.transactionId.copy(header, 8);
  const withLength = (extra: number) => {
    if (body.length + extra > 0xffff) throw new RangeError('STUN message too long');
    header.writeUInt16BE(body.length + extra, 2);
    return Buffer.concat([header, body]);
  };
  if (options.integrityKey !== undefined) {
    const mac = createHmac('sha1', options.integrityKey).update(withLength(24)).digest();
    body = Buffer.concat([body, encodeAttribute(AttributeType.MessageIntegrity, mac)]);
  }
  if (options.integritySha256Key !== undefined) {
    const mac = createHmac('sha256', options.integritySha256Key).update(withLength(36)).digest();
    body = Buffer.concat([body, encodeAttribute(AttributeType.MessageIntegritySha256, mac)]);
  }
  if (options.fingerprint === true) {
    const bytes = withLength(8);
    const value = Buffer.alloc(4);
    value.writeUInt32BE(fingerprintOf(bytes, bytes.length), 0);
    body = Buffer.concat([body, encodeAttribute(AttributeType.Fingerprint, value)]);
  }
  return withLength(0);
}

export function encodeAttribute(type: number, value: Buffer): Buffer {
  if (value.length > 0xffff) throw new RangeError('STUN attribute too long');
  const out = Buffer.alloc(4 + padded(value.length));
  out.writeUInt16BE(type, 0);
  out.writeUInt16BE(value.length, 2);
  value.copy(out, 4);
  return out;
}

/** CRC-32 of raw[0, end) with the length field counting up to the end of a FINGERPRINT at `end`. */
function fingerprintOf(raw: Buffer, end: number): number {
  const prefix = Buffer.from(raw.subarray(0, end));
  prefix.writeUInt16BE(end + 8 - HEADER_LENGTH, 2);
  return (crc32(prefix) ^ FINGERPRINT_XOR) >>> 0;
}

/** Checks MESSAGE-INTEGRITY (HMAC-SHA1) of a decoded message; false when it has none. */
export function verifyIntegrity(message: DecodedMessage, key: Buffer): boolean {
  const offset = message.integrityOffset;
  if (offset === undefined) return false;
  return verifyMac(message.raw, offset, 'sha1', key);
}

/** Checks MESSAGE-INTEGRITY-SHA256 (possibly truncated to 16..32 bytes); false when it has none. */
export function verifyIntegritySha256(message: DecodedMessage, key: Buffer): boolean {
  const offset = message.integritySha256Offset;
  if (offset === undefined) return false;
  return verifyMac(message.raw, offset, 'sha256', key);
}

function verifyMac(raw: Buffer, offset: number, algorithm: 'sha1' | 'sha256', key: Buffer): boolean {
  const length = raw.readUInt16BE(offset + 2);
  const prefix = Buffer.from(raw.subarray(0, offset));
  prefix.writeUInt16BE(offset + 4 + length - HEADER_LENGTH, 2);
  const expected = createHmac(algorithm, key).update(prefix).digest().subarray(0, length);
  const actual = raw.subarray(offset + 4, offset + 4 + length);
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}

/** The first attribute of a type (RFC 8489: duplicates after the first are ignored). */
export function getAttribute(message: StunMessage, type: number): Buffer | undefined {
  return message.attributes.find((a) => a.type === type)?.value;
}

export function getAttributes(message: StunMessage, type: number): Buffer[] {
  return message.attributes.filter((a) => a.type === type).map((a) => a.value);
}
