/**
 * One port for HTTPS, the WebSocket and TURN over TLS (BRIEF, Calls): the app's HTTP server keeps
 * its listening socket, but each accepted connection is sorted by its first bytes before anyone
 * else reads it:
 * - a TLS ClientHello (first byte 0x16, a handshake record) goes through TLS, and then the first
 *   decrypted bytes decide again: a STUN message (top two bits 00, magic cookie 0x2112A442 at
 *   offset 4, RFC 7983 style) goes to the embedded TURN relay, anything else to the HTTP server,
 *   exactly as if it had accepted a TLS socket itself;
 * - plain bytes, when `plain` is 'serve' (the self-signed default of `npm start`): a STUN message
 *   goes to the relay (TURN over TCP on the app port) and HTTP to the HTTP server, so a browser on
 *   the same machine can open http://localhost:PORT, where service workers and WebCrypto work
 *   without a certificate warning, while `turns:` on the same port still carries calls;
 * - plain bytes, when `plain` is 'redirect' (a real certificate): HTTP gets a redirect to https.
 * To a censor the port looks like one ordinary HTTPS service: blocking the calls means blocking the
 * whole service.
 *
 * Why by hand: Node's https.Server cannot hand a decrypted stream to anyone else, and no
 * maintained library sniffs TURN inside TLS. We do not re-implement TLS or HTTP: node:tls does the
 * handshake, Node's own HTTP connection handler gets the socket, and we only move bytes we read back
 * in front of the stream (`unshift`) before handing it over. A TLS socket made from a TCP socket
 * reads the bytes still buffered in it first (Node's TLSSocket init), so the ClientHello we peeked
 * at is not lost; the raw socket must stay paused until then.
 */
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import type { BlockList, Socket } from 'node:net';
import { createServer as createTlsServer, type TLSSocket } from 'node:tls';
import { isStun, type Relay, STUN_SNIFF_BYTES } from '@kolokol/relay';
import { isTrusted, type ProxySource, readProxyHeader } from './proxy-v2.ts';

/** What plain (non-TLS) connections on the port get. */
export type PlainMode = 'serve' | 'redirect';

export interface SharedPortOptions {
  cert: string;
  key: string;
  plain: PlainMode;
  /** Undefined: no relay, every stream is HTTP. */
  relay: Relay | undefined;
  /** A client that connects (or finishes TLS) and says nothing for this long is closed. */
  firstBytesTimeoutMs: number;
  /** The TLS handshake must finish within this. */
  handshakeTimeoutMs: number;
  onTurnStream?: (secure: boolean) => void;
  /**
   * Connections from these sources start with a PROXY protocol v2 header (proxy-v2.ts), read
   * before anything else; the client it names becomes the socket's remote address.
   */
  proxyProtocolFrom?: BlockList | undefined;
}

export interface SharedPort {
  setCertificate(cert: string, key: string): void;
  /** Closes the connections still in the handshake or still being sorted. */
  close(): void;
}

type ConnectionListener = (this: HttpServer, socket: Socket | TLSSocket) => void;

const TLS_HANDSHAKE_RECORD = 0x16;

/**
 * Waits for the first bytes of `socket` and calls `decide` with them: with at least one byte, and
 * with STUN_SNIFF_BYTES when the first byte could start a STUN message (HTTP starts with an ASCII
 * method, top bits 01, so it is decided at once). Closes sockets that stay silent or fail.
 */
function sniff(socket: Socket, timeoutMs: number, decide: (bytes: Buffer) => void): void {
  let buffered: Buffer | undefined;
  const timer = setTimeout(() => socket.destroy(), timeoutMs);
  timer.unref();
  const onError = () => socket.destroy();
  const onData = (chunk: Buffer) => {
    const bytes: Buffer = buffered === undefined ? chunk : Buffer.concat([buffered, chunk]);
    buffered = bytes;
    const first = bytes[0];
    if (first === undefined) return;
    if ((first & 0xc0) === 0 && bytes.length < STUN_SNIFF_BYTES) return;
    clearTimeout(timer);
    socket.off('data', onData);
    socket.off('error', onError);
    // Nobody reads until the next owner has taken the socket (and its buffered bytes).
    socket.pause();
    decide(bytes);
  };
  socket.on('data', onData);
  socket.on('error', onError);
}

/**
 * Reads the PROXY v2 header a trusted proxy must send first, then hands on the socket with the
 * bytes after the header put back. A missing or bad header closes the connection.
 */
function takeProxyHeader(
  socket: Socket,
  timeoutMs: number,
  then: (source: ProxySource | undefined) => void,
): void {
  let buffered = Buffer.alloc(0);
  const timer = setTimeout(() => socket.destroy(), timeoutMs);
  timer.unref();
  const onError = () => socket.destroy();
  const onData = (chunk: Buffer) => {
    buffered = Buffer.concat([buffered, chunk]);
    const header = readProxyHeader(buffered);
    if (header.kind === 'more') return;
    clearTimeout(timer);
    socket.off('data', onData);
    socket.off('error', onError);
    if (header.kind === 'bad') {
      socket.destroy();
      return;
    }
    socket.pause();
    const rest = buffered.subarray(header.length);
    if (rest.length > 0) socket.unshift(rest);
    then(header.source);
  };
  socket.on('data', onData);
  socket.on('error', onError);
}

/** Makes `socket` report the client a PROXY header named (Fastify's req.ip, the relay, limits). */
function setRemote(socket: Socket, source: ProxySource): void {
  Object.defineProperty(socket, 'remoteAddress', { value: source.address, configurable: true });
  Object.defineProperty(socket, 'remotePort', { value: source.port, configurable: true });
}

/** Installs the sorting on `server`'s accepted connections; call before listen(). */
export function shareTlsPort(server: HttpServer, options: SharedPortOptions): SharedPort {
  // Node's HTTP connection handler (and anything else Fastify attached): it gets the sorted sockets.
  const httpListeners = server.listeners('connection') as ConnectionListener[];
  server.removeAllListeners('connection');
  const toHttp = (socket: Socket, bytes: Buffer) => {
    socket.unshift(bytes);
    for (const listener of httpListeners) listener.call(server, socket);
    socket.resume();
  };
  const toRelay = (socket: Socket, bytes: Buffer, secure: boolean): boolean => {
    const { relay } = options;
    if (relay === undefined || !isStun(bytes)) return false;
    const address = socket.remoteAddress;
    const port = socket.remotePort;
    if (address === undefined || port === undefined) {
      socket.destroy();
      return true;
    }
    options.onTurnStream?.(secure);
    // handleStream reads (and resumes) from here on; `bytes` are the ones we already took.
    relay.handleStream(socket, { address, port }, bytes);
    return true;
  };
  // Plain HTTP next to a real certificate: a redirect, answered by Node's HTTP parser.
  const redirector = createHttpServer((req, res) => {
    const host = req.headers.host;
    if (host === undefined || !/^[A-Za-z0-9.:[\]-]+$/.test(host)) {
      res.writeHead(400, { 'content-type': 'text/plain', connection: 'close' }).end('use https\n');
      return;
    }
    res.writeHead(308, { location: `https://${host}${req.url ?? '/'}`, connection: 'close' }).end();
  });

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
  const handshakes = new Map<string, ReturnType<typeof setTimeout>>();

  // Clients named by PROXY headers, by the key of the proxy's connection: the TLS socket made from
  // a raw socket shares its key, and takes the client's address once its handshake is done.
  const proxied = new Map<string, ProxySource>();
  const sort = (raw: Socket, source: ProxySource | undefined) => {
    const key = keyOf(raw);
    sorting.set(key, raw);
    if (source !== undefined) proxied.set(key, source);
    raw.once('close', () => {
      if (sorting.get(key) === raw) sorting.delete(key);
      proxied.delete(key);
    });
    sniff(raw, options.firstBytesTimeoutMs, (bytes) => {
      if (bytes[0] === TLS_HANDSHAKE_RECORD) {
        raw.on('error', () => raw.destroy());
        // node:tls's handshakeTimeout did not close a client that sent half a ClientHello and
        // waited (Node 24, sockets handed over like this): our own deadline.
        const deadline = setTimeout(() => raw.destroy(), options.handshakeTimeoutMs);
        deadline.unref();
        handshakes.set(key, deadline);
        raw.once('close', () => {
          clearTimeout(deadline);
          if (handshakes.get(key) === deadline) handshakes.delete(key);
        });
        raw.unshift(bytes);
        // Stays paused: the TLS socket takes the buffered ClientHello, then reads on its own.
        tlsServer.emit('connection', raw);
        return;
      }
      sorting.delete(key);
      if (source !== undefined) setRemote(raw, source);
      if (options.plain === 'serve') {
        if (!toRelay(raw, bytes, false)) toHttp(raw, bytes);
        return;
      }
      raw.unshift(bytes);
      redirector.emit('connection', raw);
      raw.resume();
    });
  };
  server.on('connection', (raw: Socket) => {
    const { proxyProtocolFrom } = options;
    if (proxyProtocolFrom !== undefined && isTrusted(proxyProtocolFrom, raw.remoteAddress)) {
      takeProxyHeader(raw, options.firstBytesTimeoutMs, (source) => {
        sort(raw, source);
        // takeProxyHeader paused it; sniff's listener alone would not restart the flow.
        raw.resume();
      });
      return;
    }
    sort(raw, undefined);
  });
  // A failed handshake (scanners, garbage) only concerns that socket.
  tlsServer.on('tlsClientError', (_err, socket) => socket.destroy());

  tlsServer.on('secureConnection', (socket: TLSSocket) => {
    const key = keyOf(socket);
    clearTimeout(handshakes.get(key));
    handshakes.delete(key);
    const source = proxied.get(key);
    sniff(socket, options.firstBytesTimeoutMs, (bytes) => {
      sorting.delete(key);
      if (source !== undefined) setRemote(socket, source);
      if (!toRelay(socket, bytes, true)) toHttp(socket, bytes);
    });
  });

  return {
    setCertificate(cert, key) {
      tlsServer.setSecureContext({ cert, key });
    },
    close() {
      for (const raw of sorting.values()) raw.destroy();
      sorting.clear();
      for (const t of handshakes.values()) clearTimeout(t);
      handshakes.clear();
      proxied.clear();
    },
  };
}
