/**
 * One port for HTTPS, the WebSocket and TURN over TLS (BRIEF, Calls): the app's HTTP server keeps
 * its listening socket, but each accepted connection goes through TLS first, and the first
 * decrypted bytes decide where the stream goes. A STUN message (top two bits 00, magic cookie
 * 0x2112A442 at offset 4, RFC 7983 style) goes to the embedded TURN relay; anything else to the
 * HTTP server, exactly as if it had accepted a TLS socket itself. To a censor both look like one
 * ordinary HTTPS service: blocking the calls means blocking the whole service.
 *
 * Why by hand: Node's https.Server cannot hand a decrypted stream to anyone else, and no
 * maintained library sniffs TURN inside TLS. We do not re-implement TLS or HTTP: node:tls does the
 * handshake, Node's own HTTP connection handler gets the socket, and we only move bytes we read back
 * in front of the stream (`unshift`) before handing it over.
 */
import type { Server as HttpServer } from 'node:http';
import type { Socket } from 'node:net';
import { createServer as createTlsServer, type TLSSocket } from 'node:tls';
import { isStun, type Relay, STUN_SNIFF_BYTES } from '@kolokol/relay';

export interface SharedPortOptions {
  cert: string;
  key: string;
  /** Undefined: no relay, every stream is HTTP. */
  relay: Relay | undefined;
  /** A client that opens TLS and says nothing for this long is closed. */
  firstBytesTimeoutMs: number;
  /** The TLS handshake must finish within this. */
  handshakeTimeoutMs: number;
  onTurnStream?: () => void;
}

export interface SharedPort {
  setCertificate(cert: string, key: string): void;
  /** Closes the connections still in the handshake or still being sorted. */
  close(): void;
}

type ConnectionListener = (this: HttpServer, socket: Socket | TLSSocket) => void;

/** Installs TLS and the STUN/HTTP split on `server`'s accepted connections; call before listen(). */
export function shareTlsPort(server: HttpServer, options: SharedPortOptions): SharedPort {
  // Node's HTTP connection handler (and anything else Fastify attached): it gets the TLS sockets.
  const httpListeners = server.listeners('connection') as ConnectionListener[];
  server.removeAllListeners('connection');

  const tlsServer = createTlsServer({
    cert: options.cert,
    key: options.key,
    // Only HTTP/1.1: the WebSocket upgrade needs it, and offering h2 would make browsers open
    // connections that Node's HTTP/1 server cannot answer.
    ALPNProtocols: ['http/1.1'],
    handshakeTimeout: options.handshakeTimeoutMs,
    minVersion: 'TLSv1.2',
  });
  // Raw sockets not yet handed over (in the handshake or being sorted), by remote address and
  // port: the key the TLS socket made from one shares with it.
  const sorting = new Map<string, Socket>();
  const keyOf = (s: { remoteAddress?: string | undefined; remotePort?: number | undefined }) =>
    `${s.remoteAddress ?? ''}|${s.remotePort ?? ''}`;

  server.on('connection', (raw: Socket) => {
    const key = keyOf(raw);
    sorting.set(key, raw);
    raw.once('close', () => {
      if (sorting.get(key) === raw) sorting.delete(key);
    });
    // Raw sockets that never finish TLS are also covered by tls handshakeTimeout.
    raw.on('error', () => raw.destroy());
    tlsServer.emit('connection', raw);
  });
  // A failed handshake (scanners, plain HTTP on the TLS port) only concerns that socket.
  tlsServer.on('tlsClientError', (_err, socket) => socket.destroy());

  tlsServer.on('secureConnection', (socket: TLSSocket) => {
    let buffered: Buffer | undefined;
    const timer = setTimeout(() => socket.destroy(), options.firstBytesTimeoutMs);
    timer.unref();
    const onError = () => socket.destroy();
    const done = () => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('error', onError);
      sorting.delete(keyOf(socket));
    };
    const onData = (chunk: Buffer) => {
      const bytes: Buffer = buffered === undefined ? chunk : Buffer.concat([buffered, chunk]);
      buffered = bytes;
      const first = bytes[0];
      if (first === undefined) return;
      // HTTP starts with an ASCII method (top bits 01): decide at once. STUN needs 8 bytes.
      const maybeStun = (first & 0xc0) === 0;
      if (maybeStun && bytes.length < STUN_SNIFF_BYTES) return;
      done();
      const { relay } = options;
      if (maybeStun && relay !== undefined && isStun(bytes)) {
        const address = socket.remoteAddress;
        const port = socket.remotePort;
        if (address === undefined || port === undefined) {
          socket.destroy();
          return;
        }
        options.onTurnStream?.();
        // Synchronously inside the data handler, as handleStream asks: no chunk can slip past.
        relay.handleStream(socket, { address, port }, bytes);
        return;
      }
      // Put the bytes back and give the socket to Node's HTTP server, as if it had accepted it.
      socket.pause();
      socket.unshift(bytes);
      for (const listener of httpListeners) listener.call(server, socket);
      socket.resume();
    };
    socket.on('data', onData);
    socket.on('error', onError);
  });

  return {
    setCertificate(cert, key) {
      tlsServer.setSecureContext({ cert, key });
    },
    close() {
      for (const raw of sorting.values()) raw.destroy();
      sorting.clear();
    },
  };
}
