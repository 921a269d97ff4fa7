/**
 * IP address text <-> bytes. STUN carries addresses as raw bytes, while node:dgram and node:net speak
 * text; one canonical text form (dotted quad, RFC 5952 IPv6) keeps permission and 5-tuple keys
 * comparable whichever side an address came from.
 */
import { isIPv4, isIPv6 } from 'node:net';

export type Family = 4 | 6;

export interface TransportAddress {
  /** Canonical text form: see canonicalIp. */
  address: string;
  port: number;
}

export function familyOf(address: string): Family | undefined {
  if (isIPv4(address)) return 4;
  if (isIPv6(address)) return 6;
  return undefined;
}

/** Address bytes (4 or 16), or undefined if the text is not an IP address. */
export function ipToBytes(address: string): Buffer | undefined {
  if (isIPv4(address)) return Buffer.from(address.split('.').map((p) => Number(p)));
  if (!isIPv6(address)) return undefined;
  let text = address;
  const zone = text.indexOf('%');
  if (zone >= 0) text = text.slice(0, zone);
  const out = Buffer.alloc(16);
  let tail: number[] = [];
  const v4 = text.lastIndexOf('.');
  if (v4 >= 0) {
    const colon = text.lastIndexOf(':');
    const quad = text.slice(colon + 1);
    const bytes = quad.split('.').map((p) => Number(p));
    tail = [((bytes[0] ?? 0) << 8) | (bytes[1] ?? 0), ((bytes[2] ?? 0) << 8) | (bytes[3] ?? 0)];
    text = `${text.slice(0, colon + 1)}0:0`;
    // Replace the dotted quad by two placeholder groups, filled from `tail` below.
  }
  const [head = '', rest] = text.split('::');
  const headGroups = head === '' ? [] : head.split(':');
  const restGroups = rest === undefined || rest === '' ? [] : rest.split(':');
  const groups =
    rest === undefined
      ? headGroups
      : [
          ...headGroups,
          ...new Array<string>(8 - headGroups.length - restGroups.length).fill('0'),
          ...restGroups,
        ];
  const values = groups.map((g) => Number.parseInt(g, 16));
  if (tail.length === 2) {
    values[6] = tail[0] ?? 0;
    values[7] = tail[1] ?? 0;
  }
  for (let i = 0; i < 8; i++) out.writeUInt16BE(values[i] ?? 0, i * 2);
  return out;
}

/** Text form of 4 or 16 address bytes; IPv6 per RFC 5952 (lower case, longest zero run as ::). */
export function bytesToIp(bytes: Uint8Array): string {
  if (bytes.length === 4) return Array.from(bytes).join('.');
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0));
  let bestStart = -1;
  let bestLength = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestLength < 2) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLength).join(':')}`;
}

/**
 * Canonical text of an address as sockets report it. IPv4-mapped IPv6 (::ffff:a.b.c.d, what a
 * dual-stack socket reports for IPv4 clients) becomes plain IPv4 so policy and keys see one form.
 */
export function canonicalIp(address: string): string | undefined {
  const bytes = ipToBytes(address);
  if (bytes === undefined) return undefined;
  if (bytes.length === 16 && isV4Mapped(bytes)) return bytesToIp(bytes.subarray(12));
  return bytesToIp(bytes);
}

function isV4Mapped(bytes: Uint8Array): boolean {
  for (let i = 0; i < 10; i++) if (bytes[i] !== 0) return false;
  return bytes[10] === 0xff && bytes[11] === 0xff;
}

export function formatAddress(a: TransportAddress): string {
  return a.address.includes(':') ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
}
