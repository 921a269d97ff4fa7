/**
 * Splitting a TCP/TLS byte stream into STUN messages and ChannelData frames (RFC 8656 §12.5). STUN
 * carries its own length; ChannelData is padded to 4 bytes on streams. The first frame must be STUN:
 * a stream that opens with anything else is not TURN, and nothing can resynchronise a stream
 * after garbage, so the framer reports an error and the caller closes the stream.
 */
import { CHANNEL_MAX, HEADER_LENGTH, MAGIC_COOKIE } from './constants.ts';

export type Frame = { kind: 'stun'; bytes: Buffer } | { kind: 'channel-data'; bytes: Buffer };

export type FramerResult = { frames: Frame[]; error?: string };

export class StreamFramer {
  private buffer: Buffer = Buffer.alloc(0);
  private sawStun = false;
  private failed = false;

  push(chunk: Buffer): FramerResult {
    if (this.failed) return { frames: [], error: 'stream already failed' };
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    const frames: Frame[] = [];
    let offset = 0;
    const fail = (error: string): FramerResult => {
      this.failed = true;
      this.buffer = Buffer.alloc(0);
      return { frames, error };
    };
    while (this.buffer.length - offset >= 4) {
      const first = this.buffer.readUInt8(offset);
      const length = this.buffer.readUInt16BE(offset + 2);
      let size: number;
      let kind: Frame['kind'];
      if ((first & 0xc0) === 0) {
        if (length % 4 !== 0) return fail('STUN length not a multiple of 4');
        if (this.buffer.length - offset >= 8 && this.buffer.readUInt32BE(offset + 4) !== MAGIC_COOKIE) {
          return fail('no magic cookie');
        }
        size = HEADER_LENGTH + length;
        kind = 'stun';
      } else if (first >= 0x40 && first <= CHANNEL_MAX >> 8) {
        if (!this.sawStun) return fail('ChannelData before any STUN message');
        size = 4 + ((length + 3) & ~3);
        kind = 'channel-data';
      } else {
        return fail('neither STUN nor ChannelData');
      }
      if (this.buffer.length - offset < size) break;
      frames.push({ kind, bytes: Buffer.from(this.buffer.subarray(offset, offset + size)) });
      if (kind === 'stun') this.sawStun = true;
      offset += size;
    }
    this.buffer = offset === 0 ? this.buffer : this.buffer.subarray(offset);
    return { frames };
  }

  /** Bytes received but not yet forming a whole frame. */
  get pending(): number {
    return this.buffer.length;
  }
}
