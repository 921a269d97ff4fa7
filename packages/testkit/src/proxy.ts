/**
 * A TCP forwarder for cluster tests, written here because it is 80 lines and needs control no
 * packaged proxy offers in-process. Two uses:
 * - a load balancer in front of server nodes (HAProxy `mode tcp` in miniature): each connection
 *   goes to the first upstream, in the given order of preference, that accepts it, so a client
 *   behind forwarder k lands on node k and fails over to the next node when k is down;
 * - an outage switch in front of PostgreSQL or NATS: `cut()` drops every connection and refuses
 *   new ones until `heal()`, which is what a node sees when that server restarts, without
 *   restarting a server that other tests share;
 * - a censor that freezes a front (the brief's profile P5): `freeze()` keeps every connection
 *   open and forwards what clients send, but no byte of the answers reaches them, so clients see
 *   neither an error nor a close, only silence.
 */
import { createServer, type Server, Socket } from 'node:net';

export interface TcpProxy {
  /** 127.0.0.1:PORT */
  readonly host: string;
  readonly port: number;
  /** Upstream index of each connection made, in order (which node a client landed on). */
  readonly landed: number[];
  /** Drops every open connection and refuses new ones (accepted and closed at once). */
  cut(): void;
  /** Accepts and forwards again. */
  heal(): void;
  /** From now on (open connections too) answers stop reaching clients; nothing is closed. */
  freeze(): void;
  close(): Promise<void>;
}

export interface Upstream {
  host: string;
  port: number;
}

/** How long one upstream may take to accept before the next is tried. */
const CONNECT_TIMEOUT_MS = 2_000;

function dial(u: Upstream): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = new Socket();
    const timer = setTimeout(() => s.destroy(new Error('connect timeout')), CONNECT_TIMEOUT_MS);
    s.once('connect', () => {
      clearTimeout(timer);
      s.off('error', reject);
      resolve(s);
    });
    s.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    s.connect(u.port, u.host);
  });
}

export async function tcpProxy(upstreams: readonly Upstream[]): Promise<TcpProxy> {
  const live = new Set<Socket>();
  const landed: number[] = [];
  let down = false;
  let frozen = false;
  /** Upstream -> client pipes, so that freeze() can cut the answers of open connections. */
  const answers = new Map<Socket, Socket>();
  const track = (s: Socket) => {
    live.add(s);
    s.once('close', () => live.delete(s));
  };
  const server: Server = createServer((client) => {
    track(client);
    client.on('error', () => client.destroy());
    if (down) {
      client.destroy();
      return;
    }
    // Bytes the client sends before the upstream is chosen wait in the paused socket.
    client.pause();
    void (async () => {
      for (let i = 0; i < upstreams.length; i++) {
        const u = upstreams[i];
        if (u === undefined || client.destroyed || down) break;
        let up: Socket;
        try {
          up = await dial(u);
        } catch {
          continue;
        }
        if (client.destroyed || down) {
          up.destroy();
          break;
        }
        track(up);
        landed.push(i);
        const both = () => {
          client.destroy();
          up.destroy();
        };
        up.on('error', both);
        client.on('error', both);
        up.on('close', both);
        client.on('close', both);
        client.pipe(up);
        if (frozen) up.resume();
        else {
          up.pipe(client);
          answers.set(up, client);
          up.once('close', () => answers.delete(up));
        }
        client.resume();
        return;
      }
      client.destroy();
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return {
    host: '127.0.0.1',
    port,
    landed,
    cut() {
      down = true;
      for (const s of live) s.destroy();
    },
    heal() {
      down = false;
    },
    freeze() {
      frozen = true;
      for (const [up, client] of answers) {
        up.unpipe(client);
        // Drained into nothing, so the upstream never blocks on a full buffer.
        up.resume();
      }
      answers.clear();
    },
    async close() {
      down = true;
      for (const s of live) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
