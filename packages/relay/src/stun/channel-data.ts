/**
 * ChannelData framing (RFC 8656 §12.4): 2-byte channel number, 2-byte length, data. Over TCP/TLS the
 * frame is padded to a multiple of 4 bytes; over UDP padding is optional and not sent.
 */
import { CHANNEL_MAX, CHANNEL_MIN } from './constants.ts';

export interface ChannelData {
  channel: number;
  data: Buffer;
}

export function encodeChannelData(channel: number, data: Buffer, pad: boolean): Buffer {
  if (data.length > 0xffff) throw new RangeError('ChannelData too long');
  const size = 4 + (pad ? (data.length + 3) & ~3 : data.length);
  const out = Buffer.alloc(size);
  out.writeUInt16BE(channel, 0);
  out.writeUInt16BE(data.length, 2);
  data.copy(out, 4);
  return out;
}

/** Parses a datagram or stream frame; trailing padding is allowed, a short frame is not. */
export function decodeChannelData(bytes: Buffer): ChannelData | undefined {
  if (bytes.length < 4) return undefined;
  const channel = bytes.readUInt16BE(0);
  if (channel < CHANNEL_MIN || channel > CHANNEL_MAX) return undefined;
  const length = bytes.readUInt16BE(2);
  if (4 + length > bytes.length) return undefined;
  return { channel, data: bytes.subarray(4, 4 + length) };
}
