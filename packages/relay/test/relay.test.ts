import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { connect, createServer, type Server } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { createRelay, isStun, type Relay, type RelayConfig, turnCredentials } from '../src/index.ts';
import {
  decodeUnknownAttributes,
  decodeXorAddress,
  encodeEvenPort,
  encodeRequestedTransport,
} from '../src/stun/attributes.ts';
import { AttributeType, Method } from '../src/stun/constants.ts';
import { encodeMessage, getAttribute } from '../src/stun/message.ts';
import { echoPeer, TurnTestClient } from './client.ts';

const SECRET = 'test-secret-0123456789';

interface Harness {
  relay: Relay;
  udpPort: number;
  tcpPort: number;
  clock: { now: number };
}

async function start(overrides: Partial<RelayConfig> = {}): Promise<Harness> {
  const clock = { now: Date.now() };
  const relay = createRelay({
    secret: SECRET,
    host: '127.0.0.1',
    udpPort: 0,
    tcpPort: 0,
    relayAddress: '127.0.0.1',
    relayBindAddress: '127.0.0.1',
    allowLoopbackPeers: true,
    sweepIntervalMs: 20,
    clock: () => clock.now,
    ...overrides,
  });
  const ports = await relay.listen();
  return { relay, udpPort: ports.udpPort ?? 0, tcpPort: ports.tcpPort ?? 0, clock };
}

const creds = (id: string, ttl = 600, now = Date.now()) => turnCredentials(SECRET, id, ttl, now);

async function until(predicate: () => boolean, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}

for (const transport of ['udp', 'tcp'] as const) {
  describe(`TURN over ${transport}`, () => {
    let h: Harness;
    before(async () => {
      h = await start();
    });
    after(async () => {
      await h.relay.close();
    });
    const client = () =>
      transport === 'udp' ? TurnTestClient.udp(h.udpPort) : TurnTestClient.tcp(h.tcpPort);

    it('allocates with REST credentials and relays Send/Data and ChannelData both ways', async () => {
      const peer = await echoPeer();
      const c = await client();
      try {
        const allocation = await c.allocate(creds('alice', 600, h.clock.now));
        assert.equal(allocation.code, 0);
        assert.equal(allocation.lifetime, 600);
        assert.equal(allocation.relayed?.address, '127.0.0.1');
        assert.deepEqual(allocation.mapped, { address: '127.0.0.1', port: c.localPort });
        assert.equal((await c.createPermission(peer.address)).code, 0);

        c.send(peer.address, Buffer.from('ping'));
        assert.ok(await c.waitFor((r) => r.some((x) => x.kind === 'data' && x.data.toString() === 'ping')));
        const data = c.received.find((x) => x.kind === 'data');
        assert.deepEqual(data?.kind === 'data' ? data.peer : undefined, peer.address);
        // The peer saw the datagram come from the relayed address.
        assert.equal(peer.received[0]?.toString(), 'ping');

        assert.equal((await c.channelBind(0x4000, peer.address)).code, 0);
        c.sendChannelData(0x4000, Buffer.from('hello over a channel'));
        assert.ok(
          await c.waitFor((r) =>
            r.some(
              (x) =>
                x.kind === 'channel' && x.channel === 0x4000 && x.data.toString() === 'hello over a channel',
            ),
          ),
        );
        // Odd lengths exercise ChannelData padding on streams.
        c.sendChannelData(0x4000, Buffer.from('abc'));
        assert.ok(await c.waitFor((r) => r.some((x) => x.kind === 'channel' && x.data.toString() === 'abc')));

        const stats = h.relay.stats();
        assert.equal(stats.allocations, 1);
        assert.equal(stats.channels, 1);
        assert.equal(stats.permissions, 1);
        assert.ok(stats.bytesIn > 0 && stats.bytesOut > 0 && stats.packetsIn > 0 && stats.packetsOut > 0);

        const refreshed = await c.refresh(0);
        assert.equal(refreshed.code, 0);
        assert.equal(refreshed.lifetime, 0);
        assert.equal(h.relay.stats().allocations, 0);
        assert.equal((await c.refresh(600)).code, 437);
      } finally {
        c.close();
        peer.close();
      }
    });

    it('refuses a wrong password (401), an expired credential (401) and a stale nonce (438)', async () => {
      const c = await client();
      try {
        const good = creds('bob', 600, h.clock.now);
        const bad = await c.allocate({ username: good.username, password: 'wrong' });
        assert.equal(bad.code, 401);
        const expired = await c.allocate(creds('bob', -10, h.clock.now));
        assert.equal(expired.code, 401);
        const before = h.relay.stats().refused;
        assert.ok(before.badCredentials >= 1 && before.expiredCredentials >= 1);
        // A nonce this relay never issued is stale: 438 with a fresh NONCE.
        const c2 = await client();
        try {
          c2.useCredentials(good);
          const stale = await c2.request(
            Method.Allocate,
            [
              { type: AttributeType.RequestedTransport, value: encodeRequestedTransport(17) },
              { type: AttributeType.Nonce, value: Buffer.from('0000000000abcdefabcdefabcdefabcd') },
            ],
            { auth: true },
          );
          assert.equal(stale.code, 438);
          assert.ok(getAttribute(stale.message, AttributeType.Nonce));
        } finally {
          c2.close();
        }
      } finally {
        c.close();
      }
    });

    it('refuses forbidden peers with 403', async () => {
      const strict = await start({ allowLoopbackPeers: false });
      const c =
        transport === 'udp'
          ? await TurnTestClient.udp(strict.udpPort)
          : await TurnTestClient.tcp(strict.tcpPort);
      try {
        assert.equal((await c.allocate(creds('carol', 600, strict.clock.now))).code, 0);
        for (const address of ['127.0.0.1', '10.0.0.1', '192.168.1.1', '169.254.169.254', '224.0.0.1']) {
          assert.equal((await c.createPermission({ address, port: 9 })).code, 403, address);
        }
        assert.equal((await c.channelBind(0x4001, { address: '172.16.5.5', port: 9 })).code, 403);
        // A relay datagram to a forbidden peer through Send is dropped.
        c.send({ address: '127.0.0.1', port: 9 }, Buffer.from('x'));
        await until(() => strict.relay.stats().dropped.noPermission >= 1);
        assert.ok(strict.relay.stats().refused.forbiddenPeer >= 6);
      } finally {
        c.close();
        await strict.relay.close();
      }
    });
  });
}

describe('TURN rules', () => {
  let h: Harness;
  before(async () => {
    h = await start({
      maxLifetimeSeconds: 1200,
      maxAllocationsPerUser: 2,
      maxAllocations: 4,
      bandwidthBytesPerSecond: 10_000,
    });
  });
  after(async () => {
    await h.relay.close();
  });

  it('caps the lifetime, never goes below the default, and expires allocations', async () => {
    const c = await TurnTestClient.udp(h.udpPort);
    try {
      const a = await c.allocate(creds('dave', 600, h.clock.now), [], 99_999);
      assert.equal(a.code, 0);
      assert.equal(a.lifetime, 1200);
      assert.equal((await c.refresh(30)).lifetime, 600);
      assert.equal((await c.refresh(900)).lifetime, 900);
      assert.equal(h.relay.stats().allocations, 1);
      h.clock.now += 901_000;
      await until(() => h.relay.stats().allocations === 0);
      // The nonce has gone stale too (10 minutes).
      const r = await c.refresh(600);
      assert.ok(r.code === 437 || r.code === 438, String(r.code));
    } finally {
      c.close();
    }
  });

  it('expires permissions after 300 s and channels after 600 s', async () => {
    const peer = await echoPeer();
    const c = await TurnTestClient.udp(h.udpPort);
    try {
      assert.equal((await c.allocate(creds('erin', 3600, h.clock.now), [], 1200)).code, 0);
      assert.equal((await c.channelBind(0x4100, peer.address)).code, 0);
      c.sendChannelData(0x4100, Buffer.from('one'));
      assert.ok(await c.waitFor((r) => r.length === 1));
      h.clock.now += 301_000;
      await until(() => h.relay.stats().permissions === 0);
      assert.equal(h.relay.stats().channels, 1);
      const dropped = h.relay.stats().dropped.noPermission;
      c.sendChannelData(0x4100, Buffer.from('two'));
      await until(() => h.relay.stats().dropped.noPermission > dropped);
      h.clock.now += 300_000;
      await until(() => h.relay.stats().channels === 0);
      h.clock.now += 600_000;
      await until(() => h.relay.stats().allocations === 0);
    } finally {
      c.close();
      peer.close();
    }
  });

  it('enforces allocations per user and in total (486, 508)', async () => {
    const clients = await Promise.all([1, 2, 3, 4, 5].map(() => TurnTestClient.udp(h.udpPort)));
    try {
      assert.equal(h.relay.stats().allocations, 0);
      const [a, b, c, d, e] = clients;
      assert.ok(a && b && c && d && e);
      assert.equal((await a.allocate(creds('frank', 600, h.clock.now))).code, 0);
      assert.equal((await b.allocate(creds('frank', 600, h.clock.now))).code, 0);
      assert.equal((await c.allocate(creds('frank', 600, h.clock.now))).code, 486);
      assert.equal((await c.allocate(creds('grace', 600, h.clock.now))).code, 0);
      assert.equal((await d.allocate(creds('heidi', 600, h.clock.now))).code, 0);
      assert.equal((await e.allocate(creds('ivan', 600, h.clock.now))).code, 508);
      assert.equal(h.relay.stats().refused.userQuota, 1);
      assert.equal(h.relay.stats().refused.capacity, 1);
      // Freed quota can be reused.
      assert.equal((await a.refresh(0)).code, 0);
      assert.equal((await e.allocate(creds('ivan', 600, h.clock.now))).code, 0);
    } finally {
      for (const c of clients) {
        await c.refresh(0).catch(() => undefined);
        c.close();
      }
    }
  });

  it('drops traffic above the bandwidth cap', async () => {
    const peer = await echoPeer(false);
    const c = await TurnTestClient.udp(h.udpPort);
    try {
      assert.equal((await c.allocate(creds('judy', 600, h.clock.now))).code, 0);
      assert.equal((await c.channelBind(0x4200, peer.address)).code, 0);
      // The clock stands still, so the bucket (10 000 bytes) does not refill.
      for (let i = 0; i < 30; i++) c.sendChannelData(0x4200, Buffer.alloc(1000, i));
      await until(() => h.relay.stats().dropped.bandwidth >= 20);
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(peer.received.length, 10);
    } finally {
      await c.refresh(0);
      c.close();
      peer.close();
    }
  });

  it('answers retransmitted Allocates the same, and a new one on the same 5-tuple with 437', async () => {
    const c = await TurnTestClient.udp(h.udpPort);
    try {
      const attrs = [{ type: AttributeType.RequestedTransport, value: encodeRequestedTransport(17) }];
      await c.request(Method.Allocate, attrs);
      c.useCredentials(creds('kim', 600, h.clock.now));
      const transactionId = randomBytes(12);
      const first = await c.request(Method.Allocate, attrs, { auth: true, transactionId });
      assert.equal(first.code, 0);
      const again = await c.request(Method.Allocate, attrs, { auth: true, transactionId });
      assert.deepEqual(again.message.raw, first.message.raw);
      const other = await c.request(Method.Allocate, attrs, { auth: true });
      assert.equal(other.code, 437);
      // Another user on the same 5-tuple: 441.
      c.useCredentials(creds('mallory', 600, h.clock.now));
      assert.equal((await c.refresh(600)).code, 441);
      c.useCredentials(creds('kim', 600, h.clock.now));
      assert.equal((await c.refresh(0)).code, 0);
    } finally {
      c.close();
    }
  });

  it('refuses unknown comprehension-required attributes (420), TCP relaying (442), reservations (508)', async () => {
    const c = await TurnTestClient.udp(h.udpPort);
    try {
      const transportUdp = { type: AttributeType.RequestedTransport, value: encodeRequestedTransport(17) };
      const unknown = await c.request(Method.Allocate, [
        transportUdp,
        { type: 0x7abc, value: Buffer.alloc(4) },
      ]);
      assert.equal(unknown.code, 420);
      const listed = getAttribute(unknown.message, AttributeType.UnknownAttributes);
      assert.deepEqual(listed && decodeUnknownAttributes(listed), [0x7abc]);
      const df = await c.request(Method.Allocate, [
        transportUdp,
        { type: AttributeType.DontFragment, value: Buffer.alloc(0) },
      ]);
      assert.equal(df.code, 420);
      await c.request(Method.Allocate, [transportUdp]);
      c.useCredentials(creds('nina', 600, h.clock.now));
      const tcp = await c.request(
        Method.Allocate,
        [{ type: AttributeType.RequestedTransport, value: encodeRequestedTransport(6) }],
        { auth: true },
      );
      assert.equal(tcp.code, 442);
      const missing = await c.request(Method.Allocate, [], { auth: true });
      assert.equal(missing.code, 400);
      const reserve = await c.request(
        Method.Allocate,
        [transportUdp, { type: AttributeType.EvenPort, value: encodeEvenPort(true) }],
        { auth: true },
      );
      assert.equal(reserve.code, 508);
      const even = await c.allocate(creds('nina', 600, h.clock.now), [
        { type: AttributeType.EvenPort, value: encodeEvenPort(false) },
      ]);
      assert.equal(even.code, 0);
      assert.equal((even.relayed?.port ?? 1) % 2, 0);
      assert.equal((await c.refresh(0)).code, 0);
    } finally {
      c.close();
    }
  });

  it('answers Binding requests with XOR-MAPPED-ADDRESS, and survives garbage datagrams', async () => {
    const c = await TurnTestClient.udp(h.udpPort);
    const raw = createSocket('udp4');
    try {
      const before = h.relay.stats().dropped.malformed;
      await new Promise<void>((resolve) => raw.bind(0, '127.0.0.1', resolve));
      for (const junk of [
        Buffer.from('GET / HTTP/1.1\r\n'),
        Buffer.alloc(0),
        Buffer.alloc(19),
        randomBytes(100),
      ]) {
        raw.send(junk, h.udpPort, '127.0.0.1');
      }
      // A STUN header with a bad FINGERPRINT.
      const msg = encodeMessage(
        { method: 1, cls: 0, transactionId: randomBytes(12), attributes: [] },
        { fingerprint: true },
      );
      msg[msg.length - 1] = (msg[msg.length - 1] ?? 0) ^ 0xff;
      raw.send(msg, h.udpPort, '127.0.0.1');
      await until(() => h.relay.stats().dropped.malformed >= before + 3);
      const binding = await c.request(Method.Binding, []);
      assert.equal(binding.code, 0);
      const mapped = getAttribute(binding.message, AttributeType.XorMappedAddress);
      assert.deepEqual(mapped && decodeXorAddress(mapped, binding.message.transactionId), {
        address: '127.0.0.1',
        port: c.localPort,
      });
    } finally {
      raw.close();
      c.close();
    }
  });

  it('accepts MESSAGE-INTEGRITY-SHA256 and answers with it', async () => {
    const c = await TurnTestClient.udp(h.udpPort);
    try {
      const attrs = [{ type: AttributeType.RequestedTransport, value: encodeRequestedTransport(17) }];
      await c.request(Method.Allocate, attrs);
      c.useCredentials(creds('rita', 600, h.clock.now));
      const a = await c.request(Method.Allocate, attrs, { auth: true, sha256: true });
      assert.equal(a.code, 0);
      assert.equal(a.message.integrityOffset, undefined);
      assert.notEqual(a.message.integritySha256Offset, undefined);
      assert.equal((await c.request(Method.Refresh, [], { auth: true, sha256: true })).code, 0);
      c.useCredentials({ username: creds('rita', 600, h.clock.now).username, password: 'wrong' });
      assert.equal((await c.request(Method.Refresh, [], { auth: true, sha256: true })).code, 401);
      c.useCredentials(creds('rita', 600, h.clock.now));
      assert.equal((await c.refresh(0)).code, 0);
    } finally {
      c.close();
    }
  });

  it('does not relay into its own listener ports', async () => {
    const c = await TurnTestClient.udp(h.udpPort);
    try {
      assert.equal((await c.allocate(creds('sam', 600, h.clock.now))).code, 0);
      const self = { address: '127.0.0.1', port: h.udpPort };
      assert.equal((await c.createPermission(self)).code, 0);
      const before = h.relay.stats().dropped.forbiddenPeer;
      c.send(self, Buffer.from('loop'));
      await until(() => h.relay.stats().dropped.forbiddenPeer > before);
      assert.equal((await c.refresh(0)).code, 0);
    } finally {
      c.close();
    }
  });

  it('drops datagrams from peers without a permission', async () => {
    const c = await TurnTestClient.udp(h.udpPort);
    const stranger = await echoPeer(false);
    try {
      const a = await c.allocate(creds('oscar', 600, h.clock.now));
      assert.equal(a.code, 0);
      const before = h.relay.stats().dropped.noPermission;
      stranger.socket.send(Buffer.from('let me in'), a.relayed?.port ?? 0, '127.0.0.1');
      await until(() => h.relay.stats().dropped.noPermission > before);
      assert.equal(c.received.length, 0);
      await c.refresh(0);
    } finally {
      c.close();
      stranger.close();
    }
  });
});

describe('streams', () => {
  let h: Harness;
  let front: Server;
  let frontPort: number;
  before(async () => {
    h = await start({ tcpPort: false, streamIdleTimeoutMs: 200 });
    // Stands in for the app's TLS listener: read the first bytes, and hand STUN to the relay.
    front = createServer((socket) => {
      socket.once('data', (first: Buffer) => {
        if (isStun(first)) {
          socket.pause();
          h.relay.handleStream(
            socket,
            { address: socket.remoteAddress ?? '', port: socket.remotePort ?? 0 },
            first,
          );
        } else {
          socket.end('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
        }
      });
    });
    await new Promise<void>((resolve) => front.listen(0, '127.0.0.1', resolve));
    const address = front.address();
    frontPort = typeof address === 'object' && address !== null ? address.port : 0;
  });
  after(async () => {
    await h.relay.close();
    await new Promise<void>((resolve) => front.close(() => resolve()));
  });

  it('serves TURN on a stream handed over by handleStream, with the peeked bytes', async () => {
    const peer = await echoPeer();
    const c = await TurnTestClient.tcp(frontPort);
    try {
      const a = await c.allocate(creds('pat', 600, h.clock.now));
      assert.equal(a.code, 0);
      assert.equal(h.relay.stats().streams, 1);
      assert.equal((await c.channelBind(0x4fff, peer.address)).code, 0);
      c.sendChannelData(0x4fff, Buffer.from('through the front door'));
      assert.ok(await c.waitFor((r) => r.some((x) => x.kind === 'channel' && x.channel === 0x4fff)));
      c.close();
      await until(() => h.relay.stats().allocations === 0 && h.relay.stats().streams === 0);
    } finally {
      c.close();
      peer.close();
    }
  });

  it('closes a stream that turns to garbage, and idle streams without an allocation', async () => {
    const c = await TurnTestClient.tcp(frontPort);
    assert.equal((await c.request(Method.Binding, [])).code, 0);
    c.sendRaw(Buffer.from('\xff\xff\xff\xffnot turn', 'latin1'));
    assert.ok(await c.waitClosed());

    const idle = await TurnTestClient.tcp(frontPort);
    assert.equal((await idle.request(Method.Binding, [])).code, 0);
    h.clock.now += 1000;
    assert.ok(await idle.waitClosed());
  });

  it('sends non-STUN first bytes elsewhere (the classifier on the shared port)', async () => {
    const socket = connect({ port: frontPort, host: '127.0.0.1' });
    socket.write('GET / HTTP/1.1\r\nhost: x\r\n\r\n');
    const reply = await new Promise<string>((resolve) => {
      let text = '';
      socket.on('data', (d: Buffer) => {
        text += d.toString();
      });
      socket.on('end', () => resolve(text));
    });
    assert.match(reply, /^HTTP\/1\.1 200/);
  });
});

describe('configuration', () => {
  it('refuses invalid configuration with RelayError CONFIG', () => {
    assert.throws(() => createRelay({ secret: 'short', relayAddress: '127.0.0.1' }), { code: 'CONFIG' });
    assert.throws(() => createRelay({ secret: SECRET, relayAddress: 'example.org' }), { code: 'CONFIG' });
    assert.throws(
      () => createRelay({ secret: SECRET, relayAddress: '127.0.0.1', allowedPeerCidrs: ['x/1'] }),
      {
        code: 'CONFIG',
      },
    );
    assert.throws(
      () =>
        createRelay({ secret: SECRET, relayAddress: '127.0.0.1', relayPortRange: { min: 5000, max: 4000 } }),
      { code: 'CONFIG' },
    );
  });

  it('binds relay sockets inside the configured port range', async () => {
    const h = await start({ relayPortRange: { min: 40000, max: 40100 } });
    const c = await TurnTestClient.udp(h.udpPort);
    try {
      const a = await c.allocate(creds('quinn', 600, h.clock.now));
      assert.equal(a.code, 0);
      const port = a.relayed?.port ?? 0;
      assert.ok(port >= 40000 && port <= 40100, String(port));
    } finally {
      c.close();
      await h.relay.close();
    }
  });
});
