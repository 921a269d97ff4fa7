import assert from 'node:assert/strict';
import { Socket } from 'node:net';
import { after, before, describe, it, test } from 'node:test';
import { Limits } from '@kolokol/protocol';
import {
  b64,
  claimFor,
  field,
  num,
  PG_URL,
  postgresProblem,
  registerUser,
  rid,
  type TestServer,
  testServer,
  type User,
  WsClient,
} from './helpers.ts';

const pgProblem = await postgresProblem();
if (pgProblem !== undefined) {
  test('WebSocket delivery (postgres)', (t) => {
    const msg = `PostgreSQL not reachable at ${PG_URL}: ${pgProblem}`;
    console.warn(`\n*** SKIPPED: ${msg} ***\n`);
    t.skip(msg);
  });
}
for (const backend of pgProblem === undefined ? (['sqlite', 'postgres'] as const) : (['sqlite'] as const)) {
  describe(`WebSocket delivery (${backend})`, () => {
    let s: TestServer;
    before(async () => {
      s = await testServer({ tuning: { helloTimeoutMs: 300 } }, backend);
    });
    after(async () => {
      await s.stop();
    });

    /** a creates a group and adds b (and c) with a commit; returns the group id at epoch 1. */
    async function groupOf(a: User, a1: WsClient, ...others: User[]): Promise<string> {
      const groupId = rid();
      assert.equal((await s.api.req('POST', '/v1/groups', { groupId }, a.token)).status, 200);
      await claimFor(s.api, a, ...others);
      const ok = await a1.send({
        msgId: rid(),
        groupId,
        kind: 'commit',
        epoch: 0,
        body: b64('commit adding'),
        adds: others.map((o) => ({ userId: o.userId, deviceId: o.device.deviceId })),
        welcome: b64('welcome'),
      });
      assert.equal(ok.t, 'ok', JSON.stringify(ok));
      assert.equal(ok.epoch, 1);
      return groupId;
    }

    it('closes a socket that never says hello, and refuses bad tokens and versions', async () => {
      const silent = new WsClient(s.url);
      await silent.open();
      assert.equal((await silent.closed).code, 4408);

      const bad = new WsClient(s.url);
      await bad.open();
      bad.sendRaw({ t: 'hello', v: 1, token: 'y'.repeat(40) });
      const err = await bad.next((f) => f.t === 'error');
      assert.equal(err.code, 'UNAUTHORIZED');
      assert.equal((await bad.closed).code, 4401);

      const u = await registerUser(s.api);
      const old = new WsClient(s.url);
      await old.open();
      old.sendRaw({ t: 'hello', v: 999, token: u.token });
      assert.equal((await old.next((f) => f.t === 'error')).code, 'UNSUPPORTED_VERSION');
      assert.equal((await old.closed).code, 4400);

      const early = new WsClient(s.url);
      await early.open();
      early.sendRaw({ t: 'ping', rid: 1 });
      assert.equal((await early.next((f) => f.t === 'error')).code, 'BAD_REQUEST');
      assert.equal((await early.closed).code, 4400);
    });

    it('orders fan-out, enforces membership and epochs, answers retries with the first ok', async () => {
      const [a, b, c] = [await registerUser(s.api), await registerUser(s.api), await registerUser(s.api)];
      const a1 = await WsClient.connect(s.url, a.token);
      const b1 = await WsClient.connect(s.url, b.token);
      const c1 = await WsClient.connect(s.url, c.token);
      const groupId = await groupOf(a, a1, b);

      const [welcome] = await b1.items(1);
      assert.equal(welcome?.kind, 'welcome');
      assert.equal(welcome?.body, b64('welcome'));
      assert.deepEqual(welcome?.sender, { userId: a.userId, deviceId: a.device.deviceId });

      const sent: string[] = [];
      for (let i = 0; i < 20; i++) {
        const msgId = rid();
        sent.push(msgId);
        a1.sendRaw({
          t: 'send',
          rid: 1000 + i,
          msg: { msgId, groupId, kind: 'application', epoch: 1, body: b64(`m${i}`) },
        });
      }
      const items = await b1.items(20);
      assert.deepEqual(
        items.map((i) => i.msgId),
        sent,
        'delivered in the order sent',
      );
      const seqs = items.map((i) => num(i, 'seq'));
      assert.deepEqual(
        seqs,
        [...seqs].sort((x, y) => x - y),
      );

      const notMember = await c1.send({
        msgId: rid(),
        groupId,
        kind: 'application',
        epoch: 1,
        body: b64('x'),
      });
      assert.equal(notMember.code, 'NOT_GROUP_MEMBER');
      assert.equal(c1.ws.readyState, c1.ws.OPEN, 'errors keep the socket open');

      const stale = await b1.send({
        msgId: rid(),
        groupId,
        kind: 'commit',
        epoch: 0,
        body: b64('late commit'),
      });
      assert.equal(stale.code, 'STALE_EPOCH');
      assert.deepEqual(stale.details, { epoch: 1 });

      const commit = { msgId: rid(), groupId, kind: 'commit', epoch: 1, body: b64('update') };
      const first = await b1.send(commit);
      const retry = await b1.send(commit);
      assert.equal(first.t, 'ok');
      assert.deepEqual({ ...retry, rid: 0 }, { ...first, rid: 0 });
      const got = await a1.items(1);
      assert.equal(got[0]?.msgId, commit.msgId);
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(a1.frames.filter((f) => f.t === 'deliver').length, 0, 'the retry was not stored twice');
      for (const x of [a1, b1, c1]) await x.close();
    });

    it('redelivers unacknowledged items after a reconnect, and acks only delete own rows', async () => {
      const [a, b, c] = [await registerUser(s.api), await registerUser(s.api), await registerUser(s.api)];
      const a1 = await WsClient.connect(s.url, a.token);
      const groupId = await groupOf(a, a1, b);
      for (let i = 0; i < 3; i++) {
        assert.equal(
          (await a1.send({ msgId: rid(), groupId, kind: 'application', epoch: 1, body: b64(`m${i}`) })).t,
          'ok',
        );
      }
      const b1 = await WsClient.connect(s.url, b.token);
      const firstTime = await b1.items(4);
      await b1.close();

      // c knows b's mailbox ids and acks them: nothing happens to b's mailbox.
      const c1 = await WsClient.connect(s.url, c.token);
      c1.ack(firstTime.map((i) => num(i, 'id')));
      c1.sendRaw({ t: 'ping', rid: 7 });
      await c1.next((f) => f.t === 'pong');

      const b2 = await WsClient.connect(s.url, b.token);
      const secondTime = await b2.items(4);
      assert.deepEqual(secondTime, firstTime, 'everything unacked comes again, same ids, same order');
      b2.ack(secondTime.map((i) => num(i, 'id')));
      b2.sendRaw({ t: 'ping', rid: 8 });
      await b2.next((f) => f.t === 'pong');
      await b2.close();
      const b3 = await WsClient.connect(s.url, b.token);
      await new Promise((r) => setTimeout(r, 150));
      assert.equal(b3.frames.filter((f) => f.t === 'deliver').length, 0, 'acked items are gone');
      for (const x of [a1, b3, c1]) await x.close();
    });

    it('says synced only once the whole backlog is pushed, and again after new items', async () => {
      const [a, b] = [await registerUser(s.api), await registerUser(s.api)];
      const a1 = await WsClient.connect(s.url, a.token);
      const groupId = await groupOf(a, a1, b);
      const total = Limits.maxInFlight + 10;
      for (let i = 0; i < total; i++) {
        a1.sendRaw({
          t: 'send',
          rid: i + 10,
          msg: { msgId: rid(), groupId, kind: 'application', epoch: 1, body: b64(`m${i}`) },
        });
      }
      await a1.next((f) => f.t === 'ok' && f.rid === total + 9, 20_000);
      const b1 = await WsClient.connect(s.url, b.token);
      const window = await b1.items(Limits.maxInFlight, 10_000);
      await new Promise((r) => setTimeout(r, 150));
      assert.equal(
        b1.frames.filter((f) => f.t === 'synced').length,
        0,
        'not caught up while the window holds the rest back',
      );
      b1.ack(window.map((i) => num(i, 'id')));
      const rest = await b1.items(total + 1 - Limits.maxInFlight);
      await b1.next((f) => f.t === 'synced');
      b1.ack(rest.map((i) => num(i, 'id')));
      assert.equal(
        (await a1.send({ msgId: rid(), groupId, kind: 'application', epoch: 1, body: b64('late') })).t,
        'ok',
      );
      await b1.items(1);
      await b1.next((f) => f.t === 'synced');
      for (const x of [a1, b1]) await x.close();
    });

    it('answers a ping only after pushing what was committed before it', async () => {
      const [a, b] = [await registerUser(s.api), await registerUser(s.api)];
      const a1 = await WsClient.connect(s.url, a.token);
      const groupId = await groupOf(a, a1, b);
      const b1 = await WsClient.connect(s.url, b.token);
      await b1.items(1);
      for (let round = 0; round < 20; round++) {
        assert.equal(
          (await a1.send({ msgId: rid(), groupId, kind: 'application', epoch: 1, body: b64(`r${round}`) })).t,
          'ok',
        );
        b1.sendRaw({ t: 'ping', rid: 1000 + round });
        await b1.next((f) => f.t === 'pong' && f.rid === 1000 + round);
        const deliveries = b1.frames.filter((f) => f.t === 'deliver');
        assert.equal(deliveries.length, 1, `round ${round}: the item came before the pong`);
        const items = await b1.items(1);
        b1.ack(items.map((i) => num(i, 'id')));
      }
      for (const x of [a1, b1]) await x.close();
    });

    it('keeps at most Limits.maxInFlight items unacknowledged', async () => {
      const [a, b] = [await registerUser(s.api), await registerUser(s.api)];
      const a1 = await WsClient.connect(s.url, a.token);
      const groupId = await groupOf(a, a1, b);
      const total = Limits.maxInFlight + 20;
      for (let i = 0; i < total; i++) {
        a1.sendRaw({
          t: 'send',
          rid: i + 10,
          msg: { msgId: rid(), groupId, kind: 'application', epoch: 1, body: b64(`m${i}`) },
        });
      }
      await a1.next((f) => f.t === 'ok' && f.rid === total + 9, 20_000);
      const b1 = await WsClient.connect(s.url, b.token);
      const window = await b1.items(Limits.maxInFlight, 10_000);
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(b1.frames.filter((f) => f.t === 'deliver').length, 0, 'the window is full');
      b1.ack(window.slice(0, 30).map((i) => num(i, 'id')));
      const rest = await b1.items(total + 1 - Limits.maxInFlight);
      const ids = [...window, ...rest].map((i) => num(i, 'id'));
      assert.equal(new Set(ids).size, ids.length);
      assert.deepEqual(
        ids,
        [...ids].sort((x, y) => x - y),
        'mailbox order',
      );
      await a1.close();
      await b1.close();
    });

    it('answers malformed frames with BAD_REQUEST, then closes after too many', async () => {
      const u = await registerUser(s.api);
      const c = await WsClient.connect(s.url, u.token);
      c.sendRaw('{not json');
      assert.equal((await c.next((f) => f.t === 'error')).code, 'BAD_REQUEST');
      c.sendRaw({ t: 'send', rid: 42, msg: { nope: true } });
      const e = await c.next((f) => f.t === 'error');
      assert.equal(e.rid, 42);
      assert.match(String(e.message), /msg/);
      c.ws.send(Buffer.from([1, 2, 3]), { binary: true });
      assert.equal((await c.next((f) => f.t === 'error')).code, 'BAD_REQUEST');
      c.sendRaw({ t: 'ping', rid: 5 });
      assert.equal((await c.next((f) => f.t === 'pong')).rid, 5, 'still usable');
      for (let i = 0; i < 20; i++) c.sendRaw({ t: 'wat' });
      assert.equal((await c.closed).code, 4400);
    });

    it('refuses frames over the size limit', async () => {
      const u = await registerUser(s.api);
      const c = await WsClient.connect(s.url, u.token);
      c.sendRaw({ t: 'ping', rid: 1, pad: 'x'.repeat(Limits.maxFrameBytes + 10) });
      assert.equal((await c.closed).code, 1009);
      assert.equal(field(await s.api.req('GET', '/healthz'), 'status'), 200);
    });
  });
}

it('closes a client that stops reading with TooSlow, losing nothing', async () => {
  // A byte window larger than the kernel's socket buffers, so that our own buffer fills up.
  const s = await testServer({
    tuning: { sendBufferSoftBytes: 64 * 1024, slowClientMs: 300, maxInFlightBytes: 64 * 1024 * 1024 },
  });
  try {
    const [a, b] = [await registerUser(s.api), await registerUser(s.api)];
    const a1 = await WsClient.connect(s.url, a.token);
    const groupId = rid();
    await s.api.req('POST', '/v1/groups', { groupId }, a.token);
    await claimFor(s.api, a, b);
    const add = { userId: b.userId, deviceId: b.device.deviceId };
    await a1.send({
      msgId: rid(),
      groupId,
      kind: 'commit',
      epoch: 0,
      body: b64('c'),
      adds: [add],
      welcome: b64('w'),
    });
    const b1 = await WsClient.connect(s.url, b.token);
    await b1.items(1);
    const socket: unknown = Reflect.get(b1.ws, '_socket');
    assert.ok(socket instanceof Socket);
    socket.pause(); // b stops reading
    const big = 'x'.repeat(300 * 1024);
    for (let i = 0; i < 60; i++) {
      assert.equal(
        (await a1.send({ msgId: rid(), groupId, kind: 'application', epoch: 1, body: b64(big) })).t,
        'ok',
      );
    }
    const deadline = Date.now() + 10_000;
    let metrics = '';
    while (!/kolokol_ws_closes_total\{reason="too-slow"\} 1/.test(metrics) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      metrics = await (await fetch(`${s.url}/metrics`)).text();
    }
    assert.match(metrics, /kolokol_ws_closes_total\{reason="too-slow"\} 1/);
    b1.ws.terminate();
    const b2 = await WsClient.connect(s.url, b.token);
    const items = await b2.items(61, 10_000);
    assert.equal(new Set(items.map((i) => i.msgId)).size, 61, 'the mailbox still holds everything');
    await a1.close();
    await b2.close();
  } finally {
    await s.stop();
  }
});
