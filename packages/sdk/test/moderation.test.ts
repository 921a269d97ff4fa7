/**
 * Issue 6 through the SDK against a real in-process server: franking on send and receive, a report
 * the server verifies and queues, the operator's warning and suspension reaching the client as
 * events, an appeal while suspended, and lifting.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadConfig, runModerationCommand, splitModerationArgs, startServer } from '@kolokol/server';
import { ClientEvent, KolokolClient, MemoryStore, SdkError, type StoredMessage } from '../src/index.ts';

let server: { url: string; close(): Promise<void> };
let dir: string;
const clients: KolokolClient[] = [];
const backoff = { baseMs: 20, maxMs: 200 };
let n = 0;
const name = (p: string) => `${p}_${process.pid % 10000}_${++n}`;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'kolokol-sdk-moderation-'));
  server = await startServer({ dataDir: dir, port: 0, logLevel: 'silent', moderation: { noticePollMs: 50 } });
});
after(async () => {
  for (const c of clients) await c.close();
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

async function user(prefix: string, store = new MemoryStore()): Promise<KolokolClient> {
  const c = await KolokolClient.register({ server: server.url, username: name(prefix), store, backoff });
  c.on(ClientEvent.Error, (e: SdkError) => {
    if (process.env.SDK_DEBUG) console.log(`[${prefix}]`, e.code, e.message);
  });
  clients.push(c);
  await c.connect();
  await c.sync();
  return c;
}

/** Waits until `c` has stored a text message containing `part` in the conversation. */
async function textIn(c: KolokolClient, conversationId: string, part: string): Promise<StoredMessage> {
  const end = Date.now() + 20_000;
  for (;;) {
    await c.sync();
    const m = (await c.messages(conversationId).catch(() => [])).find(
      (x) => x.body.type === 'text' && x.body.text.includes(part),
    );
    if (m !== undefined) return m;
    if (Date.now() > end) throw new Error(`no message with ${JSON.stringify(part)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function operator(...words: string[]): Promise<string> {
  const args = splitModerationArgs([...words, '--data', dir]);
  return runModerationCommand(loadConfig(args.rest, {}), args);
}

describe('reports through the SDK', () => {
  it('franked messages are verified on receipt and a report of them is queued', async () => {
    const alice = await user('ma');
    const bob = await user('mb');
    const conv = await alice.openDirect(bob.username);
    await alice.sendText(conv.id, 'tell me the code from the SMS');
    // A stranger's first message is a request (no event): what people report most.
    const m = await textIn(bob, conv.id, 'code from the SMS');
    assert.equal(m.franking?.valid, true);
    assert.equal(m.franking?.sender, alice.userId);

    const mine = (await alice.messages(conv.id)).find((x) => x.outgoing);
    assert.ok(mine);
    await assert.rejects(
      alice.report({ conversationId: conv.id, messageIds: [mine.id], category: 'scam' }),
      (e: unknown) => e instanceof SdkError && e.code === 'INVALID_ARGUMENT',
    );
    const r = await bob.report({
      conversationId: m.conversationId,
      messageIds: [m.id],
      category: 'scam',
      comment: 'wants my bank code',
    });
    assert.equal(r.reportedUserId, alice.userId);
    const shown = await operator('reports', 'show', r.reportId);
    assert.match(shown, /tell me the code from the SMS/);
    assert.match(shown, /wants my bank code/);

    // Warning: an event on the live client.
    const warned = alice.waitFor(ClientEvent.Notice, (x) => x.kind === 'warning', 10_000);
    await operator('reports', 'resolve', r.reportId, '--warn', '--reason', 'no scams');
    const [notice] = await warned;
    assert.equal(notice.reason, 'no scams');

    // Suspension: an event, then the connection stops; appeal works; lifting lets it back in.
    await alice.sendText(conv.id, 'last chance, the code');
    const m2 = await textIn(bob, conv.id, 'last chance');
    const r2 = await bob.report({ conversationId: m2.conversationId, messageIds: [m2.id], category: 'scam' });
    const suspended = alice.waitFor(ClientEvent.Suspended, () => true, 10_000);
    await operator('reports', 'resolve', r2.reportId, '--suspend', '--reason', 'fraud');
    const [s] = await suspended;
    assert.equal(s.reason, 'fraud');
    await assert.rejects(alice.devices(), (e: unknown) => e instanceof SdkError && e.code === 'SUSPENDED');
    const appeal = await alice.appeal('it was my brother');
    assert.ok(appeal.appealId);
    assert.match(await operator('appeals', 'list'), /it was my brother/);
    await operator('suspension', 'lift', alice.username);
    assert.ok((await alice.devices()).length >= 1);
  });
});
