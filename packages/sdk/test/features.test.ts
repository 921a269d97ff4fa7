/**
 * The web app's features against a real in-process server: profiles, contacts and blocking,
 * replies/reactions/edits/deletes, receipts, typing, safety-number changes, chunked uploads with
 * progress and cancel, account deletion, and Web Push.
 */
import assert from 'node:assert/strict';
import { createDecipheriv, createECDH, hkdfSync, randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
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
let n = 0;
const name = (p: string) => `${p}_${process.pid % 10000}_${++n}`;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'kolokol-sdk-features-'));
  server = await startServer({
    dataDir: dir,
    port: 0,
    logLevel: 'silent',
    tuning: { uploadChunkBytes: 64 * 1024 },
    push: { allowHttpEndpoints: true, coalesceMs: 200 },
  });
});
after(async () => {
  for (const c of clients) await c.close();
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

function track(c: KolokolClient, label: string): KolokolClient {
  c.on(ClientEvent.Error, (e: SdkError) => {
    if (process.env.SDK_DEBUG) console.log(`[${label}]`, e.code, e.message);
  });
  clients.push(c);
  return c;
}

async function user(prefix: string, store = new MemoryStore()): Promise<KolokolClient> {
  const c = await KolokolClient.register({ server: server.url, username: name(prefix), store, backoff });
  track(c, prefix);
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

const find = async (c: KolokolClient, conv: string, id: string): Promise<StoredMessage | undefined> =>
  (await c.messages(conv)).find((m) => m.id === id);

function serverDb(): DatabaseSync {
  return new DatabaseSync(join(dir, 'kolokol.db'));
}

describe('web app features', () => {
  it('profile and avatar reach the peer; contacts show them', async () => {
    const alice = await user('pa');
    const bob = await user('pb');
    const conv = await alice.openDirect(bob.username);
    const avatar = randomBytes(5000);
    const got = bob.waitFor(ClientEvent.Profile, (p) => p.userId === alice.userId && p.avatar !== undefined);
    await alice.setProfile({ displayName: 'Alice A.', avatar: { mime: 'image/png', bytes: avatar } });
    await alice.sync();
    await eventually([bob], async () => (await bob.profile(alice.userId))?.displayName === 'Alice A.');
    const [p] = await got;
    assert.equal(p.displayName, 'Alice A.');
    assert.ok(p.avatar !== undefined);
    assert.deepEqual(await bob.downloadAttachment(p.avatar), new Uint8Array(avatar));
    assert.equal((await alice.myProfile()).displayName, 'Alice A.');
    // Removing the avatar travels too.
    await alice.setProfile({ avatar: null });
    await eventually([alice, bob], async () => (await bob.profile(alice.userId))?.avatar === undefined);
    assert.equal((await bob.profile(alice.userId))?.displayName, 'Alice A.');
    // A conversation created later gets the profile on creation.
    const carol = await user('pc');
    await alice.openDirect(carol.username);
    await eventually(
      [alice, carol],
      async () => (await carol.profile(alice.userId))?.displayName === 'Alice A.',
    );
    // Contacts.
    const contact = await bob.addContact(alice.username);
    assert.equal(contact.displayName, 'Alice A.');
    assert.equal(contact.verified, false);
    assert.deepEqual(
      (await bob.contacts()).map((c) => c.userId),
      [alice.userId],
    );
    assert.deepEqual(await bob.searchUser(alice.username.toUpperCase()), {
      userId: alice.userId,
      username: alice.username,
    });
    assert.equal(await bob.searchUser('nobody_here_xyz'), undefined);
    await bob.removeContact(alice.userId);
    assert.deepEqual(await bob.contacts(), []);
    assert.ok(conv.id);
  });

  it("reply, react, edit and delete-for-everyone reach the peer and the sender's other device", async () => {
    const alice = await user('ra');
    const bob = await user('rb');
    const conv = await alice.openDirect(bob.username);
    const code = await alice.createLinkCode();
    const alice2 = track(
      await KolokolClient.link({ server: server.url, code, store: new MemoryStore(), backoff }),
      'ra2',
    );
    await eventually([alice, alice2], async () =>
      (await alice2.conversations()).some((c) => c.id === conv.id),
    );
    const first = await alice.sendText(conv.id, 'first');
    await eventually([bob], async () => (await find(bob, conv.id, first.id)) !== undefined);
    const reply = await bob.sendText(conv.id, 'a reply', { replyTo: first.id });
    assert.equal(reply.replyTo, first.id);
    await eventually(
      [alice, alice2],
      async () => (await find(alice2, conv.id, reply.id))?.replyTo === first.id,
    );

    const updated: StoredMessage[] = [];
    bob.on(ClientEvent.MessageUpdated, (m) => updated.push(m));
    await bob.react(conv.id, first.id, '👍');
    await alice.react(conv.id, first.id, '👍');
    await alice.react(conv.id, first.id, '🎉'); // one reaction per user: replaces 👍
    const reactionsOk = async (c: KolokolClient) => {
      const r = (await find(c, conv.id, first.id))?.reactions;
      return JSON.stringify(r) === JSON.stringify({ '👍': [bob.userId], '🎉': [alice.userId] });
    };
    await eventually(
      [alice, alice2, bob],
      async () => (await reactionsOk(bob)) && (await reactionsOk(alice)) && (await reactionsOk(alice2)),
    );
    await bob.react(conv.id, first.id, null);
    await eventually(
      [alice],
      async () =>
        JSON.stringify((await find(alice, conv.id, first.id))?.reactions) ===
        JSON.stringify({ '🎉': [alice.userId] }),
    );

    await alice.editMessage(conv.id, first.id, 'first (edited)');
    await eventually([bob, alice2], async () => {
      const b = await find(bob, conv.id, first.id);
      const a2 = await find(alice2, conv.id, first.id);
      return (
        b?.body.type === 'text' &&
        b.body.text === 'first (edited)' &&
        b.editedAt !== undefined &&
        a2?.editedAt !== undefined
      );
    });
    assert.ok(
      updated.some((m) => m.id === first.id && m.editedAt !== undefined),
      'MessageUpdated on edit',
    );
    await assert.rejects(
      bob.editMessage(conv.id, first.id, 'not mine'),
      (e: SdkError) => e.code === 'FORBIDDEN',
    );
    await assert.rejects(bob.deleteForEveryone(conv.id, first.id), (e: SdkError) => e.code === 'FORBIDDEN');

    await alice.deleteForEveryone(conv.id, first.id);
    await eventually(
      [bob, alice2],
      async () =>
        (await find(bob, conv.id, first.id))?.deleted === true &&
        (await find(alice2, conv.id, first.id))?.deleted === true,
    );
    const tomb = await find(bob, conv.id, first.id);
    assert.deepEqual(tomb?.body, { type: 'text', text: '' });
    assert.deepEqual(tomb?.reactions, {});
    assert.equal((await find(alice, conv.id, first.id))?.deleted, true);
  });

  it('delivery and read receipts; none when read receipts are off', async () => {
    const alice = await user('da');
    const bob = await user('db');
    const conv = await alice.openDirect(bob.username);
    const m = await alice.sendText(conv.id, 'did you get it?');
    assert.equal(m.status, 'sent');
    await eventually([bob, alice], async () => (await find(alice, conv.id, m.id))?.status === 'delivered');
    const bobConv = (await bob.conversations()).find((c) => c.id === conv.id);
    assert.equal(bobConv?.unread, 1);
    assert.equal(bobConv?.lastMessage?.text, 'did you get it?');
    await bob.markRead(conv.id);
    assert.equal((await bob.conversations()).find((c) => c.id === conv.id)?.unread, 0);
    await eventually([bob, alice], async () => (await find(alice, conv.id, m.id))?.status === 'read');

    await bob.updateSettings({ readReceipts: false });
    assert.equal((await bob.settings()).readReceipts, false);
    const m2 = await alice.sendText(conv.id, 'and this?');
    await eventually([bob, alice], async () => (await find(alice, conv.id, m2.id))?.status === 'delivered');
    await bob.markRead(conv.id);
    await bob.sync();
    await new Promise((r) => setTimeout(r, 300));
    await alice.sync();
    assert.equal((await find(alice, conv.id, m2.id))?.status, 'delivered', 'no read receipt when disabled');

    await bob.setDraft(conv.id, 'half a thought');
    assert.equal((await bob.conversations()).find((c) => c.id === conv.id)?.draft, 'half a thought');
    await bob.setDraft(conv.id, '');
    assert.equal((await bob.conversations()).find((c) => c.id === conv.id)?.draft, undefined);
  });

  it('typing events arrive live and are never stored by the server', async () => {
    const alice = await user('ta');
    const bob = await user('tb');
    const conv = await alice.openDirect(bob.username);
    await eventually([alice, bob], async () => (await bob.conversations()).some((c) => c.id === conv.id));
    await alice.sync();
    await bob.sync();
    const db = serverDb();
    const count = () =>
      Number(db.prepare('select count(*) as n from messages where group_id = ?').get(conv.id)?.n);
    const mailbox = () => Number(db.prepare('select count(*) as n from mailbox').get()?.n);
    try {
      const before = count();
      const typing = bob.waitFor(ClientEvent.Typing, (t) => t.conversationId === conv.id && t.typing, 10_000);
      await alice.setTyping(conv.id, true);
      const [t] = await typing;
      assert.equal(t.userId, alice.userId);
      const stopped = bob.waitFor(ClientEvent.Typing, (x) => !x.typing, 10_000);
      await alice.setTyping(conv.id, false);
      await stopped;
      assert.equal(count(), before, 'no message row for typing');
      assert.ok(mailbox() >= 0);
      // A message still decrypts after the ephemeral ones used up sender generations.
      const m = await alice.sendText(conv.id, 'after typing');
      await eventually([bob], async () => (await find(bob, conv.id, m.id)) !== undefined);
    } finally {
      db.close();
    }
  });

  it("a blocked user's messages and conversation requests never show", async () => {
    const alice = await user('ba');
    const mallory = await user('bm');
    const conv = await mallory.openDirect(alice.username);
    await eventually([alice], async () => (await alice.conversations()).some((c) => c.id === conv.id));
    await alice.block(mallory.userId);
    assert.deepEqual(await alice.blocked(), [mallory.userId]);
    const spam = await mallory.sendText(conv.id, 'spam');
    const shown: StoredMessage[] = [];
    alice.on(ClientEvent.Message, (m) => shown.push(m));
    const other = await user('bo');
    const ok = await other.openDirect(alice.username);
    const fine = await other.sendText(ok.id, 'hello');
    await eventually([alice], async () => (await find(alice, ok.id, fine.id)) !== undefined);
    assert.equal(await find(alice, conv.id, spam.id), undefined);
    assert.ok(!shown.some((m) => m.from.userId === mallory.userId));
    // A new conversation from mallory is dropped too.
    const group = await mallory.createGroup('trap', [alice.username]);
    await mallory.sendText(group.id, 'join my group');
    await alice.sync();
    await new Promise((r) => setTimeout(r, 200));
    await alice.sync();
    assert.ok(!(await alice.conversations()).some((c) => c.id === group.id));
    await alice.unblock(mallory.userId);
    assert.deepEqual(await alice.blocked(), []);
  });

  it('a changed identity key clears verification and leaves a system message', async () => {
    const alice = await user('sa');
    const bob = await user('sb');
    const conv = await alice.openDirect(bob.username);
    const sn = await bob.safetyNumber(alice.username);
    assert.equal(await alice.verifySafetyQr(bob.userId, new Uint8Array([1, 2, 3])), false);
    assert.equal(await alice.verifySafetyQr(bob.userId, sn.qr), true);
    assert.equal((await alice.conversations()).find((c) => c.id === conv.id)?.verified, true);
    // The server now shows another key for bob (a compromised server, or a reinstalled bob).
    const db = serverDb();
    const newKey = randomBytes(32).toString('base64url');
    db.prepare('update accounts set identity_key = ? where user_id = ?').run(newKey, bob.userId);
    db.close();
    const changed = alice.waitFor(ClientEvent.SafetyNumberChanged, (e) => e.userId === bob.userId);
    const identity = alice.waitFor(ClientEvent.IdentityChanged, (e) => e.userId === bob.userId);
    const fresh = await alice.safetyNumber(bob.username);
    assert.notEqual(fresh.digits, sn.digits);
    const [ev] = await changed;
    await identity;
    assert.deepEqual(ev.conversationIds, [conv.id]);
    const notice = (await alice.messages(conv.id)).at(-1);
    assert.deepEqual(notice?.body, { type: 'system', event: 'safety-number-changed', userId: bob.userId });
    assert.equal((await alice.conversations()).find((c) => c.id === conv.id)?.verified, false);
    // Seeing the same new key again adds no second notice; the old key stays in force.
    await assert.rejects(alice.openDirect(bob.username), (e: SdkError) => e.code === 'UNTRUSTED');
    assert.equal((await alice.messages(conv.id)).filter((m) => m.body.type === 'system').length, 1);
    // Verifying the new number accepts the new key.
    await alice.markVerified(bob.userId, true);
    assert.equal((await alice.openDirect(bob.username)).id, conv.id);
    assert.equal((await alice.conversations()).find((c) => c.id === conv.id)?.verified, true);
  });

  it('attachments: chunked upload with progress, download with progress, cancel leaves nothing', async () => {
    const alice = await user('ua');
    const bob = await user('ub');
    const conv = await alice.openDirect(bob.username);
    const bytes = new Uint8Array(randomBytes(300 * 1024));
    const sent: number[] = [];
    const msg = await alice.sendAttachment(
      conv.id,
      { name: 'big.bin', mime: 'application/octet-stream', bytes },
      {
        onProgress: (s, total) => {
          sent.push(s);
          assert.equal(total, bytes.length + 28);
        },
      },
    );
    assert.ok(sent.length >= 6, `progress per 64 KiB chunk: ${sent.join(',')}`);
    assert.equal(sent.at(-1), bytes.length + 28);
    await eventually([bob], async () => (await find(bob, conv.id, msg.id)) !== undefined);
    const m = await find(bob, conv.id, msg.id);
    assert.ok(m?.body.type === 'attachment');
    const got: number[] = [];
    const down = await bob.downloadAttachment(m.body.attachment, { onProgress: (r) => got.push(r) });
    assert.deepEqual(down, bytes);
    assert.ok(got.length >= 2 && got.at(-1) === bytes.length + 28);

    const db = serverDb();
    const attachments = () => Number(db.prepare('select count(*) as n from attachments').get()?.n);
    const uploads = () => Number(db.prepare('select count(*) as n from uploads').get()?.n);
    try {
      const before = attachments();
      const ctl = new AbortController();
      await assert.rejects(
        alice.sendAttachment(
          conv.id,
          { name: 'x.bin', mime: 'application/octet-stream', bytes },
          {
            onProgress: (s) => {
              if (s > 0) ctl.abort();
            },
            signal: ctl.signal,
          },
        ),
        (e: SdkError) => e.code === 'ABORTED',
      );
      assert.equal(attachments(), before, 'no attachment after cancel');
      assert.equal(uploads(), 0, 'no upload row after cancel');
      assert.deepEqual(readdirSync(join(dir, 'attachments', 'uploads')), []);
      // The old positional progress callback still works.
      const calls: number[] = [];
      await alice.sendAttachment(
        conv.id,
        { name: 's.txt', mime: 'text/plain', bytes: new Uint8Array(10) },
        (s) => calls.push(s),
      );
      assert.deepEqual(calls, [0, 38]);
    } finally {
      db.close();
    }
  });

  it('push: an offline device is woken with no message content', async () => {
    const pushes: { body: Buffer; headers: Record<string, string | string[] | undefined> }[] = [];
    const svc = createServer((req, res) => {
      const parts: Buffer[] = [];
      req.on('data', (c: Buffer) => parts.push(c));
      req.on('end', () => {
        pushes.push({ body: Buffer.concat(parts), headers: req.headers });
        res.statusCode = 201;
        res.end();
      });
    });
    await new Promise<void>((r) => svc.listen(0, '127.0.0.1', r));
    const addr = svc.address();
    if (addr === null || typeof addr === 'string') throw new Error('no address');
    try {
      const alice = await user('wa');
      const bob = await user('wb');
      const conv = await alice.openDirect(bob.username);
      await eventually([bob], async () => (await bob.conversations()).some((c) => c.id === conv.id));
      const key = await bob.pushPublicKey();
      assert.ok(key !== undefined && key.length > 40);
      const ua = createECDH('prime256v1');
      ua.generateKeys();
      const auth = randomBytes(16);
      await bob.registerPush({
        endpoint: `http://127.0.0.1:${addr.port}/p/bob`,
        keys: { p256dh: ua.getPublicKey().toString('base64url'), auth: auth.toString('base64url') },
      });
      await bob.close();
      await new Promise((r) => setTimeout(r, 100));
      const secret = 'meet at the old bridge at nine';
      await alice.sendText(conv.id, secret);
      const end = Date.now() + 5000;
      while (pushes.length === 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
      assert.equal(pushes.length >= 1, true, 'a push arrived');
      const p = pushes[0];
      assert.ok(p !== undefined);
      assert.equal(p.headers['content-encoding'], 'aes128gcm');
      assert.match(String(p.headers.authorization), /^vapid t=.+, k=/);
      assert.ok(!p.body.includes(Buffer.from(secret)));
      // Decrypt as the browser would (RFC 8291): the payload says only "wake".
      const salt = p.body.subarray(0, 16);
      const idlen = p.body[20] ?? 0;
      const asPublic = p.body.subarray(21, 21 + idlen);
      const ct = p.body.subarray(21 + idlen);
      const ikm = Buffer.from(
        hkdfSync(
          'sha256',
          ua.computeSecret(asPublic),
          auth,
          Buffer.concat([Buffer.from('WebPush: info\0'), ua.getPublicKey(), asPublic]),
          32,
        ),
      );
      const cek = Buffer.from(
        hkdfSync('sha256', ikm, salt, Buffer.from('Content-Encoding: aes128gcm\0'), 16),
      );
      const nonce = Buffer.from(hkdfSync('sha256', ikm, salt, Buffer.from('Content-Encoding: nonce\0'), 12));
      const d = createDecipheriv('aes-128-gcm', cek, nonce);
      d.setAuthTag(ct.subarray(ct.length - 16));
      const plain = Buffer.concat([d.update(ct.subarray(0, ct.length - 16)), d.final()]);
      assert.equal(plain.subarray(0, plain.indexOf(2)).toString(), '{"t":"wake"}');
    } finally {
      svc.close();
    }
  });

  it('account deletion: the peer sees it gone, the name lookup 404s, the store is wiped; logout too', async () => {
    const store = new MemoryStore();
    const alice = await user('xa', store);
    const bob = await user('xb');
    const conv = await alice.openDirect(bob.username);
    await eventually([bob], async () => (await bob.conversations()).some((c) => c.id === conv.id));
    const gone = bob.waitFor(
      ClientEvent.Message,
      (m) => m.body.type === 'system' && m.body.event === 'account-deleted',
    );
    await alice.deleteAccount();
    await gone;
    assert.equal(await bob.searchUser(alice.username), undefined);
    await assert.rejects(bob.openDirect(alice.username), (e: SdkError) => e.code === 'NOT_FOUND');
    assert.equal(await store.getAccount(), undefined);
    assert.deepEqual(await store.listConversations(), []);
    // bob's group no longer holds alice's device.
    await eventually(
      [bob],
      async () => (await bob.conversations()).find((c) => c.id === conv.id)?.members.length === 1,
    );

    const store2 = new MemoryStore();
    const carol = await user('xc', store2);
    await carol.logout();
    assert.equal(await store2.getAccount(), undefined);
    await assert.rejects(KolokolClient.open({ store: store2 }), (e: SdkError) => e.code === 'NOT_REGISTERED');
  });
});
