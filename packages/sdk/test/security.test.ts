/**
 * The security review's proofs of concept, run against a real server and real clients: they must
 * no longer work. Mallory speaks the wire protocol herself (a raw WebSocket with her own token).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, before, describe, it } from 'node:test';
import { startServer } from '@kolokol/server';
import { ClientEvent, KolokolClient, MemoryStore, type SdkError, type StoredMessage } from '../src/index.ts';

let server: { url: string; close(): Promise<void> };
let dir: string;
const clients: KolokolClient[] = [];
const backoff = { baseMs: 20, maxMs: 200 };

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'kolokol-sdk-sec-'));
  server = await startServer({ dataDir: dir, port: 0, logLevel: 'silent' });
});
after(async () => {
  for (const c of clients) await c.close();
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

interface Actor {
  client: KolokolClient;
  store: MemoryStore;
  errors: SdkError[];
}

async function actor(name: string): Promise<Actor> {
  const store = new MemoryStore();
  const client = await KolokolClient.register({ server: server.url, username: name, store, backoff });
  const errors: SdkError[] = [];
  client.on(ClientEvent.Error, (e) => {
    errors.push(e);
    if (process.env.SDK_DEBUG) console.log(`[${name}]`, e.code, e.message);
  });
  clients.push(client);
  await client.connect();
  await client.sync();
  return { client, store, errors };
}

async function tokenOf(a: Actor): Promise<string> {
  const s = await a.store.getSession();
  assert.ok(s !== undefined);
  return s.token;
}

async function http(method: string, path: string, token: string, body?: unknown): Promise<unknown> {
  const res = await fetch(`${server.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return res.json();
}

/** A raw protocol client: what an attacker with an account can say to the server. */
class Raw {
  readonly #ws: WebSocket;
  readonly #answers = new Map<number, (f: Record<string, unknown>) => void>();
  #rid = 1;
  private constructor(ws: WebSocket) {
    this.#ws = ws;
    ws.onmessage = (ev) => {
      const f: unknown = JSON.parse(String(ev.data));
      if (typeof f !== 'object' || f === null) return;
      const frame = { ...f } as Record<string, unknown>;
      const rid = frame.rid;
      if (typeof rid === 'number') this.#answers.get(rid)?.(frame);
      if (frame.t === 'deliver' && Array.isArray(frame.items)) {
        const ids = frame.items.map((i: { id: number }) => i.id);
        if (ids.length > 0) ws.send(JSON.stringify({ t: 'ack', ids }));
      }
    };
  }
  static async open(token: string): Promise<Raw> {
    const ws = new WebSocket(`${server.url.replace(/^http/, 'ws')}/v1/ws`);
    await new Promise<void>((resolve) => ws.addEventListener('open', () => resolve(), { once: true }));
    const raw = new Raw(ws);
    const ready = new Promise<void>((resolve) =>
      ws.addEventListener('message', (ev) => {
        if (String(ev.data).startsWith('{"t":"ready"')) resolve();
      }),
    );
    ws.send(JSON.stringify({ t: 'hello', v: 1, token }));
    await ready;
    return raw;
  }
  send(msg: Record<string, unknown>): Promise<Record<string, unknown>> {
    const rid = this.#rid++;
    return new Promise((resolve) => {
      this.#answers.set(rid, resolve);
      this.#ws.send(JSON.stringify({ t: 'send', rid, msg }));
    });
  }
  close(): void {
    this.#ws.close();
  }
}

const rid = () => crypto.randomUUID().replaceAll('-', '').slice(0, 22);
const texts = (ms: StoredMessage[]) => ms.map((m) => (m.body.type === 'text' ? m.body.text : m.body.type));

async function eventually(sync: KolokolClient[], check: () => Promise<boolean>, timeoutMs = 15_000) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    for (const c of sync) await c.sync();
    if (await check()) return;
    if (Date.now() > end) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('security review proofs of concept', () => {
  let alice: Actor;
  let bob: Actor;
  let mallory: Actor;

  before(async () => {
    alice = await actor('alice');
    bob = await actor('bob');
    mallory = await actor('mallory');
  });

  it('H1/M1: a fake group full of junk cannot stall delivery; unclaimed adds are refused', async () => {
    const conv = await alice.client.openDirect('bob');
    await alice.client.sendText(conv.id, 'hello-1');
    await eventually([bob.client], async () => texts(await bob.client.messages(conv.id)).includes('hello-1'));

    const token = await tokenOf(mallory);
    const raw = await Raw.open(token);
    const groupId = rid();
    await http('POST', '/v1/groups', token, { groupId });
    const bobDevices = [{ userId: bob.client.userId, deviceId: bob.client.deviceId }];
    // Without a claimed key package nobody can be put into a group's fan-out.
    const unclaimed = await raw.send({
      msgId: rid(),
      groupId,
      kind: 'commit',
      epoch: 0,
      body: 'AAAA',
      adds: bobDevices,
      welcome: 'AAAA',
    });
    assert.equal(unclaimed.code, 'FORBIDDEN');
    // With one (anybody may claim), the welcome is garbage and the junk follows.
    await http('POST', '/v1/keypackages/claim', token, { userId: bob.client.userId });
    const commit = await raw.send({
      msgId: rid(),
      groupId,
      kind: 'commit',
      epoch: 0,
      body: 'AAAA',
      adds: bobDevices,
      welcome: 'AAAA',
    });
    assert.equal(commit.t, 'ok');
    const future = await raw.send({
      msgId: rid(),
      groupId,
      kind: 'application',
      epoch: 999_999,
      body: 'AAAA',
    });
    assert.equal(future.code, 'BAD_REQUEST', 'messages from an epoch the group has not reached are refused');
    const junk: Promise<Record<string, unknown>>[] = [];
    for (let i = 0; i < 300; i++)
      junk.push(raw.send({ msgId: rid(), groupId, kind: 'application', epoch: 1, body: 'AAAA' }));
    for (const r of await Promise.all(junk)) assert.equal(r.t, 'ok');

    await alice.client.sendText(conv.id, 'hello-2');
    await eventually([bob.client], async () => texts(await bob.client.messages(conv.id)).includes('hello-2'));
    // The junk is held in bob's store (bounded), not in the server's window, also after a reconnect.
    assert.ok((await bob.store.countPending()) <= 500);
    await bob.client.close();
    const bob2 = await KolokolClient.open({ store: bob.store, backoff });
    clients.push(bob2);
    await bob2.connect();
    await alice.client.sendText(conv.id, 'hello-3');
    await eventually([bob2], async () => texts(await bob2.messages(conv.id)).includes('hello-3'));
    assert.deepEqual(texts(await bob2.messages(conv.id)), ['hello-1', 'hello-2', 'hello-3']);
    bob = { ...bob, client: bob2 };
    raw.close();
  });

  it('L2/outbox: NOT_GROUP_MEMBER keeps the message queued, marks the conversation, and lets the user retry or discard', async () => {
    const carol = await actor('carol');
    const conv = await alice.client.openDirect('carol');
    await carol.client.sync();
    // The server drops carol from the group's fan-out without her client knowing (what a member's
    // `removes` could do, review M1).
    const db = new DatabaseSync(join(dir, 'kolokol.db'));
    db.exec('PRAGMA busy_timeout = 5000');
    const row = db
      .prepare(
        'SELECT group_id, user_id, device_id, joined_at FROM group_members WHERE group_id = ? AND device_id = ?',
      )
      .get(conv.id, carol.client.deviceId);
    assert.ok(row !== undefined);
    const drop = () =>
      db
        .prepare('DELETE FROM group_members WHERE group_id = ? AND device_id = ?')
        .run(conv.id, carol.client.deviceId);
    drop();

    const errors = carol.errors.length;
    await assert.rejects(carol.client.sendText(conv.id, 'not lost'), { code: 'NOT_GROUP_MEMBER' });
    assert.ok(
      carol.errors.slice(errors).some((e) => e.code === 'NOT_GROUP_MEMBER'),
      'an Error event',
    );
    const queued = await carol.client.outbox(conv.id);
    assert.deepEqual(
      queued.map((q) => q.type),
      ['text'],
      'the message stays in the outbox',
    );
    assert.equal((await carol.client.conversations()).find((c) => c.id === conv.id)?.readOnly, true);
    await assert.rejects(carol.client.sendText(conv.id, 'more'), { code: 'NOT_GROUP_MEMBER' });

    // Back in the group: retry sends it.
    const { group_id, user_id, device_id, joined_at } = row;
    assert.ok(typeof group_id === 'string' && typeof user_id === 'string' && typeof device_id === 'string');
    assert.ok(typeof joined_at === 'number');
    db.prepare('INSERT INTO group_members (group_id, user_id, device_id, joined_at) VALUES (?, ?, ?, ?)').run(
      group_id,
      user_id,
      device_id,
      joined_at,
    );
    await carol.client.retryOutbox(conv.id);
    await eventually([alice.client, carol.client], async () =>
      texts(await alice.client.messages(conv.id)).includes('not lost'),
    );
    assert.deepEqual(await carol.client.outbox(conv.id), []);
    assert.equal((await carol.client.conversations()).find((c) => c.id === conv.id)?.readOnly, undefined);

    // Out again: this time the user discards it.
    drop();
    await assert.rejects(carol.client.sendText(conv.id, 'discard me'), { code: 'NOT_GROUP_MEMBER' });
    const [entry] = await carol.client.outbox(conv.id);
    assert.ok(entry !== undefined);
    assert.equal(await carol.client.discardOutbox(entry.msgId), true);
    assert.deepEqual(await carol.client.outbox(conv.id), []);
    assert.equal((await carol.client.conversations()).find((c) => c.id === conv.id)?.readOnly, undefined);
    db.close();
  });

  it('H2: after a commit nobody can process, honest members stop sending on the group; mallory reads nothing more', async () => {
    const dave = await actor('dave');
    const conv = await alice.client.createGroup('team', ['dave', 'mallory']);
    await eventually(
      [dave.client, mallory.client],
      async () =>
        (await dave.client.conversations()).some((c) => c.id === conv.id) &&
        (await mallory.client.conversations()).some((c) => c.id === conv.id),
    );
    await alice.client.sendText(conv.id, 'before');
    await eventually([mallory.client], async () =>
      texts(await mallory.client.messages(conv.id)).includes('before'),
    );

    const token = await tokenOf(mallory);
    const group = (await http('GET', `/v1/groups/${conv.id}`, token)) as { epoch: number };
    const raw = await Raw.open(token);
    const brick = await raw.send({
      msgId: rid(),
      groupId: conv.id,
      kind: 'commit',
      epoch: group.epoch,
      body: 'AAAA',
    });
    assert.equal(brick.t, 'ok', 'the server cannot judge a PrivateMessage commit');
    raw.close();

    for (const honest of [alice, dave]) {
      await eventually([honest.client], async () =>
        (await honest.client.conversations()).some((c) => c.id === conv.id && c.forked !== undefined),
      );
      const forked = (await honest.client.conversations()).find((c) => c.id === conv.id)?.forked;
      assert.deepEqual(forked?.by, { userId: mallory.client.userId, deviceId: mallory.client.deviceId });
      assert.ok(
        honest.errors.some((e) => e.code === 'FORKED'),
        'an Error event',
      );
      await assert.rejects(honest.client.sendText(conv.id, 'secret plan'), { code: 'FORKED' });
      await assert.rejects(honest.client.removeMember(conv.id, 'mallory'), { code: 'FORKED' });
    }
    await mallory.client.sync();
    assert.deepEqual(
      texts(await mallory.client.messages(conv.id)),
      ['before'],
      'nothing more reaches mallory',
    );
  });
});
