/**
 * Cluster mode (issue 7): three server processes on one PostgreSQL schema and one NATS, real SDK
 * clients on different nodes exchanging 1:1 and group messages while, under load, one node is
 * killed with SIGKILL, NATS goes away and comes back, and PostgreSQL does the same. Every
 * acknowledged message must arrive exactly once, in order, at every recipient device.
 *
 * Clients reach the nodes through small TCP forwarders (testkit's tcpProxy), one per "home" node:
 * forwarder k sends each connection to node k, or to the next node that accepts when k is down.
 * That is what a TCP load balancer with health checks does in production (deploy/README.md), and
 * it keeps the SDK as it is: one server URL per client.
 *
 * PostgreSQL and NATS are the real servers on this machine, reached through forwarders as well:
 * an outage is `cut()` (every connection dropped, new ones refused) and then `heal()`, which is
 * exactly what the nodes see when those servers restart, without stopping servers that other
 * tests use at the same time. KOLOKOL_CLUSTER_REAL_RESTARTS=1 restarts the real services instead
 * (root, Debian's pg_ctlcluster and nats-server; do not run it beside other tests).
 *
 * Skips loudly, never fails, when PostgreSQL or NATS does not answer.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import type { StoredMessage } from '@kolokol/sdk';
import {
  type Collected,
  collectMessages,
  disposeAllClients,
  newClient,
  type SpawnedServer,
  sleep,
  spawnServer,
  type TcpProxy,
  type TestClient,
  tcpProxy,
  waitFor,
  withTimeout,
} from '@kolokol/testkit';
import pg from 'pg';

const PG_URL = process.env.KOLOKOL_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const NATS_URL = process.env.KOLOKOL_TEST_NATS_URL ?? 'nats://127.0.0.1:4222';
const REAL_RESTARTS = process.env.KOLOKOL_CLUSTER_REAL_RESTARTS === '1';
/** Sends per stream acknowledged after each disruption before the next one: proof of recovery. */
const PROGRESS = 10;
/** Sends in flight per (sender, conversation) stream. */
const IN_FLIGHT = 2;
const OUTAGE_MS = 2_000;
const backoff = { baseMs: 100, maxMs: 1000 };

const pgUrl = new URL(PG_URL);
const natsUrl = new URL(NATS_URL);
const schema = `kolokol_cluster_${randomBytes(5).toString('hex')}`;

async function postgresProblem(): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    await client.query('select 1');
    return undefined;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  } finally {
    await client.end().catch(() => {});
  }
}

/** A NATS server greets every connection with an INFO line; that is all this checks. */
function natsProblem(): Promise<string | undefined> {
  return new Promise((resolve) => {
    const s = netConnect(Number(natsUrl.port || 4222), natsUrl.hostname);
    const done = (problem: string | undefined) => {
      clearTimeout(timer);
      s.destroy();
      resolve(problem);
    };
    const timer = setTimeout(() => done('no INFO within 3 s'), 3000);
    s.once('data', (d) => done(d.toString('utf8').startsWith('INFO ') ? undefined : 'not a NATS server'));
    s.once('error', (e) => done(e.message));
  });
}

let problem: string | undefined;
const nodes: SpawnedServer[] = [];
const lbs: TcpProxy[] = [];
let pgProxy: TcpProxy | undefined;
let natsProxy: TcpProxy | undefined;

before(async () => {
  const pgProblem = await postgresProblem();
  const nProblem = await natsProblem();
  if (pgProblem !== undefined) problem = `no PostgreSQL at ${pgUrl.host} (${pgProblem})`;
  else if (nProblem !== undefined) problem = `no NATS at ${natsUrl.host} (${nProblem})`;
  if (problem !== undefined) {
    process.stderr.write(
      `\n!!! SKIPPING the cluster test: ${problem}.\n!!! Start PostgreSQL and nats-server -js to run it.\n\n`,
    );
  }
});

after(async () => {
  await disposeAllClients();
  await Promise.all(nodes.map((n) => n.close()));
  await Promise.all([...lbs, pgProxy, natsProxy].map((p) => p?.close()));
  if (problem === undefined) {
    const client = new pg.Client({ connectionString: PG_URL });
    await client.connect();
    await client.query(`drop schema if exists "${schema}" cascade`);
    await client.end();
  }
});

const run = promisify(execFile);

/** Takes PostgreSQL or NATS away: connections dropped, new ones refused (or the real one stopped). */
async function down(what: 'nats' | 'postgres'): Promise<void> {
  if (!REAL_RESTARTS) {
    (what === 'nats' ? natsProxy : pgProxy)?.cut();
    return;
  }
  if (what === 'nats') {
    const { stdout } = await run('pgrep', ['-x', 'nats-server']);
    const pid = stdout.trim().split('\n')[0] ?? '';
    await run('sh', ['-c', `kill ${pid}; while kill -0 ${pid} 2>/dev/null; do sleep 0.1; done`]);
  } else {
    await run('pg_ctlcluster', ['--skip-systemctl-redirect', pgVersion(), 'main', 'stop']);
  }
}

/** Brings it back. */
async function up(what: 'nats' | 'postgres'): Promise<void> {
  if (!REAL_RESTARTS) {
    (what === 'nats' ? natsProxy : pgProxy)?.heal();
    return;
  }
  if (what === 'nats') {
    await run('start-stop-daemon', [
      ...['--start', '--oknodo', '--background', '--exec', '/usr/sbin/nats-server', '--'],
      ...[
        '-a',
        '127.0.0.1',
        '-p',
        '4222',
        '-js',
        '-sd',
        '/var/lib/nats-server',
        '-l',
        '/var/log/nats-server.log',
      ],
    ]);
  } else {
    await run('pg_ctlcluster', ['--skip-systemctl-redirect', pgVersion(), 'main', 'start']);
  }
}

const pgVersion = () => readdirSync('/etc/postgresql')[0] ?? '';

const textOf = (m: StoredMessage): string | undefined => (m.body.type === 'text' ? m.body.text : undefined);

test('cluster: three nodes on PostgreSQL + NATS survive a SIGKILLed node, a NATS outage and a PostgreSQL outage', {
  timeout: 180_000,
}, async (t) => {
  if (problem !== undefined) {
    t.skip(problem);
    return;
  }
  const started = Date.now();
  const log = (s: string) =>
    process.stderr.write(`# cluster +${((Date.now() - started) / 1000).toFixed(1)}s: ${s}\n`);

  pgProxy = await tcpProxy([{ host: pgUrl.hostname, port: Number(pgUrl.port || 5432) }]);
  natsProxy = await tcpProxy([{ host: natsUrl.hostname, port: Number(natsUrl.port || 4222) }]);
  const dbUrl = new URL(PG_URL);
  dbUrl.host = `${pgProxy.host}:${pgProxy.port}`;
  const args = [
    '--storage',
    'postgres',
    '--database-url',
    dbUrl.toString(),
    '--database-schema',
    schema,
    '--bus',
    'nats',
    '--nats-url',
    `nats://${natsProxy.host}:${natsProxy.port}`,
    // Its own subjects: other runs may share this NATS.
    '--nats-prefix',
    schema,
    '--push',
    'off',
    '--log-level',
    'info',
  ];
  // The first node migrates the schema; the others then start side by side.
  nodes.push(await spawnServer({ args }));
  nodes.push(...(await Promise.all([spawnServer({ args }), spawnServer({ args })])));
  for (let k = 0; k < 3; k++) {
    lbs.push(
      await tcpProxy([0, 1, 2].map((i) => ({ host: '127.0.0.1', port: nodes[(k + i) % 3]?.port ?? 0 }))),
    );
  }
  const via = (k: number) => `http://127.0.0.1:${lbs[k]?.port}`;
  log('3 nodes up');

  const opts = { store: 'memory', backoff } as const;
  // Alice lives on node 0, Bob on node 1, Carol on node 2.
  const alice = await newClient(via(0), 'alice', opts);
  const bob = await newClient(via(1), 'bob', opts);
  const carol = await newClient(via(2), 'carol', opts);
  // Contacts, so that consent rules let Alice's chats in without a request to accept.
  await bob.client.addContact('alice');
  await carol.client.addContact('alice');
  const dm = await alice.client.openDirect('bob');
  const group = await alice.client.createGroup('cluster', ['bob', 'carol']);
  for (const [d, ids] of [
    [bob, [dm.id, group.id]],
    [carol, [group.id]],
  ] as const) {
    await waitFor(
      async () => {
        const have = new Set((await d.client.conversations()).map((c) => c.id));
        return ids.every((id) => have.has(id));
      },
      20_000,
      { what: `${d.client.username} to join across nodes` },
    );
  }
  const seen = new Map<TestClient, Collected>([alice, bob, carol].map((d) => [d, collectMessages(d)]));
  log('conversations set up across nodes');

  // Streams: each (sender, conversation) sends numbered texts in order; the SDK keeps the order of
  // one conversation's sends, retrying each until the server acknowledges it.
  interface Stream {
    from: TestClient;
    tag: string;
    convId: string;
    to: TestClient[];
    next: number;
    acked: Set<number>;
  }
  const streams: Stream[] = [
    { from: alice, tag: 'A', convId: dm.id, to: [bob], next: 0, acked: new Set() },
    { from: alice, tag: 'A', convId: group.id, to: [bob, carol], next: 0, acked: new Set() },
    { from: bob, tag: 'B', convId: dm.id, to: [alice], next: 0, acked: new Set() },
    { from: bob, tag: 'B', convId: group.id, to: [alice, carol], next: 0, acked: new Set() },
  ];
  const failed: string[] = [];
  let stop = false;
  // While paused, no new sends start: what arrives then was woken by the recovery, not by traffic.
  let gate: { wait: Promise<void>; open(): void } | undefined;
  const pause = () => {
    let open = () => {};
    const wait = new Promise<void>((r) => {
      open = r;
    });
    gate = { wait, open };
  };
  const resume = () => {
    gate?.open();
    gate = undefined;
  };
  const ackedTotal = () => streams.reduce((n, s) => n + s.acked.size, 0);
  const worker = async (s: Stream) => {
    while (!stop) {
      if (gate !== undefined) await gate.wait;
      if (stop) break;
      const i = s.next++;
      try {
        await s.from.client.sendText(s.convId, `${s.tag} ${i}`);
        s.acked.add(i);
      } catch (e) {
        failed.push(`${s.tag}/${s.convId.slice(0, 6)} ${i}: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
  };
  const load = Promise.all(streams.flatMap((s) => Array.from({ length: IN_FLIGHT }, () => worker(s))));
  /** Every stream gets PROGRESS more sends acknowledged: each sender's path works again. */
  const progress = async (what: string) => {
    const from = streams.map((x) => x.acked.size);
    const behind = () => streams.filter((x, i) => x.acked.size < (from[i] ?? 0) + PROGRESS);
    await waitFor(() => behind().length === 0, 45_000, {
      what: `${PROGRESS} more acknowledged sends per stream ${what}`,
      describe: () =>
        `behind: ${behind()
          .map((x) => `${x.tag}/${x.convId === dm.id ? 'dm' : 'group'}`)
          .join(', ')}; failed: ${failed.slice(0, 3).join('; ')}`,
    });
    log(`${ackedTotal()} acknowledged ${what}`);
  };
  /** The numbers of stream `s` that device `d` has shown, in arrival order. */
  const shown = (s: Stream, d: TestClient): number[] =>
    (seen.get(d)?.all ?? []).flatMap((m) => {
      const text = m.conversationId === s.convId ? textOf(m) : undefined;
      return text?.startsWith(`${s.tag} `) ? [Number(text.slice(2))] : [];
    });
  /**
   * Every send acknowledged so far has reached every recipient. The bound is well under the
   * connections' periodic re-read (30 s): recovery must come from the nudges, not the safety net.
   */
  const delivered = async (what: string, timeoutMs = 10_000) => {
    const want = streams.map((x) => [...x.acked]);
    const missing = () =>
      streams.flatMap((x, i) =>
        x.to.flatMap((d) => {
          const have = new Set(shown(x, d));
          const lost = (want[i] ?? []).filter((n) => !have.has(n));
          return lost.length === 0
            ? []
            : [`${x.tag}->${d.client.username}: ${lost.length} (first ${lost[0]})`];
        }),
      );
    await waitFor(() => missing().length === 0, timeoutMs, {
      what: `every acknowledged send to arrive ${what}`,
      describe: () => missing().join('; '),
    });
    log(`all ${want.flat().length} acknowledged sends so far delivered ${what}`);
  };

  /** Every send started so far is acknowledged (none in flight). */
  const settled = (what: string) =>
    waitFor(() => streams.every((x) => x.acked.size === x.next), 20_000, {
      what: `the sends in flight to be acknowledged ${what}`,
    });
  const reconnectsToNats = () => nodes.map((n) => n.logs().split('bus: reconnected to NATS').length - 1);
  try {
    await progress('under load on three nodes');

    // Bob's node dies mid-stream: Bob reconnects through his forwarder to another node, and his
    // sends that node 1 took without answering are retried there.
    const bobLanded = lbs[1]?.landed.length ?? 0;
    const killed = await nodes[1]?.kill('SIGKILL');
    assert.equal(killed?.signal, 'SIGKILL');
    log('node 1 killed (SIGKILL)');
    await progress('after the kill');
    await waitFor(() => lbs[1]?.landed.slice(bobLanded).some((i) => i !== 0), 20_000, {
      what: "Bob's reconnect to another node",
    });
    pause();
    await delivered('after the kill');
    resume();
    await nodes[1]?.restart();
    log('node 1 restarted');

    // NATS goes away under load: sends are still stored and acknowledged, but the nudges between
    // nodes are lost. Then the load pauses and NATS comes back: only the nodes' reconnect handling
    // (publish again, re-read local mailboxes) can deliver what was sent meanwhile, well before the
    // periodic re-read.
    const reconnects = reconnectsToNats();
    await down('nats');
    await sleep(OUTAGE_MS);
    pause();
    await settled('while NATS is away');
    await up('nats');
    log(REAL_RESTARTS ? 'NATS restarted' : `NATS was away for ${OUTAGE_MS} ms`);
    await waitFor(() => reconnectsToNats().every((n, i) => n > (reconnects[i] ?? 0)), 20_000, {
      what: 'every node to reconnect to NATS',
    });
    await delivered('after the NATS outage, with no new sends to wake anyone');
    resume();
    await progress('after the NATS outage');

    // PostgreSQL goes away under load: sends fail and are retried by the SDK, pumps and acks fail.
    await down('postgres');
    await sleep(OUTAGE_MS);
    pause();
    await up('postgres');
    log(REAL_RESTARTS ? 'PostgreSQL restarted' : `PostgreSQL was away for ${OUTAGE_MS} ms`);
    // The sends that failed meanwhile are retried by the SDK until the server takes them.
    await settled('after the PostgreSQL outage');
    await delivered('after the PostgreSQL outage, with no new sends to wake anyone');
    resume();
    await progress('after the PostgreSQL outage');
  } finally {
    stop = true;
    resume();
    // The SDK retries a send until it is acknowledged: a broken cluster would hang here.
    await withTimeout(load, 30_000, 'the last sends to be acknowledged');
  }
  assert.deepEqual(failed, [], 'no send failed for good');
  log(`load stopped: ${ackedTotal()} sends acknowledged`);

  // Every acknowledged send, exactly once and in order, at each recipient device.
  await delivered('in the end');
  for (const x of streams) {
    for (const d of x.to) {
      const g = shown(x, d);
      const name = `${x.tag} -> ${d.client.username} in ${x.convId === dm.id ? 'the 1:1 chat' : 'the group'}`;
      assert.equal(new Set(g).size, g.length, `no duplicates ${name}`);
      assert.deepEqual(
        g,
        [...g].sort((a, b) => a - b),
        `in send order ${name}`,
      );
    }
  }
  log('every acknowledged message arrived exactly once, in order');
});
