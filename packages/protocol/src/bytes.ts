import { base64urlnopad } from '@scure/base';
import { z } from 'zod';

/** Binary fields travel as unpadded base64url strings in JSON. */
export const toB64 = (bytes: Uint8Array): string => base64urlnopad.encode(bytes);
export const fromB64 = (text: string): Uint8Array => base64urlnopad.decode(text);

const B64_RE = /^[A-Za-z0-9_-]*$/;

/** A base64url string whose decoded length is within [min, max] bytes. */
export function b64(min: number, max: number) {
  return z
    .string()
    .max(Math.ceil((max * 4) / 3) + 2)
    .regex(B64_RE, 'not base64url')
    .refine((s) => {
      if (s.length % 4 === 1) return false;
      const n = Math.floor((s.length * 3) / 4);
      return n >= min && n <= max;
    }, `must decode to ${min}..${max} bytes`);
}

/** A base64url string of exactly n bytes. */
export const b64Exact = (n: number) => b64(n, n);
