/**
 * SFrame cipher suites (RFC 9605 §4.5, Table 1) and the constants the rest of src/sframe uses.
 *
 * 0x0006..0x0008 are the AES-256 counterparts of the CTR+HMAC suites from
 * draft-barnes-sframe-iana-256 (not in RFC 9605 and not yet registered with IANA). We implement
 * them because the construction is the same as §4.5.1 and the shared vectors cover them, but a
 * context only accepts them with `allowDraftSuites`, because a draft's code points can still move.
 */

import { sha256, sha512 } from '@noble/hashes/sha2.js';
import type { CHash } from '@noble/hashes/utils.js';

export type SFrameSuiteId = 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8;

export interface SFrameSuite {
  readonly id: SFrameSuiteId;
  readonly name: string;
  /** 'ctr-hmac' is the synthetic AEAD of §4.5.1; 'gcm' is plain AES-GCM. */
  readonly aead: 'ctr-hmac' | 'gcm';
  readonly hash: CHash;
  /** Hash output size (also the HMAC key size of the ctr-hmac suites). */
  readonly nh: number;
  /** AES key size inside a ctr-hmac key (0 for gcm). */
  readonly nka: number;
  /** sframe_key size, and the length of the MLS-exported base_key (§5.2). */
  readonly nk: number;
  readonly nn: number;
  /** Tag size on the wire. */
  readonly nt: number;
  /** true for the five suites of RFC 9605; false for the draft AES-256 CTR+HMAC ones. */
  readonly rfc9605: boolean;
}

const ctrHmac = (id: SFrameSuiteId, name: string, aesBits: 128 | 256, nt: number): SFrameSuite => {
  const hash = aesBits === 128 ? sha256 : sha512;
  const nh = hash.outputLen;
  const nka = aesBits / 8;
  return { id, name, aead: 'ctr-hmac', hash, nh, nka, nk: nka + nh, nn: 12, nt, rfc9605: id <= 5 };
};

const SUITES: ReadonlyMap<number, SFrameSuite> = new Map<number, SFrameSuite>([
  [1, ctrHmac(1, 'AES_128_CTR_HMAC_SHA256_80', 128, 10)],
  [2, ctrHmac(2, 'AES_128_CTR_HMAC_SHA256_64', 128, 8)],
  [3, ctrHmac(3, 'AES_128_CTR_HMAC_SHA256_32', 128, 4)],
  [
    4,
    {
      id: 4,
      name: 'AES_128_GCM_SHA256_128',
      aead: 'gcm',
      hash: sha256,
      nh: 32,
      nka: 0,
      nk: 16,
      nn: 12,
      nt: 16,
      rfc9605: true,
    },
  ],
  [
    5,
    {
      id: 5,
      name: 'AES_256_GCM_SHA512_128',
      aead: 'gcm',
      hash: sha512,
      nh: 64,
      nka: 0,
      nk: 32,
      nn: 12,
      nt: 16,
      rfc9605: true,
    },
  ],
  [6, ctrHmac(6, 'AES_256_CTR_HMAC_SHA512_80', 256, 10)],
  [7, ctrHmac(7, 'AES_256_CTR_HMAC_SHA512_64', 256, 8)],
  [8, ctrHmac(8, 'AES_256_CTR_HMAC_SHA512_32', 256, 4)],
]);

/** The suite with this code point, or undefined (0x0000 is reserved, the rest unassigned here). */
export function sframeSuite(id: number): SFrameSuite | undefined {
  return SUITES.get(id);
}

/** Every suite we implement, RFC 9605 ones first. */
export function sframeSuites(): SFrameSuite[] {
  return [...SUITES.values()];
}
