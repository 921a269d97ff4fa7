/**
 * 1:1 calls against the real in-process server with real clients and MLS: a caller and a callee
 * with two devices. The media side is NodeMediaEngine (test/node-media.ts), the stand-in for
 * WebRTC, which Node lacks.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startServer } from '@kolokol/server';
import {
  type Call,
  ClientEvent,
  candidateType,
  defaultTransport,
  KolokolClient,
  MemoryStore,
  type SdkError,
  type Transport,
} from '../src/index.ts';
import { type NodeMediaEngine, nodeMedia } from './node-media.ts';

let server: { url: string; close(): Promise<void> };
let dir: string;
const clients: KolokolClient[] = [];
const backoff = { baseMs: 20, maxMs: 200 };
let n = 0;
const name = (p: string) => `${p}_${process.pid % 10000}_${++n}`;
const RING_MS = 2500;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'kolokol-sdk-calls-'));
  server = await startServer({ dataDir: dir, port: 0, logLevel: 'silent' });
});
after(async () => {
  for (const c of clients) await c.close();
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

interface Dev {
  client: KolokolClient;
  engines: NodeMediaEngine[];
  errors: SdkError[];
}

function setup(client: KolokolClient): Dev {
  clients.push(client);
  const media = nodeMedia();
  client.calls.configure({ media: media.factory, ringTimeoutMs: RING_MS, connectTimeoutMs: 10_000 });
  const errors: SdkError[] = [];
  client.on(ClientEvent.Error, (e) => {
    errors.push(e);
    if (process.env.SDK_DEBUG) console.log(client.username, e.code, e.message);
  });
  return { client, engines: media.engines, errors };
}

async function user(prefix: string): Promise<Dev> {
  const c = await KolokolClient.register({
    server: server.url,
    username: name(prefix),
    store: new MemoryStore(),
    backoff,
  });
  await c.connect();
  return setup(c);
}

async function linked(of: Dev): Promise<Dev> {
  const code = await of.client.createLinkCode();
  return setup(await KolokolClient.link({ server: server.url, code, store: new MemoryStore(), backoff }));
}

async function eventually(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 15_000) {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`not reached in time: ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** alice (one device), bob (two devices), and their direct conversation on all three. */
async function trio(o: { contacts: boolean }) {
  const alice = await user('ca');
  const bob1 = await user('cb');
  const bob2 = await linked(bob1);
  await eventually(async () => (await bob1.client.devices()).length === 2, 'bob has two devices');
  const conv = await alice.client.openDirect(bob1.client.username);
  for (const d of [bob1, bob2])
    await eventually(
      async () => (await d.client.conversations()).some((c) => c.id === conv.id && !c.left),
      'bob devices joined the conversation',
    );
  if (o.contacts) {
    await alice.client.addContact(bob1.client.username);
    await bob1.client.addContact(alice.client.username);
    await bob2.client.addContact(alice.client.username);
  }
  return { alice, bob1, bob2, conv };
}

const incoming = (d: Dev, timeoutMs = 10_000): Promise<Call> =>
  d.client.waitFor(ClientEvent.CallIncoming, () => true, timeoutMs).then(([c]) => c);
const ended = (d: Dev, callId: string): Promise<Call> =>
  d.client.waitFor(ClientEvent.CallEnded, (c) => c.id === callId, 15_000).then(([c]) => c);

describe('calls: 1:1 over MLS signalling', () => {
  it('rings both callee devices; the first to answer takes it, the other stops', async () => {
    const { alice, bob1, bob2, conv } = await trio({ contacts: true });
    const ring1 = incoming(bob1);
    const ring2 = incoming(bob2);
    const call = await alice.client.calls.start(conv.id, { video: true });
    assert.equal(call.state, 'ringing-out');
    assert.equal(call.iceTransportPolicy, 'all');
    const [in1, in2] = await Promise.all([ring1, ring2]);
    assert.equal(in1.id, call.id);
    assert.equal(in2.state, 'ringing-in');
    assert.equal(in1.video, true);
    await eventually(() => call.remoteRinging, 'caller hears ringing');

    const stop2 = ended(bob2, call.id);
    await in1.accept();
    assert.equal((await stop2).endReason, 'answered-elsewhere');
    await eventually(() => call.state === 'connected' && in1.state === 'connected', 'media connected');
    await eventually(() => in1.answeredBy !== undefined, 'selected reached the winner');
    assert.equal(call.answeredBy, bob1.client.deviceId);
    assert.equal(in1.answeredBy, bob1.client.deviceId);
    assert.equal(bob2.engines.length, 0, 'the device that stopped ringing never made media');
    // SFrame keys of the conversation's epoch reached both engines, and they are the same epoch.
    const [ak, bk] = [alice.engines[0]?.keys[0], bob1.engines[0]?.keys[0]];
    assert.ok(ak !== undefined && bk !== undefined);
    assert.equal(ak.epoch, bk.epoch);
    assert.deepEqual(ak.baseKey, bk.baseKey);

    const bobEnd = ended(bob1, call.id);
    await call.hangup();
    assert.equal((await bobEnd).endReason, 'hangup');
    const [ah] = await alice.client.calls.history();
    assert.equal(ah?.reason, 'hangup');
    assert.equal(ah?.direction, 'outgoing');
    assert.equal(ah?.answeredBy, bob1.client.deviceId);
    assert.equal(ah?.missed, false);
    const [b1h] = await bob1.client.calls.history();
    assert.equal(b1h?.direction, 'incoming');
    assert.equal(b1h?.missed, false);
    assert.ok(b1h?.answeredAt !== undefined);
    const [b2h] = await bob2.client.calls.history();
    assert.equal(b2h?.reason, 'answered-elsewhere');
    assert.equal(b2h?.missed, false);
    assert.ok(alice.engines.every((e) => e.closed) && bob1.engines.every((e) => e.closed));
    // Contacts: direct candidates are allowed.
    assert.ok(bob1.engines[0]?.remoteCandidates.some((c) => candidateType(c) === 'host'));
  });

  it('a callee in another call is busy; its other device stops ringing too', async () => {
    const { alice, bob1, bob2, conv } = await trio({ contacts: true });
    const carol = await user('cc');
    const carolConv = await carol.client.openDirect(bob1.client.username);
    for (const d of [bob1, bob2])
      await eventually(
        async () => (await d.client.conversations()).some((c) => c.id === carolConv.id),
        'carol conversation',
      );
    const ring = incoming(bob1);
    const first = await alice.client.calls.start(conv.id, { video: false });
    await (await ring).accept();
    await eventually(() => first.state === 'connected', 'first call connected');

    const second = await carol.client.calls.start(carolConv.id, { video: false });
    const carolEnd = await ended(carol, second.id);
    assert.equal(carolEnd.endReason, 'busy');
    await eventually(
      async () => (await bob2.client.calls.history()).some((h) => h.callId === second.id),
      'b2',
    );
    const b2 = (await bob2.client.calls.history()).find((h) => h.callId === second.id);
    assert.equal(b2?.reason, 'busy');
    assert.equal(bob1.client.calls.get(first.id)?.state, 'connected', 'the running call goes on');
    await first.hangup();
  });

  it('decline on one device ends the call for the caller and the other device', async () => {
    const { alice, bob1, bob2, conv } = await trio({ contacts: false });
    const ring1 = incoming(bob1);
    const ring2 = incoming(bob2);
    const call = await alice.client.calls.start(conv.id, { video: false });
    const [, in2] = await Promise.all([ring1, ring2]);
    const a = ended(alice, call.id);
    const b1 = ended(bob1, call.id);
    await in2.decline();
    assert.equal((await a).endReason, 'declined');
    assert.equal((await b1).endReason, 'declined');
    const [h] = await bob1.client.calls.history();
    assert.equal(h?.missed, false);
  });

  it('unanswered: times out, a missed call in history and a notice in the conversation', async () => {
    const { alice, bob1, bob2, conv } = await trio({ contacts: false });
    const rings = [incoming(bob1), incoming(bob2)];
    const call = await alice.client.calls.start(conv.id, { video: false });
    await Promise.all(rings);
    const ends = [ended(alice, call.id), ended(bob1, call.id), ended(bob2, call.id)];
    const [a, b1, b2] = await Promise.all(ends);
    assert.equal(a?.endReason, 'timeout');
    assert.equal(b1?.endReason, 'timeout');
    assert.equal(b2?.endReason, 'timeout');
    for (const d of [bob1, bob2]) {
      const [h] = await d.client.calls.history();
      assert.equal(h?.missed, true);
      assert.equal(h?.reason, 'timeout');
      const notice = (await d.client.messages(conv.id)).find(
        (m) => m.body.type === 'system' && m.body.event === 'missed-call',
      );
      assert.ok(notice, 'missed-call notice');
      assert.equal(notice.body.type === 'system' ? notice.body.userId : '', alice.client.userId);
    }
    const [ah] = await alice.client.calls.history();
    assert.equal(ah?.missed, false);
    assert.equal(ah?.reason, 'timeout');
  });

  it('cancelled by the caller: every ringing device stops, missed', async () => {
    const { alice, bob1, bob2, conv } = await trio({ contacts: false });
    const rings = [incoming(bob1), incoming(bob2)];
    const call = await alice.client.calls.start(conv.id, { video: false });
    await Promise.all(rings);
    const ends = [ended(bob1, call.id), ended(bob2, call.id)];
    await call.hangup();
    assert.equal(call.endReason, 'cancelled');
    for (const c of await Promise.all(ends)) assert.equal(c.endReason, 'cancelled');
    assert.equal((await bob2.client.calls.history())[0]?.missed, true);
  });

  it('glare: both call at once; the smaller call id survives on both sides and connects', async () => {
    const alice = await user('ga');
    const bob = await user('gb');
    const conv = await alice.client.openDirect(bob.client.username);
    await eventually(
      async () => (await bob.client.conversations()).some((c) => c.id === conv.id),
      'bob joined the conversation',
    );
    await alice.client.addContact(bob.client.username);
    await bob.client.addContact(alice.client.username);
    const [ca, cb] = await Promise.all([
      alice.client.calls.start(conv.id, { video: false }),
      bob.client.calls.start(conv.id, { video: false }),
    ]);
    const winner = ca.id < cb.id ? ca.id : cb.id;
    const loser = winner === ca.id ? cb.id : ca.id;
    const live = (d: Dev) => d.client.calls.active();
    await eventually(
      () =>
        [alice, bob].every(
          (d) => live(d).length === 1 && live(d)[0]?.id === winner && live(d)[0]?.state === 'connected',
        ),
      'one call, the same on both sides, connected',
    );
    for (const d of [alice, bob]) assert.equal(d.client.calls.get(loser)?.state ?? 'ended', 'ended');
    await ca.hangup().catch(() => {});
    await cb.hangup().catch(() => {});
    for (const d of [alice, bob]) for (const c of live(d)) await c.hangup();
  });

  it('hints the push of offline devices: the offer rings, the cancel makes it a missed call', async () => {
    // A transport that records the `push` hint of every frame alice's device sends.
    const hints: (string | undefined)[] = [];
    const base = defaultTransport();
    const Base = base.WebSocket;
    const transport: Transport = {
      fetch: base.fetch,
      WebSocket: class extends Base {
        override send(data: string): void {
          const frame: unknown = JSON.parse(data);
          const msg = typeof frame === 'object' && frame !== null && 'msg' in frame ? frame.msg : undefined;
          if (typeof msg === 'object' && msg !== null)
            hints.push('push' in msg && typeof msg.push === 'string' ? msg.push : undefined);
          super.send(data);
        }
      },
    };
    const alice = setup(
      await KolokolClient.register({
        server: server.url,
        username: name('ph'),
        store: new MemoryStore(),
        backoff,
        transport,
      }),
    );
    await alice.client.connect();
    const bob = await user('pb');
    const conv = await alice.client.openDirect(bob.client.username);
    await eventually(
      async () => (await bob.client.conversations()).some((c) => c.id === conv.id),
      'bob joined the conversation',
    );
    const ring = incoming(bob);
    const before = hints.length;
    const call = await alice.client.calls.start(conv.id, { video: false });
    await ring;
    const end = ended(bob, call.id);
    await call.hangup();
    await end;
    await eventually(() => hints.slice(before).includes('missed-call'), 'the cancel went out');
    const sent = hints.slice(before).filter((h) => h !== undefined);
    assert.deepEqual(sent, ['call', 'missed-call']);
  });

  it('a non-contact gets relay-only ICE: no host or srflx candidate reaches them, and it still connects', async () => {
    const { alice, bob1, conv } = await trio({ contacts: false });
    const ring = incoming(bob1);
    const call = await alice.client.calls.start(conv.id, { video: false });
    assert.equal(call.iceTransportPolicy, 'relay');
    assert.equal(alice.engines[0]?.options.iceTransportPolicy, 'relay');
    const inc = await ring;
    assert.equal(inc.iceTransportPolicy, 'relay');
    await inc.accept();
    await eventually(() => call.state === 'connected' && inc.state === 'connected', 'connected over relay');
    await eventually(() => inc.answeredBy !== undefined, 'selected reached the callee');
    const [ae, be] = [alice.engines[0], bob1.engines[0]];
    assert.ok(ae !== undefined && be !== undefined);
    for (const [engine, who] of [
      [be, 'bob'],
      [ae, 'alice'],
    ] as const) {
      assert.ok(engine.remoteCandidates.length > 0, `${who} got candidates`);
      for (const c of engine.remoteCandidates) assert.equal(candidateType(c), 'relay', `${who} got ${c}`);
      for (const d of engine.remoteDescriptions) {
        assert.doesNotMatch(d.sdp, /typ (host|srflx)/, `${who}'s remote ${d.type} carries no direct address`);
        assert.doesNotMatch(d.sdp, /^c=IN IP4 (?!0\.0\.0\.0)/m);
      }
    }
    // A stall on the caller restarts ICE through a durable re-offer; the call stays up.
    const before = be.remoteDescriptions.length;
    ae.stall();
    await eventually(() => be.remoteDescriptions.length > before, 'restart offer reached the callee');
    await eventually(() => ae.remoteDescriptions.length >= 2, 'restart answer reached the caller');
    await eventually(() => ae.state === 'connected', 'reconnected');
    assert.equal(call.state, 'connected');
    await inc.hangup();
    await eventually(() => call.state === 'ended', 'caller ended');
    assert.equal(call.endReason, 'hangup');
  });

  it('an offline callee device learns on reconnect that the call was taken elsewhere', async () => {
    const { alice, bob1, conv } = await trio({ contacts: true });
    const store = new MemoryStore();
    const code = await bob1.client.createLinkCode();
    const bob3 = setup(await KolokolClient.link({ server: server.url, code, store, backoff }));
    await eventually(
      async () => (await bob3.client.conversations()).some((c) => c.id === conv.id && !c.left),
      'bob3 joined',
    );
    await bob3.client.sync();
    await bob3.client.close();

    const ring = incoming(bob1);
    const call = await alice.client.calls.start(conv.id, { video: false });
    await (await ring).accept();
    await eventually(() => call.state === 'connected', 'connected');
    await call.hangup();

    const back = setup(await KolokolClient.open({ store, backoff }));
    back.client.calls.configure({ media: nodeMedia().factory, ringTimeoutMs: RING_MS });
    await back.client.connect();
    await back.client.sync();
    await eventually(async () => (await back.client.calls.history()).length === 1, 'history on reconnect');
    const [h] = await back.client.calls.history();
    assert.equal(h?.callId, call.id);
    assert.equal(h?.reason, 'answered-elsewhere');
    assert.equal(h?.missed, false);
    assert.deepEqual(back.client.calls.active(), []);
  });
});
