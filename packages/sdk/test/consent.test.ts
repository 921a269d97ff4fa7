/**
 * Consent (issue 6) end to end: real in-process servers, real SDK clients and MLS, and the
 * Node stand-in for WebRTC (test/node-media.ts) that records every description and candidate the
 * SDK hands it. Every rule × every kind of person (a contact, a stranger, a stranger on the
 * always-allow list, a contact on the never-allow list), for messages, groups and calls, plus the
 * ICE policy, rules travelling between an account's devices, the new-account limit on reaching
 * strangers and forged reports.
 *
 * Each case makes fresh users (one server per describe block). "Nothing arrived" is only asserted
 * after something later on the same path did arrive: a witness who has an accepted conversation
 * with the recipient sends a text after the forbidden thing was stored on the server, and the
 * recipient processes its mailbox in order.
 *
 * The expected outcomes are written out here as tables, on purpose not computed with rules.ts.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadConfig, runModerationCommand, splitModerationArgs, startServer } from '@kolokol/server';
import {
  type Audience,
  type Call,
  type CallRequest,
  ClientEvent,
  type ClientEvents,
  type ConsentRequest,
  type ConsentRules,
  candidateType,
  type FrankingRecord,
  KolokolClient,
  MemoryStore,
  type RulesPatch,
  SdkError,
  type StoredMessage,
} from '../src/index.ts';
import { type NodeMediaEngine, nodeMedia } from './node-media.ts';

type ServerOptions = Parameters<typeof startServer>[0];
const backoff = { baseMs: 20, maxMs: 200 };
let n = 0;
const name = (p: string) => `${p}_${process.pid % 10000}_${++n}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function eventually(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 15_000) {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`not reached in time: ${what}`);
    await sleep(25);
  }
}

/** One device and everything it announced since it was made. */
interface Dev {
  client: KolokolClient;
  store: MemoryStore;
  engines: NodeMediaEngine[];
  messages: StoredMessage[];
  incoming: Call[];
  callRequests: CallRequest[];
  consentRequests: ConsentRequest[];
  resolved: ClientEvents['consentResolved'][0][];
  rules: ConsentRules[];
}

const texts = (d: Dev, conversationId: string): string[] =>
  d.messages.flatMap((m) =>
    m.conversationId === conversationId && m.body.type === 'text' ? [m.body.text] : [],
  );
const storedTexts = async (d: Dev, conversationId: string): Promise<string[]> =>
  (await d.client.messages(conversationId)).flatMap((m) => (m.body.type === 'text' ? [m.body.text] : []));
const listed = async (d: Dev, conversationId: string): Promise<boolean> =>
  (await d.client.conversations()).some((c) => c.id === conversationId);
const requested = async (d: Dev, conversationId: string): Promise<boolean> =>
  (await d.client.consent.requests()).some((r) => r.conversationId === conversationId);

/** A server for one describe block, and the clients made on it. */
class World {
  readonly #opts: Partial<ServerOptions>;
  #server: { url: string; close(): Promise<void> } | undefined;
  dir = '';
  readonly #devs: Dev[] = [];

  constructor(opts: Partial<ServerOptions> = {}) {
    this.#opts = opts;
    before(() => this.start());
    after(() => this.stop());
  }

  get url(): string {
    if (this.#server === undefined) throw new Error('server not started');
    return this.#server.url;
  }

  async start(): Promise<void> {
    this.dir = mkdtempSync(join(tmpdir(), 'kolokol-sdk-consent-'));
    this.#server = await startServer({
      dataDir: this.dir,
      port: 0,
      logLevel: 'silent',
      // Witnesses reach dozens of new users: the new-account limit is the subject of one block only.
      moderation: { newAccountDays: 0 },
      ...this.#opts,
    });
  }

  async stop(): Promise<void> {
    for (const d of this.#devs) await d.client.close().catch(() => {});
    await this.#server?.close();
    rmSync(this.dir, { recursive: true, force: true });
  }

  #setup(client: KolokolClient, store: MemoryStore): Dev {
    const media = nodeMedia();
    client.calls.configure({ media: media.factory, ringTimeoutMs: 10_000, connectTimeoutMs: 10_000 });
    const d: Dev = {
      client,
      store,
      engines: media.engines,
      messages: [],
      incoming: [],
      callRequests: [],
      consentRequests: [],
      resolved: [],
      rules: [],
    };
    client.on(ClientEvent.Message, (m) => d.messages.push(m));
    client.on(ClientEvent.CallIncoming, (c) => d.incoming.push(c));
    client.on(ClientEvent.CallRequest, (r) => d.callRequests.push(r));
    client.on(ClientEvent.ConsentRequest, (r) => d.consentRequests.push(r));
    client.on(ClientEvent.ConsentResolved, (r) => d.resolved.push(r));
    client.on(ClientEvent.ConsentRules, (r) => d.rules.push(r));
    client.on(ClientEvent.Error, (e) => {
      if (process.env.SDK_DEBUG) console.log(client.username, e.code, e.message);
    });
    this.#devs.push(d);
    return d;
  }

  async user(prefix: string): Promise<Dev> {
    const store = new MemoryStore();
    const c = await KolokolClient.register({ server: this.url, username: name(prefix), store, backoff });
    const d = this.#setup(c, store);
    await c.connect();
    await c.sync();
    return d;
  }

  async linked(of: Dev): Promise<Dev> {
    const code = await of.client.createLinkCode();
    const store = new MemoryStore();
    const d = this.#setup(await KolokolClient.link({ server: this.url, code, store, backoff }), store);
    await d.client.sync();
    return d;
  }

  /** Runs `kolokol-server …` against this server's data folder, as its operator would. */
  async operator(...words: string[]): Promise<string> {
    const args = splitModerationArgs([...words, '--data', this.dir]);
    return runModerationCommand(loadConfig(args.rest, {}), args);
  }
}

/**
 * An accepted 1:1 between a witness and `to`, made before `to` sets any rule. The returned
 * function sends a fresh text through it and waits until `to` (every given device) showed it:
 * everything stored on the server for `to` before that call has been processed by then.
 */
async function pipe(witness: Dev, ...to: Dev[]): Promise<() => Promise<void>> {
  const first = to[0];
  assert.ok(first);
  const conv = await witness.client.openDirect(first.client.username);
  for (const d of to) await eventually(() => listed(d, conv.id), 'the witness chat shows');
  let k = 0;
  return async () => {
    const text = `pipe ${++k}`;
    await witness.client.sendText(conv.id, text);
    for (const d of to) await eventually(() => texts(d, conv.id).includes(text), `${text} arrived`);
  };
}

const RELATIONS = ['contact', 'stranger', 'stranger on always-allow', 'contact on never-allow'] as const;
type RelationName = (typeof RELATIONS)[number];

/** Makes `other` what `rel` says to `me`; returns the lists the rule under test gets. */
async function relate(me: Dev, other: Dev, rel: RelationName): Promise<{ allow: string[]; deny: string[] }> {
  if (rel === 'contact' || rel === 'contact on never-allow')
    await me.client.addContact(other.client.username);
  return {
    allow: rel === 'stranger on always-allow' ? [other.client.userId] : [],
    deny: rel === 'contact on never-allow' ? [other.client.userId] : [],
  };
}

type Decision = 'allow' | 'request' | 'refuse';
interface Row<T> {
  name: string;
  who: Audience;
  strict?: boolean;
  silence?: boolean;
  expect: Record<RelationName, T>;
}

// ---------------------------------------------------------------------------------------------
// Messages

const MESSAGE_ROWS: Row<Decision>[] = [
  {
    name: 'everybody',
    who: 'everybody',
    expect: {
      contact: 'allow',
      stranger: 'allow',
      'stranger on always-allow': 'allow',
      'contact on never-allow': 'refuse',
    },
  },
  {
    name: 'contacts',
    who: 'contacts',
    expect: {
      contact: 'allow',
      stranger: 'request',
      'stranger on always-allow': 'allow',
      'contact on never-allow': 'refuse',
    },
  },
  {
    name: 'nobody',
    who: 'nobody',
    expect: {
      contact: 'request',
      stranger: 'refuse',
      'stranger on always-allow': 'allow',
      'contact on never-allow': 'refuse',
    },
  },
  {
    name: 'everybody, strict mode',
    who: 'everybody',
    strict: true,
    expect: {
      contact: 'allow',
      stranger: 'request',
      'stranger on always-allow': 'allow',
      'contact on never-allow': 'refuse',
    },
  },
];

/** What each request case of the table does next, so that all three answers are covered. */
const RESOLUTION: Record<string, 'accept' | 'decline' | 'block'> = {
  'contacts/stranger': 'accept',
  'nobody/contact': 'decline',
  'everybody, strict mode/stranger': 'block',
};

describe('consent: a 1:1 chat from each kind of person under each messages rule', () => {
  const world = new World();
  let witness: Dev;
  before(async () => {
    witness = await world.user('mw');
  });

  for (const row of MESSAGE_ROWS) {
    for (const rel of RELATIONS) {
      const expected = row.expect[rel];
      const then = RESOLUTION[`${row.name}/${rel}`];
      it(`messages ${row.name}: ${rel} → ${expected}${then === undefined ? '' : `, then ${then}`}`, async () => {
        const bob = await world.user('mb');
        const alice = await world.user('ma');
        const t0 = Date.now();
        const proof = await pipe(witness, bob);
        // A group Alice and Bob share, for the context card (made while Bob's rules let it in).
        const common =
          then === 'accept' ? await alice.client.createGroup('book club', [bob.client.username]) : undefined;
        if (common !== undefined)
          await eventually(
            async () =>
              (await bob.client.conversations()).some((c) => c.id === common.id && c.title === 'book club'),
            'bob is in the shared group',
          );
        const lists = await relate(bob, alice, rel);
        await bob.client.consent.setRules({
          messages: { who: row.who, ...lists },
          ...(row.strict === true ? { strict: true } : {}),
        });

        const conv = await alice.client.openDirect(bob.client.username);
        await alice.client.sendText(conv.id, 'hello from alice');
        await proof();

        if (expected === 'allow') {
          assert.deepEqual(texts(bob, conv.id), ['hello from alice'], 'a Message event');
          assert.ok(await listed(bob, conv.id), 'in conversations()');
          assert.equal(await requested(bob, conv.id), false);
          assert.equal(bob.consentRequests.length, 0);
          assert.deepEqual(await bob.client.consent.contentFlags(conv.id), {
            blurMedia: false,
            linksClickable: true,
          });
          return;
        }

        assert.deepEqual(texts(bob, conv.id), [], 'no Message event');
        assert.equal(await listed(bob, conv.id), false, 'not in conversations()');
        if (expected === 'refuse') {
          assert.equal(await requested(bob, conv.id), false, 'not in requests()');
          assert.deepEqual(await storedTexts(bob, conv.id), [], 'nothing of it kept');
          // The announcement is in the background: give it the time it takes a request to show.
          await sleep(300);
          assert.equal(bob.consentRequests.length, 0, 'no ConsentRequest event');
          return;
        }

        // A request: waits in requests() with its context card, nothing shows.
        await eventually(
          () => bob.consentRequests.some((r) => r.conversationId === conv.id),
          'ConsentRequest',
        );
        const req = await bob.client.consent.request(conv.id);
        assert.ok(req);
        assert.equal(req.kind, 'message');
        assert.equal(req.from.userId, alice.client.userId);
        assert.equal(req.from.username, alice.client.username);
        assert.equal(req.blurMedia, true);
        assert.equal(req.linksClickable, false);
        assert.deepEqual(await bob.client.consent.contentFlags(conv.id), {
          blurMedia: true,
          linksClickable: false,
        });
        const createdAt = req.card.accountCreatedAt;
        assert.ok(
          createdAt !== undefined && createdAt >= t0 - 5_000 && createdAt <= Date.now(),
          'account age',
        );
        assert.deepEqual(
          req.card.groupsInCommon,
          common === undefined ? [] : [{ conversationId: common.id, title: 'book club' }],
        );
        assert.equal(req.card.reported, 'none');
        assert.deepEqual(await storedTexts(bob, conv.id), ['hello from alice'], 'kept for when accepted');

        if (then === 'accept') {
          // Someone else reports Alice (a report the server verifies): the card says so, coarsely.
          const dave = await world.user('md');
          const dc = await alice.client.openDirect(dave.client.username);
          await alice.client.sendText(dc.id, 'send me the code');
          await eventually(() => texts(dave, dc.id).includes('send me the code'), 'dave got it');
          const m = dave.messages.find((x) => x.conversationId === dc.id);
          assert.ok(m);
          const r = await dave.client.report({ conversationId: dc.id, messageIds: [m.id], category: 'scam' });
          assert.equal(r.reportedUserId, alice.client.userId);
          assert.equal((await bob.client.consent.request(conv.id))?.card.reported, 'some');

          await bob.client.consent.accept(conv.id);
          assert.deepEqual(bob.resolved, [{ conversationId: conv.id, action: 'accept' }]);
          assert.ok(await listed(bob, conv.id), 'accepted: in conversations()');
          assert.equal(await requested(bob, conv.id), false);
          assert.deepEqual(await storedTexts(bob, conv.id), ['hello from alice'], 'what waited shows');
          assert.deepEqual(await bob.client.consent.contentFlags(conv.id), {
            blurMedia: false,
            linksClickable: true,
          });
          await alice.client.sendText(conv.id, 'thanks for accepting');
          await eventually(() => texts(bob, conv.id).includes('thanks for accepting'), 'a Message event now');
          return;
        }

        if (then === 'decline') {
          await bob.client.consent.decline(conv.id);
          assert.deepEqual(bob.resolved, [{ conversationId: conv.id, action: 'decline' }]);
          assert.equal(await requested(bob, conv.id), false);
          assert.equal(await listed(bob, conv.id), false);
          await alice.client.sendText(conv.id, 'hello again?');
          await proof();
          assert.deepEqual(texts(bob, conv.id), [], 'nothing shows after declining');
          assert.equal(await requested(bob, conv.id), false, 'and it does not come back as a request');
          // The sender learns nothing: Bob is still in her chat, no receipt, no word from him.
          // (Receipts go out RECEIPT_DELAY_MS = 1 s after a message is processed.)
          await sleep(1_300);
          await alice.client.sync();
          const hers = (await alice.client.conversations()).find((c) => c.id === conv.id);
          assert.ok(
            hers?.members.some((x) => x.userId === bob.client.userId),
            'Bob still a member for her',
          );
          const mine = (await alice.client.messages(conv.id)).filter((x) => x.outgoing);
          assert.deepEqual(
            mine.map((x) => x.status),
            ['sent', 'sent'],
          );
          assert.equal(alice.messages.filter((x) => x.from.userId === bob.client.userId).length, 0);
          return;
        }

        // Block: Alice's further messages and calls never reach Bob.
        await bob.client.consent.block(conv.id);
        assert.deepEqual(bob.resolved, [{ conversationId: conv.id, action: 'block' }]);
        assert.deepEqual(await bob.client.blocked(), [alice.client.userId]);
        assert.equal(await requested(bob, conv.id), false);
        await alice.client.sendText(conv.id, 'you cannot block me');
        const call = await alice.client.calls.start(conv.id, { video: false });
        await eventually(
          async () => (await alice.client.outbox(conv.id)).length === 0,
          'the offer is on the server',
        );
        await proof();
        assert.deepEqual(texts(bob, conv.id), []);
        assert.equal(await listed(bob, conv.id), false);
        assert.equal(bob.incoming.length, 0, 'no ring');
        assert.equal(bob.callRequests.length, 0, 'not even a call request');
        assert.equal(bob.engines.length, 0);
        assert.equal(call.remoteRinging, false);
        assert.equal(alice.engines[0]?.remoteDescriptions.length, 0);
        assert.equal(alice.engines[0]?.remoteCandidates.length, 0);
        await call.hangup();
      });
    }
  }
});

// ---------------------------------------------------------------------------------------------
// Groups

// One table for every kind (rules.ts): adding me to a group follows the same rule as messaging me.
const GROUP_ROWS: Row<Decision>[] = MESSAGE_ROWS.filter((r) => r.strict !== true);

/** `member` no longer sees `gone` in the group. */
const hasLeft = async (member: Dev, gone: Dev, groupId: string): Promise<boolean> =>
  (await member.client.conversations())
    .find((c) => c.id === groupId)
    ?.members.every((m) => m.userId !== gone.client.userId) === true;

describe('consent: being added to a group by each kind of person under each groups rule', () => {
  const world = new World();
  let witness: Dev;
  before(async () => {
    witness = await world.user('gw');
  });

  for (const row of GROUP_ROWS) {
    for (const rel of RELATIONS) {
      const expected = row.expect[rel];
      const decline = row.name === 'nobody' && rel === 'contact';
      const then = expected !== 'request' ? '' : decline ? ', then decline' : ', then accept';
      it(`groups ${row.name}: ${rel} adds me → ${expected}${then}`, async () => {
        const bob = await world.user('gb');
        const carol = await world.user('gc');
        const proof = await pipe(witness, bob);
        const lists = await relate(bob, carol, rel);
        await bob.client.consent.setRules({ groups: { who: row.who, ...lists } });

        const t0 = Date.now();
        const group = await carol.client.createGroup('carols plans', [
          bob.client.username,
          witness.client.username,
        ]);
        await carol.client.sendText(group.id, 'welcome all');
        await proof();

        if (expected === 'allow') {
          assert.deepEqual(texts(bob, group.id), ['welcome all']);
          assert.ok(await listed(bob, group.id));
          assert.equal(await requested(bob, group.id), false);
          return;
        }
        assert.deepEqual(texts(bob, group.id), [], 'nothing of the group shows');
        assert.equal(await listed(bob, group.id), false);

        if (expected === 'refuse') {
          assert.equal(await requested(bob, group.id), false);
          // Refused: Bob left, which the group's members see.
          await eventually(() => hasLeft(carol, bob, group.id), 'bob left the group');
          assert.equal(bob.consentRequests.length, 0);
          return;
        }

        await eventually(() => requested(bob, group.id), 'an invitation in requests()');
        const req = await bob.client.consent.request(group.id);
        assert.ok(req);
        assert.equal(req.kind, 'group');
        assert.equal(req.from.userId, carol.client.userId);
        const o = req.overview;
        assert.ok(o);
        assert.equal(o.createdBy?.userId, carol.client.userId);
        assert.equal(o.createdBy?.username, carol.client.username);
        assert.equal(o.addedBy.userId, carol.client.userId);
        assert.equal(o.size, 3);
        assert.deepEqual(
          o.members.map((m) => m.userId).sort(),
          [bob.client.userId, carol.client.userId, witness.client.userId].sort(),
        );
        assert.ok(o.createdAt !== undefined && o.createdAt >= t0 - 5_000 && o.createdAt <= Date.now());
        assert.equal(req.blurMedia, true);
        assert.equal(req.linksClickable, false);
        assert.deepEqual(req.card.groupsInCommon, []);

        if (decline) {
          // Declining an invitation leaves the group, which its members see (unlike a 1:1).
          await bob.client.consent.decline(group.id);
          assert.equal(await requested(bob, group.id), false);
          assert.equal(await listed(bob, group.id), false);
          await eventually(() => hasLeft(carol, bob, group.id), 'bob left the group');
          assert.deepEqual(texts(bob, group.id), []);
          return;
        }
        await bob.client.consent.accept(group.id);
        assert.ok(await listed(bob, group.id));
        assert.deepEqual(await storedTexts(bob, group.id), ['welcome all'], 'what waited shows');
        await carol.client.sendText(group.id, 'glad you joined');
        await eventually(() => texts(bob, group.id).includes('glad you joined'), 'a Message event now');
        // Bob's words reach the group too.
        await bob.client.sendText(group.id, 'hi all');
        await eventually(() => texts(carol, group.id).includes('hi all'), 'carol hears bob');
      });
    }
  }
});

// ---------------------------------------------------------------------------------------------
// Calls

type Admission = 'ring' | 'request' | 'silence' | 'refuse';
const CALL_ROWS: Row<Admission>[] = [
  {
    name: 'everybody',
    who: 'everybody',
    expect: {
      contact: 'ring',
      stranger: 'ring',
      'stranger on always-allow': 'ring',
      'contact on never-allow': 'refuse',
    },
  },
  {
    name: 'contacts',
    who: 'contacts',
    expect: {
      contact: 'ring',
      stranger: 'request',
      'stranger on always-allow': 'ring',
      'contact on never-allow': 'refuse',
    },
  },
  {
    name: 'nobody',
    who: 'nobody',
    expect: {
      contact: 'request',
      stranger: 'refuse',
      'stranger on always-allow': 'ring',
      'contact on never-allow': 'refuse',
    },
  },
  {
    name: 'everybody, silence unknown callers',
    who: 'everybody',
    silence: true,
    expect: {
      contact: 'ring',
      stranger: 'silence',
      'stranger on always-allow': 'ring',
      'contact on never-allow': 'refuse',
    },
  },
  {
    name: 'everybody, strict mode',
    who: 'everybody',
    strict: true,
    expect: {
      contact: 'ring',
      stranger: 'silence',
      'stranger on always-allow': 'ring',
      'contact on never-allow': 'refuse',
    },
  },
];

/** Alice and Bob with an accepted 1:1 (made under the default rules), then Bob's rules set. */
async function callPair(
  world: World,
  rules: (lists: { allow: string[]; deny: string[] }) => RulesPatch,
  rel: RelationName,
) {
  const bob = await world.user('cb');
  const alice = await world.user('ca');
  const conv = await alice.client.openDirect(bob.client.username);
  await eventually(() => listed(bob, conv.id), 'bob has the chat');
  const lists = await relate(bob, alice, rel);
  await bob.client.consent.setRules(rules(lists));
  return { alice, bob, conv };
}

/** Bob says something in the chat; once Alice has it, whatever Bob's device sent before has arrived. */
async function backProof(bob: Dev, alice: Dev, conversationId: string, text: string): Promise<void> {
  await bob.client.sendText(conversationId, text);
  await eventually(() => texts(alice, conversationId).includes(text), `${text} reached alice`);
}

describe('consent: a call from each kind of person under each calls rule', () => {
  const world = new World();

  for (const row of CALL_ROWS) {
    for (const rel of RELATIONS) {
      const expected = row.expect[rel];
      it(`calls ${row.name}: ${rel} → ${expected}`, async () => {
        const { alice, bob, conv } = await callPair(
          world,
          (lists) => ({
            calls: { who: row.who, ...lists },
            ...(row.silence === true ? { silenceUnknownCallers: true } : {}),
            ...(row.strict === true ? { strict: true } : {}),
          }),
          rel,
        );
        const call = await alice.client.calls.start(conv.id, { video: false });

        if (expected === 'ring') {
          await eventually(() => bob.incoming.some((c) => c.id === call.id), 'it rings');
          await eventually(() => call.remoteRinging, 'the caller hears it ring');
          assert.deepEqual(await bob.client.consent.callRequests(), []);
          assert.equal(bob.callRequests.length, 0);
          const ended = bob.client.waitFor(ClientEvent.CallEnded, (c) => c.id === call.id, 10_000);
          await call.hangup();
          await ended;
          return;
        }

        await eventually(() => bob.callRequests.some((r) => r.callId === call.id), 'a CallRequest event');
        const [rec] = await bob.client.consent.callRequests();
        assert.ok(rec);
        assert.equal(rec.callId, call.id);
        assert.equal(rec.admission, expected);
        assert.equal(rec.state, 'pending');
        assert.equal(rec.from.userId, alice.client.userId);
        assert.equal(rec.from.username, alice.client.username);
        assert.equal(rec.video, false);
        assert.equal(bob.incoming.length, 0, 'no incoming call event');
        assert.equal(bob.engines.length, 0, 'no media engine on the callee, so nothing to leak');
        assert.equal(bob.client.calls.active().length, 0);
        await backProof(bob, alice, conv.id, 'later words from bob');
        assert.equal(call.state, 'ringing-out');
        assert.equal(call.remoteRinging, false, 'the caller does not even learn that a device saw it');
        const engine = alice.engines[0];
        assert.ok(engine);
        assert.deepEqual(engine.remoteDescriptions, [], 'no SDP answer');
        assert.deepEqual(engine.remoteCandidates, [], 'no ICE candidate');
        await call.hangup();
        await backProof(bob, alice, conv.id, 'after the hang-up');
        assert.equal(bob.incoming.length, 0);
        assert.equal(bob.engines.length, 0);
      });
    }
  }

  it('acceptCallRequest: the caller goes on the calls always-allow list and the next call rings', async () => {
    const { alice, bob, conv } = await callPair(
      world,
      (l) => ({ calls: { who: 'contacts', ...l } }),
      'stranger',
    );
    const first = await alice.client.calls.start(conv.id, { video: true });
    await eventually(() => bob.callRequests.some((r) => r.callId === first.id), 'a call request');
    await bob.client.consent.acceptCallRequest(first.id);
    assert.deepEqual(
      (await bob.client.consent.callRequests()).map((r) => [r.callId, r.state]),
      [[first.id, 'accepted']],
    );
    assert.deepEqual((await bob.client.consent.rules()).calls.allow, [alice.client.userId]);
    assert.equal(bob.incoming.length, 0, 'accepting the request does not pick up the old call');
    await first.hangup();

    const second = await alice.client.calls.start(conv.id, { video: true });
    await eventually(() => bob.incoming.some((c) => c.id === second.id), 'the second call rings');
    const ended = bob.client.waitFor(ClientEvent.CallEnded, (c) => c.id === second.id, 10_000);
    await second.hangup();
    await ended;
  });

  it('ignoreCallRequest: marked ignored, and the caller still does not ring', async () => {
    const { alice, bob, conv } = await callPair(
      world,
      (l) => ({ calls: { who: 'contacts', ...l } }),
      'stranger',
    );
    const first = await alice.client.calls.start(conv.id, { video: false });
    await eventually(() => bob.callRequests.some((r) => r.callId === first.id), 'a call request');
    await bob.client.consent.ignoreCallRequest(first.id);
    assert.deepEqual(
      (await bob.client.consent.callRequests()).map((r) => [r.callId, r.state]),
      [[first.id, 'ignored']],
    );
    assert.deepEqual((await bob.client.consent.rules()).calls.allow, []);
    await first.hangup();
    const second = await alice.client.calls.start(conv.id, { video: false });
    await eventually(() => bob.callRequests.some((r) => r.callId === second.id), 'another call request');
    assert.equal(bob.incoming.length, 0);
    await second.hangup();
  });
});

// ---------------------------------------------------------------------------------------------
// ICE policy

const P2P_CASES: {
  name: string;
  rel: RelationName;
  rules: (l: { allow: string[]; deny: string[] }) => RulesPatch;
  ice: 'all' | 'relay';
}[] = [
  { name: 'default rules, stranger', rel: 'stranger', rules: () => ({}), ice: 'relay' },
  { name: 'default rules, contact', rel: 'contact', rules: () => ({}), ice: 'all' },
  {
    name: 'p2p nobody, contact',
    rel: 'contact',
    rules: (l) => ({ p2p: { who: 'nobody', ...l } }),
    ice: 'relay',
  },
  {
    name: 'p2p everybody, stranger',
    rel: 'stranger',
    rules: (l) => ({ p2p: { who: 'everybody', ...l } }),
    ice: 'all',
  },
  {
    name: 'p2p contacts, stranger on always-allow',
    rel: 'stranger on always-allow',
    rules: (l) => ({ p2p: { who: 'contacts', ...l } }),
    ice: 'all',
  },
  {
    name: 'p2p contacts, contact on never-allow',
    rel: 'contact on never-allow',
    rules: (l) => ({ p2p: { who: 'contacts', ...l } }),
    ice: 'relay',
  },
  { name: 'strict mode, contact', rel: 'contact', rules: () => ({ strict: true }), ice: 'relay' },
];

describe('consent: ICE policy of an answered call', () => {
  const world = new World();

  for (const c of P2P_CASES) {
    it(`${c.name} → callee's engine gets ${c.ice}; the caller gets ${c.ice === 'relay' ? 'only relay' : 'host'} candidates`, async () => {
      const { alice, bob, conv } = await callPair(world, c.rules, c.rel);
      const call = await alice.client.calls.start(conv.id, { video: false });
      await eventually(() => bob.incoming.some((x) => x.id === call.id), 'it rings');
      assert.equal(bob.engines.length, 0, 'no engine before answering');
      const incoming = bob.incoming.find((x) => x.id === call.id);
      assert.ok(incoming);
      assert.equal(incoming.iceTransportPolicy, c.ice);
      await incoming.accept();
      await eventually(() => call.state === 'connected', 'connected');
      const [engine] = bob.engines;
      assert.ok(engine);
      assert.equal(engine.options.iceTransportPolicy, c.ice);
      assert.equal(engine.options.role, 'callee');
      assert.equal(engine.options.peerUserId, alice.client.userId);
      const got = alice.engines[0];
      assert.ok(got);
      // The engine trickles host, srflx, relay in that order: once relay is in, all that went out is.
      await eventually(
        () => got.remoteCandidates.some((x) => candidateType(x) === 'relay'),
        'the relay candidate reached the caller',
      );
      const types = new Set(got.remoteCandidates.map(candidateType));
      const answer = got.remoteDescriptions.find((d) => d.type === 'answer')?.sdp ?? '';
      if (c.ice === 'relay') {
        assert.deepEqual([...types], ['relay'], 'no host or srflx candidate to the caller');
        assert.doesNotMatch(answer, /typ (host|srflx)/);
        assert.doesNotMatch(answer, /c=IN IP4 127\.0\.0\.1/);
      } else {
        assert.ok(types.has('host') && types.has('srflx'), [...types].join());
        assert.match(answer, /typ host/);
      }
      const ended = bob.client.waitFor(ClientEvent.CallEnded, (x) => x.id === call.id, 10_000);
      await call.hangup();
      await ended;
    });
  }
});

// ---------------------------------------------------------------------------------------------
// Two devices

describe('consent: rules and answers travel between an account’s devices', () => {
  const world = new World();

  it('rules set on one device govern the other; a request accepted on one is accepted on both', async () => {
    const bob1 = await world.user('sb');
    const bob2 = await world.linked(bob1);
    await eventually(async () => (await bob1.client.devices()).length === 2, 'bob has two devices');
    const witness = await world.user('sw');
    const proof = await pipe(witness, bob1, bob2);

    const set = await bob1.client.consent.setRules({
      messages: { who: 'contacts', allow: [], deny: [] },
      calls: { who: 'contacts', allow: [], deny: [] },
    });
    await eventually(
      async () => (await bob2.client.consent.rules()).updatedAt === set.updatedAt,
      'rules synced',
    );
    assert.deepEqual(await bob2.client.consent.rules(), set);
    assert.ok(
      bob2.rules.some((r) => r.updatedAt === set.updatedAt),
      'ConsentRules event on the other device',
    );

    // A stranger's chat is a request on both devices: the second one decides with the synced rules.
    const alice = await world.user('sa');
    const conv = await alice.client.openDirect(bob1.client.username);
    await alice.client.sendText(conv.id, 'hi bob');
    await proof();
    for (const d of [bob1, bob2]) {
      assert.deepEqual(texts(d, conv.id), [], 'no Message event');
      await eventually(() => requested(d, conv.id), 'a request on each device');
    }
    await bob1.client.consent.accept(conv.id);
    await eventually(
      () => bob2.resolved.some((r) => r.conversationId === conv.id && r.action === 'accept'),
      'ConsentResolved on the other device',
    );
    await eventually(() => listed(bob2, conv.id), 'accepted there too');
    assert.equal(await requested(bob2, conv.id), false);
    assert.deepEqual(await storedTexts(bob2, conv.id), ['hi bob']);

    // A call request accepted on one device: the caller is allowed on both.
    const call = await alice.client.calls.start(conv.id, { video: false });
    for (const d of [bob1, bob2])
      await eventually(
        () => d.callRequests.some((r) => r.callId === call.id),
        'a call request on each device',
      );
    assert.equal(bob1.incoming.length + bob2.incoming.length, 0);
    await bob2.client.consent.acceptCallRequest(call.id);
    await eventually(
      async () =>
        (await bob1.client.consent.callRequests()).some(
          (r) => r.callId === call.id && r.state === 'accepted',
        ),
      'accepted on the other device',
    );
    await eventually(
      async () => (await bob1.client.consent.rules()).calls.allow.includes(alice.client.userId),
      'the always-allow list synced',
    );
    await call.hangup();

    // The newest change wins, whichever device made it.
    const later = await bob2.client.consent.setRules({ p2p: { who: 'nobody', allow: [], deny: [] } });
    await eventually(
      async () => (await bob1.client.consent.rules()).updatedAt === later.updatedAt,
      'back to bob1',
    );
    const r1 = await bob1.client.consent.rules();
    assert.equal(r1.p2p.who, 'nobody');
    assert.equal(r1.messages.who, 'contacts');
    assert.deepEqual(r1.calls.allow, [alice.client.userId]);
  });
});

// ---------------------------------------------------------------------------------------------
// New accounts reaching strangers

describe('consent: a new account reaching strangers (server limit) through the SDK', () => {
  const world = new World({ moderation: { strangersPerDay: 2, newAccountDays: 7 } });

  it('the 3rd stranger of the day is refused with RATE_LIMITED; a shared group is free; the operator lifts it', async () => {
    const newbie = await world.user('rn');
    const [s1, s2, s3, friend] = [
      await world.user('r1'),
      await world.user('r2'),
      await world.user('r3'),
      await world.user('rf'),
    ];
    // Someone who added the newbie to a group shares one with it: not a stranger.
    const fg = await friend.client.createGroup('family', [newbie.client.username]);
    await eventually(() => listed(newbie, fg.id), 'the newbie is in the group');

    for (const s of [s1, s2]) {
      const c = await newbie.client.openDirect(s.client.username);
      await newbie.client.sendText(c.id, 'hi stranger');
      await eventually(() => texts(s, c.id).includes('hi stranger'), 'a stranger reached');
    }
    const before = (await newbie.client.conversations()).length;
    const refused = await newbie.client.openDirect(s3.client.username).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(refused instanceof SdkError, String(refused));
    assert.equal(refused.code, 'RATE_LIMITED');
    assert.match(refused.message, /at most 2 people they share no group with per 24 hours/);
    const retry = refused.details?.retryAfterSeconds;
    assert.ok(typeof retry === 'number' && retry > 23 * 3600 && retry <= 24 * 3600, String(retry));
    assert.equal(
      (await newbie.client.conversations()).length,
      before,
      'a refused chat leaves nothing behind in the list',
    );
    await sleep(200);
    assert.equal((await s3.client.conversations()).length, 0, 'the stranger got nothing');

    // Still reachable: the one who shares a group.
    const fc = await newbie.client.openDirect(friend.client.username);
    await newbie.client.sendText(fc.id, 'hi friend');
    await eventually(() => texts(friend, fc.id).includes('hi friend'), 'the friend reached');

    assert.match(await world.operator('limits', 'lift', newbie.client.username), /limits lifted/);
    const c3 = await newbie.client.openDirect(s3.client.username);
    await newbie.client.sendText(c3.id, 'finally');
    await eventually(() => texts(s3, c3.id).includes('finally'), 'the third stranger reached after lifting');
  });
});

// ---------------------------------------------------------------------------------------------
// Reports

describe('consent: reports through the SDK (franking)', () => {
  const world = new World();

  // The true report and the operator's side are in test/moderation.test.ts; here what a tampering
  // reporter gets. The client refuses what did not verify on arrival, so the forgery is made in
  // the reporter's own store, as a modified client would.
  it('a report whose stored plaintext or tag was changed is refused; the true one is verified', async () => {
    const alice = await world.user('fa');
    const bob = await world.user('fb');
    const conv = await alice.client.openDirect(bob.client.username);
    await alice.client.sendText(conv.id, 'the real words');
    await eventually(() => texts(bob, conv.id).includes('the real words'), 'bob got it');
    const m = bob.messages.find((x) => x.conversationId === conv.id);
    const f = m?.franking;
    assert.ok(m && f);
    assert.equal(f.valid, true);
    assert.equal(f.sender, alice.client.userId);

    const original = Buffer.from(f.plaintext, 'base64url').toString('utf8');
    assert.match(original, /the real words/);
    const forged = Buffer.from(original.replace('the real words', 'I owe bob 1000 euro')).toString(
      'base64url',
    );
    const cases: [string, Partial<FrankingRecord>, 'commitment' | 'tag'][] = [
      ['changed plaintext', { plaintext: forged }, 'commitment'],
      ['changed tag', { tag: Buffer.alloc(32, 7).toString('base64url') }, 'tag'],
      ['changed time', { at: f.at + 1 }, 'tag'],
    ];
    for (const [what, change, reason] of cases) {
      await bob.store.atomic((w) => w.putMessage({ ...m, franking: { ...f, ...change } }));
      const e: unknown = await bob.client
        .report({ conversationId: conv.id, messageIds: [m.id], category: 'scam' })
        .then(
          () => undefined,
          (x: unknown) => x,
        );
      assert.ok(e instanceof SdkError, `${what}: ${String(e)}`);
      assert.equal(e.code, 'REPORT_UNVERIFIED', what);
      assert.equal(e.details?.reason, reason, what);
    }
    assert.match(await world.operator('reports', 'list'), /open reports: 0/, 'nothing forged was queued');

    await bob.store.atomic((w) => w.putMessage(m));
    const r = await bob.client.report({ conversationId: conv.id, messageIds: [m.id], category: 'scam' });
    assert.equal(r.reportedUserId, alice.client.userId);
    assert.ok(r.reportId.length > 0);
    assert.match(await world.operator('reports', 'list'), /open reports: 1/);
  });
});
