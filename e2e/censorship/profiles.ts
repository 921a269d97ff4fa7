/**
 * The censorship profiles of the brief (Censorship profiles), as nftables rules on the censor's
 * forward chain, with where the client starts and which routes a call may take there.
 */
import { NET } from './netns.ts';

export interface Profile {
  id: string;
  title: string;
  rules: string[];
  /** The URL the person opens: the server, or the community proxy when the server is blocked. */
  entry: 'front1' | 'proxy';
  /** Transports to the TURN server the selected relay candidate may use here. */
  relayProtocols: readonly ('udp' | 'tcp' | 'tls')[];
  /**
   * The people have the app installed (service worker, known fronts) from before the censor
   * started: they sign up with only the base rules, then the profile's rules go on and the page
   * reloads. P5: a frozen front cannot deliver the app's first download, only a returning user
   * can be carried over to another front.
   */
  returning?: boolean;
  /** Set while the product cannot pass this profile yet: what is missing (the test runs as todo). */
  todo?: string;
}

const fromClient = `ip saddr { ${NET.clientNet}, ${NET.client2Net} }`;

/**
 * In every profile the two people cannot reach each other directly (as behind two carrier NATs):
 * they are contacts (so the app would allow a peer-to-peer call), and the call must go through
 * the server's relay, where the censor's rules apply.
 */
export const BASE_RULES = [
  `ip saddr ${NET.clientNet} ip daddr ${NET.client2Net} drop`,
  `ip saddr ${NET.client2Net} ip daddr ${NET.clientNet} drop`,
];

export const PROFILES: readonly Profile[] = [
  { id: 'P0', title: 'open', rules: [], entry: 'front1', relayProtocols: ['udp', 'tcp', 'tls'] },
  {
    id: 'P1',
    title: 'all UDP dropped',
    rules: ['meta l4proto udp drop'],
    entry: 'front1',
    relayProtocols: ['tcp', 'tls'],
  },
  {
    id: 'P2',
    title: 'only TCP 443 to the server',
    rules: [`${fromClient} ip daddr ${NET.serverNet} tcp dport 443 accept`, `${fromClient} drop`],
    entry: 'front1',
    relayProtocols: ['tls'],
  },
  {
    id: 'P3',
    title: 'UDP carrying the STUN magic cookie dropped',
    rules: ['meta l4proto udp @th,96,32 0x2112a442 drop'],
    entry: 'front1',
    relayProtocols: ['tcp', 'tls'],
  },
  {
    id: 'P4',
    title: 'UDP throttled to a trickle after the first packets',
    // Per flow: the first 40 packets pass (enough for ICE to pick the route), then 2 a second.
    rules: ['meta l4proto udp ct packets > 40 limit rate over 2/second burst 2 packets drop'],
    entry: 'front1',
    relayProtocols: ['tcp', 'tls'],
  },
  {
    id: 'P5',
    title: 'TLS replies frozen after 16 KB from front 1; front 2 reachable',
    rules: [`ip saddr ${NET.front1} tcp sport 443 ct reply bytes > 16384 drop`],
    entry: 'front1',
    relayProtocols: ['udp', 'tcp', 'tls'],
    returning: true,
  },
  {
    id: 'P6',
    title: 'server unreachable; a community proxy reachable',
    rules: [`${fromClient} ip daddr ${NET.serverNet} drop`],
    entry: 'proxy',
    relayProtocols: ['tls'],
  },
];
