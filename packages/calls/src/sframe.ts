/**
 * End-to-end encryption of encoded media frames with SFrame (RFC 9605), keyed from the call's
 * MLS group (packages/crypto: sframeKeyFromMls / installMlsEpoch). This file is the logic the
 * transform worker runs for every frame; it has no worker or DOM dependency so that Node tests run
 * it on synthetic frames.
 *
 * A frame goes out as `clear prefix || SFrame(header || AEAD(payload))`, with the clear prefix as
 * SFrame metadata (authenticated, not encrypted). The prefix is the few codec bytes that the RTP
 * packetizer and depacketizer of the browser must read (VP8 payload header, Opus TOC byte), the
 * same split the insertable-streams E2EE deployments use; everything else is ciphertext.
 */
import { installMlsEpoch, type MlsSFrameEpoch, SFrameContext } from '@kolokol/crypto';

export type MediaKind = 'audio' | 'video';
export type Direction = 'send' | 'receive';

/** The part of RTCEncodedAudioFrame / RTCEncodedVideoFrame the transform uses. */
export interface EncodedFrameLike {
  data: ArrayBuffer;
  /** Video only: 'key' | 'delta' | 'empty'. */
  readonly type?: string;
}

/**
 * Bytes left in the clear at the start of a frame: VP8 needs its 10-byte key-frame header
 * (3 bytes on delta frames) to packetize, Opus its TOC byte.
 */
export function clearPrefixLength(kind: MediaKind, frameType: string | undefined, size: number): number {
  const n = kind === 'audio' ? 1 : frameType === 'key' ? 10 : 3;
  return Math.min(n, size);
}

export interface SFrameStats {
  encrypted: number;
  decrypted: number;
  /** Frames dropped on receive, by reason (WRONG_EPOCH, REPLAY, DECRYPT_FAILED, MALFORMED). */
  dropped: Record<string, number>;
}

/** One call's SFrame state: a context holding our send key and every other member's receive key. */
export class SFrameSession {
  readonly #ctx: SFrameContext;
  #sendKid: bigint | undefined;
  #epoch: bigint | undefined;
  readonly stats: SFrameStats = { encrypted: 0, decrypted: 0, dropped: {} };

  constructor(suite: MlsSFrameEpoch['suite'] = 4) {
    this.#ctx = new SFrameContext({ suite });
  }

  get epoch(): bigint | undefined {
    return this.#epoch;
  }

  /** Installs an epoch's keys (after every MLS commit); a repeat of the current epoch is a no-op. */
  setKeys(keys: MlsSFrameEpoch): void {
    if (this.#epoch === keys.epoch && this.#sendKid === keys.own.kid) return;
    installMlsEpoch(this.#ctx, keys);
    this.#sendKid = keys.own.kid;
    this.#epoch = keys.epoch;
  }

  /**
   * Encrypts `frame.data` in place. False (drop the frame) until keys are installed: sending media
   * in the clear is never the fallback.
   */
  encryptFrame(frame: EncodedFrameLike, kind: MediaKind): boolean {
    if (this.#sendKid === undefined) return false;
    const data = new Uint8Array(frame.data);
    const n = clearPrefixLength(kind, frame.type, data.length);
    const prefix = data.subarray(0, n);
    let sealed: Uint8Array;
    try {
      sealed = this.#ctx.encrypt(this.#sendKid, prefix, data.subarray(n));
    } catch {
      // Key expired or its counter ran out: drop rather than send in the clear.
      this.stats.dropped.SEND_KEY = (this.stats.dropped.SEND_KEY ?? 0) + 1;
      return false;
    }
    const out = new Uint8Array(n + sealed.length);
    out.set(prefix, 0);
    out.set(sealed, n);
    frame.data = out.buffer;
    this.stats.encrypted++;
    return true;
  }

  /** Decrypts `frame.data` in place; false means drop it (see stats.dropped for why). */
  decryptFrame(frame: EncodedFrameLike, kind: MediaKind): boolean {
    const data = new Uint8Array(frame.data);
    const n = clearPrefixLength(kind, frame.type, data.length);
    const r = this.#ctx.decrypt(data.subarray(0, n), data.subarray(n));
    if (!r.ok) {
      this.stats.dropped[r.error.code] = (this.stats.dropped[r.error.code] ?? 0) + 1;
      return false;
    }
    const out = new Uint8Array(n + r.value.plaintext.length);
    out.set(data.subarray(0, n), 0);
    out.set(r.value.plaintext, n);
    frame.data = out.buffer;
    this.stats.decrypted++;
    return true;
  }

  /** The per-frame function of a TransformStream: encrypt or decrypt, enqueue or drop. */
  transformer(
    direction: Direction,
    kind: MediaKind,
  ): (frame: EncodedFrameLike, controller: { enqueue(f: EncodedFrameLike): void }) => void {
    return (frame, controller) => {
      // An empty frame carries nothing to protect (and SFrame has no empty ciphertext for it).
      if (frame.data.byteLength === 0) {
        controller.enqueue(frame);
        return;
      }
      const ok = direction === 'send' ? this.encryptFrame(frame, kind) : this.decryptFrame(frame, kind);
      if (ok) controller.enqueue(frame);
    };
  }
}

/** Messages from the page to the transform worker. */
export type WorkerMessage = { type: 'keys'; keys: MlsSFrameEpoch };
