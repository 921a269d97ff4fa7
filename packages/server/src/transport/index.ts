/**
 * The app's public transports: the TLS listener shared by HTTPS, the WebSocket and TURN over TLS
 * (and, with a self-signed certificate, plain HTTP too: shared-port.ts), its certificate (certs.ts), and the embedded TURN relay with its own UDP and
 * TCP listeners and GET /v1/turn (../turn.ts). app.ts creates this before listening, starts it
 * right before listen() and closes it before the HTTP server.
 */
import type { FastifyInstance } from 'fastify';
import type { Context } from '../context.ts';
import { type EmbeddedTurn, registerRelayMetrics, registerTurnRoutes, startTurn } from '../turn.ts';
import { loadCertificate, watchCertificate } from './certs.ts';
import { trustedSources } from './proxy-v2.ts';
import { type SharedPort, shareTlsPort } from './shared-port.ts';

/** How often configured certificate files are checked for a renewal. */
const CERT_RELOAD_CHECK_MS = 60 * 60 * 1000;

export interface Transport {
  /** Binds the relay, loads the certificate and puts TLS on the HTTP server; before app.listen(). */
  start(): Promise<void>;
  readonly scheme: 'http' | 'https';
  /** Plain HTTP is served on the same port too (a self-signed certificate; see shared-port.ts). */
  readonly servesPlain: boolean;
  /** SHA-256 fingerprint of the certificate in use, once started with TLS. */
  fingerprint(): string | undefined;
  /** What the start log line tells operators. */
  describe(): Record<string, unknown>;
  /** Closes the relay (its streams too) and the connections still being sorted. */
  close(): Promise<void>;
}

export function createTransport(app: FastifyInstance, ctx: Context): Transport {
  const { config, log } = ctx;
  const tls = config.tls === undefined || config.tls === false ? undefined : config.tls;
  let turn: EmbeddedTurn | undefined;
  let shared: SharedPort | undefined;
  let stopWatching = () => {};
  let fingerprint: string | undefined;

  registerTurnRoutes(app, ctx, {
    get turn() {
      return turn;
    },
    publicHost: config.publicHost,
    tlsPort: () => {
      const address = app.server.address();
      return tls !== undefined && typeof address === 'object' && address !== null ? address.port : undefined;
    },
  });

  // A real certificate makes plain HTTP a redirect; with the self-signed one of a first start,
  // plain HTTP is how a browser on this machine gets a secure context without a warning.
  const selfSigned = tls !== undefined && tls.certFile === undefined;
  return {
    scheme: tls === undefined ? 'http' : 'https',
    servesPlain: selfSigned,
    fingerprint: () => fingerprint,
    async start() {
      if (config.turn !== false) {
        turn = await startTurn(config.turn ?? {}, config.host, config.publicHost, config.dataDir, (err) =>
          log.debug({ err }, 'relay socket error'),
        );
        registerRelayMetrics(ctx.metrics.registry, turn.relay);
      }
      if (tls === undefined) return;
      try {
        const extraNames = config.publicHost === undefined ? [] : [config.publicHost.replace(/:\d+$/, '')];
        const cert = await loadCertificate(config.dataDir, tls, extraNames);
        fingerprint = cert.fingerprint256;
        log.info(
          { tls: { source: cert.source, fingerprint256: cert.fingerprint256, notAfter: cert.notAfter } },
          'TLS certificate',
        );
        shared = shareTlsPort(app.server, {
          cert: cert.cert,
          key: cert.key,
          plain: selfSigned ? 'serve' : 'redirect',
          relay: turn?.relay,
          firstBytesTimeoutMs: config.tuning.connectionTimeoutMs,
          handshakeTimeoutMs: config.tuning.tlsHandshakeTimeoutMs,
          proxyProtocolFrom:
            config.proxyProtocolFrom === undefined ? undefined : trustedSources(config.proxyProtocolFrom),
        });
        const port = shared;
        stopWatching = watchCertificate(
          tls,
          CERT_RELOAD_CHECK_MS,
          (c) => {
            port.setCertificate(c.cert, c.key);
            fingerprint = c.fingerprint256;
            log.info(
              { tls: { fingerprint256: c.fingerprint256, notAfter: c.notAfter } },
              'TLS certificate reloaded',
            );
          },
          (err) => log.warn({ err }, 'TLS certificate files changed but do not load; keeping the old one'),
        );
      } catch (err) {
        await turn?.relay.close();
        throw err;
      }
    },
    describe() {
      return {
        tls:
          tls === undefined
            ? 'off'
            : { fingerprint256: fingerprint, plainHttp: selfSigned ? 'served' : 'redirected' },
        turn:
          turn === undefined
            ? 'off'
            : {
                udpPort: turn.ports.udpPort,
                tcpPort: turn.ports.tcpPort,
                relayAddress: turn.relay.config.relayAddress,
                tlsOnAppPort: tls !== undefined,
              },
        proxyProtocolFrom: config.proxyProtocolFrom?.length ?? 0,
      };
    },
    async close() {
      stopWatching();
      shared?.close();
      await turn?.relay.close();
    },
  };
}
