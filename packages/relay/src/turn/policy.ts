/**
 * Which peers a client may relay to. A TURN server on a public address is otherwise a way into the
 * operator's own network (loopback services, RFC 1918 hosts, cloud metadata at 169.254.169.254),
 * so special-purpose ranges (IANA IPv4/IPv6 special-purpose registries) are refused unless the
 * operator allows them: loopback for tests, an explicit CIDR allow-list for anything else.
 */
import { BlockList } from 'node:net';
import { RelayError } from '../errors.ts';
import { canonicalIp, familyOf } from '../ip.ts';

const DENIED_V4: readonly [string, number][] = [
  ['0.0.0.0', 8], // "this network", unspecified
  ['10.0.0.0', 8], // private
  ['100.64.0.0', 10], // carrier-grade NAT
  ['127.0.0.0', 8], // loopback
  ['169.254.0.0', 16], // link-local, cloud metadata
  ['172.16.0.0', 12], // private
  ['192.0.0.0', 24], // IETF protocol assignments
  ['192.0.2.0', 24], // documentation
  ['192.88.99.0', 24], // 6to4 relay anycast
  ['192.168.0.0', 16], // private
  ['198.18.0.0', 15], // benchmarking
  ['198.51.100.0', 24], // documentation
  ['203.0.113.0', 24], // documentation
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved, broadcast
];

const DENIED_V6: readonly [string, number][] = [
  ['::', 128], // unspecified
  ['::1', 128], // loopback
  ['::', 96], // IPv4-compatible (deprecated)
  ['64:ff9b::', 96], // NAT64: reaches IPv4 space
  ['64:ff9b:1::', 48], // local-use NAT64
  ['100::', 64], // discard-only
  ['2001::', 23], // IETF protocol assignments (Teredo, ORCHID, ...)
  ['2001:db8::', 32], // documentation
  ['2002::', 16], // 6to4: embeds any IPv4 address
  ['fc00::', 7], // unique local
  ['fe80::', 10], // link-local
  ['fec0::', 10], // site-local (deprecated)
  ['ff00::', 8], // multicast
];

export interface PeerPolicyConfig {
  /** Allow 127.0.0.0/8 and ::1 (tests, or a relay that fronts local services on purpose). */
  allowLoopbackPeers?: boolean;
  /** CIDRs (or single addresses) allowed even inside the refused ranges. */
  allowedPeerCidrs?: readonly string[];
  /** Extra CIDRs to refuse. */
  deniedPeerCidrs?: readonly string[];
}

export class PeerPolicy {
  private readonly denied = new BlockList();
  private readonly allowed = new BlockList();

  constructor(config: PeerPolicyConfig = {}) {
    for (const [net, prefix] of DENIED_V4) this.denied.addSubnet(net, prefix, 'ipv4');
    for (const [net, prefix] of DENIED_V6) this.denied.addSubnet(net, prefix, 'ipv6');
    for (const cidr of config.deniedPeerCidrs ?? []) addCidr(this.denied, cidr);
    if (config.allowLoopbackPeers === true) {
      this.allowed.addSubnet('127.0.0.0', 8, 'ipv4');
      this.allowed.addAddress('::1', 'ipv6');
    }
    for (const cidr of config.allowedPeerCidrs ?? []) addCidr(this.allowed, cidr);
  }

  /** True when relaying to this address is permitted. */
  permits(address: string): boolean {
    const family = familyOf(address);
    if (family === undefined) return false;
    // IPv4-mapped IPv6 (::ffff:0:0/96) is refused outright: relay sockets are IPv6-only, and
    // BlockList matches mapped addresses against IPv4 rules and IPv4 against mapped rules, so a
    // mapped entry cannot be listed without also catching every IPv4 address.
    if (family === 6 && familyOf(canonicalIp(address) ?? '') === 4) return false;
    const type = family === 4 ? 'ipv4' : 'ipv6';
    if (this.allowed.check(address, type)) return true;
    return !this.denied.check(address, type);
  }
}

/** Adds "a.b.c.d/n", "x::y/n" or a bare address; throws RelayError CONFIG on anything else. */
export function addCidr(list: BlockList, cidr: string): void {
  const [address = '', prefixText] = cidr.trim().split('/');
  const family = familyOf(address);
  const max = family === 4 ? 32 : 128;
  const prefix = prefixText === undefined ? max : Number(prefixText);
  if (family === undefined || !/^\d{1,3}$/.test(prefixText ?? String(max)) || prefix > max) {
    throw new RelayError('CONFIG', `not a CIDR: ${cidr}`);
  }
  list.addSubnet(address, prefix, family === 4 ? 'ipv4' : 'ipv6');
}
