/**
 * End to end through the SDK: three users with two devices each, direct and group conversations,
 * offline devices, a hostile network path (duplicated and reordered frames) and group removal.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { decodeGroup, type MlsContext, processMessage } from '@kolokol/crypto';
import { fromB64, ServerFrame } from '@kolokol/protocol';
import type { StoredMessage } from '@kolokol/sdk';
import {
  type Collected,
  chaosTransport,
  collectMessages,
  disposeAllClients,
  linkDevice,
  newClient,
  reopenClient,
  seededRandom,
  sleep,
  startTestServer,
  type TestClient,
  type TestServer,
  waitFor,
} from '@kolokol/testkit';

let server: TestServer;

before(async () => {
  server = await startTestServer();
});

after(async () => {
  await disposeAllClients();
  await server.close();
});

const textOf = (m: StoredMessage): string | undefined => (m.body.type === 'text' ? m.body.text : undefined);
/** Texts of one conversation that reached this device from another device (duplicates kept). */
const received = (c: Collected, tc: TestClient, convId: string): string[] =>
  c.all
    .filter((m) => m.conversationId === convId && m.from.deviceId !== tc.client.deviceId)
    .flatMap((m) => textOf(m) ?? []);
const label = (tc: TestClient): string => `${tc.client.username}/${tc.client.deviceId.slice(0, 6)}`;

/** Waits until `tc` received every text in `expected`, then checks they came once each and in order. */
async function expectTexts(
  tc: TestClient,
  c: Collected,
  convId: string,
  expected: string[],
  timeoutMs = 20_000,
) {
  await waitFor(() => expected.every((t) => received(c, tc, convId).includes(t)), timeoutMs, {
    what: `${expected.length} messages at ${label(tc)}`,
    describe: () => {
      const got = received(c, tc, convId);
      return `missing ${expected
        .filter((t) => !got.includes(t))
        .slice(0, 5)
        .join(', ')}`;
    },
  });
  const got = received(c, tc, convId).filter((t) => expected.includes(t));
  assert.deepEqual(got, expected, `${label(tc)}: every message exactly once, in order`);
  // The store agrees with the events.
  const stored = (await tc.client.messages(convId))
    .flatMap((m) => textOf(m) ?? [])
    .filter((t) => expected.includes(t));
  assert.deepEqual(stored, expected, `${label(tc)}: stored history`);
}

describe('three users with two devices each', () => {
  const devices = new Map<string, TestClient>();
  const seen = new Map<string, Collected>();
  const dev = (k: string): TestClient => {
    const d = devices.get(k);
    assert.ok(d, k);
    return d;
  };
  const col = (k: string): Collected => {
    const c = seen.get(k);
    assert.ok(c, k);
    return c;
  };
  let groupId = '';

  before(async () => {
    for (const name of ['alice', 'bob', 'carol']) devices.set(`${name}1`, await newClient(server, name));
    for (const name of ['alice', 'bob', 'carol']) devices.set(`${name}2`, await linkDevice(dev(`${name}1`)));
    for (const [k, d] of devices) seen.set(k, collectMessages(d));
  });

  test('a linked device belongs to the same account', async () => {
    assert.equal(dev('alice2').client.userId, dev('alice1').client.userId);
    assert.equal(dev('alice2').client.username, 'alice');
    assert.notEqual(dev('alice2').client.deviceId, dev('alice1').client.deviceId);
    assert.equal((await dev('alice1').client.devices()).length, 2);
  });

  test('direct: every device of both sides gets every message once, in order', async () => {
    const conv = await dev('alice1').client.openDirect('bob');
    assert.equal(conv.kind, 'direct');
    const there = ['a->b 1', 'a->b 2', 'a->b 3'];
    for (const t of there) await dev('alice1').client.sendText(conv.id, t);
    await expectTexts(dev('bob2'), col('bob2'), conv.id, there);
    const bConv = await dev('bob2').client.openDirect('alice');
    assert.equal(bConv.id, conv.id, 'one direct conversation per pair, whoever opens it');
    const back = ['b->a 1', 'b->a 2'];
    for (const t of back) await dev('bob2').client.sendText(conv.id, t);

    await expectTexts(dev('bob1'), col('bob1'), conv.id, [...there, ...back]);
    await expectTexts(dev('alice1'), col('alice1'), conv.id, back);
    await expectTexts(dev('alice2'), col('alice2'), conv.id, [...there, ...back]);
    for (const k of ['carol1', 'carol2']) {
      assert.equal(col(k).all.filter((m) => m.conversationId === conv.id).length, 0, `${k} is not in it`);
    }
  });

  test('group of three: every device gets every message once, in order', async () => {
    const g = await dev('bob1').client.createGroup('trio', ['alice', 'carol']);
    groupId = g.id;
    assert.equal(g.kind, 'group');
    assert.deepEqual(g.members.map((m) => m.username).sort(), ['alice', 'bob', 'carol']);
    // Every device learns of the group (welcome) before anyone speaks from it.
    for (const [k, d] of devices) {
      await waitFor(async () => (await d.client.conversations()).some((c) => c.id === groupId), 15_000, {
        what: `${k} joined the group`,
      });
    }
    const sent: string[] = [];
    for (const k of ['alice2', 'bob1', 'carol2', 'alice1', 'carol1', 'bob2']) {
      const t = `group from ${k}`;
      await dev(k).client.sendText(groupId, t);
      sent.push(t);
    }
    for (const k of devices.keys()) {
      // A device does not "receive" its own sends; everything else arrives, in send order.
      await expectTexts(
        dev(k),
        col(k),
        groupId,
        sent.filter((t) => t !== `group from ${k}`),
      );
    }
  });

  test('a device that was offline gets everything, in order, when it comes back', async () => {
    const carol2 = dev('carol2');
    await carol2.client.close();
    const sent: string[] = [];
    for (let i = 0; i < 15; i++) {
      const t = `while carol2 was away ${i}`;
      await dev(i % 2 === 0 ? 'alice1' : 'bob2').client.sendText(groupId, t);
      sent.push(t);
    }
    const dm = await dev('alice2').client.openDirect('carol');
    await dev('alice2').client.sendText(dm.id, 'dm while away');
    // The other devices got them live.
    await expectTexts(dev('carol1'), col('carol1'), groupId, sent);
    const back = await reopenClient(carol2, { connect: false });
    devices.set('carol2', back);
    const c = collectMessages(back);
    seen.set('carol2', c);
    await back.client.connect();
    await back.client.sync();
    await expectTexts(back, c, groupId, sent);
    await expectTexts(back, c, dm.id, ['dm while away']);
  });

  test('a removed member gets no later messages and cannot decrypt them', async () => {
    // Bob captures what the server pushes to his first device, to hand a later ciphertext to carol.
    const g = await dev('alice1').client.createGroup('soon without carol', ['bob', 'carol']);
    await waitFor(
      async () => (await dev('carol1').client.conversations()).some((c) => c.id === g.id),
      15_000,
      {
        what: 'carol1 joined',
      },
    );
    await dev('alice1').client.sendText(g.id, 'before removal');
    await expectTexts(dev('carol1'), col('carol1'), g.id, ['before removal']);
    await expectTexts(dev('carol2'), col('carol2'), g.id, ['before removal']);

    await dev('alice1').client.removeMember(g.id, 'carol');
    await dev('alice1').client.sendText(g.id, 'after removal: secret');
    await expectTexts(dev('bob1'), col('bob1'), g.id, ['before removal', 'after removal: secret']);
    await sleep(500);
    for (const k of ['carol1', 'carol2']) {
      assert.deepEqual(received(col(k), dev(k), g.id), ['before removal'], `${k} saw nothing after removal`);
    }
  });
});

describe('hostile network path', () => {
  test('duplicated and reordered frames: every message exactly once, in order', async () => {
    const chaos = chaosTransport({
      duplicate: 0.3,
      reorder: 0.3,
      duplicateOutgoing: 0.2,
      random: seededRandom(1234),
    });
    const transport = chaos.transport;
    const erin = await newClient(server, 'erin', { transport });
    const frank = await newClient(server, 'frank');
    const erinMsgs = collectMessages(erin);
    const conv = await frank.client.openDirect('erin');
    const sent: string[] = [];
    for (let i = 0; i < 40; i++) {
      const t = `chaos ${i}`;
      await frank.client.sendText(conv.id, t);
      sent.push(t);
    }
    await expectTexts(erin, erinMsgs, conv.id, sent);
    // Erin, sending through the same path, is not duplicated at frank's either.
    const frankMsgs = collectMessages(frank);
    const back = Array.from({ length: 10 }, (_, i) => `back ${i}`);
    for (const t of back) await erin.client.sendText(conv.id, t);
    await expectTexts(frank, frankMsgs, conv.id, back);
    assert.ok(chaos.stats.duplicated > 0 && chaos.stats.reordered > 0, JSON.stringify(chaos.stats));
  });

  test('a captured ciphertext from after the removal does not decrypt at the removed device (MLS and SDK)', async () => {
    const spy = chaosTransport();
    const victimPath = chaosTransport();
    const gina = await newClient(server, 'gina');
    const hank = await newClient(server, 'hank', { transport: spy.transport });
    const ivan = await newClient(server, 'ivan', { transport: victimPath.transport });
    const ivanMsgs = collectMessages(ivan);
    const g = await gina.client.createGroup('three', ['hank', 'ivan']);
    await waitFor(async () => (await ivan.client.conversations()).some((c) => c.id === g.id), 15_000, {
      what: 'ivan joined',
    });
    await gina.client.sendText(g.id, 'hello all');
    await expectTexts(ivan, ivanMsgs, g.id, ['hello all']);
    // Ivan's MLS state just before his removal, as an attacker holding his device would keep it.
    const before = await ivan.store.getGroupState(g.id);
    assert.ok(before, 'ivan has group state');
    await gina.client.removeMember(g.id, 'ivan');
    const secret = await gina.client.sendText(g.id, 'ivan must not read this');
    await waitFor(
      async () => (await hank.client.messages(g.id)).some((m) => textOf(m) === 'ivan must not read this'),
      15_000,
      {
        what: 'hank got the secret',
      },
    );
    // The ciphertext (and the removal commit before it) that hank's device was sent.
    const items = spy.received.flatMap((f) => {
      const v: unknown = JSON.parse(f);
      const parsed = ServerFrame.safeParse(v);
      return parsed.success && parsed.data.t === 'deliver' ? parsed.data.items : [];
    });
    const secretItem = items.find((i) => i.groupId === g.id && i.seq === secret.seq);
    const commitItem = items.find(
      (i) => i.groupId === g.id && i.kind === 'commit' && i.seq === secret.seq - 1,
    );
    assert.ok(secretItem && commitItem, 'captured the removal commit and the secret');
    const frame = JSON.stringify({ t: 'deliver', items: [{ ...secretItem, id: 999_999_999 }] });

    // 1. With MLS directly: from his last state, neither the secret alone nor commit-then-secret decrypts.
    const account = await ivan.store.getAccount();
    assert.ok(account);
    const ctx: MlsContext = {
      userId: account.userId,
      device: account.device,
      identityKey: account.identity.publicKey,
      directory: { trustedIdentityKey: async (userId) => (await ivan.store.getPin(userId))?.identityKey },
    };
    const decoded = await decodeGroup(ctx, before.state);
    assert.ok(decoded.ok);
    const direct = await processMessage(ctx, decoded.value, fromB64(secretItem.body));
    assert.equal(direct.ok, false, 'the secret does not decrypt from the pre-removal state');
    const commit = await processMessage(ctx, decoded.value, fromB64(commitItem.body));
    if (commit.ok && commit.value.kind === 'commit') {
      assert.equal(commit.value.removedSelf, true);
      const after = await processMessage(ctx, commit.value.group, fromB64(secretItem.body));
      assert.equal(after.ok, false, 'nor after processing his own removal');
    }

    // 2. Through his SDK: replayed to his device as if the server had delivered it to him.
    const errorsBefore = ivanMsgs.all.length;
    victimPath.inject(frame);
    await sleep(1000);
    assert.equal(ivanMsgs.all.length, errorsBefore, 'no message event at the removed device');
    const history = await ivan.client.messages(g.id);
    assert.equal(
      history.some((m) => textOf(m) === 'ivan must not read this'),
      false,
      'the plaintext is not in its store',
    );
  });
});
