/**
 * Two in-process nodes on one PostgreSQL schema and one NATS (the real servers): delivery and
 * events across nodes, and Web Push presence that spans the cluster. The process-level test
 * (nodes killed, NATS and PostgreSQL outages) is packages/testkit/test/cluster.test.ts.
 */
import assert from 'node:assert/strict';
import { createECDH, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { pino } from 'pino';
import webpush from 'web-push';
import { type RunningServer, startServer } from '../src/index.ts';
import { NatsBus } from '../src/nats-bus.ts';
import { Api, b64, groupWith, PG_URL, postgresProblem, registerUser, rid, WsClient } from './helpers.ts';

const NATS_URL = process.env.KOLOKOL_TEST_NATS_URL ?? 'nats://127.0.0.1:4222';
const schema = `kolokol_cluster_${randomBytes(5).toString('hex')}`;

async function natsProblem(): Promise<string | undefined> {
  try {
    await (
      await NatsBus.connect({ servers: [NATS_URL], subjectPrefix: schema, log: pino({ level: 'silent' }) })
    ).close();
    return undefined;
  } catch (err) {
    return err instanceof Error ? String(err.cause ?? err.message) : String(err);
  }
}

describe('cluster nodes (PostgreSQL + NATS)', () => {
  let problem: string | undefined;
  const nodes: RunningServer[] = [];
  const dirs: string[] = [];
  let pushService: Server;
  const pushes: string[] = [];
  let pushUrl = '';
  let a: Api;
  let b: Api;

  before(async () => {
    const p = await postgresProblem();
    problem = p === undefined ? await natsProblem() : `no PostgreSQL (${p})`;
    if (problem !== undefined) {
      process.stderr.write(`\n!!! SKIPPING cluster node tests: ${problem}.\n\n`);
      return;
    }
    pushService = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        pushes.push(req.url ?? '');
        res.statusCode = 201;
        res.end();
      });
    });
    await new Promise<void>((r) => pushService.listen(0, '127.0.0.1', r));
    const addr = pushService.address();
    pushUrl = `http://127.0.0.1:${typeof addr === 'object' && addr !== null ? addr.port : 0}`;
    // The nodes must share the VAPID key pair: a browser subscribed with the key of one of them.
    const keys = webpush.generateVAPIDKeys();
    for (let i = 0; i < 2; i++) {
      const dataDir = mkdtempSync(join(tmpdir(), 'kolokol-cluster-'));
      dirs.push(dataDir);
      nodes.push(
        await startServer({
          dataDir,
          logLevel: 'silent',
          storage: { kind: 'postgres', url: PG_URL, schema },
          bus: { kind: 'nats', servers: [NATS_URL], subjectPrefix: schema },
          turn: false,
          push: {
            allowHttpEndpoints: true,
            coalesceMs: 200,
            vapidPublicKey: keys.publicKey,
            vapidPrivateKey: keys.privateKey,
          },
        }),
      );
    }
    a = new Api(nodes[0]?.url ?? '');
    b = new Api(nodes[1]?.url ?? '');
  });

  after(async () => {
    await Promise.all(nodes.map((n) => n.close()));
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
    pushService?.close();
    if (problem === undefined) {
      const client = new pg.Client({ connectionString: PG_URL });
      await client.connect();
      await client.query(`drop schema if exists "${schema}" cascade`);
      await client.end();
    }
  });

  it('delivers across nodes, and pushes only to a device connected to no node', async (t) => {
    if (problem !== undefined) return t.skip(problem);
    const alice = await registerUser(a);
    const bob = await registerUser(b);
    const endpoint = `${pushUrl}/push/${rid()}`;
    // A real P-256 key: the push body is encrypted to it.
    const ua = createECDH('prime256v1');
    ua.generateKeys();
    const keys = {
      p256dh: ua.getPublicKey().toString('base64url'),
      auth: randomBytes(16).toString('base64url'),
    };
    assert.equal((await b.req('PUT', '/v1/push/subscription', { endpoint, keys }, bob.token)).status, 200);

    const wa = await WsClient.connect(a.url, alice.token);
    const wb = await WsClient.connect(b.url, bob.token);
    try {
      const groupId = await groupWith(a, alice, wa, bob);
      await wb.next((f) => f.t === 'deliver');
      const mine = () => pushes.filter((u) => u === new URL(endpoint).pathname).length;
      // Bob is on node 1; Alice sends through node 0, which has no socket of Bob's.
      await wa.send({ msgId: rid(), groupId, kind: 'application', epoch: 1, body: b64('across') });
      await wb.next((f) => f.t === 'deliver' && JSON.stringify(f).includes(b64('across')));
      await new Promise((r) => setTimeout(r, 600));
      assert.equal(mine(), 0, 'no push to a device connected to another node');

      await wb.close();
      await new Promise((r) => setTimeout(r, 200));
      await wa.send({ msgId: rid(), groupId, kind: 'application', epoch: 1, body: b64('offline') });
      const deadline = Date.now() + 5000;
      while (mine() === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      assert.equal(mine(), 1, 'a device connected nowhere gets its wake-up');
    } finally {
      await wa.close();
    }
  });

  it('a revocation on one node closes the socket on another', async (t) => {
    if (problem !== undefined) return t.skip(problem);
    const carol = await registerUser(a);
    const wb = await WsClient.connect(b.url, carol.token);
    assert.equal(
      (await a.req('DELETE', `/v1/sessions/${carol.sessionId}`, undefined, carol.token)).status,
      200,
    );
    const closed = await Promise.race([
      wb.closed,
      new Promise<undefined>((r) => setTimeout(() => r(undefined), 5000)),
    ]);
    assert.equal(closed?.code, 4403);
  });
});
