/**
 * The embedded TURN relay (@kolokol/relay) as the server runs it: its settings from ServerConfig,
 * the REST secret kept in the data folder, its statistics in /metrics, and GET /v1/turn, which
 * hands each device short-lived credentials and the ICE server list.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { ErrorCode, type TurnResponse } from '@kolokol/protocol';
import { createRelay, type Relay, type RelayConfig, type RelayPorts, turnCredentials } from '@kolokol/relay';
import type { FastifyInstance } from 'fastify';
import { Counter, Gauge, type OpenMetricsContentType, type Registry } from 'prom-client';
import { authenticateHeader } from './auth.ts';
import type { Context } from './context.ts';
import { ServerError } from './errors.ts';
import { DEFAULT_TURN_TTL_SECONDS, parseHostPort, type TurnConfig } from './transport/options.ts';

const SECRET_FILE = 'turn-secret';

/** The configured secret, or the one kept in `<dataDir>/turn-secret` (made on first start, 0600). */
export function loadTurnSecret(dataDir: string, configured: string | undefined): string {
  if (configured !== undefined) return configured;
  const path = join(dataDir, SECRET_FILE);
  try {
    const kept = readFileSync(path, 'utf8').trim();
    if (kept.length >= 16) return kept;
  } catch {
    // Not there yet.
  }
  const secret = randomBytes(32).toString('base64url');
  try {
    writeFileSync(path, `${secret}\n`, { mode: 0o600 });
    chmodSync(path, 0o600);
  } catch (cause) {
    throw new ServerError('CONFIG', `invalid setting --data (KOLOKOL_DATA_DIR): cannot write ${path}`, {
      cause,
    });
  }
  return secret;
}

const unbracket = (host: string) => host.replace(/^\[|\]$/g, '');

/** Where the relay's UDP and TCP listeners bind: the server's own bind address. */
export function relayListenHost(serverHost: string): string {
  if (isIP(serverHost) !== 0) return serverHost;
  return serverHost === 'localhost' ? '127.0.0.1' : '0.0.0.0';
}

/**
 * The address relayed ports are advertised at. Configured; else the public host when it is an IP
 * address; else the listen address when it is a specific one (loopback included: a server that
 * only listens on loopback only serves this machine); else the first public-looking IPv4 address
 * of this machine. Behind NAT (most clouds) set --turn-relay-address.
 */
export function defaultRelayAddress(listenHost: string, publicHost: string | undefined): string {
  const pub = publicHost === undefined ? undefined : parseHostPort(publicHost);
  if (pub !== undefined && isIP(unbracket(pub.host)) !== 0) return unbracket(pub.host);
  if (listenHost !== '0.0.0.0' && listenHost !== '::') return listenHost;
  for (const addresses of Object.values(networkInterfaces())) {
    for (const a of addresses ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return '127.0.0.1';
}

export interface EmbeddedTurn {
  relay: Relay;
  secret: string;
  ttlSeconds: number;
  ports: RelayPorts;
}

/** Creates the relay and binds its UDP/TCP listeners. Throws ServerError('CONFIG') on a bad setting. */
export async function startTurn(
  turn: Partial<TurnConfig>,
  serverHost: string,
  publicHost: string | undefined,
  dataDir: string,
  onError: (err: unknown) => void,
): Promise<EmbeddedTurn> {
  const secret = loadTurnSecret(dataDir, turn.secret);
  const host = relayListenHost(serverHost);
  const relayAddress = turn.relayAddress ?? defaultRelayAddress(host, publicHost);
  const config: RelayConfig = {
    secret,
    host,
    // Programmatic servers (tests) get random ports unless told otherwise, like `port`.
    udpPort: turn.udpPort ?? 0,
    tcpPort: turn.tcpPort ?? 0,
    relayAddress,
    allowLoopbackPeers: turn.allowLoopbackPeers ?? false,
    onError,
  };
  if (turn.relayPortRange !== undefined) config.relayPortRange = turn.relayPortRange;
  if (turn.allowedPeerCidrs !== undefined) config.allowedPeerCidrs = turn.allowedPeerCidrs;
  let relay: Relay;
  try {
    relay = createRelay(config);
  } catch (cause) {
    throw new ServerError(
      'CONFIG',
      `invalid setting --turn-relay-address (KOLOKOL_TURN_RELAY_ADDRESS): relay refused its configuration (${
        cause instanceof Error ? cause.message : String(cause)
      })`,
      { cause },
    );
  }
  try {
    const ports = await relay.listen();
    return { relay, secret, ttlSeconds: turn.ttlSeconds ?? DEFAULT_TURN_TTL_SECONDS, ports };
  } catch (cause) {
    await relay.close();
    throw new ServerError(
      'CONFIG',
      `invalid setting --turn-udp-port/--turn-tcp-port (KOLOKOL_TURN_UDP_PORT/KOLOKOL_TURN_TCP_PORT): cannot listen on ${host} udp:${String(config.udpPort)} tcp:${String(config.tcpPort)}`,
      { cause },
    );
  }
}

/** Relay statistics as OpenMetrics, read from relay.stats() at each scrape. */
export function registerRelayMetrics(registry: Registry<OpenMetricsContentType>, relay: Relay): void {
  const gauge = (name: string, help: string, read: (s: ReturnType<Relay['stats']>) => number) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(read(relay.stats()));
      },
    });
  gauge('kolokol_turn_allocations', 'TURN allocations now', (s) => s.allocations);
  gauge('kolokol_turn_permissions', 'TURN permissions now', (s) => s.permissions);
  gauge('kolokol_turn_channels', 'TURN channel bindings now', (s) => s.channels);
  gauge('kolokol_turn_streams', 'TURN client streams (TCP and TLS) now', (s) => s.streams);
  // Totals kept by the relay: each scrape copies them (reset + inc sets a counter to a value).
  const counter = (
    name: string,
    help: string,
    label: string,
    read: (s: ReturnType<Relay['stats']>) => Record<string, number>,
  ) =>
    new Counter({
      name,
      help,
      labelNames: [label],
      registers: [registry],
      collect() {
        this.reset();
        for (const [value, n] of Object.entries(read(relay.stats()))) this.inc({ [label]: value }, n);
      },
    });
  new Counter({
    name: 'kolokol_turn_allocations_created',
    help: 'TURN allocations created',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(relay.stats().allocationsCreated);
    },
  });
  counter(
    'kolokol_turn_bytes',
    'Bytes through the relay, from or to clients and peers',
    'direction',
    (s) => ({
      in: s.bytesIn,
      out: s.bytesOut,
    }),
  );
  counter(
    'kolokol_turn_packets',
    'Packets through the relay, from or to clients and peers',
    'direction',
    (s) => ({ in: s.packetsIn, out: s.packetsOut }),
  );
  counter('kolokol_turn_refused', 'TURN requests refused, by reason', 'reason', (s) => s.refused);
  counter('kolokol_turn_dropped', 'Packets the relay dropped, by reason', 'reason', (s) => s.dropped);
}

export interface TurnRouteOptions {
  turn: EmbeddedTurn | undefined;
  publicHost: string | undefined;
  /** The app's own port when it serves TLS (for turns:), else undefined. */
  tlsPort: () => number | undefined;
}

/**
 * GET /v1/turn (auth) -> TurnResponse. Credentials in the TURN REST form with the device id as the
 * id (user = expiry:deviceId), so the relay's per-user quota is per device. The host in the URLs
 * is --public-host, else the Host the client used to reach us (it reached us there, so it can
 * reach the relay there).
 */
export function registerTurnRoutes(app: FastifyInstance, ctx: Context, options: TurnRouteOptions): void {
  app.get('/v1/turn', async (req): Promise<TurnResponse> => {
    const auth = await authenticateHeader(ctx, req.headers.authorization);
    const { turn } = options;
    if (turn === undefined) throw new ServerError(ErrorCode.NotFound, 'this server runs no TURN relay');
    const configured = options.publicHost === undefined ? undefined : parseHostPort(options.publicHost);
    const asked = parseHostPort(req.host);
    const listenHost = relayListenHost(ctx.config.host);
    const named = configured ?? asked;
    const host = named?.host ?? (listenHost === '0.0.0.0' || listenHost === '::' ? '127.0.0.1' : listenHost);
    const urlHost = isIP(host) === 6 ? `[${host}]` : host;
    const { username, password, ttl } = turnCredentials(turn.secret, auth.deviceId, turn.ttlSeconds);
    const server = (url: string) => ({ urls: [url], username, credential: password });
    const iceServers: TurnResponse['iceServers'] = [];
    if (turn.ports.udpPort !== null)
      iceServers.push(server(`turn:${urlHost}:${turn.ports.udpPort}?transport=udp`));
    if (turn.ports.tcpPort !== null)
      iceServers.push(server(`turn:${urlHost}:${turn.ports.tcpPort}?transport=tcp`));
    const tlsPort = options.tlsPort();
    if (tlsPort !== undefined) {
      // The port clients use for the app: named in --public-host or the Host header; a host named
      // without a port means https's default; with no name at all, our own port.
      const port =
        configured?.port ?? (configured === undefined ? asked?.port : undefined) ?? (named ? 443 : tlsPort);
      iceServers.push(server(`turns:${urlHost}:${port}?transport=tcp`));
    }
    return { iceServers, ttl };
  });
}
