/**
 * SFrame key derivation (RFC 9605 §4.4.2), nonce formation (§4.4.3) and the two AEAD families
 * (§4.5): AES-GCM, and the synthetic AES-CTR + truncated HMAC of §4.5.1. Every primitive comes
 * from noble; this file only arranges the bytes the way the RFC says.
 *
 * Hot path (one call per media frame): the HMAC key schedule is done once per key (we clone the
 * keyed HMAC per frame), the nonce and the length block live in per-key scratch buffers, and
 * the output frame is allocated once with the header written in place.
 */
import { ctr, gcm } from '@noble/ciphers/aes.js';
import { expand, extract } from '@noble/hashes/hkdf.js';
import { hmac } from '@noble/hashes/hmac.js';
import { bytesEqual, wipe } from '../bytes.ts';
import type { SFrameSuite } from './suites.ts';

type Hmac = ReturnType<typeof hmac.create>;

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
const KEY_LABEL = utf8('SFrame 1.0 Secret key ');
const SALT_LABEL = utf8('SFrame 1.0 Secret salt ');

/** label || u64(KID) || u16(cipher_suite), as in §4.4.2 (the KID in full 8 bytes, not compressed). */
export function sframeLabel(prefix: 'key' | 'salt', kid: bigint, suiteId: number): Uint8Array {
  const p = prefix === 'key' ? KEY_LABEL : SALT_LABEL;
  const out = new Uint8Array(p.length + 10);
  out.set(p, 0);
  const v = new DataView(out.buffer);
  v.setBigUint64(p.length, kid);
  v.setUint16(p.length + 8, suiteId);
  return out;
}

export interface DerivedKey {
  /** HKDF-Extract("", base_key) */
  secret: Uint8Array;
  key: Uint8Array;
  salt: Uint8Array;
}

/** derive_key_salt(KID, base_key) of §4.4.2, with the suite's hash. */
export function deriveKeySalt(suite: SFrameSuite, kid: bigint, baseKey: Uint8Array): DerivedKey {
  // RFC 5869: an empty salt means HashLen zero bytes; noble treats undefined the same way.
  const secret = extract(suite.hash, baseKey, new Uint8Array(0));
  const key = expand(suite.hash, secret, sframeLabel('key', kid, suite.id), suite.nk);
  const salt = expand(suite.hash, secret, sframeLabel('salt', kid, suite.id), suite.nn);
  return { secret, key, salt };
}

/**
 * One sframe_key ready for frames: subkeys split, HMAC keyed, scratch buffers allocated. Not
 * shared between threads (there are none) and not reentrant (nothing here awaits).
 */
export class FrameKey {
  readonly suite: SFrameSuite;
  readonly #salt: Uint8Array;
  readonly #gcmKey: Uint8Array | undefined;
  readonly #encKey: Uint8Array | undefined;
  readonly #mac: Hmac | undefined;
  /** nonce (12 bytes) || 0x00000000: the AES-CTR initial counter block of §4.5.1. */
  readonly #block = new Uint8Array(16);
  /** u64(len(aad)) || u64(len(ct)) || u64(Nt) || nonce, the fixed prefix of auth_data. */
  readonly #lens = new Uint8Array(36);
  readonly #lensView = new DataView(this.#lens.buffer);
  readonly #tag: Uint8Array;

  constructor(suite: SFrameSuite, sframeKey: Uint8Array, sframeSalt: Uint8Array) {
    if (sframeKey.length !== suite.nk || sframeSalt.length !== suite.nn)
      throw new RangeError('sframe: key or salt has the wrong length for the suite');
    this.suite = suite;
    this.#salt = sframeSalt.slice();
    this.#tag = new Uint8Array(suite.nh);
    if (suite.aead === 'gcm') {
      this.#gcmKey = sframeKey.slice();
    } else {
      this.#encKey = sframeKey.slice(0, suite.nka);
      const authKey = sframeKey.slice(suite.nka);
      this.#mac = hmac.create(suite.hash, authKey);
      wipe(authKey);
      this.#lensView.setUint32(16, 0);
      this.#lensView.setUint32(20, suite.nt);
    }
  }

  static derive(suite: SFrameSuite, kid: bigint, baseKey: Uint8Array): FrameKey {
    const d = deriveKeySalt(suite, kid, baseKey);
    const k = new FrameKey(suite, d.key, d.salt);
    wipe(d.secret, d.key, d.salt);
    return k;
  }

  /** nonce = salt XOR u96(CTR), into the first 12 bytes of #block (the last 4 stay zero). */
  #nonce(counter: bigint): Uint8Array {
    const b = this.#block;
    b.set(this.#salt, 0);
    const hi = Number((counter >> 32n) & 0xffffffffn);
    const lo = Number(counter & 0xffffffffn);
    b[4] = (b[4] ?? 0) ^ (hi >>> 24);
    b[5] = (b[5] ?? 0) ^ ((hi >>> 16) & 0xff);
    b[6] = (b[6] ?? 0) ^ ((hi >>> 8) & 0xff);
    b[7] = (b[7] ?? 0) ^ (hi & 0xff);
    b[8] = (b[8] ?? 0) ^ (lo >>> 24);
    b[9] = (b[9] ?? 0) ^ ((lo >>> 16) & 0xff);
    b[10] = (b[10] ?? 0) ^ ((lo >>> 8) & 0xff);
    b[11] = (b[11] ?? 0) ^ (lo & 0xff);
    return b.subarray(0, 12);
  }

  /** The nonce for a counter (a copy; for tests and vectors). */
  nonceFor(counter: bigint): Uint8Array {
    return this.#nonce(counter).slice();
  }

  /** compute_tag of §4.5.1, truncated to Nt, into #tag[0..Nt]. */
  #computeTag(nonce: Uint8Array, aadHead: Uint8Array, aadTail: Uint8Array, ct: Uint8Array): Uint8Array {
    const mac = this.#mac;
    if (mac === undefined) throw new Error('unreachable: no HMAC for a gcm suite');
    const v = this.#lensView;
    const aadLen = aadHead.length + aadTail.length;
    v.setUint32(0, Math.floor(aadLen / 2 ** 32));
    v.setUint32(4, aadLen >>> 0);
    v.setUint32(8, Math.floor(ct.length / 2 ** 32));
    v.setUint32(12, ct.length >>> 0);
    this.#lens.set(nonce, 24);
    const h = mac.clone();
    h.update(this.#lens).update(aadHead).update(aadTail).update(ct);
    h.digestInto(this.#tag);
    h.destroy();
    return this.#tag.subarray(0, this.suite.nt);
  }

  /**
   * AEAD.Encrypt with aad = header || metadata, where the header already sits at
   * out[0..headerLen]; writes ct || tag after it. `out` must be headerLen + pt.length + Nt long.
   */
  sealInto(out: Uint8Array, headerLen: number, counter: bigint, metadata: Uint8Array, pt: Uint8Array): void {
    const nonce = this.#nonce(counter);
    const header = out.subarray(0, headerLen);
    if (this.#gcmKey !== undefined) {
      const aad = new Uint8Array(headerLen + metadata.length);
      aad.set(header, 0);
      aad.set(metadata, headerLen);
      out.set(gcm(this.#gcmKey, nonce, aad).encrypt(pt), headerLen);
      return;
    }
    const encKey = this.#encKey ?? new Uint8Array(0);
    // noble writes into `dst` only when it is 4-byte aligned; the header length is not, so let it
    // allocate and copy once.
    const ct = ctr(encKey, this.#block).encrypt(pt);
    out.set(ct, headerLen);
    out.set(this.#computeTag(nonce, header, metadata, ct), headerLen + ct.length);
  }

  /**
   * AEAD.Decrypt of `body` (ct || tag) with aad = header || metadata. undefined when the tag does
   * not verify. Never throws on bad input.
   */
  open(header: Uint8Array, counter: bigint, metadata: Uint8Array, body: Uint8Array): Uint8Array | undefined {
    const nt = this.suite.nt;
    if (body.length < nt) return undefined;
    const nonce = this.#nonce(counter);
    if (this.#gcmKey !== undefined) {
      const aad = new Uint8Array(header.length + metadata.length);
      aad.set(header, 0);
      aad.set(metadata, header.length);
      try {
        return gcm(this.#gcmKey, nonce, aad).decrypt(body);
      } catch {
        return undefined;
      }
    }
    const ct = body.subarray(0, body.length - nt);
    const tag = body.subarray(body.length - nt);
    if (!bytesEqual(this.#computeTag(nonce, header, metadata, ct), tag)) return undefined;
    return ctr(this.#encKey ?? new Uint8Array(0), this.#block).decrypt(ct);
  }

  /** Best-effort zeroing when the key is dropped. */
  destroy(): void {
    wipe(this.#salt, this.#gcmKey, this.#encKey, this.#block, this.#tag);
    this.#mac?.destroy();
  }
}
