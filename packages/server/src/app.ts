import { mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import cors from '@fastify/cors';
import { ErrorCode, Limits } from '@kolokol/protocol';
import Fastify, { type FastifyBaseLogger } from 'fastify';
import { pino } from 'pino';
import { WebSocketServer } from 'ws';
import { type Bus, LocalBus } from './bus.ts';
import {
  defaultConfig,
  defaultRateLimits,
  defaultTuning,
  type RateLimitConfig,
  type ServerConfig,
} from './config.ts';
import type { Context, ResolvedConfig } from './context.ts';
import { ServerError } from './errors.ts';
import { toWire } from './http/errors.ts';
import { clientIp } from './http/ip.ts';
import { registerRoutes } from './http/routes.ts';
import { registerStatic } from './http/static.ts';
import { createMetrics } from './metrics.ts';
import { loadFrankingKey } from './moderation/franking.ts';
import { Moderation } from './moderation/service.ts';
import { NatsBus } from './nats-bus.ts';
import { loadVapidKeys, Presence, PushSender } from './push.ts';
import { RateLimiter } from './ratelimit.ts';
import { Store, type StoreOptions } from './storage/store.ts';
import { createTransport } from './transport/index.ts';
import { Connection } from './ws/connection.ts';
import { ConnectionRegistry } from './ws/registry.ts';

export interface RunningServer {
  /** http://127.0.0.1:PORT, https:// with `tls` (the loopback address when bound to all interfaces). */
  url: string;
  /**
   * http://127.0.0.1:PORT when TLS runs with the self-signed certificate: the same port answers
   * plain HTTP too, which browsers on this machine treat as a secure context without a warning.
   */
  plainUrl?: string;
  /** SHA-256 fingerprint of the TLS certificate, for people comparing what their browser shows. */
  fingerprint256?: string;
  port: number;
  /** Graceful: see README "Shutdown". Safe to call twice. */
  close(): Promise<void>;
}

export const SERVER_VERSION = '0.1.0';
/** Unfinished chunked uploads are deleted this long after they started. */
export const UPLOAD_TTL_MS = 24 * 60 * 60 * 1000;
/** JSON bodies; key package uploads have their own larger limit, attachments stream. */
const JSON_BODY_LIMIT = 512 * 1024;
/** The mailbox rescan visits this many slices of the connections, one per tick (see below). */
const RESCAN_SLICES = 10;

export function resolveConfig(config: Partial<ServerConfig> & { dataDir: string }): ResolvedConfig {
  return {
    ...defaultConfig,
    // Programmatic servers are mostly tests: a random port unless told otherwise.
    port: 0,
    ...config,
    retention: { ...defaultConfig.retention, ...config.retention },
    rateLimits: { ...defaultRateLimits, ...config.rateLimits },
    tuning: { ...defaultTuning, ...config.tuning },
  };
}

function limiters(r: RateLimitConfig): Context['limiters'] {
  const limiter = (n: number) => new RateLimiter(n, r.windowMs, r.maxKeys);
  return {
    registration: limiter(r.registrationsPerIp),
    challenge: limiter(r.challengesPerDevice),
    challengeUnknown: limiter(r.challengesUnknownPerIp),
    claims: limiter(r.claimsPerClaimer),
    claimPairs: limiter(r.claimsPerPair),
  };
}

export function storeOptions(config: ResolvedConfig): StoreOptions {
  if (config.storage.kind === 'postgres') {
    const o: StoreOptions = { kind: 'postgres', url: config.storage.url };
    if (config.storage.schema !== undefined) o.schema = config.storage.schema;
    return o;
  }
  const o: StoreOptions = { kind: 'sqlite', path: join(config.dataDir, 'kolokol.db') };
  if (config.sqliteSynchronous !== undefined) o.synchronous = config.sqliteSynchronous;
  return o;
}

export async function startServer(
  input: Partial<ServerConfig> & { dataDir: string },
): Promise<RunningServer> {
  const config = resolveConfig({ ...input, dataDir: resolve(input.dataDir) });
  const attachmentsDir = join(config.dataDir, 'attachments');
  try {
    mkdirSync(join(attachmentsDir, 'tmp'), { recursive: true });
    // Chunked uploads live here: they outlive a restart (the client resumes or the sweeper expires them).
    mkdirSync(join(attachmentsDir, 'uploads'), { recursive: true });
  } catch (cause) {
    throw new ServerError(
      'CONFIG',
      `invalid setting --data (KOLOKOL_DATA_DIR): cannot create ${config.dataDir}`,
      { cause },
    );
  }
  // Uploads cut off by a crash leave temporary files behind; nobody can finish them. Only old ones:
  // in a cluster the folder is shared, and other nodes may be writing theirs right now (a request
  // lives at most requestTimeoutMs).
  const staleBefore = Date.now() - config.tuning.requestTimeoutMs;
  for (const f of readdirSync(join(attachmentsDir, 'tmp'))) {
    const path = join(attachmentsDir, 'tmp', f);
    const stat = statSync(path, { throwIfNoEntry: false });
    if (stat !== undefined && stat.mtimeMs < staleBefore) rmSync(path, { force: true });
  }

  const log = pino({
    level: config.logLevel,
    base: { service: 'kolokol-server' },
    // Belt and braces: nothing logs these on purpose, and if something ever does, they are cut.
    redact: {
      paths: [
        'req.headers.authorization',
        'headers.authorization',
        'authorization',
        'token',
        '*.token',
        'body',
        '*.body',
      ],
      censor: '[redacted]',
    },
  });
  const frankingKey = loadFrankingKey(config.dataDir, config.moderation?.frankingKey);
  const store = await Store.open(storeOptions(config));
  const metrics = createMetrics();
  let bus: Bus;
  // Set in cluster mode: the NATS bus also answers "is this device connected on another node?".
  let natsBus: NatsBus | undefined;
  if (config.bus?.kind === 'nats') {
    try {
      natsBus = await NatsBus.connect({
        servers: config.bus.servers,
        subjectPrefix: config.bus.subjectPrefix ?? 'kolokol',
        log,
        onStatus: (up) => {
          metrics.busConnected.set(up ? 1 : 0);
          if (up) metrics.busReconnects.inc();
        },
      });
    } catch (e) {
      await store.close();
      throw e;
    }
    bus = natsBus;
  } else bus = new LocalBus();
  metrics.busConnected.set(1);
  const presence = new Presence();
  const cluster = natsBus;
  const pushConfig = config.push ?? {};
  const push =
    pushConfig.enabled === false
      ? undefined
      : new PushSender({
          keys: loadVapidKeys(config.dataDir, pushConfig),
          subject: pushConfig.subject ?? 'mailto:admin@localhost',
          store,
          log,
          isConnected: (d) => presence.has(d),
          ...(cluster === undefined
            ? {}
            : { connectedElsewhere: (d: string) => cluster.connectedElsewhere(d) }),
          ...(pushConfig.coalesceMs === undefined ? {} : { coalesceMs: pushConfig.coalesceMs }),
          ...(pushConfig.allowHttpEndpoints === undefined
            ? {}
            : { allowHttpEndpoints: pushConfig.allowHttpEndpoints }),
        });
  const ctx: Context = {
    config,
    store,
    bus,
    metrics,
    log,
    limiters: limiters(config.rateLimits),
    attachmentsDir,
    version: SERVER_VERSION,
    presence,
    push,
    connections: new ConnectionRegistry<Connection>(),
    moderation: new Moderation(store, frankingKey, config.moderation),
  };

  const fastifyLog: FastifyBaseLogger = log;
  const app = Fastify({
    loggerInstance: fastifyLog,
    bodyLimit: JSON_BODY_LIMIT,
    return503OnClosing: true,
    // Fastify's defaults (0) let a client hold a request or an idle socket open forever (review
    // M4). Attachment bodies also have a per-chunk idle timeout (tuning.uploadIdleMs).
    requestTimeout: config.tuning.requestTimeoutMs,
    connectionTimeout: config.tuning.connectionTimeoutMs,
    // A number means that many proxy hops (the same rule as clientIp for the WebSocket upgrade).
    trustProxy:
      typeof config.trustProxy === 'number'
        ? (_address: string, hop: number) => hop < Number(config.trustProxy)
        : config.trustProxy,
  });
  app.setErrorHandler((err, req, reply) => {
    const wire = toWire(err);
    if (wire.internal) req.log.error({ err }, 'request failed');
    return reply.status(wire.status).send(wire.body);
  });
  app.setNotFoundHandler((_req, reply) => {
    const wire = toWire(new ServerError(ErrorCode.NotFound, 'no such route'));
    return reply.status(wire.status).send(wire.body);
  });
  app.addHook('onResponse', async (req, reply) => {
    metrics.http.inc({
      method: req.method,
      route: req.routeOptions.url ?? 'unmatched',
      status: String(reply.statusCode),
    });
  });
  // The web app loaded from one front talks to the API of another when the first one fails
  // (fronts, README "In a censored network"): those origins, and only those, may read answers
  // across origins. Authorization is a bearer token, never a cookie, so no credentials mode.
  const fronts = new Set(config.fronts ?? []);
  await app.register(cors, {
    origin: (origin, cb) => cb(null, origin !== undefined && fronts.has(origin)),
    methods: ['GET', 'POST', 'PUT', 'DELETE'],
    allowedHeaders: ['authorization', 'content-type'],
    exposedHeaders: ['content-length'],
    maxAge: 600,
  });
  registerRoutes(app, ctx);
  registerStatic(app, ctx);
  // TLS on the listener and the embedded TURN relay (GET /v1/turn is registered here).
  const transport = createTransport(app, ctx);

  const connections = new Set<Connection>();
  let shuttingDown = false;
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: Limits.maxFrameBytes,
    perMessageDeflate: false,
    // `connections` below tracks them; ws's own set would cost a close listener per socket.
    clientTracking: false,
  });
  app.server.on('upgrade', (req, socket, head) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/v1/ws' || shuttingDown) {
      socket.end(
        `HTTP/1.1 ${shuttingDown ? '503 Service Unavailable' : '404 Not Found'}\r\nConnection: close\r\n\r\n`,
      );
      return;
    }
    const ip = clientIp(req.socket.remoteAddress ?? '', req.headers['x-forwarded-for'], config.trustProxy);
    // Sockets that have not authenticated cost us memory and a hello timer each: cap them per IP.
    if (ctx.connections.unauthenticated(ip) >= config.tuning.maxUnauthenticatedPerIp) {
      ctx.metrics.closes.inc({ reason: 'too-many-unauthenticated' });
      socket.end('HTTP/1.1 429 Too Many Requests\r\nConnection: close\r\n\r\n');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      const conn = new Connection(ctx, ws, ip);
      connections.add(conn);
      void conn.closed.then(() => connections.delete(conn));
    });
  });

  const keepalive = setInterval(() => {
    for (const c of connections) c.keepalive();
  }, config.tuning.keepaliveMs);
  keepalive.unref();
  // Each connection re-reads its mailbox about every rescanMs, in case a nudge was lost: one timer
  // for all of them, a tenth of them per tick, instead of one interval timer per connection.
  let rescanTick = 0;
  const rescan = setInterval(
    () => {
      const slice = rescanTick++ % RESCAN_SLICES;
      let i = 0;
      for (const c of connections) if (i++ % RESCAN_SLICES === slice) c.pump();
    },
    Math.max(1, config.tuning.rescanMs / RESCAN_SLICES),
  );
  rescan.unref();

  let sweeping: Promise<void> = Promise.resolve();
  const sweep = () => {
    sweeping = sweeping
      .then(async () => {
        const now = Date.now();
        const r = await store.sweep(now, config.retention);
        const cutoff = now - config.retention.maxAgeDays * 24 * 60 * 60 * 1000;
        let attachments = 0;
        for (;;) {
          const ids = await store.expireAttachments(cutoff);
          for (const id of ids) rmSync(join(attachmentsDir, id), { force: true });
          attachments += ids.length;
          if (ids.length === 0) break;
        }
        // Unfinished chunked uploads expire after a day.
        for (;;) {
          const ids = await store.expireUploads(now - UPLOAD_TTL_MS);
          for (const id of ids) rmSync(join(attachmentsDir, 'uploads', id), { force: true });
          if (ids.length === 0) break;
        }
        log.info({ sweep: { ...r, attachments } }, 'retention sweep');
      })
      .catch((err: unknown) => log.error({ err }, 'retention sweep failed'));
  };
  const sweeper = setInterval(sweep, config.tuning.sweepIntervalMs);
  sweeper.unref();
  const firstSweep = setTimeout(sweep, Math.min(10_000, config.tuning.sweepIntervalMs));
  firstSweep.unref();

  try {
    await transport.start();
    await app.listen({
      host: config.host,
      port: config.port,
      listenTextResolver: (address) =>
        `Server listening at ${address.replace(/^http:/, `${transport.scheme}:`)}`,
    });
  } catch (cause) {
    await transport.close();
    clearInterval(keepalive);
    clearInterval(rescan);
    clearInterval(sweeper);
    clearTimeout(firstSweep);
    await bus.close();
    await store.close();
    // The certificate and the relay name their own setting.
    if (cause instanceof ServerError) throw cause;
    throw new ServerError(
      'CONFIG',
      `invalid setting --port (KOLOKOL_PORT): cannot listen on ${config.host}:${config.port}`,
      {
        cause,
      },
    );
  }
  const stopNoticePoll = ctx.moderation.startNoticePoll(bus, (err) =>
    log.error({ err }, 'notice poll failed'),
  );
  const address = app.server.address();
  const port = typeof address === 'object' && address !== null ? address.port : config.port;
  const host = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host;
  const hostPort = `${host.includes(':') ? `[${host}]` : host}:${port}`;
  const url = `${transport.scheme}://${hostPort}`;

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      shuttingDown = true;
      log.info('shutting down');
      clearInterval(keepalive);
      clearInterval(rescan);
      clearInterval(sweeper);
      clearTimeout(firstSweep);
      stopNoticePoll();
      // Sockets first: each finishes the frame it is on (so an `ok` it sent is durable), then
      // closes with ServerShutdown. The HTTP server cannot close while upgraded sockets live.
      await Promise.all([...connections].map((c) => c.shutdown()));
      wss.close();
      // Relay streams hold sockets of the HTTP server's listener: close them before it.
      await transport.close();
      await app.close();
      await sweeping;
      await push?.close();
      await bus.close();
      await store.close();
      log.info('stopped');
    })();
    return closing;
  };
  log.info(
    {
      url,
      storage: config.storage.kind,
      bus: config.bus?.kind ?? 'local',
      registration: config.registration,
      ...transport.describe(),
    },
    'listening',
  );
  const running: RunningServer = { url, port, close };
  if (transport.servesPlain) running.plainUrl = `http://${hostPort}`;
  const fingerprint256 = transport.fingerprint();
  if (fingerprint256 !== undefined) running.fingerprint256 = fingerprint256;
  return running;
}
