/**
 * The SFrame header (RFC 9605 §4.3):
 *
 *   config byte  X(1) K(3) Y(1) C(3)
 *   KID          K+1 bytes, big-endian, present when X = 1 (else K is the KID, 0..7)
 *   CTR          C+1 bytes, big-endian, present when Y = 1 (else C is the CTR, 0..7)
 *
 * Values 0..7 live in the config byte; larger ones use the minimum number of bytes. The RFC says
 * MUST for minimality, and the header is part of the AAD, so we refuse non-minimal encodings on
 * decode: one (KID, CTR) has exactly one header, and nobody gets to vary the AAD for free.
 */
import { err, ok, type Result } from '../errors.ts';

export const MAX_U64 = (1n << 64n) - 1n;

export interface SFrameHeader {
  kid: bigint;
  ctr: bigint;
  /** Bytes the header took at the start of the input. */
  length: number;
}

/** Bytes needed for a value >= 8 (1..8); 0 for a value that fits in the config byte. */
function extraBytes(v: bigint): number {
  if (v < 8n) return 0;
  // Number is exact below 2^53; the loop covers the rest without allocating more than needed.
  let n = 1;
  let rest = v >> 8n;
  while (rest > 0n) {
    n++;
    rest >>= 8n;
  }
  return n;
}

function checkU64(name: string, v: bigint): void {
  if (v < 0n || v > MAX_U64) throw new RangeError(`sframe header: ${name} out of range 0..2^64-1`);
}

/** Header size for (kid, ctr); throws RangeError outside 0..2^64-1 (a caller bug). */
export function headerLength(kid: bigint, ctr: bigint): number {
  checkU64('KID', kid);
  checkU64('CTR', ctr);
  return 1 + extraBytes(kid) + extraBytes(ctr);
}

function writeBig(out: Uint8Array, offset: number, v: bigint, n: number): void {
  let x = v;
  for (let i = offset + n - 1; i >= offset; i--) {
    out[i] = Number(x & 0xffn);
    x >>= 8n;
  }
}

/**
 * Writes the header at `out[offset..]` and returns its length. Lets the encryptor put the header
 * straight into the output frame instead of allocating it separately.
 */
export function writeHeader(out: Uint8Array, offset: number, kid: bigint, ctr: bigint): number {
  checkU64('KID', kid);
  checkU64('CTR', ctr);
  const kl = extraBytes(kid);
  const cl = extraBytes(ctr);
  if (offset < 0 || offset + 1 + kl + cl > out.length)
    throw new RangeError('sframe header: buffer too small');
  const k = kl === 0 ? Number(kid) : 0x80 | ((kl - 1) << 4);
  const c = cl === 0 ? Number(ctr) : 0x08 | (cl - 1);
  out[offset] = (kl === 0 ? k << 4 : k) | c;
  if (kl > 0) writeBig(out, offset + 1, kid, kl);
  if (cl > 0) writeBig(out, offset + 1 + kl, ctr, cl);
  return 1 + kl + cl;
}

export function encodeHeader(kid: bigint, ctr: bigint): Uint8Array {
  const out = new Uint8Array(headerLength(kid, ctr));
  writeHeader(out, 0, kid, ctr);
  return out;
}

/** Reads an n-byte big-endian value; undefined when it is not minimally encoded. */
function readBig(bytes: Uint8Array, offset: number, n: number): bigint | undefined {
  const first = bytes[offset] ?? 0;
  if (n > 1 && first === 0) return undefined;
  let v = 0n;
  for (let i = 0; i < n; i++) v = (v << 8n) | BigInt(bytes[offset + i] ?? 0);
  if (n === 1 && v < 8n) return undefined;
  return v;
}

/** Parses the header at the start of `bytes`. Never throws: malformed input is a MALFORMED error. */
export function decodeHeader(bytes: Uint8Array): Result<SFrameHeader> {
  const config = bytes[0];
  if (config === undefined) return err('MALFORMED', 'sframe: empty frame');
  const kidLen = config & 0x80 ? ((config >> 4) & 7) + 1 : 0;
  const ctrLen = config & 0x08 ? (config & 7) + 1 : 0;
  const length = 1 + kidLen + ctrLen;
  if (bytes.length < length) return err('MALFORMED', 'sframe: truncated header');
  const kid = kidLen === 0 ? BigInt((config >> 4) & 7) : readBig(bytes, 1, kidLen);
  const ctr = ctrLen === 0 ? BigInt(config & 7) : readBig(bytes, 1 + kidLen, ctrLen);
  if (kid === undefined || ctr === undefined) return err('MALFORMED', 'sframe: non-minimal header');
  return ok({ kid, ctr, length });
}
