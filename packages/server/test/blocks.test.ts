/**
 * Blocking at the server (issue 6): once Bob blocks Mallory, none of Bob's devices receive her
 * application messages (texts and call signalling ride in them) or her welcomes to new groups,
 * while Carol in the same group still does, and group bookkeeping (commits) still reaches Bob so
 * that his MLS state stays whole. Mallory is not told. Unblocking restores delivery.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  b64,
  claimFor,
  errorCode,
  field,
  groupWith,
  num,
  postgresProblem,
  registerUser,
  rid,
  type TestServer,
  testServer,
  type User,
  WsClient,
} from './helpers.ts';

// SQLite sends take their own prepared-statement path (store.ts #sendNow); PostgreSQL the Kysely one.
for (const backend of ['sqlite', 'postgres'] as const)
  describe(`blocks at the server (${backend})`, async () => {
    const pgDown = backend === 'postgres' ? await postgresProblem() : undefined;
    let server: TestServer;
    let bob: User;
    let mallory: User;
    let carol: User;
    let bobWs: WsClient;
    let malloryWs: WsClient;
    let carolWs: WsClient;
    let groupId: string;

    const blocked = async (who: User) =>
      field((await server.api.req('GET', '/v1/blocks', undefined, who.token)).body, 'blocked');

    before(async () => {
      if (pgDown !== undefined) throw new Error(`PostgreSQL must run for this test: ${pgDown}`);
      server = await testServer({}, backend);
      bob = await registerUser(server.api);
      mallory = await registerUser(server.api);
      carol = await registerUser(server.api);
      bobWs = await WsClient.connect(server.url, bob.token);
      malloryWs = await WsClient.connect(server.url, mallory.token);
      carolWs = await WsClient.connect(server.url, carol.token);
      groupId = await groupWith(server.api, mallory, malloryWs, bob, carol);
      for (const ws of [bobWs, carolWs])
        await ws.items(1).then((items) => ws.ack(items.map((i) => num(i, 'id'))));
    });
    after(async () => {
      for (const ws of [bobWs, malloryWs, carolWs]) await ws?.close().catch(() => {});
      await server?.stop();
    });

    const text = (body: string) => ({
      msgId: rid(),
      groupId,
      kind: 'application',
      epoch: 1,
      body: b64(body),
    });

    it('PUT, GET and DELETE name the blocked accounts; bad ones are refused', async () => {
      assert.deepEqual(await blocked(bob), []);
      const put = await server.api.req('PUT', `/v1/blocks/${mallory.userId}`, undefined, bob.token);
      assert.equal(put.status, 200, JSON.stringify(put.body));
      assert.deepEqual(field(put.body, 'blocked'), [mallory.userId]);
      // Idempotent.
      assert.equal(
        (await server.api.req('PUT', `/v1/blocks/${mallory.userId}`, undefined, bob.token)).status,
        200,
      );
      assert.deepEqual(await blocked(bob), [mallory.userId]);
      assert.equal(
        errorCode((await server.api.req('PUT', `/v1/blocks/${bob.userId}`, undefined, bob.token)).body),
        'BAD_REQUEST',
      );
      assert.equal(
        errorCode((await server.api.req('PUT', `/v1/blocks/${rid()}`, undefined, bob.token)).body),
        'NOT_FOUND',
      );
      assert.equal((await server.api.req('PUT', `/v1/blocks/${mallory.userId}`)).status, 401);
      assert.deepEqual(await blocked(mallory), [], 'the blocked account learns nothing');
    });

    it("the blocker's devices get none of the blocked account's messages; others do; commits still arrive", async () => {
      const ok = await malloryWs.send(text('send me the code'));
      assert.equal(ok.t, 'ok', 'the sender is not told');
      const [atCarol] = await carolWs.items(1);
      carolWs.ack([num(atCarol, 'id')]);
      assert.equal(field(field(atCarol, 'sender'), 'userId'), mallory.userId);

      // Carol's message after it reaches Bob: had Mallory's been delivered, it would be first.
      assert.equal((await carolWs.send(text('hi all'))).t, 'ok');
      const [first] = await bobWs.items(1);
      bobWs.ack([num(first, 'id')]);
      assert.equal(field(field(first, 'sender'), 'userId'), carol.userId);

      // A commit by the blocked account is group bookkeeping: Bob must see it to keep up.
      const commit = await malloryWs.send({
        msgId: rid(),
        groupId,
        kind: 'commit',
        epoch: 1,
        body: b64('update'),
      });
      assert.equal(commit.t, 'ok', JSON.stringify(commit));
      const [c] = await bobWs.items(1);
      bobWs.ack([num(c, 'id')]);
      assert.equal(field(c, 'kind'), 'commit');
      const [cc] = await carolWs.items(1);
      carolWs.ack([num(cc, 'id')]);
    });

    it("the blocked account's welcome to a new group never reaches the blocker", async () => {
      const g2 = rid();
      assert.equal((await server.api.req('POST', '/v1/groups', { groupId: g2 }, mallory.token)).status, 200);
      await claimFor(server.api, mallory, bob, carol);
      const ok = await malloryWs.send({
        msgId: rid(),
        groupId: g2,
        kind: 'commit',
        epoch: 0,
        body: b64('commit adding'),
        adds: [bob, carol].map((o) => ({ userId: o.userId, deviceId: o.device.deviceId })),
        welcome: b64('welcome'),
      });
      assert.equal(ok.t, 'ok', JSON.stringify(ok));
      const [w] = await carolWs.items(1);
      carolWs.ack([num(w, 'id')]);
      assert.equal(field(w, 'kind'), 'welcome');
      assert.equal((await carolWs.send({ ...text('ping'), groupId })).t, 'ok');
      const [next] = await bobWs.items(1);
      bobWs.ack([num(next, 'id')]);
      assert.equal(field(next, 'groupId'), groupId, 'no welcome before Carol’s ping');
      assert.equal(field(next, 'kind'), 'application');
    });

    it('unblocking restores delivery', async () => {
      const del = await server.api.req('DELETE', `/v1/blocks/${mallory.userId}`, undefined, bob.token);
      assert.deepEqual(field(del.body, 'blocked'), []);
      // Epoch 2 after Mallory's commit above.
      assert.equal((await malloryWs.send({ ...text('sorry'), epoch: 2 })).t, 'ok');
      const [m] = await bobWs.items(1);
      bobWs.ack([num(m, 'id')]);
      assert.equal(field(field(m, 'sender'), 'userId'), mallory.userId);
    });
  });
