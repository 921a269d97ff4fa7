/**
 * Kolokol as a comparison target: bench/server.ts (production configuration with the per-IP limits
 * lifted, as in the delivery bench) as a pinned child process, and clients that register and log
 * in for real over HTTP and then speak the protocol's WebSocket frames over `ws`.
 *
 * Per message a client sends one `send` frame (an `application` message to the group it shares
 * with its partner, an opaque body instead of an MLS ciphertext, as in the delivery bench); the
 * server checks membership and epoch, commits the message and the partner's mailbox entry to the
 * database, answers the sender `ok` and pushes a `deliver` frame, which the receiver `ack`s (the
 * server then deletes the mailbox entry). Store-and-forward is how Kolokol always delivers: there
 * is no in-memory-only mode, so its default row is already durable (SQLite WAL, synchronous=NORMAL).
 *
 * The cluster target runs three such nodes on PostgreSQL and NATS; client i connects to node i % 3,
 * so the two clients of every pair sit on different nodes and every message crosses NATS.
 */
import { fileURLToPath } from 'node:url';
import { type ClientFrame, type MailboxItem, PROTOCOL_VERSION, ServerFrame } from '@kolokol/protocol';
import { httpOk, loginRaw, opaqueBody, type RawUser, randomId, rawUser, wsUrl } from '@kolokol/testkit';
import pg from 'pg';
import WebSocket from 'ws';
import { SERVER_NODE_FLAGS } from '../../packages/server/src/node-flags.ts';
import {
  freePort,
  onInterrupt,
  pidAlive,
  SERVER_CPU,
  type Spawned,
  spawnPinned,
  tryRun,
  waitPort,
} from './proc.ts';
import type { BenchClient, Peer, Target, TargetOptions } from './target.ts';

const serverEntry = fileURLToPath(new URL('../server.ts', import.meta.url));
const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

type Answer = Extract<ServerFrame, { t: 'ok' | 'error' }>;

class KolokolBenchClient implements BenchClient {
  readonly address: string;
  private readonly ws: WebSocket;
  private nextRid = 1;
  private readonly waiters = new Map<number, (f: Answer) => void>();
  private failed = 0;

  private constructor(ws: WebSocket, address: string) {
    this.ws = ws;
    this.address = address;
  }

  static connect(url: string, user: RawUser, onMessage: (id: string) => void): Promise<KolokolBenchClient> {
    const ws = new WebSocket(wsUrl(url));
    const c = new KolokolBenchClient(ws, user.userId);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ready for ${user.username}`)), 60_000);
      ws.on('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
      ws.on('open', () => c.frame({ t: 'hello', v: PROTOCOL_VERSION, token: user.token }));
      ws.on('message', (data: WebSocket.RawData) => {
        let value: unknown;
        try {
          value = JSON.parse(data.toString());
        } catch {
          return;
        }
        const parsed = ServerFrame.safeParse(value);
        if (!parsed.success) return;
        const f = parsed.data;
        if (f.t === 'ready') {
          clearTimeout(timer);
          resolve(c);
        } else if (f.t === 'deliver') {
          for (const item of f.items) onMessage(item.msgId);
          c.frame({ t: 'ack', ids: f.items.map((it: MailboxItem) => it.id) });
        } else if ((f.t === 'ok' || f.t === 'error') && f.rid !== undefined) {
          const w = c.waiters.get(f.rid);
          c.waiters.delete(f.rid);
          if (f.t === 'error') c.failed++;
          w?.(f);
        } else if (f.t === 'error') {
          clearTimeout(timer);
          reject(new Error(`hello refused: ${f.code}`));
        }
      });
    });
  }

  private frame(f: ClientFrame): void {
    this.ws.send(JSON.stringify(f));
  }

  request(make: (rid: number) => ClientFrame): Promise<Answer> {
    const rid = this.nextRid++;
    return new Promise((resolve) => {
      this.waiters.set(rid, resolve);
      this.frame(make(rid));
    });
  }

  send(peer: Peer, id: string, body: string): void {
    // The `ok` is awaited by nobody: a refusal is counted by the message handler.
    this.frame({
      t: 'send',
      rid: this.nextRid++,
      msg: { msgId: id, groupId: peer.address, kind: 'application', epoch: peer.epoch ?? 0, body },
    });
  }

  errors(): number {
    return this.failed;
  }

  async close(): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return;
    await new Promise<void>((resolve) => {
      this.ws.once('close', () => resolve());
      this.ws.close();
      setTimeout(resolve, 2000).unref();
    });
  }
}

/** The server's own --help says whether it has cluster mode yet (the `--bus` flag). */
export function clusterSupported(): boolean {
  const help = tryRun(process.execPath, [join(repoRoot, 'packages/server/src/main.ts'), '--help']) ?? '';
  return /--bus\b/.test(help);
}

function join(a: string, b: string): string {
  return `${a.replace(/\/$/, '')}/${b}`;
}

interface Node {
  proc: Spawned;
  url: string;
}

async function startNode(dir: string, extra: string[], nodeArgs: readonly string[]): Promise<Node> {
  const port = await freePort();
  const proc = spawnPinned(
    process.execPath,
    [
      // As `npm start` runs it (scripts/start.ts).
      ...SERVER_NODE_FLAGS,
      ...nodeArgs,
      serverEntry,
      '--port',
      String(port),
      '--host',
      '127.0.0.1',
      '--data',
      dir,
      '--tls',
      'off',
      '--turn',
      'off',
      '--push',
      'off',
      '--log-level',
      'warn',
      ...extra,
    ],
    { cpu: SERVER_CPU, cwd: repoRoot },
  );
  await waitPort(port, 30_000, proc);
  return { proc, url: `http://127.0.0.1:${port}` };
}

export interface ClusterOptions {
  nodes: number;
  databaseUrl: string;
  natsUrl: string;
}

/**
 * A cluster's schema is named after the harness's pid, `bench_<pid>_<random>`: a schema whose
 * harness no longer runs on this machine was left by a run killed too hard to clean up (SIGKILL,
 * a crash), and the next run drops it. Schemas of harnesses still running are left alone.
 */
const SCHEMA_PREFIX = 'bench_';
const schemaOwner = (schema: string): number | undefined => {
  const m = /^bench_(\d+)_[a-z0-9]+$/.exec(schema);
  return m?.[1] === undefined ? undefined : Number(m[1]);
};

async function withPg<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

async function dropSchema(url: string, schema: string): Promise<void> {
  await withPg(url, (c) => c.query(`drop schema if exists "${schema}" cascade`));
}

async function dropStaleSchemas(url: string): Promise<void> {
  const stale = await withPg(url, async (c) => {
    const r = await c.query<{ nspname: string }>(
      `select nspname from pg_namespace where starts_with(nspname, $1)`,
      [SCHEMA_PREFIX],
    );
    return r.rows
      .map((row) => row.nspname)
      .filter((n) => {
        const pid = schemaOwner(n);
        return pid !== undefined && pid !== process.pid && !pidAlive(pid);
      });
  });
  for (const s of stale) {
    process.stderr.write(`  dropping ${s}, left by an earlier run\n`);
    await dropSchema(url, s);
  }
}

/** `nodeArgs` go to node before the server's script (e.g. `--cpu-prof --cpu-prof-dir=DIR`). */
export function kolokolTarget(
  opts: TargetOptions,
  cluster?: ClusterOptions,
  nodeArgs: readonly string[] = [],
): Target {
  let nodes: Node[] = [];
  let release = (): void => undefined;
  const users: RawUser[] = [];
  const clients: KolokolBenchClient[] = [];
  const run = randomId()
    .slice(0, 6)
    .toLowerCase()
    .replace(/[^a-z0-9]/g, 'x');
  const schema = `${SCHEMA_PREFIX}${process.pid}_${run}`;
  const stopNodes = async (): Promise<void> => {
    await Promise.all(nodes.map((n) => n.proc.stop()));
    nodes = [];
    if (cluster !== undefined) await dropSchema(cluster.databaseUrl, schema);
  };
  const nodeOf = (i: number): Node => {
    const n = nodes[i % nodes.length];
    if (n === undefined) throw new Error('not started');
    return n;
  };
  return {
    name: cluster === undefined ? 'Kolokol' : `Kolokol cluster x${cluster.nodes}`,
    storage:
      cluster !== undefined
        ? 'PostgreSQL mailboxes, NATS between nodes'
        : opts.durable
          ? 'SQLite WAL synchronous=FULL mailboxes'
          : 'SQLite WAL synchronous=NORMAL mailboxes',
    async start() {
      release = onInterrupt(stopNodes);
      if (cluster === undefined) {
        nodes = [await startNode(opts.dir, opts.durable ? ['--sqlite-synchronous', 'full'] : [], nodeArgs)];
        return;
      }
      const shared = [
        '--storage',
        'postgres',
        '--database-url',
        cluster.databaseUrl,
        // A schema of its own per run: the nodes share it, other runs and tests do not.
        '--database-schema',
        schema,
        '--bus',
        'nats',
        '--nats-url',
        cluster.natsUrl,
      ];
      await dropStaleSchemas(cluster.databaseUrl);
      // One after the other: the first one runs the migrations.
      for (let k = 0; k < cluster.nodes; k++)
        nodes.push(await startNode(`${opts.dir}/node${k}`, shared, nodeArgs));
    },
    pids: () => nodes.map((n) => n.proc.pid),
    async register(i) {
      users[i] = await rawUser(nodeOf(i).url, `c${run}_${i}`);
    },
    async connect(i, onMessage) {
      const u = users[i];
      if (u === undefined) throw new Error(`account ${i} not registered`);
      const c = await KolokolBenchClient.connect(nodeOf(i).url, u, onMessage);
      clients[i] = c;
      return c;
    },
    async pair(_a, _b, ia, ib) {
      // What rawGroup in @kolokol/testkit does, over this client's socket: a group, the peer's key
      // package claimed, one commit that adds the peer (the peer gets a welcome).
      const owner = users[ia];
      const peer = users[ib];
      const sock = clients[ia];
      if (owner === undefined || peer === undefined || sock === undefined) throw new Error('pairing');
      const url = nodeOf(ia).url;
      const groupId = randomId();
      await httpOk(url, 'POST', '/v1/groups', { json: { groupId }, token: owner.token });
      const session = await loginRaw({ server: nodeOf(ib).url, device: peer.device });
      await httpOk(nodeOf(ib).url, 'POST', '/v1/keypackages', {
        json: { keyPackages: [opaqueBody(48)] },
        token: session.token,
      });
      await httpOk(url, 'POST', '/v1/keypackages/claim', {
        json: { userId: peer.userId },
        token: owner.token,
      });
      const res = await sock.request((rid) => ({
        t: 'send',
        rid,
        msg: {
          msgId: randomId(),
          groupId,
          kind: 'commit',
          epoch: 0,
          body: opaqueBody(),
          adds: [{ userId: peer.userId, deviceId: peer.deviceId }],
          welcome: opaqueBody(),
        },
      }));
      if (res.t !== 'ok') throw new Error(`group commit refused: ${res.t === 'error' ? res.code : ''}`);
      const epoch = res.epoch;
      return [
        { address: groupId, epoch },
        { address: groupId, epoch },
      ];
    },
    async stop() {
      await stopNodes();
      release();
    },
    log: () => nodes.map((n) => n.proc.output()).join('\n'),
  };
}
