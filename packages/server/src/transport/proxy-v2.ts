/**
 * PROXY protocol v2 (haproxy's proxy-protocol.txt, section 2.2) in front of the app port: a
 * community proxy (`kolokol proxy --proxy-protocol`) or a load balancer that we trust says who
 * the real client is before the client's own bytes. Only sources in the operator's list may send
 * it, and from them it is required: a header from anyone else would let any client pick the
 * address that rate limits and TURN quotas count against, and guessing whether a trusted source
 * sent one would let a client smuggle its own. proxy-protocol-js decodes the header; we only find
 * its end in the stream (16 fixed bytes, then the length they announce) and check the signature.
 */
import { BlockList, isIP } from 'node:net';
import { Command, IPv4ProxyAddress, IPv6ProxyAddress, V2ProxyProtocol } from 'proxy-protocol-js';

/** "\r\n\r\n\0\r\nQUIT\n": the 12 bytes every v2 header starts with. */
export const PROXY_V2_SIGNATURE = Buffer.from([
  0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a,
]);
const FIXED_BYTES = 16;
/** Addresses plus a few TLVs; a proxy of ours sends 12 or 36 bytes. Anything longer is not one. */
const MAX_ADDRESS_BYTES = 512;

export interface ProxySource {
  address: string;
  port: number;
}

export type ProxyHeader =
  | { kind: 'more' }
  | { kind: 'bad'; why: string }
  /** `source` is undefined for LOCAL (the proxy's own health check) and for UNSPEC/unix addresses. */
  | { kind: 'ok'; length: number; source: ProxySource | undefined };

function ipv6Text(bytes: readonly number[]): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0)).toString(16));
  // The URL parser prints the RFC 5952 form (the one Node gives for socket addresses).
  return new URL(`http://[${groups.join(':')}]/`).hostname.slice(1, -1);
}

/** Looks for a complete v2 header at the start of `bytes` (the first bytes of a connection). */
export function readProxyHeader(bytes: Buffer): ProxyHeader {
  const sig = bytes.subarray(0, PROXY_V2_SIGNATURE.length);
  if (!sig.equals(PROXY_V2_SIGNATURE.subarray(0, sig.length)))
    return { kind: 'bad', why: 'no PROXY v2 signature' };
  if (bytes.length < FIXED_BYTES) return { kind: 'more' };
  const versionCommand = bytes[12] ?? 0;
  if (versionCommand >> 4 !== 2) return { kind: 'bad', why: 'not version 2' };
  const addressBytes = bytes.readUInt16BE(14);
  if (addressBytes > MAX_ADDRESS_BYTES) return { kind: 'bad', why: 'header too long' };
  const length = FIXED_BYTES + addressBytes;
  if (bytes.length < length) return { kind: 'more' };
  let parsed: V2ProxyProtocol;
  try {
    parsed = V2ProxyProtocol.parse(new Uint8Array(bytes.subarray(0, length)));
  } catch (e) {
    // The library throws V2ProxyProtocolParseError, which is not an Error subclass.
    const message = typeof e === 'object' && e !== null && 'message' in e ? String(e.message) : String(e);
    return { kind: 'bad', why: `malformed: ${message}` };
  }
  if (parsed.command === Command.LOCAL) return { kind: 'ok', length, source: undefined };
  const a = parsed.proxyAddress;
  if (a instanceof IPv4ProxyAddress)
    return { kind: 'ok', length, source: { address: a.sourceAddress.address.join('.'), port: a.sourcePort } };
  if (a instanceof IPv6ProxyAddress)
    return { kind: 'ok', length, source: { address: ipv6Text(a.sourceAddress.address), port: a.sourcePort } };
  return { kind: 'ok', length, source: undefined };
}

/** The sources allowed (and required) to send a header: addresses or CIDR blocks, v4 or v6. */
export function trustedSources(entries: readonly string[]): BlockList {
  const list = new BlockList();
  for (const entry of entries) {
    const [address = '', bits] = entry.split('/');
    const family = isIP(address) === 6 ? 'ipv6' : 'ipv4';
    if (bits === undefined) list.addAddress(address, family);
    else list.addSubnet(address, Number(bits), family);
  }
  return list;
}

/** Is `address` (as a socket reports it, v4-mapped v6 included) in `list`? */
export function isTrusted(list: BlockList, address: string | undefined): boolean {
  if (address === undefined) return false;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1];
  if (mapped !== undefined) return list.check(mapped, 'ipv4');
  return list.check(address, isIP(address) === 6 ? 'ipv6' : 'ipv4');
}

/** Parses the setting's text (`ADDR[/BITS],...`); returns the bad entry, if any. */
export function parseTrustedSources(text: string): { entries: string[] } | { bad: string } {
  const entries = text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  for (const entry of entries) {
    const [address = '', bits, extra] = entry.split('/');
    const family = isIP(address);
    const max = family === 6 ? 128 : 32;
    if (family === 0 || extra !== undefined) return { bad: entry };
    if (bits !== undefined && (!/^\d{1,3}$/.test(bits) || Number(bits) > max)) return { bad: entry };
  }
  return { entries };
}
