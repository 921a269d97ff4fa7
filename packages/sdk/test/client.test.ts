/**
 * The client against a real server (in-process, port 0): 1:1 and group chats, a second device via a
 * link code, duplicated and reordered deliveries, and removal cutting a member off.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startServer } from '@kolokol/server';
import {
  ClientEvent,
  defaultTransport,
  KolokolClient,
  MemoryStore,
  type SdkError,
  type StoredMessage,
  type Transport,
  type WebSocketLike,
} from '../src/index.ts';

let server: { url: string; close(): Promise<void> };
let dir: string;
const clients: KolokolClient[] = [];
const backoff = { baseMs: 20, maxMs: 200 };

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'kolokol-sdk-'));
  server = await startServer({ dataDir: dir, port: 0, logLevel: 'silent' });
});
after(async () => {
  for (const c of clients) await c.close();
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

function track(c: KolokolClient, name: string): KolokolClient {
  const errors: SdkError[] = [];
  c.on(ClientEvent.Error, (e) => {
    errors.push(e);
    if (process.env.SDK_DEBUG) console.log(`[${name}]`, e.code, e.message);
  });
  clients.push(c);
  return c;
}

async function user(name: string, transport?: Transport): Promise<KolokolClient> {
  const c = await KolokolClient.register({
    server: server.url,
    username: name,
    store: new MemoryStore(),
    backoff,
    ...(transport === undefined ? {} : { transport }),
  });
  track(c, name);
  await c.connect();
  await c.sync();
  return c;
}

/** Polls `check` (syncing the clients in between) until it holds: delivery to others is asynchronous. */
async function eventually(clientsToSync: KolokolClient[], check: () => Promise<boolean>, timeoutMs = 20_000) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    for (const c of clientsToSync) await c.sync();
    if (await check()) return;
    if (Date.now() > end) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}

const texts = (ms: StoredMessage[]) =>
  ms.map((m) =>
    m.body.type === 'text'
      ? m.body.text
      : m.body.type === 'attachment'
        ? `[${m.body.attachment.name}]`
        : `(${m.body.event})`,
  );

/**
 * A WebSocket that, for `deliver` frames, sends every frame twice and swaps each pair of
 * consecutive deliver frames (the second goes first), as a misbehaving network or server might.
 */
function chaosTransport(): { transport: Transport; stats: { duplicated: number; swapped: number } } {
  const base = defaultTransport();
  const stats = { duplicated: 0, swapped: 0 };
  class ChaosSocket implements WebSocketLike {
    readonly inner: WebSocketLike;
    onopen: ((ev: unknown) => void) | null = null;
    onmessage: ((ev: { data: unknown }) => void) | null = null;
    onclose: ((ev: { code: number; reason: string }) => void) | null = null;
    onerror: ((ev: unknown) => void) | null = null;
    #held: { data: unknown } | undefined;
    #after: { data: unknown }[] = [];
    #timer: ReturnType<typeof setTimeout> | undefined;
    constructor(url: string) {
      this.inner = new base.WebSocket(url);
      this.inner.onopen = (e) => this.onopen?.(e);
      this.inner.onclose = (e) => {
        this.#flush();
        this.onclose?.(e);
      };
      this.inner.onerror = (e) => this.onerror?.(e);
      this.inner.onmessage = (ev) => {
        const isDeliver = typeof ev.data === 'string' && ev.data.startsWith('{"t":"deliver"');
        if (!isDeliver) {
          // Frames after a held deliver (synced, pong) wait behind it: only deliveries are reordered.
          if (this.#held !== undefined) this.#after.push({ data: ev.data });
          else this.onmessage?.(ev);
          return;
        }
        if (this.#held === undefined) {
          this.#held = { data: ev.data };
          this.#timer = setTimeout(() => this.#flush(), 30);
          return;
        }
        // Swap: the later frame first, then the held one; each twice.
        const first = this.#held;
        this.#held = undefined;
        clearTimeout(this.#timer);
        stats.swapped++;
        stats.duplicated += 2;
        this.onmessage?.({ data: ev.data });
        this.onmessage?.(first);
        this.onmessage?.({ data: ev.data });
        this.onmessage?.(first);
        this.#release();
      };
    }
    #flush() {
      const h = this.#held;
      this.#held = undefined;
      clearTimeout(this.#timer);
      if (h !== undefined) {
        stats.duplicated++;
        this.onmessage?.(h);
        this.onmessage?.(h);
      }
      this.#release();
    }
    #release() {
      const after = this.#after;
      this.#after = [];
      for (const f of after) this.onmessage?.(f);
    }
    get readyState() {
      return this.inner.readyState;
    }
    send(d: string) {
      this.inner.send(d);
    }
    close(code?: number, reason?: string) {
      this.inner.close(code, reason);
    }
  }
  return { transport: { fetch: base.fetch, WebSocket: ChaosSocket }, stats };
}

describe('KolokolClient against a real server', () => {
  let alice: KolokolClient;
  let bob: KolokolClient;
  let carol: KolokolClient;
  let chaos: ReturnType<typeof chaosTransport>;

  before(async () => {
    chaos = chaosTransport();
    alice = await user('alice');
    bob = await user('bob', chaos.transport);
    carol = await user('carol');
  });

  it('1:1: finds-or-creates the conversation and delivers in order', async () => {
    const conv = await alice.openDirect('bob');
    assert.equal((await alice.openDirect('bob')).id, conv.id, 'second openDirect finds the first');
    const sent = await alice.sendText(conv.id, 'hello bob');
    assert.equal(sent.outgoing, true);
    for (let i = 0; i < 5; i++) await alice.sendText(conv.id, `m${i}`);
    await eventually([bob], async () => (await bob.messages(conv.id)).length === 6);
    const bobConv = (await bob.conversations()).find((c) => c.id === conv.id);
    assert.equal(bobConv?.kind, 'direct');
    assert.equal(bobConv?.peer?.username, 'alice');
    assert.deepEqual(texts(await bob.messages(conv.id)), ['hello bob', 'm0', 'm1', 'm2', 'm3', 'm4']);
    await bob.sendText(conv.id, 'hi alice');
    await eventually([alice], async () => texts(await alice.messages(conv.id)).includes('hi alice'));
    assert.deepEqual(texts(await alice.messages(conv.id)).at(-1), 'hi alice');
    const seqs = (await alice.messages(conv.id)).map((m) => m.seq);
    assert.deepEqual(
      seqs,
      [...seqs].sort((a, b) => a - b),
    );
  });

  it('drops duplicated and reordered deliveries (bob runs over a chaotic socket)', async () => {
    const got: StoredMessage[] = [];
    const onMsg = (m: StoredMessage) => got.push(m);
    bob.on(ClientEvent.Message, onMsg);
    const conv = await alice.openDirect('bob');
    for (let i = 0; i < 10; i++) await alice.sendText(conv.id, `burst${i}`);
    await eventually([bob], async () => got.length >= 10);
    bob.off(ClientEvent.Message, onMsg);
    const expected = Array.from({ length: 10 }, (_, i) => `burst${i}`);
    // Events come in processing order (the socket swapped frames); each message exactly once.
    assert.deepEqual(texts(got).sort(), [...expected].sort());
    // History is in server order regardless.
    assert.deepEqual(texts(await bob.messages(conv.id)).slice(-10), expected);
    assert.ok(chaos.stats.duplicated > 0, 'the chaos transport did duplicate frames');
    assert.equal(
      new Set((await bob.messages(conv.id)).map((m) => m.id)).size,
      (await bob.messages(conv.id)).length,
    );
  });

  it('group: create, add, send attachment, remove; the removed member cannot read later messages', async () => {
    const group = await alice.createGroup('trio', ['bob']);
    await alice.addMembers(group.id, ['carol']);
    await alice.sendText(group.id, 'welcome all');
    await eventually([bob, carol], async () => texts(await carol.messages(group.id)).includes('welcome all'));
    const carolConv = (await carol.conversations()).find((c) => c.id === group.id);
    assert.equal(carolConv?.title, 'trio');
    assert.deepEqual(carolConv?.members.map((m) => m.username).sort(), ['alice', 'bob', 'carol']);

    const bytes = new TextEncoder().encode('a small file');
    const progress: number[] = [];
    const att = await carol.sendAttachment(group.id, { name: 'f.txt', mime: 'text/plain', bytes }, (sent) =>
      progress.push(sent),
    );
    assert.ok(progress.length >= 1);
    await eventually([bob], async () => (await bob.messages(group.id)).some((m) => m.id === att.id));
    const bobAtt = (await bob.messages(group.id)).find((m) => m.id === att.id);
    assert.ok(bobAtt !== undefined && bobAtt.body.type === 'attachment');
    assert.deepEqual(await bob.downloadAttachment(bobAtt.body.attachment), bytes);

    await alice.removeMember(group.id, 'carol');
    await eventually(
      [carol],
      async () => (await carol.conversations()).find((c) => c.id === group.id)?.left === true,
    );
    await alice.sendText(group.id, 'after carol left');
    await eventually([bob], async () => texts(await bob.messages(group.id)).includes('after carol left'));
    await carol.sync();
    assert.ok(!texts(await carol.messages(group.id)).includes('after carol left'));
    await assert.rejects(carol.sendText(group.id, 'still here?'), /no longer in the conversation/);
  });

  it('a second device joins via a link code and receives in every conversation', async () => {
    const direct = await alice.openDirect('bob');
    const code = await alice.createLinkCode();
    const alice2 = track(
      await KolokolClient.link({
        server: server.url,
        code,
        store: new MemoryStore(),
        deviceName: 'laptop',
        backoff,
      }),
      'alice2',
    );
    assert.equal(alice2.userId, alice.userId);
    // alice's first device reacts to device-added with a commit adding alice2 to every group.
    await eventually([alice, alice2], async () =>
      (await alice2.conversations()).some((c) => c.id === direct.id && !c.left),
    );
    assert.equal((await alice2.conversations()).find((c) => c.id === direct.id)?.kind, 'direct');
    await bob.sendText(direct.id, 'to both alices');
    await eventually(
      [alice, alice2],
      async () => texts(await alice2.messages(direct.id)).at(-1) === 'to both alices',
    );
    assert.equal(texts(await alice.messages(direct.id)).at(-1), 'to both alices');
    // alice2 speaks; bob sees it as alice, alice's first device sees it as her own.
    const fromLaptop = await alice2.sendText(direct.id, 'from the laptop');
    await eventually(
      [bob, alice],
      async () =>
        (await alice.messages(direct.id)).some((m) => m.id === fromLaptop.id) &&
        (await bob.messages(direct.id)).some((m) => m.id === fromLaptop.id),
    );
    const last = (await bob.messages(direct.id)).find((m) => m.id === fromLaptop.id);
    assert.equal(last?.from.username, 'alice');
    assert.equal(last?.from.deviceId, alice2.deviceId);
    assert.equal((await alice.messages(direct.id)).find((m) => m.id === fromLaptop.id)?.outgoing, true);
    assert.equal((await alice.devices()).length, 2);

    // Revoking the laptop removes it from the groups: it cannot read what follows.
    const revoked = alice2.waitFor(
      ClientEvent.Error,
      (e) => e.code === 'DEVICE_REVOKED' || e.code === 'SESSION_REVOKED',
      10_000,
    );
    await alice.revokeDevice(alice2.deviceId);
    await revoked;
    await bob.sendText(direct.id, 'laptop gone');
    await eventually([alice], async () => texts(await alice.messages(direct.id)).at(-1) === 'laptop gone');
    assert.ok(!texts(await alice2.messages(direct.id)).includes('laptop gone'));
  });

  it('a device linked while every other device was offline joins the groups when one comes back', async () => {
    const carolStore = new MemoryStore();
    const carol = track(
      await KolokolClient.register({ server: server.url, username: 'dora', store: carolStore, backoff }),
      'carol',
    );
    await carol.connect();
    await carol.sync();
    const group = await carol.createGroup('offline link', ['bob']);
    const code = await carol.createLinkCode();
    await carol.close(); // like a CLI that printed the code and exited: nobody hears device-added
    const carol2 = track(
      await KolokolClient.link({ server: server.url, code, store: new MemoryStore(), backoff }),
      'carol2',
    );
    await new Promise((r) => setTimeout(r, 300));
    assert.ok(!(await carol2.conversations()).some((c) => c.id === group.id), 'nobody could add it yet');
    const back = track(await KolokolClient.open({ store: carolStore, backoff }), 'carol again');
    await back.connect();
    await eventually([back, carol2], async () =>
      (await carol2.conversations()).some((c) => c.id === group.id && !c.left),
    );
    await bob.sendText(group.id, 'hello both carols');
    await eventually([carol2], async () =>
      texts(await carol2.messages(group.id)).includes('hello both carols'),
    );
  });

  it('reconnects after the socket drops; a send made while offline goes out once, in order', async () => {
    const base = defaultTransport();
    const sockets: WebSocketLike[] = [];
    const Tracked = function (this: unknown, url: string) {
      const ws = new base.WebSocket(url);
      sockets.push(ws);
      return ws;
    } as unknown as Transport['WebSocket'];
    const store = new MemoryStore();
    const dave = track(
      await KolokolClient.register({
        server: server.url,
        username: 'dave',
        store,
        backoff,
        transport: { fetch: base.fetch, WebSocket: Tracked },
      }),
      'dave',
    );
    await dave.connect();
    const conv = await dave.openDirect('alice');
    const states: string[] = [];
    dave.on(ClientEvent.Connection, (s) => states.push(s.state));
    sockets.at(-1)?.close(4000, 'test drop');
    const p1 = dave.sendText(conv.id, 'while offline 1');
    const p2 = dave.sendText(conv.id, 'while offline 2');
    const [m1, m2] = await Promise.all([p1, p2]);
    assert.ok(m1.seq < m2.seq, 'sends to one conversation keep their order');
    assert.ok(states.includes('offline') && states.at(-1) === 'online');
    await eventually([alice], async () => texts(await alice.messages(conv.id)).includes('while offline 2'));
    assert.deepEqual(
      texts(await alice.messages(conv.id)).filter((t) => t.startsWith('while offline')),
      ['while offline 1', 'while offline 2'],
    );
    // The same device, reopened from its store, keeps its history and conversations.
    await dave.close();
    const again = track(await KolokolClient.open({ store, backoff }), 'dave-again');
    assert.equal(again.deviceId, dave.deviceId);
    await again.connect();
    await again.sendText(conv.id, 'after reopen');
    assert.equal(texts(await again.messages(conv.id)).at(-1), 'after reopen');
  });

  it('safety numbers match on both sides', async () => {
    const a = await alice.safetyNumber('bob');
    const b = await bob.safetyNumber('alice');
    assert.equal(a.digits, b.digits);
    assert.equal(a.digits.replace(/ /g, '').length, 60);
  });
});
