/** Small byte helpers shared inside the package (not exported from index.ts). */

export { equalBytes as bytesEqual } from '@noble/ciphers/utils.js';
// From noble (audited): concatenation, and a comparison whose time depends on the length only, used
// where a comparison touches key material or MACs.
export { concatBytes } from '@noble/hashes/utils.js';

/**
 * noble's randomBytes refuses more than 65536 bytes (the Web Crypto quota per call); sealed link
 * bundles and tests need more, so fill in chunks.
 */
export function randomBytes(n: number): Uint8Array {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`randomBytes: bad length ${n}`);
  const out = new Uint8Array(n);
  for (let off = 0; off < n; off += 65536)
    crypto.getRandomValues(out.subarray(off, Math.min(n, off + 65536)));
  return out;
}

/** Overwrite secret bytes we no longer need (best effort: JS gives no guarantee about copies). */
export function wipe(...arrays: (Uint8Array | undefined)[]): void {
  for (const a of arrays) a?.fill(0);
}
