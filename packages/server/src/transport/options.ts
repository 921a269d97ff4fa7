/**
 * Settings of the app's public listener (TLS) and of the embedded TURN relay: their types, their
 * rows in the flag/environment/file table of config.ts, and how loadConfig reads them. Kept apart
 * from config.ts so that the listener and the relay can change without touching the rest.
 */
import { isIP } from 'node:net';
import type { ServerError } from '../errors.ts';
import { parseTrustedSources } from './proxy-v2.ts';

/**
 * TLS on the app's own port. Both files or neither: with neither, a self-signed certificate for
 * localhost (and `publicHost`) is made on first start and kept in `<dataDir>/tls/`.
 */
export interface TlsConfig {
  /** PEM certificate chain (leaf first), e.g. Let's Encrypt's fullchain.pem. */
  certFile?: string;
  /** PEM private key of the certificate. */
  keyFile?: string;
}

/** The embedded TURN relay (packages/relay). */
export interface TurnConfig {
  /** UDP listener; 0 = a random free port; false = none. CLI default 3478, programmatic default 0. */
  udpPort: number | false;
  /** TCP listener (plain TURN over TCP); same rules as udpPort. */
  tcpPort: number | false;
  /** The address peers and clients reach relayed ports at (XOR-RELAYED-ADDRESS); see turn.ts. */
  relayAddress?: string;
  /** Ports for relay sockets (open them in the firewall); default any free port. */
  relayPortRange?: { min: number; max: number };
  /** Shared secret of the REST credentials; default generated into `<dataDir>/turn-secret`. */
  secret?: string;
  /** Lifetime of the credentials GET /v1/turn hands out, in seconds. */
  ttlSeconds?: number;
  /** Relay to loopback peers (tests with two peers on one machine only). */
  allowLoopbackPeers?: boolean;
  /** Private peers the relay may reach anyway (CIDR blocks; e.g. a test network of namespaces). */
  allowedPeerCidrs?: string[];
}

/** What ServerConfig gains from this file. */
export interface TransportConfig {
  /**
   * false or absent: plain HTTP (the programmatic default: tests, or behind a TLS terminator).
   * An object: HTTPS, WebSocket and TURN over TLS on the one port (the command line's default);
   * without certificate files a self-signed certificate, and plain HTTP on the same port as well.
   */
  tls?: TlsConfig | false;
  /** false: no embedded relay and GET /v1/turn answers NOT_FOUND. Absent: on, random ports. */
  turn?: Partial<TurnConfig> | false;
  /**
   * Host name or address, optionally with `:port`, that clients reach this server at; used in the
   * TURN URLs. Default: the Host header of the request.
   */
  publicHost?: string;
  /**
   * Addresses (or CIDR blocks) of proxies in front of the port that send a PROXY protocol v2
   * header (proxy-v2.ts); from them the header is required. Needs TLS on (the shared port).
   */
  proxyProtocolFrom?: string[];
  /**
   * Other URLs that reach this same server (fronts: other hosts, addresses, CDNs or proxies), in
   * the order clients should try them; GET /v1/info tells clients, which fall back along the list.
   */
  fronts?: string[];
}

export const DEFAULT_TURN_PORT = 3478;
export const DEFAULT_TURN_TTL_SECONDS = 12 * 60 * 60;

export const transportSettings = [
  {
    flag: '--tls',
    env: 'KOLOKOL_TLS',
    key: 'tls',
    help: 'on: HTTPS + TURN over TLS on --port (self-signed, with plain HTTP beside it, unless --tls-cert); off: plain HTTP only',
    default: 'on',
  },
  {
    flag: '--tls-cert',
    env: 'KOLOKOL_TLS_CERT',
    key: 'tlsCert',
    help: 'PEM certificate chain file (with --tls-key)',
    default: '(self-signed, DATA/tls/)',
  },
  {
    flag: '--tls-key',
    env: 'KOLOKOL_TLS_KEY',
    key: 'tlsKey',
    help: 'PEM private key file (with --tls-cert)',
    default: '(self-signed, DATA/tls/)',
  },
  {
    flag: '--public-host',
    env: 'KOLOKOL_PUBLIC_HOST',
    key: 'publicHost',
    help: 'HOST or HOST:PORT clients reach us at, for TURN URLs',
    default: '(the Host header)',
  },
  {
    flag: '--proxy-protocol-from',
    env: 'KOLOKOL_PROXY_PROTOCOL_FROM',
    key: 'proxyProtocolFrom',
    help: 'ADDR[/BITS],... of proxies that send PROXY v2 (required from them)',
    default: '(none)',
  },
  {
    flag: '--fronts',
    env: 'KOLOKOL_FRONTS',
    key: 'fronts',
    help: 'URL,URL... other addresses of this server, told to clients for fallback',
    default: '(none)',
  },
  { flag: '--turn', env: 'KOLOKOL_TURN', key: 'turn', help: 'embedded TURN relay: on | off', default: 'on' },
  {
    flag: '--turn-udp-port',
    env: 'KOLOKOL_TURN_UDP_PORT',
    key: 'turnUdpPort',
    help: 'TURN over UDP port, 0 = random, off = none',
    default: String(DEFAULT_TURN_PORT),
  },
  {
    flag: '--turn-tcp-port',
    env: 'KOLOKOL_TURN_TCP_PORT',
    key: 'turnTcpPort',
    help: 'TURN over TCP port, 0 = random, off = none',
    default: String(DEFAULT_TURN_PORT),
  },
  {
    flag: '--turn-relay-address',
    env: 'KOLOKOL_TURN_RELAY_ADDRESS',
    key: 'turnRelayAddress',
    help: 'public IP address of relayed ports',
    default: '(see README)',
  },
  {
    flag: '--turn-relay-ports',
    env: 'KOLOKOL_TURN_RELAY_PORTS',
    key: 'turnRelayPorts',
    help: 'MIN-MAX UDP ports for relayed traffic',
    default: '(any)',
  },
  {
    flag: '--turn-secret',
    env: 'KOLOKOL_TURN_SECRET',
    key: 'turnSecret',
    help: 'TURN REST secret, 16+ chars (prefer the environment)',
    default: '(generated, DATA/turn-secret)',
  },
  {
    flag: '--turn-ttl',
    env: 'KOLOKOL_TURN_TTL',
    key: 'turnTtl',
    help: 'lifetime of TURN credentials, seconds',
    default: String(DEFAULT_TURN_TTL_SECONDS),
  },
] as const;

/** `host`, `host:port`, `[v6]` or `[v6]:port`; the host a name (letters, digits, dots, dashes) or an IP. */
export function parseHostPort(value: string): { host: string; port?: number } | undefined {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9.-]+))(?::(\d{1,5}))?$/.exec(value.trim());
  if (m === null) return undefined;
  const v6 = m[1];
  if (v6 !== undefined && isIP(v6) !== 6) return undefined;
  const host = v6 !== undefined ? `[${v6}]` : (m[2] ?? '');
  if (host === '' || host.startsWith('.') || host.startsWith('-')) return undefined;
  if (m[3] === undefined) return { host };
  const port = Number(m[3]);
  return port >= 1 && port <= 65535 ? { host, port } : undefined;
}

/** Reads the settings above; `raw` and `bad` are loadConfig's helpers. */
export function loadTransportConfig(
  raw: (key: string) => unknown,
  bad: (key: string, why: string, got: unknown) => ServerError,
): TransportConfig {
  const text = (key: string): string | undefined => {
    const v = raw(key);
    if (v === undefined) return undefined;
    if (typeof v !== 'string' || v.trim() === '') throw bad(key, 'must be a non-empty string', v);
    return v.trim();
  };
  const onOff = (key: string): boolean => {
    const v = raw(key);
    if (v === undefined || v === 'on' || v === true) return true;
    if (v === 'off' || v === false) return false;
    throw bad(key, 'must be on or off', v);
  };
  const port = (key: string): number | false => {
    const v = raw(key);
    if (v === undefined) return DEFAULT_TURN_PORT;
    if (v === 'off' || v === false) return false;
    const n =
      typeof v === 'number' ? v : typeof v === 'string' && /^\s*\d+\s*$/.test(v) ? Number(v) : Number.NaN;
    if (!Number.isSafeInteger(n) || n < 0 || n > 65535) throw bad(key, 'must be 0..65535 or off', v);
    return n;
  };

  const out: TransportConfig = {};
  const certFile = text('tlsCert');
  const keyFile = text('tlsKey');
  if ((certFile === undefined) !== (keyFile === undefined)) {
    throw bad(certFile === undefined ? 'tlsCert' : 'tlsKey', 'give --tls-cert and --tls-key together', '');
  }
  // TLS is on unless turned off: with no certificate given, a self-signed one, and then the same
  // port answers plain HTTP too (shared-port.ts), so the CLI, the SDK in Node and a browser on this
  // machine (a secure context on http://localhost, service workers included) need not trust it,
  // while `turns:` on the app port carries calls through networks that pass only TLS.
  const tlsAsked = onOff('tls');
  if (tlsAsked) {
    out.tls = certFile !== undefined && keyFile !== undefined ? { certFile, keyFile } : {};
  } else {
    if (certFile !== undefined) throw bad('tlsCert', 'makes no sense with --tls off', certFile);
    out.tls = false;
  }

  const publicHost = text('publicHost');
  if (publicHost !== undefined) {
    if (parseHostPort(publicHost) === undefined) {
      throw bad('publicHost', 'must be a host name or IP address with an optional :port', publicHost);
    }
    out.publicHost = publicHost;
  }

  const proxyFrom = text('proxyProtocolFrom');
  if (proxyFrom !== undefined) {
    const r = parseTrustedSources(proxyFrom);
    if ('bad' in r)
      throw bad('proxyProtocolFrom', `${JSON.stringify(r.bad)} is not ADDR or ADDR/BITS`, proxyFrom);
    if (out.tls === false)
      throw bad('proxyProtocolFrom', 'needs --tls on (the shared port reads it)', proxyFrom);
    out.proxyProtocolFrom = r.entries;
  }
  const fronts = text('fronts');
  if (fronts !== undefined) {
    const list = fronts
      .split(',')
      .map((f) => f.trim())
      .filter((f) => f !== '');
    for (const f of list) {
      let u: URL | undefined;
      try {
        u = new URL(f);
      } catch {
        u = undefined;
      }
      if (u === undefined || (u.protocol !== 'https:' && u.protocol !== 'http:') || u.pathname !== '/')
        throw bad('fronts', `${JSON.stringify(f)} is not an http(s)://HOST[:PORT] URL`, fronts);
    }
    out.fronts = list.map((f) => new URL(f).origin);
  }

  if (!onOff('turn')) {
    out.turn = false;
    return out;
  }
  const turn: Partial<TurnConfig> = { udpPort: port('turnUdpPort'), tcpPort: port('turnTcpPort') };
  const relayAddress = text('turnRelayAddress');
  if (relayAddress !== undefined) {
    if (isIP(relayAddress) === 0) throw bad('turnRelayAddress', 'must be an IP address', relayAddress);
    turn.relayAddress = relayAddress;
  }
  const range = text('turnRelayPorts');
  if (range !== undefined) {
    const m = /^(\d{1,5})-(\d{1,5})$/.exec(range);
    const min = Number(m?.[1]);
    const max = Number(m?.[2]);
    if (m === null || min < 1 || max > 65535 || min > max) {
      throw bad('turnRelayPorts', 'must be MIN-MAX with 1 <= MIN <= MAX <= 65535', range);
    }
    turn.relayPortRange = { min, max };
  }
  const secret = text('turnSecret');
  if (secret !== undefined) {
    if (secret.length < 16) throw bad('turnSecret', 'needs at least 16 characters', '(redacted)');
    turn.secret = secret;
  }
  const ttl = raw('turnTtl');
  if (ttl !== undefined) {
    const n =
      typeof ttl === 'number'
        ? ttl
        : typeof ttl === 'string' && /^\s*\d+\s*$/.test(ttl)
          ? Number(ttl)
          : Number.NaN;
    if (!Number.isSafeInteger(n) || n < 60 || n > 7 * 24 * 3600) {
      throw bad('turnTtl', 'must be 60..604800 seconds', ttl);
    }
    turn.ttlSeconds = n;
  }
  out.turn = turn;
  return out;
}
