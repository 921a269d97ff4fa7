/**
 * Group rename and admins against a real server (in-process, port 0): the title and the admin list
 * travel in the encrypted `meta` envelope and every member device enforces who may change them.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startServer } from '@kolokol/server';
import { ClientEvent, type Conversation, KolokolClient, MemoryStore, SdkError } from '../src/index.ts';

let server: { url: string; close(): Promise<void> };
let dir: string;
const clients: KolokolClient[] = [];
const errors = new Map<KolokolClient, SdkError[]>();
const backoff = { baseMs: 20, maxMs: 200 };

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'kolokol-sdk-groups-'));
  server = await startServer({ dataDir: dir, port: 0, logLevel: 'silent' });
});
after(async () => {
  for (const c of clients) await c.close();
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

function track(c: KolokolClient): KolokolClient {
  const list: SdkError[] = [];
  errors.set(c, list);
  c.on(ClientEvent.Error, (e) => list.push(e));
  clients.push(c);
  return c;
}

async function user(name: string, store = new MemoryStore()): Promise<KolokolClient> {
  const c = track(await KolokolClient.register({ server: server.url, username: name, store, backoff }));
  await c.connect();
  await c.sync();
  return c;
}

async function eventually(sync: KolokolClient[], check: () => Promise<boolean>, timeoutMs = 20_000) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    for (const c of sync) await c.sync();
    if (await check()) return;
    if (Date.now() > end) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function convOf(c: KolokolClient, id: string): Promise<Conversation | undefined> {
  return (await c.conversations()).find((x) => x.id === id);
}

const forbidden = (e: unknown) => e instanceof SdkError && e.code === 'FORBIDDEN';

describe('groups: rename and admins, enforced on every member device', () => {
  let alice: KolokolClient;
  let bob: KolokolClient;
  let bob2: KolokolClient;
  let carol: KolokolClient;
  const carolStore = new MemoryStore();
  let groupId: string;

  before(async () => {
    alice = await user('g_alice');
    bob = await user('g_bob');
    carol = await user('g_carol', carolStore);
  });

  it('the creator is the first admin, on every member device', async () => {
    const g = await alice.createGroup('team', ['g_bob', 'g_carol']);
    groupId = g.id;
    assert.deepEqual(g.admins, [alice.userId]);
    await eventually([bob, carol], async () => {
      const [b, c] = [await convOf(bob, groupId), await convOf(carol, groupId)];
      return b?.admins.join() === alice.userId && c?.admins.join() === alice.userId;
    });
    assert.equal((await convOf(bob, groupId))?.title, 'team');
  });

  it('a rename reaches every member device, including one linked afterwards', async () => {
    const code = await bob.createLinkCode();
    bob2 = track(await KolokolClient.link({ server: server.url, code, store: new MemoryStore(), backoff }));
    await eventually([bob, bob2], async () => (await convOf(bob2, groupId))?.left === false);
    // The link bundle carried the admins: bob2 knows alice is the admin before any meta.
    assert.deepEqual((await convOf(bob2, groupId))?.admins, [alice.userId]);

    await alice.renameGroup(groupId, '  Team Rocket ');
    assert.equal((await convOf(alice, groupId))?.title, 'Team Rocket');
    await eventually([bob, bob2, carol], async () => {
      const all = await Promise.all([bob, bob2, carol].map((c) => convOf(c, groupId)));
      return all.every((c) => c?.title === 'Team Rocket');
    });
    // Bob's own unchanged meta (sent when his device added bob2) raised no complaint anywhere.
    for (const c of [alice, bob, bob2, carol]) assert.deepEqual(errors.get(c)?.filter(forbidden), []);
  });

  it('a non-admin is refused locally: rename, admins, add and remove', async () => {
    await assert.rejects(carol.renameGroup(groupId, 'mine now'), forbidden);
    await assert.rejects(carol.setAdmin(groupId, carol.userId, true), forbidden);
    await user('g_dave');
    await assert.rejects(carol.addMembers(groupId, ['g_dave']), forbidden);
    // Admin is about people: adding the (new) devices of members is anyone's to do.
    await carol.addMembers(groupId, ['g_bob']);
    await assert.rejects(carol.removeMember(groupId, 'g_bob'), forbidden);
    await assert.rejects(alice.renameGroup(groupId, '   '), /title/);
    await assert.rejects(alice.setAdmin(groupId, alice.userId, false), /at least one admin/);
    const direct = await alice.openDirect('g_bob');
    await assert.rejects(alice.renameGroup(direct.id, 'x'), /only groups/);
  });

  it("a non-admin's rename forced through as a raw envelope is ignored by every other device", async () => {
    // Carol's client refuses, so she writes the envelope straight into her outbox: what a modified
    // client would send.
    await carolStore.atomic((w) =>
      w.putOutbox({
        msgId: 'forged-meta-0001',
        conversationId: groupId,
        order: `${String(Date.now()).padStart(15, '0')}.999999999`,
        createdAt: Date.now(),
        envelope: { v: 1, type: 'meta', kind: 'group', title: 'hacked', admins: [carol.userId] },
      }),
    );
    await carol.retryOutbox(groupId);
    const marker = await carol.sendText(groupId, 'after the forged meta');
    await eventually([alice, bob, bob2], async () => {
      const got = await Promise.all([alice, bob, bob2].map((c) => c.messages(groupId)));
      return got.every((ms) => ms.some((m) => m.id === marker.id));
    });
    for (const c of [alice, bob, bob2]) {
      const conv = await convOf(c, groupId);
      assert.equal(conv?.title, 'Team Rocket');
      assert.deepEqual(conv?.admins, [alice.userId]);
      const refused = errors.get(c)?.filter(forbidden) ?? [];
      assert.equal(refused.length, 1, 'one Error event for the refused meta');
      assert.equal(refused[0]?.details?.conversationId, groupId);
    }
  });

  it('an admin promotes a member, who may then rename; a demoted admin may not', async () => {
    await alice.setAdmin(groupId, bob.userId, true);
    assert.deepEqual((await convOf(alice, groupId))?.admins, [alice.userId, bob.userId]);
    await eventually([bob, bob2, carol], async () => {
      const all = await Promise.all([bob, bob2, carol].map((c) => convOf(c, groupId)));
      return all.every((c) => c?.admins.join() === [alice.userId, bob.userId].join());
    });
    // Bob's second device acts as admin too (admin is per user, not per device).
    await bob2.renameGroup(groupId, 'Bob was here');
    await eventually([alice, bob, carol], async () => {
      const all = await Promise.all([alice, bob, carol].map((c) => convOf(c, groupId)));
      return all.every((c) => c?.title === 'Bob was here');
    });

    await bob.setAdmin(groupId, alice.userId, false);
    await eventually(
      [alice, carol],
      async () => (await convOf(alice, groupId))?.admins.join() === bob.userId,
    );
    await assert.rejects(alice.renameGroup(groupId, 'not any more'), forbidden);
  });

  it("a non-admin's membership commit cannot be stopped, but every other device flags it", async () => {
    // Carol's client refuses, so she lies to it about the admins: what a modified client would do.
    const mine = await carolStore.getConversation(groupId);
    assert.ok(mine !== undefined);
    await carolStore.atomic((w) => w.putConversation({ ...mine, admins: [carol.userId] }));
    await carol.addMembers(groupId, ['g_dave']);
    for (const c of [alice, bob, bob2]) {
      await eventually([c], async () =>
        (errors.get(c) ?? []).some((e) => forbidden(e) && e.details?.change === 'members'),
      );
      const flagged = (errors.get(c) ?? []).find((e) => forbidden(e) && e.details?.change === 'members');
      assert.equal(flagged?.details?.by, carol.userId);
      assert.deepEqual(flagged?.details?.users, [
        (await convOf(c, groupId))?.members.find((m) => m.username === 'g_dave')?.userId,
      ]);
    }
  });
});
