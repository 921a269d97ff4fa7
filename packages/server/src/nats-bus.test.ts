/**
 * The NATS bus against the real NATS server (KOLOKOL_TEST_NATS_URL, default nats://127.0.0.1:4222),
 * two buses standing for two nodes. Skips loudly when no NATS answers.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer, type Server, Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect } from 'nats';
import { pino } from 'pino';
import type { BusMessage } from './bus.ts';
import { NatsBus, natsConnectOptions } from './nats-bus.ts';

const NATS_URL = process.env.KOLOKOL_TEST_NATS_URL ?? 'nats://127.0.0.1:4222';
const log = pino({ level: 'silent' });
const prefix = `kolokol_test_${randomBytes(4).toString('hex')}`;
const device = () => randomBytes(16).toString('base64url');

async function waitUntil(check: () => boolean, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

/**
 * A one-upstream TCP proxy whose cut() drops every connection and refuses new ones until heal():
 * what a node sees when its NATS server restarts, without restarting a server others share.
 */
async function outageProxy(
  upstream: URL,
): Promise<{ url: string; cut(): void; heal(): void; close(): void }> {
  const live = new Set<Socket>();
  let down = false;
  const server: Server = createServer((client) => {
    if (down) {
      client.destroy();
      return;
    }
    const up = new Socket();
    up.connect(Number(upstream.port), upstream.hostname);
    for (const s of [client, up]) {
      live.add(s);
      s.on('close', () => live.delete(s));
      s.on('error', () => {
        client.destroy();
        up.destroy();
      });
    }
    client.pipe(up).pipe(client);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return {
    url: `nats://127.0.0.1:${port}`,
    cut() {
      down = true;
      for (const s of live) s.destroy();
    },
    heal() {
      down = false;
    },
    close() {
      for (const s of live) s.destroy();
      server.close();
    },
  };
}

describe('NatsBus (real NATS)', () => {
  let problem: string | undefined;
  const open: NatsBus[] = [];
  const bus = async (servers = [NATS_URL]) => {
    const b = await NatsBus.connect({ servers, subjectPrefix: prefix, log, presenceTimeoutMs: 500 });
    open.push(b);
    return b;
  };

  before(async () => {
    try {
      await (await NatsBus.connect({ servers: [NATS_URL], subjectPrefix: prefix, log })).close();
    } catch (err) {
      problem = err instanceof Error ? String(err.cause ?? err.message) : String(err);
      process.stderr.write(
        `\n!!! SKIPPING NATS bus tests: no NATS at ${NATS_URL} (${problem}).\n!!! Start nats-server -js to run them.\n\n`,
      );
    }
  });
  after(async () => {
    await Promise.all(open.map((b) => b.close()));
  });

  it('splits credentials off the URLs', () => {
    assert.deepEqual(natsConnectOptions(['nats://u%40x:p%3Aw@n1:4300', 'nats://n2']), {
      servers: ['n1:4300', 'n2:4222'],
      user: 'u@x',
      pass: 'p:w',
    });
    assert.deepEqual(natsConnectOptions(['tls://tok@[::1]:4222']), {
      servers: ['[::1]:4222'],
      token: 'tok',
      tls: {},
    });
  });

  it('carries a message to the node holding the device, and to local sockets exactly once', async (t) => {
    if (problem !== undefined) return t.skip('no NATS');
    const a = await bus();
    const b = await bus();
    const d = device();
    const atA: BusMessage[] = [];
    const atB: BusMessage[] = [];
    const offA = a.subscribe(d, (m) => atA.push(m));
    const offB = b.subscribe(d, (m) => atB.push(m));
    // A subscription reaches the NATS server asynchronously.
    await sleep(100);
    assert.equal(await a.connectedElsewhere(d), true);
    const event: BusMessage = { type: 'event', event: { type: 'account-deleted', userId: 'UUUUUUUUUUUU' } };
    a.publish(d, { type: 'mailbox' });
    a.publish(d, event);
    await waitUntil(() => atB.length === 2, 'two messages at B');
    assert.deepEqual(atB, [{ type: 'mailbox' }, event]);
    await sleep(100);
    assert.deepEqual(atA, [{ type: 'mailbox' }, event], 'local sockets once each, no echo from NATS');
    offB();
    offA();
    await sleep(50);
    assert.equal(await a.connectedElsewhere(d), false, 'nobody holds it: NATS says no responders');
  });

  it('drops malformed messages from NATS', async (t) => {
    if (problem !== undefined) return t.skip('no NATS');
    const b = await bus();
    const d = device();
    const got: BusMessage[] = [];
    b.subscribe(d, (m) => got.push(m));
    const raw = await connect(natsConnectOptions([NATS_URL]));
    try {
      await raw.flush();
      await sleep(50);
      raw.publish(`${prefix}.dev.${d}`, new TextEncoder().encode('{"type":"session-revoked"}'));
      raw.publish(`${prefix}.dev.${d}`, new TextEncoder().encode('not json'));
      raw.publish(`${prefix}.dev.${d}`, new TextEncoder().encode('{"type":"mailbox"}'));
      await raw.flush();
      await waitUntil(() => got.length === 1, 'the valid message');
      assert.deepEqual(got, [{ type: 'mailbox' }]);
    } finally {
      await raw.close();
    }
  });

  it('after an outage, publishes again what it sent meanwhile and re-reads local mailboxes', async (t) => {
    if (problem !== undefined) return t.skip('no NATS');
    const proxy = await outageProxy(new URL(NATS_URL));
    try {
      const a = await bus([proxy.url]);
      const b = await bus();
      const remote = device();
      const local = device();
      const atB: BusMessage[] = [];
      const atA: BusMessage[] = [];
      b.subscribe(remote, (m) => atB.push(m));
      a.subscribe(local, (m) => atA.push(m));
      await sleep(100);
      proxy.cut();
      await waitUntil(() => !a.connected, 'A to notice the outage');
      a.publish(remote, { type: 'mailbox' });
      assert.equal(await a.connectedElsewhere(remote), undefined, 'presence is unknown while disconnected');
      await sleep(300);
      assert.equal(atB.length, 0, 'nothing crossed during the outage');
      const before = atA.length;
      proxy.heal();
      await waitUntil(() => a.connected, 'A to reconnect', 10_000);
      await waitUntil(() => atB.length >= 1, 'the nudge to arrive after the reconnect');
      assert.deepEqual(atB[0], { type: 'mailbox' });
      await waitUntil(() => atA.length > before, 'a local re-read after the reconnect');
      assert.deepEqual(atA.at(-1), { type: 'mailbox' });
    } finally {
      proxy.close();
    }
  });
});
