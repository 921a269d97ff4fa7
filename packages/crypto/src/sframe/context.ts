/**
 * An SFrame context (RFC 9605 §4.4): the KID -> key store of one device for one media session,
 * with per-key send counters, per-key replay windows and key rotation.
 *
 * Synchronous on purpose: it runs inside an RTCRtpScriptTransform, one encrypt or decrypt per
 * media frame, and an await per frame would cost more than the cipher.
 *
 * Failures:
 * - decrypt() returns a Result for everything an attacker or the network can cause:
 *   MALFORMED (header or length), WRONG_EPOCH (no key for the KID: unknown, removed or expired;
 *   RFC 9605 §4.4.4 lets the caller buffer the frame and retry once the key arrives), REPLAY
 *   (counter seen before or older than the window), DECRYPT_FAILED (tag mismatch). Callers drop
 *   the frame in every case except possibly WRONG_EPOCH.
 * - encrypt() and the key methods throw, because every failure there is the caller's doing:
 *   no send key for the KID (WRONG_EPOCH), counter exhausted (UNSUPPORTED: rotate the key), a
 *   KID registered for both directions, or send key material reused (UNSUPPORTED).
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { wipe } from '../bytes.ts';
import { CryptoError, err, ok, type Result } from '../errors.ts';
import { deriveKeySalt, FrameKey } from './aead.ts';
import { decodeHeader, headerLength, MAX_U64, writeHeader } from './header.ts';
import { ReplayWindow } from './replay.ts';
import { type SFrameSuite, type SFrameSuiteId, sframeSuite } from './suites.ts';

/**
 * 128 frames: CTR counts frames, and a frame that arrives more than 128 frames late (over 2 s
 * of 60 fps video, 2.5 s of 20 ms audio) is past any jitter buffer's deadline, so the decoder
 * would throw it away anyway. Anything shorter starts refusing frames an SFU legitimately
 * reordered under loss (retransmitted video frames, simulcast layer switches). Larger windows
 * are fine (the bitmap is size/8 bytes per key); they only widen what a replay can reach.
 */
export const DEFAULT_REPLAY_WINDOW = 128;

/**
 * After a receive key is replaced or retired (a new MLS epoch, a new sender key), frames
 * sealed under the old one are still in flight for up to a jitter buffer plus the time the
 * sender takes to switch. 2 s covers that; keeping it longer only extends how long a removed
 * member's key still opens frames.
 */
export const DEFAULT_ROTATION_GRACE_MS = 2000;

/**
 * 2^32 frames per key (over two years of 60 fps). CTR allows 2^64, but AES-GCM's confidentiality
 * bound degrades with the number of blocks sealed under one key (about (frames*blocks)^2/2^129):
 * at 2^32 frames of 10 KB it is still around 2^-46. MLS epochs rotate long before this.
 */
export const DEFAULT_MAX_FRAMES_PER_KEY = 1n << 32n;

export interface SFrameContextOptions {
  suite: SFrameSuiteId;
  /** Receive-side replay window in frames (1..65536). Default DEFAULT_REPLAY_WINDOW. */
  replayWindow?: number;
  /** How long a replaced or retired receive key keeps opening frames. */
  rotationGraceMs?: number;
  /** Counters 0..max-1 are used, then encrypt refuses. At most 2^64. */
  maxFramesPerKey?: bigint;
  /** Permit the draft AES-256 CTR+HMAC suites 6..8 (see suites.ts). */
  allowDraftSuites?: boolean;
  /** ms clock for expiry; Date.now by default, injectable for tests. */
  now?: () => number;
}

export interface KeyOptions {
  /** Absolute time (ms, same clock as `now`) after which the key is dropped. */
  expiresAt?: number;
}

export interface SFrameDecrypted {
  kid: bigint;
  ctr: bigint;
  plaintext: Uint8Array;
}

export type KeyUsage = 'send' | 'receive';

interface SendEntry {
  key: FrameKey;
  next: bigint;
  expiresAt: number;
}

interface Generation {
  key: FrameKey;
  replay: ReplayWindow;
  /** Only for a previous generation: when it stops being tried. */
  until: number;
}

interface ReceiveEntry {
  current: Generation;
  previous: Generation | undefined;
  expiresAt: number;
}

const MIN_BASE_KEY = 16;

function checkKid(kid: bigint): void {
  if (typeof kid !== 'bigint' || kid < 0n || kid > MAX_U64)
    throw new RangeError('sframe: KID must be a bigint in 0..2^64-1');
}

export class SFrameContext {
  readonly suite: SFrameSuite;
  readonly replayWindow: number;
  readonly rotationGraceMs: number;
  readonly maxFramesPerKey: bigint;
  readonly #now: () => number;
  readonly #send = new Map<bigint, SendEntry>();
  readonly #receive = new Map<bigint, ReceiveEntry>();
  /**
   * Fingerprints of every send key this context ever held. Adding the same (base_key, KID) again
   * would restart CTR at 0 and repeat nonces (§9.1), so we refuse it.
   */
  readonly #usedSendKeys = new Set<string>();

  constructor(options: SFrameContextOptions) {
    const suite = sframeSuite(options.suite);
    if (suite === undefined)
      throw new CryptoError('UNSUPPORTED', `sframe: unknown cipher suite ${options.suite}`);
    if (!suite.rfc9605 && options.allowDraftSuites !== true)
      throw new CryptoError('UNSUPPORTED', `sframe: ${suite.name} is a draft suite; pass allowDraftSuites`);
    this.suite = suite;
    this.replayWindow = options.replayWindow ?? DEFAULT_REPLAY_WINDOW;
    new ReplayWindow(this.replayWindow); // validates the size up front
    this.rotationGraceMs = options.rotationGraceMs ?? DEFAULT_ROTATION_GRACE_MS;
    if (!(this.rotationGraceMs >= 0)) throw new RangeError('sframe: rotationGraceMs must be >= 0');
    this.maxFramesPerKey = options.maxFramesPerKey ?? DEFAULT_MAX_FRAMES_PER_KEY;
    if (this.maxFramesPerKey < 1n || this.maxFramesPerKey > 1n << 64n)
      throw new RangeError('sframe: maxFramesPerKey must be in 1..2^64');
    this.#now = options.now ?? Date.now;
  }

  #derive(kid: bigint, baseKey: Uint8Array): { key: FrameKey; fingerprint: string } {
    checkKid(kid);
    if (baseKey.length < MIN_BASE_KEY)
      throw new RangeError(`sframe: base key shorter than ${MIN_BASE_KEY} bytes`);
    const d = deriveKeySalt(this.suite, kid, baseKey);
    const fp = sha256.create().update(d.key).update(d.salt).digest().subarray(0, 16);
    const fingerprint = Array.from(fp, (b) => b.toString(16).padStart(2, '0')).join('');
    const key = new FrameKey(this.suite, d.key, d.salt);
    wipe(d.secret, d.key, d.salt);
    return { key, fingerprint };
  }

  /**
   * A key this device encrypts with. Replaces an existing send key for the KID (its counter
   * restarts at 0, which is safe because the key differs); the same key material twice is refused.
   */
  addSendKey(kid: bigint, baseKey: Uint8Array, options: KeyOptions = {}): void {
    checkKid(kid);
    if (this.#receive.has(kid))
      throw new CryptoError('UNSUPPORTED', `sframe: KID ${kid} is a receive key; a key is for one direction`);
    const { key, fingerprint } = this.#derive(kid, baseKey);
    if (this.#usedSendKeys.has(fingerprint)) {
      key.destroy();
      throw new CryptoError(
        'UNSUPPORTED',
        `sframe: this send key for KID ${kid} was used before (nonce reuse)`,
      );
    }
    this.#usedSendKeys.add(fingerprint);
    this.#send.get(kid)?.key.destroy();
    this.#send.set(kid, { key, next: 0n, expiresAt: options.expiresAt ?? Number.POSITIVE_INFINITY });
  }

  /**
   * A key other devices encrypt with. Replacing an existing receive key keeps the old one as the
   * previous generation for rotationGraceMs, each with its own replay window.
   */
  addReceiveKey(kid: bigint, baseKey: Uint8Array, options: KeyOptions = {}): void {
    checkKid(kid);
    if (this.#send.has(kid))
      throw new CryptoError('UNSUPPORTED', `sframe: KID ${kid} is a send key; a key is for one direction`);
    const { key } = this.#derive(kid, baseKey);
    const current: Generation = { key, replay: new ReplayWindow(this.replayWindow), until: 0 };
    const old = this.#receive.get(kid);
    old?.previous?.key.destroy();
    const previous = old && { ...old.current, until: this.#now() + this.rotationGraceMs };
    this.#receive.set(kid, {
      current,
      previous,
      expiresAt: options.expiresAt ?? Number.POSITIVE_INFINITY,
    });
  }

  /** Drops the key for the KID at once (either direction). */
  removeKey(kid: bigint): boolean {
    const s = this.#send.get(kid);
    const r = this.#receive.get(kid);
    s?.key.destroy();
    r?.current.key.destroy();
    r?.previous?.key.destroy();
    return this.#send.delete(kid) || this.#receive.delete(kid);
  }

  /**
   * Phases a key out: a send key stops at once (we never encrypt with a retired key), a receive
   * key keeps opening frames for `graceMs` more, then is dropped.
   */
  retireKey(kid: bigint, graceMs: number = this.rotationGraceMs): boolean {
    if (this.#send.has(kid)) return this.removeKey(kid);
    const r = this.#receive.get(kid);
    if (r === undefined) return false;
    r.expiresAt = Math.min(r.expiresAt, this.#now() + graceMs);
    return true;
  }

  /** The KIDs we hold, with their direction and expiry (Infinity when none). */
  keys(): { kid: bigint; usage: KeyUsage; expiresAt: number }[] {
    this.prune();
    return [
      ...[...this.#send].map(([kid, e]) => ({ kid, usage: 'send' as const, expiresAt: e.expiresAt })),
      ...[...this.#receive].map(([kid, e]) => ({ kid, usage: 'receive' as const, expiresAt: e.expiresAt })),
    ];
  }

  /** The CTR the next encrypt() with this KID will use. */
  nextCounter(kid: bigint): bigint | undefined {
    return this.#send.get(kid)?.next;
  }

  /** Drops expired keys and previous generations whose grace is over. */
  prune(): void {
    const now = this.#now();
    for (const [kid, e] of this.#send) if (e.expiresAt <= now) this.removeKey(kid);
    for (const [kid, e] of this.#receive) {
      if (e.expiresAt <= now) this.removeKey(kid);
      else if (e.previous !== undefined && e.previous.until <= now) {
        e.previous.key.destroy();
        e.previous = undefined;
      }
    }
  }

  /**
   * header(KID, CTR) || AEAD.Encrypt(sframe_key, salt XOR CTR, header || metadata, plaintext),
   * with the key's next CTR. The counter advances before sealing, so a frame that fails halfway
   * still burns its counter rather than risk reusing it.
   */
  encrypt(kid: bigint, metadata: Uint8Array, plaintext: Uint8Array): Uint8Array {
    const e = this.#send.get(kid);
    if (e === undefined) throw new CryptoError('WRONG_EPOCH', `sframe: no send key for KID ${kid}`);
    if (e.expiresAt <= this.#now()) {
      this.removeKey(kid);
      throw new CryptoError('WRONG_EPOCH', `sframe: send key for KID ${kid} expired`);
    }
    const ctr = e.next;
    if (ctr >= this.maxFramesPerKey)
      throw new CryptoError('UNSUPPORTED', `sframe: counter for KID ${kid} exhausted; rotate the key`);
    e.next = ctr + 1n;
    const hl = headerLength(kid, ctr);
    const out = new Uint8Array(hl + plaintext.length + this.suite.nt);
    writeHeader(out, 0, kid, ctr);
    e.key.sealInto(out, hl, ctr, metadata, plaintext);
    return out;
  }

  decrypt(metadata: Uint8Array, frame: Uint8Array): Result<SFrameDecrypted> {
    const h = decodeHeader(frame);
    if (!h.ok) return h;
    const { kid, ctr, length } = h.value;
    if (frame.length < length + this.suite.nt) return err('MALFORMED', 'sframe: frame shorter than its tag');
    const e = this.#receive.get(kid);
    if (e === undefined) return err('WRONG_EPOCH', `sframe: no receive key for KID ${kid}`);
    const now = this.#now();
    if (e.expiresAt <= now) {
      this.removeKey(kid);
      return err('WRONG_EPOCH', `sframe: receive key for KID ${kid} expired`);
    }
    if (e.previous !== undefined && e.previous.until <= now) {
      e.previous.key.destroy();
      e.previous = undefined;
    }
    const header = frame.subarray(0, length);
    const body = frame.subarray(length);
    // Current generation first, then the previous one during its grace period; no array per frame.
    const a = this.#tryOpen(e.current, header, ctr, metadata, body);
    if (a instanceof Uint8Array) return ok({ kid, ctr, plaintext: a });
    const b = e.previous && this.#tryOpen(e.previous, header, ctr, metadata, body);
    if (b instanceof Uint8Array) return ok({ kid, ctr, plaintext: b });
    return a === 'replay' || b === 'replay'
      ? err('REPLAY', `sframe: KID ${kid} CTR ${ctr} already seen or older than the replay window`)
      : err('DECRYPT_FAILED', 'sframe: authentication failed');
  }

  #tryOpen(
    g: Generation,
    header: Uint8Array,
    ctr: bigint,
    metadata: Uint8Array,
    body: Uint8Array,
  ): Uint8Array | 'replay' | 'failed' {
    if (g.replay.check(ctr) !== 'fresh') return 'replay';
    const plaintext = g.key.open(header, ctr, metadata, body);
    if (plaintext === undefined) return 'failed';
    g.replay.accept(ctr);
    return plaintext;
  }
}
