/**
 * Fronts (issue 5, profile P5 of the brief): a server reached under two addresses, one of which a
 * censor freezes (connections stay open, answers stop: no error, no close). A client that knows
 * both from /v1/info must notice the silence and carry on through the other address, for the HTTP
 * API and the WebSocket alike, losing nothing.
 *
 * The first front is a TCP forwarder to the server (testkit's tcpProxy) whose `freeze()` is the
 * censor; the second is the server's own port.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { after, before, test } from 'node:test';
import { KolokolClient, MemoryStore } from '@kolokol/sdk';
import {
  collectMessages,
  startTestServer,
  type TcpProxy,
  type TestServer,
  tcpProxy,
  uniqueName,
  waitFor,
} from '../src/index.ts';

let server: TestServer;
let front1: TcpProxy;
const clients: KolokolClient[] = [];
// Short keep-alive so that a frozen socket is noticed in about two seconds, not 25.
const fast = {
  backoff: { baseMs: 20, maxMs: 200 },
  connection: { pingIntervalMs: 500, pongTimeoutMs: 1000 },
  httpTimeoutMs: 1500,
};

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const port = typeof a === 'object' && a !== null ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

before(async () => {
  // The fronts are part of the server's configuration, so both addresses are known before it
  // starts: the forwarder dials the server's port only when a client connects.
  const port = await freePort();
  front1 = await tcpProxy([{ host: '127.0.0.1', port }]);
  server = await startTestServer({
    port,
    tls: false,
    fronts: [`http://127.0.0.1:${front1.port}`, `http://127.0.0.1:${port}`],
  });
});

after(async () => {
  for (const c of clients) await c.close().catch(() => {});
  await front1?.close();
  await server?.close();
});

async function register(url: string, name: string): Promise<KolokolClient> {
  const c = await KolokolClient.register({ server: url, username: name, store: new MemoryStore(), ...fast });
  clients.push(c);
  await c.connect();
  await c.sync();
  return c;
}

test('a frozen front: the API and the socket move to the next front, and no message is lost', async () => {
  const front1Url = `http://127.0.0.1:${front1.port}`;
  const alice = await register(front1Url, uniqueName('alice'));
  const bob = await register(server.url, uniqueName('bob'));
  await waitFor(() => alice.fronts.all().length === 2, 5000, { what: 'alice learns both fronts' });
  assert.deepEqual(alice.fronts.all(), [front1Url, server.url]);

  const atAlice = collectMessages(alice);
  const atBob = collectMessages(bob);
  const conv = await bob.openDirect(alice.username);
  await bob.sendText(conv.id, 'before the censor');
  await atAlice.waitForCount(1, 10_000);

  front1.freeze();
  // A read on the frozen front times out and is retried on the next one.
  const t0 = Date.now();
  const devices = await alice.devices();
  assert.equal(devices.length, 1);
  assert.ok(Date.now() - t0 < 10_000, 'the API answered through the second front');
  assert.equal(alice.fronts.current, server.url);

  // The socket on front 1 is silent, not closed: its keep-alive notices and it reconnects.
  for (let i = 0; i < 5; i++) await bob.sendText(conv.id, `while frozen ${i}`);
  const got = await atAlice.waitForCount(6, 20_000);
  assert.deepEqual(
    got.map((m) => (m.body.type === 'text' ? m.body.text : m.body.type)),
    ['before the censor', ...Array.from({ length: 5 }, (_, i) => `while frozen ${i}`)],
  );
  await alice.sendText(conv.id, 'reply through front 2');
  const back = await atBob.waitForCount(1, 10_000, (m) => !m.outgoing);
  assert.equal(back[0]?.body.type === 'text' ? back[0].body.text : undefined, 'reply through front 2');
});

test('a client started on a blocked primary uses the fronts it kept from before', async () => {
  // front1 is still frozen: a device that learned the fronts earlier starts up and connects.
  const store = new MemoryStore();
  const name = uniqueName('carol');
  const first = await KolokolClient.register({ server: server.url, username: name, store, ...fast });
  await first.connect();
  await waitFor(async () => (await store.getKv('fronts')) !== undefined, 5000, { what: 'fronts kept' });
  await first.close();
  // The same device, as if its account had been made through front 1 (the address people use).
  const account = await store.getAccount();
  assert.ok(account !== undefined);
  await store.atomic((w) => w.putAccount({ ...account, server: `http://127.0.0.1:${front1.port}` }));
  const again = await KolokolClient.open({ store, ...fast });
  clients.push(again);
  const t0 = Date.now();
  await again.connect();
  await again.sync();
  assert.equal(again.fronts.current, server.url);
  assert.ok(Date.now() - t0 < 15_000);
});
