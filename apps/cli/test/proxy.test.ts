/**
 * The community proxy in front of a real server (TLS on, self-signed, so its port also serves
 * plain HTTP) that trusts PROXY v2 from the proxy's address: two SDK clients that know only the
 * proxy chat both ways, a TURN allocation over TLS through the proxy succeeds, and the relay sees
 * the real client address (the header's), not the proxy's own outgoing one. A connection from the
 * trusted address without a header is refused.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type TLSSocket, connect as tlsConnect } from 'node:tls';
import type { KolokolClient } from '@kolokol/sdk';
import {
  disposeAllClients,
  newClient,
  startTestServer,
  type TestServer,
  uniqueName,
  waitFor,
} from '@kolokol/testkit';
import { TurnTestClient } from '../../../packages/relay/test/client.ts';
import { type RunningProxy, startProxy } from '../src/proxy.ts';

async function texts(c: KolokolClient, convId: string): Promise<string[]> {
  return (await c.messages(convId)).flatMap((m) => (m.body.type === 'text' ? [m.body.text] : []));
}

describe('kolokol proxy in front of a server', () => {
  let server: TestServer;
  let proxy: RunningProxy;
  let proxyUrl: string;

  before(async () => {
    server = await startTestServer({ tls: {}, proxyProtocolFrom: ['127.0.0.1'], turn: {} });
    proxy = await startProxy({
      listen: { host: '127.0.0.1', port: 0 },
      upstream: { host: '127.0.0.1', port: server.port },
      proxyProtocol: true,
      maxConnections: 100,
      idleTimeoutMs: 60_000,
      connectTimeoutMs: 5000,
      statsIntervalMs: 0,
      log: () => {},
    });
    proxyUrl = `http://127.0.0.1:${proxy.address.port}`;
  });
  after(async () => {
    await disposeAllClients();
    await proxy?.close();
    await server?.close();
  });

  test('SDK clients that know only the proxy chat both ways', async () => {
    const alice = await newClient(proxyUrl, uniqueName('alice'));
    const bob = await newClient(proxyUrl, uniqueName('bob'));
    const conv = await alice.client.openDirect(bob.client.username);
    await alice.client.sendText(conv.id, 'through the proxy');
    await waitFor(async () => (await texts(bob.client, conv.id)).includes('through the proxy'), 15_000, {
      what: 'the message at bob',
    });
    await bob.client.sendText(conv.id, 'and back');
    await waitFor(async () => (await texts(alice.client, conv.id)).includes('and back'), 15_000, {
      what: 'the answer at alice',
    });
    assert.ok(proxy.stats().accepted >= 2);
  });

  test('TURN over TLS through the proxy allocates, and the relay sees the real client', async () => {
    const c = await newClient(proxyUrl, uniqueName('carol'));
    const turn = await c.client.turnServers();
    const turns = turn.iceServers.find((s) => s.urls.some((u) => u.startsWith('turns:')));
    assert.ok(turns !== undefined);
    // The server names the host the client used: the proxy.
    assert.equal(turns.urls[0], `turns:127.0.0.1:${proxy.address.port}?transport=tcp`);
    const ca = readFileSync(join(server.dataDir, 'tls', 'self-signed.crt'), 'utf8');
    const socket: TLSSocket = tlsConnect({
      host: '127.0.0.1',
      port: proxy.address.port,
      ca,
      servername: 'localhost',
    });
    await once(socket, 'secureConnect');
    const client = TurnTestClient.overStream(socket);
    try {
      const allocation = await client.allocate({ username: turns.username, password: turns.credential });
      assert.equal(allocation.code, 0);
      assert.equal(allocation.relayed?.address, '127.0.0.1');
      // XOR-MAPPED-ADDRESS is the address the header named: our socket's own port, not the proxy's.
      assert.equal(allocation.mapped?.port, socket.localPort);
    } finally {
      client.close();
    }
  });

  test('a trusted source that sends no PROXY header is refused', async () => {
    const s = connect(server.port, '127.0.0.1');
    await once(s, 'connect');
    s.write('GET /v1/info HTTP/1.1\r\nHost: x\r\n\r\n');
    const chunks: Buffer[] = [];
    s.on('data', (b: Buffer) => chunks.push(b));
    await once(s, 'close');
    assert.equal(Buffer.concat(chunks).length, 0);
  });
});
