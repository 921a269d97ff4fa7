/**
 * `kolokol proxy`: a community proxy. It forwards raw TCP from people who cannot reach a server to
 * the server's app port and back. Chats, the API, the WebSocket and TURN over TLS all share that
 * one TLS port, so one proxy carries messages and calls alike; it holds no keys and decrypts
 * nothing (TLS runs end to end between the browser and the server). Optionally it starts each
 * upstream connection with a PROXY protocol v2 header so that a server that trusts this proxy
 * (`--proxy-protocol-from`) sees the real client address for its limits.
 *
 * What it logs is counts, never addresses: a proxy run for people in a censored network must not
 * become a list of who used it.
 */
import { createServer, isIPv4, isIPv6, connect as netConnect, type Server, type Socket } from 'node:net';
import { pipeline } from 'node:stream';
import {
  Command,
  IPv4Address,
  IPv4ProxyAddress,
  IPv6Address,
  IPv6ProxyAddress,
  TransportProtocol,
  V2ProxyProtocol,
} from 'proxy-protocol-js';
import { CliError } from './errors.ts';

export interface HostPort {
  host: string;
  port: number;
}

export interface ProxyOptions {
  listen: HostPort;
  upstream: HostPort;
  /** Send a PROXY protocol v2 header first on every upstream connection. */
  proxyProtocol: boolean;
  /** Connections at once; more are closed at once (and counted). */
  maxConnections: number;
  /** A connection with no bytes either way for this long is closed. */
  idleTimeoutMs: number;
  /** The upstream must accept within this. */
  connectTimeoutMs: number;
  /** How often a line of counters is logged; 0 = never. */
  statsIntervalMs: number;
  log(line: string): void;
}

export interface ProxyStats {
  active: number;
  accepted: number;
  /** Closed at once: over maxConnections. */
  refused: number;
  /** The upstream did not answer or refused. */
  upstreamFailed: number;
  idleClosed: number;
  bytesUp: number;
  bytesDown: number;
}

export interface RunningProxy {
  readonly address: HostPort;
  stats(): ProxyStats;
  close(): Promise<void>;
}

export const PROXY_DEFAULTS = {
  maxConnections: 1024,
  idleTimeoutMs: 5 * 60_000,
  connectTimeoutMs: 10_000,
  statsIntervalMs: 60_000,
} as const;

/** `HOST:PORT` or `[V6]:PORT`; HOST a name or an IP address. */
export function parseHostPort(text: string, what: string): HostPort {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9.-]+)):(\d{1,5})$/.exec(text.trim());
  const port = Number(m?.[3]);
  const host = m?.[1] ?? m?.[2];
  if (
    m === null ||
    host === undefined ||
    !(port >= 1 && port <= 65535) ||
    (m[1] !== undefined && !isIPv6(host))
  )
    throw new CliError('USAGE', `${what} must be HOST:PORT (e.g. 0.0.0.0:443), got ${JSON.stringify(text)}`);
  return { host, port };
}

/** Bytes of an address for the header: v4-mapped v6 (dual-stack sockets) counts as v4. */
function addressBytes(address: string): { v4: number[] } | { v6: number[] } | undefined {
  const v4 = /^(?:::ffff:)?(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1];
  if (v4 !== undefined && isIPv4(v4)) return { v4: v4.split('.').map(Number) };
  if (!isIPv6(address)) return undefined;
  const [head = '', tail] = address.split('%')[0]?.split('::') ?? [];
  const groups = (s: string | undefined) => (s === undefined || s === '' ? [] : s.split(':'));
  const h = groups(head);
  const t = groups(tail);
  const all = tail === undefined ? h : [...h, ...new Array<string>(8 - h.length - t.length).fill('0'), ...t];
  return { v6: all.flatMap((g) => [(Number.parseInt(g, 16) >> 8) & 0xff, Number.parseInt(g, 16) & 0xff]) };
}

const mapToV6 = (a: { v4: number[] } | { v6: number[] }): number[] =>
  'v6' in a ? a.v6 : [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, ...a.v4];

/**
 * The v2 header for a client connection: PROXY over TCP with the client's and our listening
 * addresses, or LOCAL (no addresses) when the socket cannot tell them.
 */
export function proxyHeader(client: Socket): Uint8Array {
  const src = client.remoteAddress === undefined ? undefined : addressBytes(client.remoteAddress);
  const dst = client.localAddress === undefined ? undefined : addressBytes(client.localAddress);
  const sport = client.remotePort ?? 0;
  const dport = client.localPort ?? 0;
  if (src === undefined || dst === undefined) {
    return new V2ProxyProtocol(
      Command.LOCAL,
      TransportProtocol.UNSPEC,
      new IPv4ProxyAddress(IPv4Address.createWithEmptyAddress(), 0, IPv4Address.createWithEmptyAddress(), 0),
    ).build();
  }
  const address =
    'v4' in src && 'v4' in dst
      ? new IPv4ProxyAddress(IPv4Address.createFrom(src.v4), sport, IPv4Address.createFrom(dst.v4), dport)
      : new IPv6ProxyAddress(
          IPv6Address.createFrom(mapToV6(src)),
          sport,
          IPv6Address.createFrom(mapToV6(dst)),
          dport,
        );
  return new V2ProxyProtocol(Command.PROXY, TransportProtocol.STREAM, address).build();
}

export async function startProxy(o: ProxyOptions): Promise<RunningProxy> {
  const counters: ProxyStats = {
    active: 0,
    accepted: 0,
    refused: 0,
    upstreamFailed: 0,
    idleClosed: 0,
    bytesUp: 0,
    bytesDown: 0,
  };
  const open = new Set<Socket>();

  const handle = (client: Socket) => {
    if (counters.active >= o.maxConnections) {
      counters.refused++;
      client.destroy();
      return;
    }
    counters.accepted++;
    counters.active++;
    open.add(client);
    // Nothing is read from the client until the upstream is there: TCP's own window holds it back.
    client.pause();
    client.setNoDelay(true);
    const upstream = netConnect({ host: o.upstream.host, port: o.upstream.port });
    open.add(upstream);
    upstream.setNoDelay(true);
    let connected = false;
    let closed = false;
    const closeBoth = () => {
      if (closed) return;
      closed = true;
      counters.active--;
      client.destroy();
      upstream.destroy();
      open.delete(client);
      open.delete(upstream);
    };
    client.on('error', closeBoth);
    client.on('close', closeBoth);
    const connectTimer = setTimeout(() => {
      counters.upstreamFailed++;
      closeBoth();
    }, o.connectTimeoutMs);
    upstream.once('error', () => {
      if (!connected) {
        clearTimeout(connectTimer);
        counters.upstreamFailed++;
      }
      closeBoth();
    });
    upstream.once('connect', () => {
      connected = true;
      clearTimeout(connectTimer);
      if (o.proxyProtocol) upstream.write(proxyHeader(client));
      client.on('data', (b: Buffer) => {
        counters.bytesUp += b.length;
      });
      upstream.on('data', (b: Buffer) => {
        counters.bytesDown += b.length;
      });
      // The client socket's timer sees both directions: what comes back from upstream is written to it.
      client.setTimeout(o.idleTimeoutMs, () => {
        counters.idleClosed++;
        closeBoth();
      });
      // pipe() stops reading a side whose destination is full and resumes on 'drain': the proxy
      // never buffers more than a stream's high-water mark per direction.
      pipeline(client, upstream, closeBoth);
      pipeline(upstream, client, closeBoth);
    });
  };

  const server: Server = createServer({ pauseOnConnect: true }, handle);
  await new Promise<void>((resolve, reject) => {
    server.once('error', (cause: NodeJS.ErrnoException) =>
      reject(
        new CliError(
          'IO',
          `cannot listen on ${o.listen.host}:${o.listen.port}: ${cause.code === 'EADDRINUSE' ? 'the port is in use' : cause.code === 'EACCES' ? 'not allowed (ports below 1024 need privileges)' : cause.message}`,
          { cause },
        ),
      ),
    );
    server.listen(o.listen.port, o.listen.host, () => resolve());
  });
  server.on('error', () => {});
  const bound = server.address();
  const address =
    typeof bound === 'object' && bound !== null ? { host: bound.address, port: bound.port } : o.listen;
  const line = () =>
    `proxy: ${counters.active} open, ${counters.accepted} accepted, ${counters.refused} refused (limit), ${counters.upstreamFailed} upstream failures, ${counters.idleClosed} idle-closed, ${counters.bytesUp} bytes up, ${counters.bytesDown} bytes down`;
  const ticker = o.statsIntervalMs > 0 ? setInterval(() => o.log(line()), o.statsIntervalMs) : undefined;
  ticker?.unref();

  return {
    address,
    stats: () => ({ ...counters }),
    async close() {
      clearInterval(ticker);
      const done = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const s of open) s.destroy();
      await done;
      o.log(line());
    },
  };
}
