/**
 * Typed attribute values (RFC 8489 §14, RFC 8656 §14). Every decoder takes untrusted bytes and
 * returns undefined for anything it cannot read; encoders take trusted values.
 */
import { bytesToIp, ipToBytes, type TransportAddress } from '../ip.ts';
import { CHANNEL_MAX, CHANNEL_MIN, MAGIC_COOKIE } from './constants.ts';

const FAMILY_IPV4 = 0x01;
const FAMILY_IPV6 = 0x02;

/** MAPPED-ADDRESS and ALTERNATE-SERVER layout: 0, family, port, address. */
export function encodeAddress(address: TransportAddress): Buffer {
  const ip = ipToBytes(address.address);
  if (ip === undefined) throw new RangeError(`not an IP address: ${address.address}`);
  const out = Buffer.alloc(4 + ip.length);
  out.writeUInt8(ip.length === 4 ? FAMILY_IPV4 : FAMILY_IPV6, 1);
  out.writeUInt16BE(address.port, 2);
  ip.copy(out, 4);
  return out;
}

export function decodeAddress(value: Buffer): TransportAddress | undefined {
  if (value.length < 4) return undefined;
  const family = value.readUInt8(1);
  const size = family === FAMILY_IPV4 ? 4 : family === FAMILY_IPV6 ? 16 : 0;
  if (size === 0 || value.length !== 4 + size) return undefined;
  return { address: bytesToIp(value.subarray(4)), port: value.readUInt16BE(2) };
}

/** The XOR pad: magic cookie, then (IPv6 only) the transaction id. */
function xorPad(transactionId: Buffer): Buffer {
  const pad = Buffer.alloc(16);
  pad.writeUInt32BE(MAGIC_COOKIE, 0);
  transactionId.copy(pad, 4, 0, 12);
  return pad;
}

function xorInPlace(value: Buffer, transactionId: Buffer): Buffer {
  const pad = xorPad(transactionId);
  value.writeUInt16BE(value.readUInt16BE(2) ^ (MAGIC_COOKIE >>> 16), 2);
  for (let i = 4; i < value.length; i++) value[i] = (value[i] ?? 0) ^ (pad[i - 4] ?? 0);
  return value;
}

/** XOR-MAPPED-ADDRESS, XOR-PEER-ADDRESS and XOR-RELAYED-ADDRESS share this layout. */
export function encodeXorAddress(address: TransportAddress, transactionId: Buffer): Buffer {
  return xorInPlace(encodeAddress(address), transactionId);
}

export function decodeXorAddress(value: Buffer, transactionId: Buffer): TransportAddress | undefined {
  if (value.length !== 8 && value.length !== 20) return undefined;
  return decodeAddress(xorInPlace(Buffer.from(value), transactionId));
}

/** ERROR-CODE: class (hundreds) and number, then a UTF-8 reason phrase. */
export function encodeErrorCode(code: number, reason: string): Buffer {
  const text = Buffer.from(reason, 'utf8').subarray(0, 763);
  const out = Buffer.alloc(4 + text.length);
  out.writeUInt8(Math.floor(code / 100) & 0x07, 2);
  out.writeUInt8(code % 100, 3);
  text.copy(out, 4);
  return out;
}

export function decodeErrorCode(value: Buffer): { code: number; reason: string } | undefined {
  if (value.length < 4) return undefined;
  const cls = value.readUInt8(2) & 0x07;
  const number = value.readUInt8(3);
  if (cls < 3 || cls > 6 || number > 99) return undefined;
  return { code: cls * 100 + number, reason: value.subarray(4).toString('utf8') };
}

export function encodeUnknownAttributes(types: readonly number[]): Buffer {
  const out = Buffer.alloc(types.length * 2);
  types.forEach((t, i) => {
    out.writeUInt16BE(t, i * 2);
  });
  return out;
}

export function decodeUnknownAttributes(value: Buffer): number[] | undefined {
  if (value.length % 2 !== 0) return undefined;
  const out: number[] = [];
  for (let i = 0; i < value.length; i += 2) out.push(value.readUInt16BE(i));
  return out;
}

export function encodeUint32(n: number): Buffer {
  const out = Buffer.alloc(4);
  out.writeUInt32BE(n >>> 0, 0);
  return out;
}

/** LIFETIME (seconds) and other 32-bit values. */
export function decodeUint32(value: Buffer): number | undefined {
  return value.length === 4 ? value.readUInt32BE(0) : undefined;
}

/** REQUESTED-TRANSPORT: protocol number, then three reserved bytes. */
export function encodeRequestedTransport(protocol: number): Buffer {
  const out = Buffer.alloc(4);
  out.writeUInt8(protocol, 0);
  return out;
}

export function decodeRequestedTransport(value: Buffer): number | undefined {
  return value.length === 4 ? value.readUInt8(0) : undefined;
}

/** REQUESTED-ADDRESS-FAMILY: 0x01 IPv4, 0x02 IPv6, then three reserved bytes. */
export function encodeRequestedFamily(family: 4 | 6): Buffer {
  const out = Buffer.alloc(4);
  out.writeUInt8(family === 4 ? FAMILY_IPV4 : FAMILY_IPV6, 0);
  return out;
}

export function decodeRequestedFamily(value: Buffer): 4 | 6 | undefined {
  if (value.length !== 4) return undefined;
  const f = value.readUInt8(0);
  return f === FAMILY_IPV4 ? 4 : f === FAMILY_IPV6 ? 6 : undefined;
}

/** CHANNEL-NUMBER: 16-bit number, then RFFU. */
export function encodeChannelNumber(channel: number): Buffer {
  const out = Buffer.alloc(4);
  out.writeUInt16BE(channel, 0);
  return out;
}

/** The channel number, or undefined if absent from the wire or outside 0x4000-0x4FFF. */
export function decodeChannelNumber(value: Buffer): number | undefined {
  if (value.length !== 4) return undefined;
  const n = value.readUInt16BE(0);
  return n >= CHANNEL_MIN && n <= CHANNEL_MAX ? n : undefined;
}

/** EVEN-PORT: one byte whose top bit asks the server to reserve the next port too. */
export function encodeEvenPort(reserveNext: boolean): Buffer {
  return Buffer.from([reserveNext ? 0x80 : 0]);
}

export function decodeEvenPort(value: Buffer): { reserveNext: boolean } | undefined {
  return value.length === 1 ? { reserveNext: ((value[0] ?? 0) & 0x80) !== 0 } : undefined;
}

/** RESERVATION-TOKEN: 8 opaque bytes. */
export function decodeReservationToken(value: Buffer): Buffer | undefined {
  return value.length === 8 ? value : undefined;
}

/** USERNAME (<513 bytes), REALM and NONCE (<763 bytes), SOFTWARE: UTF-8 text. */
export function decodeText(value: Buffer, maxBytes: number): string | undefined {
  if (value.length > maxBytes) return undefined;
  const text = value.toString('utf8');
  // A lone continuation byte decodes to U+FFFD: reject text that does not round-trip.
  return Buffer.from(text, 'utf8').equals(value) ? text : undefined;
}

export const TEXT_LIMITS = { username: 512, realm: 763, nonce: 763, software: 763 } as const;
