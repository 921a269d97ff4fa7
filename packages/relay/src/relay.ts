/**
 * createRelay(): the client-facing transports around TurnServer. A UDP listener and a TCP listener
 * of our own, plus handleStream() for the app's TLS port, which peeks at the first decrypted bytes
 * and hands STUN streams over (see isStun).
 */
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer, type Server as TcpServer, type Socket as TcpSocket } from 'node:net';
import type { Duplex } from 'node:stream';
import { type RelayConfig, type ResolvedRelayConfig, resolveConfig } from './config.ts';
import { RelayError } from './errors.ts';
import { canonicalIp, familyOf, type TransportAddress } from './ip.ts';
import { StreamFramer } from './stun/framing.ts';
import { decodeMessage } from './stun/message.ts';
import { type ClientConnection, type RelayStats, TurnServer } from './turn/server.ts';

export interface RelayPorts {
  /** Bound UDP port, or null when the UDP listener is disabled. */
  udpPort: number | null;
  /** Bound TCP port, or null when the TCP listener is disabled. */
  tcpPort: number | null;
}

export interface Relay {
  /** Binds the UDP and TCP listeners that the config enables. */
  listen(): Promise<RelayPorts>;
  /**
   * Serves TURN on an already open byte stream (a TLS socket from the app's own listener).
   * `initialBytes` are bytes the caller already read to recognise STUN; they are processed first.
   */
  handleStream(socket: Duplex, remote: { address: string; port: number }, initialBytes?: Buffer): void;
  stats(): RelayStats;
  /** Deletes every allocation and closes listeners and streams. */
  close(): Promise<void>;
  readonly config: Readonly<ResolvedRelayConfig>;
}

const LISTENER_BUFFER_BYTES = 4 * 1024 * 1024;

export function createRelay(input: RelayConfig): Relay {
  const config = resolveConfig(input);
  const server = new TurnServer(config);
  const streams = new Map<Duplex, { client: ClientConnection; lastActivity: number }>();
  let udp: UdpSocket | undefined;
  let tcp: TcpServer | undefined;
  let closed = false;
  let streamCounter = 0;

  const sweeper = setInterval(() => {
    server.sweep();
    const now = config.clock();
    for (const [socket, state] of streams) {
      if (!server.hasAllocation(state.client) && now - state.lastActivity > config.streamIdleTimeoutMs) {
        socket.destroy();
      }
    }
  }, config.sweepIntervalMs);
  sweeper.unref();

  function handleStream(
    socket: Duplex,
    remote: { address: string; port: number },
    initialBytes?: Buffer,
  ): void {
    const address = canonicalIp(remote.address);
    if (closed || address === undefined) {
      socket.destroy();
      return;
    }
    const framer = new StreamFramer();
    const client: ClientConnection = {
      key: `stream|${++streamCounter}`,
      remote: { address, port: remote.port },
      stream: true,
      send(bytes) {
        if (socket.destroyed || !socket.writable) return false;
        if (socket.writableLength > config.streamMaxBufferedBytes) return false;
        socket.write(bytes);
        return true;
      },
    };
    const state = { client, lastActivity: config.clock() };
    streams.set(socket, state);
    server.streamCount = streams.size;
    let first = true;
    const onData = (chunk: Buffer) => {
      state.lastActivity = config.clock();
      const { frames, error } = framer.push(chunk);
      for (const frame of frames) {
        // A stream whose first message is not STUN after all is not a TURN client: close it.
        if (first && frame.kind === 'stun' && !decodeMessage(frame.bytes).ok) {
          server.drop('malformed');
          socket.destroy();
          return;
        }
        first = false;
        server.handleClientBytes(frame.bytes, client);
      }
      if (error !== undefined) {
        server.drop('malformed');
        socket.destroy();
      }
    };
    const gone = () => {
      if (!streams.delete(socket)) return;
      server.streamCount = streams.size;
      server.clientGone(client);
    };
    socket.on('data', (chunk: unknown) => {
      if (Buffer.isBuffer(chunk)) onData(chunk);
      else socket.destroy();
    });
    socket.on('error', () => socket.destroy());
    socket.on('close', gone);
    socket.on('end', () => socket.end());
    if (initialBytes !== undefined && initialBytes.length > 0) onData(initialBytes);
    socket.resume();
  }

  async function listen(): Promise<RelayPorts> {
    if (closed) throw new RelayError('CLOSED', 'relay is closed');
    const ports: RelayPorts = { udpPort: null, tcpPort: null };
    try {
      const udpPort = config.udpPort;
      const tcpPort = config.tcpPort;
      if (udpPort !== false && udp === undefined) {
        // Every client's packets share this one socket: a big receive buffer rides out the moments
        // when the event loop is busy (the calls bench lost up to 9% to kernel drops at 16k pkt/s
        // with the default). The kernel caps it at net.core.rmem_max.
        const socket = createSocket({
          type: familyOf(config.host) === 6 ? 'udp6' : 'udp4',
          recvBufferSize: LISTENER_BUFFER_BYTES,
          sendBufferSize: LISTENER_BUFFER_BYTES,
        });
        socket.on('message', (msg, rinfo) => {
          const address = canonicalIp(rinfo.address);
          if (address === undefined) return;
          const remote: TransportAddress = { address, port: rinfo.port };
          server.handleClientBytes(msg, {
            key: `udp|${address}|${rinfo.port}`,
            remote,
            stream: false,
            send(bytes) {
              socket.send(bytes, rinfo.port, rinfo.address, (err) => {
                if (err) config.onError(new RelayError('BIND', 'send to client failed', { cause: err }));
              });
              return true;
            },
          });
        });
        await new Promise<void>((resolve, reject) => {
          socket.once('error', reject);
          socket.bind({ address: config.host, port: udpPort }, () => {
            socket.off('error', reject);
            resolve();
          });
        });
        socket.on('error', (err) =>
          config.onError(new RelayError('BIND', 'UDP listener error', { cause: err })),
        );
        udp = socket;
      }
      if (tcpPort !== false && tcp === undefined) {
        const server = createServer({ noDelay: true }, (socket: TcpSocket) => {
          const address = socket.remoteAddress;
          const port = socket.remotePort;
          if (address === undefined || port === undefined) {
            socket.destroy();
            return;
          }
          handleStream(socket, { address, port });
        });
        await new Promise<void>((resolve, reject) => {
          server.once('error', reject);
          server.listen({ host: config.host, port: tcpPort }, () => {
            server.off('error', reject);
            resolve();
          });
        });
        server.on('error', (err) =>
          config.onError(new RelayError('BIND', 'TCP listener error', { cause: err })),
        );
        tcp = server;
      }
    } catch (err) {
      throw new RelayError('BIND', `cannot listen on ${config.host}`, { cause: err });
    }
    if (udp !== undefined) ports.udpPort = udp.address().port;
    const tcpAddress = tcp?.address();
    if (tcpAddress !== undefined && tcpAddress !== null && typeof tcpAddress === 'object') {
      ports.tcpPort = tcpAddress.port;
    }
    if (ports.udpPort !== null) server.listenerPorts.add(ports.udpPort);
    return ports;
  }

  async function close(): Promise<void> {
    if (closed) return;
    closed = true;
    clearInterval(sweeper);
    server.close();
    for (const socket of streams.keys()) socket.destroy();
    const waits: Promise<void>[] = [];
    if (udp !== undefined) {
      const socket = udp;
      waits.push(new Promise((resolve) => socket.close(() => resolve())));
    }
    if (tcp !== undefined) {
      const listener = tcp;
      waits.push(new Promise((resolve) => listener.close(() => resolve())));
    }
    await Promise.all(waits);
  }

  return { listen, handleStream, stats: () => server.stats(), close, config };
}
