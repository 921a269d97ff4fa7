/**
 * What the privacy tests look for in a server's files, database rows and logs: secrets and
 * plaintext in every encoding they could plausibly be written in, and the files of a folder.
 */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

export interface Needle {
  what: string;
  bytes: Buffer;
}

/** Every file under `dir`, recursively. */
export function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .map((f) => join(dir, f))
    .filter((f) => statSync(f).isFile());
}

/**
 * `value` raw, as hex (both cases), base64 and base64url (cut to whole 3-byte groups, so that
 * padding does not hide a match) and, for text, JSON-escaped (a log line or a JSON column holding
 * a multi-line SDP).
 */
export function encodings(what: string, value: Uint8Array | string): Needle[] {
  const b = Buffer.from(value);
  const whole = b.subarray(0, b.length - (b.length % 3));
  const out: Needle[] = [
    { what: `${what} (raw)`, bytes: b },
    { what: `${what} (hex)`, bytes: Buffer.from(b.toString('hex')) },
    { what: `${what} (HEX)`, bytes: Buffer.from(b.toString('hex').toUpperCase()) },
    { what: `${what} (base64)`, bytes: Buffer.from(whole.toString('base64')) },
    { what: `${what} (base64url)`, bytes: Buffer.from(whole.toString('base64url')) },
  ];
  if (typeof value === 'string') {
    const json = JSON.stringify(value).slice(1, -1);
    if (json !== value) out.push({ what: `${what} (JSON)`, bytes: Buffer.from(json) });
  }
  return out;
}
