/**
 * The one behaviour suite every Store backend must pass. Each backend's test file calls
 * `storeSuite(name, factory)`; `reopen` (when given) checks that data survives closing.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { AccountRecord, CallRecord, ConversationRecord, MessageRecord } from './records.ts';
import { type KvStore, messageKey, type Store } from './store.ts';

export interface StoreFactory {
  create(): Promise<Store>;
  /** Closes `store` and opens the same data again (persistent backends only). */
  reopen?(store: Store): Promise<Store>;
  cleanup?(): Promise<void>;
}

const bytes = (...b: number[]) => new Uint8Array(b);

const account: AccountRecord = {
  userId: 'user_0000001',
  username: 'alice',
  server: 'http://127.0.0.1:1',
  identity: { publicKey: bytes(1, 2, 3), privateKey: bytes(4, 5, 6) },
  device: {
    deviceId: 'device_00001',
    publicKey: bytes(7),
    privateKey: bytes(8),
    issuedAt: 5,
    cert: bytes(9, 10),
  },
  createdAt: 1,
};

const conv = (id: string): ConversationRecord => ({
  id,
  kind: 'group',
  title: `t-${id}`,
  members: [{ userId: 'user_0000001', username: 'alice' }],
  admins: ['user_0000001'],
  createdAt: 1,
  updatedAt: 2,
  left: false,
  lastSeq: 0,
});

const msg = (conversationId: string, seq: number, text = `m${seq}`): MessageRecord => ({
  id: `msg_${conversationId}_${seq}`,
  conversationId,
  seq,
  from: { userId: 'user_0000001', username: 'alice', deviceId: 'device_00001' },
  sentAt: seq,
  receivedAt: seq,
  body: { type: 'text', text },
  outgoing: false,
  reactions: {},
});

export function storeSuite(name: string, factory: StoreFactory): void {
  describe(`Store contract: ${name}`, () => {
    const withStore = async (fn: (s: Store) => Promise<void>) => {
      const s = await factory.create();
      try {
        await fn(s);
      } finally {
        await s.close();
        await factory.cleanup?.();
      }
    };

    it('starts empty', () =>
      withStore(async (s) => {
        assert.equal(await s.getAccount(), undefined);
        assert.equal(await s.getSession(), undefined);
        assert.deepEqual(await s.listConversations(), []);
        assert.deepEqual(await s.listMessages('c1'), []);
        assert.equal(await s.countKeyPackages(), 0);
        assert.equal(await s.getKv('x'), undefined);
      }));

    it('round-trips the account with its key bytes', () =>
      withStore(async (s) => {
        await s.atomic((w) => w.putAccount(account));
        const back = await s.getAccount();
        assert.deepEqual(back, account);
        assert.ok(back?.identity.privateKey instanceof Uint8Array);
      }));

    it('stores and deletes the session', () =>
      withStore(async (s) => {
        await s.atomic((w) => w.putSession({ token: 'tok_0123456789abcdef', sessionId: 's1', expiresAt: 9 }));
        assert.equal((await s.getSession())?.token, 'tok_0123456789abcdef');
        await s.atomic((w) => w.deleteSession());
        assert.equal(await s.getSession(), undefined);
      }));

    it('keeps key packages by ref and counts them', () =>
      withStore(async (s) => {
        await s.atomic((w) => {
          for (let i = 0; i < 5; i++)
            w.putKeyPackage({
              ref: `ref${i}`,
              publicBytes: bytes(i),
              privateBytes: bytes(i, i),
              lastResort: i === 4,
              createdAt: i,
            });
        });
        assert.equal(await s.countKeyPackages(), 5);
        assert.deepEqual((await s.getKeyPackage('ref2'))?.privateBytes, bytes(2, 2));
        await s.atomic((w) => w.deleteKeyPackage('ref2'));
        assert.equal(await s.getKeyPackage('ref2'), undefined);
        assert.equal(await s.countKeyPackages(), 4);
      }));

    it('lists messages by conversation in seq order, with a latest-N limit', () =>
      withStore(async (s) => {
        await s.atomic((w) => {
          // Written out of order and interleaved across conversations.
          for (const seq of [10, 2, 7, 100, 1]) w.putMessage(msg('convA', seq));
          for (const seq of [3, 1]) w.putMessage(msg('convB', seq));
          w.putMessage(msg('convA-x', 5)); // a conversation id that extends another must not leak in
        });
        assert.deepEqual(
          (await s.listMessages('convA')).map((m) => m.seq),
          [1, 2, 7, 10, 100],
        );
        assert.deepEqual(
          (await s.listMessages('convA', { limit: 2 })).map((m) => m.seq),
          [10, 100],
        );
        assert.deepEqual(
          (await s.listMessages('convB')).map((m) => m.seq),
          [1, 3],
        );
        assert.equal((await s.getMessage('convA', 7))?.body.type, 'text');
        // Same (conversation, seq) overwrites.
        await s.atomic((w) => w.putMessage(msg('convA', 7, 'edited')));
        const m7 = await s.getMessage('convA', 7);
        assert.deepEqual(m7?.body, { type: 'text', text: 'edited' });
      }));

    it('applies a batch atomically: group state, message, seen marker together', () =>
      withStore(async (s) => {
        await s.atomic((w) =>
          w
            .putGroupState({ groupId: 'g1', epoch: 3, state: bytes(1, 2) })
            .putConversation(conv('g1'))
            .putMessage(msg('g1', 1))
            .markSeen('dev:msg1'),
        );
        assert.equal((await s.getGroupState('g1'))?.epoch, 3);
        assert.equal(await s.isSeen('dev:msg1'), true);
        assert.equal(await s.isSeen('dev:msg2'), false);
        assert.equal((await s.listMessages('g1')).length, 1);
        assert.equal((await s.getConversation('g1'))?.title, 't-g1');
        assert.equal((await s.listConversations()).length, 1);
      }));

    it('keeps the outbox in send order per conversation', () =>
      withStore(async (s) => {
        await s.atomic((w) => {
          for (const [c, order] of [
            ['c2', '002'],
            ['c1', '003'],
            ['c1', '001'],
            ['c2', '001'],
          ] as const)
            w.putOutbox({
              msgId: `${c}-${order}`,
              conversationId: c,
              order,
              createdAt: 0,
              envelope: { v: 1 },
            });
        });
        assert.deepEqual(
          (await s.listOutbox('c1')).map((o) => o.order),
          ['001', '003'],
        );
        assert.equal((await s.listOutbox()).length, 4);
        await s.atomic((w) => w.deleteOutbox({ conversationId: 'c1', order: '001' }));
        assert.deepEqual(
          (await s.listOutbox('c1')).map((o) => o.msgId),
          ['c1-003'],
        );
      }));

    it('pins identity keys', () =>
      withStore(async (s) => {
        await s.atomic((w) =>
          w.putPin({ userId: 'u2', username: 'bob', identityKey: bytes(5, 5), pinnedAt: 1, verified: false }),
        );
        assert.deepEqual((await s.getPin('u2'))?.identityKey, bytes(5, 5));
        assert.equal((await s.listPins()).length, 1);
      }));

    it('stores free-form kv values', () =>
      withStore(async (s) => {
        await s.setKv('cursor', { conv: 'c1', seq: 4 });
        assert.deepEqual(await s.getKv('cursor'), { conv: 'c1', seq: 4 });
        await s.atomic((w) => w.deleteKv('cursor'));
        assert.equal(await s.getKv('cursor'), undefined);
      }));

    it('finds messages by id, and keeps local notices between server seqs', () =>
      withStore(async (s) => {
        const notice: MessageRecord = {
          ...msg('c1', 2),
          id: 'notice_1',
          local: 5,
          body: { type: 'system', event: 'safety-number-changed', userId: 'u2' },
        };
        await s.atomic((w) =>
          w.putMessage(msg('c1', 1)).putMessage(msg('c1', 3)).putMessage(notice).putMessage(msg('c1', 2)),
        );
        assert.deepEqual(
          (await s.listMessages('c1')).map((m) => m.id),
          ['msg_c1_1', 'msg_c1_2', 'notice_1', 'msg_c1_3'],
        );
        assert.deepEqual(
          (await s.listMessages('c1', { limit: 2 })).map((m) => m.id),
          ['notice_1', 'msg_c1_3'],
        );
        assert.equal((await s.getMessageById('c1', 'notice_1'))?.body.type, 'system');
        assert.equal((await s.getMessageById('c1', 'msg_c1_2'))?.seq, 2);
        assert.equal(await s.getMessageById('c2', 'msg_c1_2'), undefined);
        // Reactions, edits and status round-trip; a rewrite replaces the entry in place.
        const edited: MessageRecord = {
          ...msg('c1', 2, 'new text'),
          reactions: { '👍': ['u1', 'u2'] },
          editedAt: 9,
          status: 'read',
          replyTo: 'msg_c1_1',
        };
        await s.atomic((w) => w.putMessage(edited));
        assert.deepEqual(await s.getMessageById('c1', 'msg_c1_2'), edited);
        assert.equal((await s.listMessages('c1')).length, 4);
      }));

    it('reads messages written before reactions existed', () =>
      withStore(async (s) => {
        const raw = s as unknown as Partial<Pick<KvStore, 'rawWrite'>>;
        if (raw.rawWrite === undefined) return;
        const { reactions: _r, ...old } = msg('c1', 1);
        await raw.rawWrite([
          { op: 'put', col: 'messages', key: messageKey('c1', 1), value: JSON.stringify(old) },
        ]);
        assert.deepEqual((await s.getMessage('c1', 1))?.reactions, {});
      }));

    it('keeps group admins, and reads conversations written before admins existed as none known', () =>
      withStore(async (s) => {
        await s.atomic((w) => w.putConversation({ ...conv('g1'), admins: ['user_0000001', 'user_0000002'] }));
        assert.deepEqual((await s.getConversation('g1'))?.admins, ['user_0000001', 'user_0000002']);
        const raw = s as unknown as Partial<Pick<KvStore, 'rawWrite'>>;
        if (raw.rawWrite === undefined) return;
        const { admins: _a, ...old } = conv('g2');
        await raw.rawWrite([{ op: 'put', col: 'conversations', key: 'g2', value: JSON.stringify(old) }]);
        assert.deepEqual((await s.getConversation('g2'))?.admins, []);
      }));

    it('stores contacts, profiles, conversation state, settings and blocks', () =>
      withStore(async (s) => {
        assert.deepEqual(await s.listContacts(), []);
        assert.deepEqual(await s.getConversationState('c1'), { unread: 0 });
        assert.deepEqual(await s.getSettings(), {
          readReceipts: true,
          typingIndicators: true,
          theme: 'system',
        });
        await s.atomic((w) =>
          w
            .putContact({ userId: 'u2', username: 'bob', addedAt: 3 })
            .putProfile({ userId: 'u2', username: 'bob', displayName: 'Bob', updatedAt: 4 })
            .putConversationState('c1', {
              unread: 2,
              draft: 'hel',
              lastMessage: { text: 'x', at: 1, from: 'u2' },
            })
            .putSettings({ readReceipts: false, typingIndicators: true, theme: 'dark', language: 'ru' })
            .setBlocked('u3', true)
            .setBlocked('u4', true),
        );
        assert.deepEqual(await s.getContact('u2'), { userId: 'u2', username: 'bob', addedAt: 3 });
        assert.equal((await s.listContacts()).length, 1);
        assert.equal((await s.getProfile('u2'))?.displayName, 'Bob');
        assert.equal((await s.listProfiles()).length, 1);
        assert.equal((await s.getConversationState('c1')).draft, 'hel');
        assert.equal((await s.getSettings()).theme, 'dark');
        assert.deepEqual((await s.listBlocked()).sort(), ['u3', 'u4']);
        assert.equal(await s.isBlocked('u3'), true);
        await s.atomic((w) => w.setBlocked('u3', false).deleteContact('u2'));
        assert.equal(await s.isBlocked('u3'), false);
        assert.equal(await s.getContact('u2'), undefined);
      }));

    it('holds items for later, in (group, epoch, seq) order, per group', () =>
      withStore(async (s) => {
        const item = (groupId: string, epoch: number, seq: number) => ({
          id: seq,
          msgId: `msg-${groupId}-${seq}-xxxxxxxx`,
          groupId,
          seq,
          kind: 'application' as const,
          epoch,
          body: 'AAAA',
          sender: { userId: 'user-0001', deviceId: 'device-0001' },
          sentAt: 1,
        });
        await s.atomic((w) => {
          w.putPending({ item: item('group-02', 1, 3), heldAt: 5 });
          w.putPending({ item: item('group-01', 10, 2), heldAt: 5 });
          w.putPending({ item: item('group-01', 2, 7), heldAt: 6 });
          w.putPending({ item: item('group-01', 2, 7), heldAt: 6 }); // the same item again: one record
        });
        assert.equal(await s.countPending(), 3);
        assert.deepEqual(
          (await s.listPending('group-01')).map((p) => [p.item.epoch, p.item.seq]),
          [
            [2, 7],
            [10, 2],
          ],
        );
        await s.atomic((w) => w.deletePending(item('group-01', 2, 7)));
        assert.deepEqual(
          (await s.listPending()).map((p) => p.item.groupId),
          ['group-01', 'group-02'],
        );
      }));

    it('clear() empties every collection and the store stays usable', () =>
      withStore(async (s) => {
        await s.atomic((w) => {
          w.putAccount(account).putConversation(conv('c1')).markSeen('k').setBlocked('u3', true);
          for (let i = 0; i < 1200; i++) w.putMessage(msg('c1', i));
        });
        await s.clear();
        assert.equal(await s.getAccount(), undefined);
        assert.deepEqual(await s.listMessages('c1'), []);
        assert.equal(await s.getMessageById('c1', 'msg_c1_5'), undefined);
        assert.equal(await s.isSeen('k'), false);
        assert.deepEqual(await s.listBlocked(), []);
        await s.atomic((w) => w.putAccount(account));
        assert.deepEqual(await s.getAccount(), account);
      }));

    it('keeps call history, newest first, and updates a call in place', () =>
      withStore(async (s) => {
        const call = (callId: string, startedAt: number, extra: Partial<CallRecord> = {}): CallRecord => ({
          callId,
          conversationId: 'c1',
          direction: 'incoming',
          peer: { userId: 'user_0000002', username: 'bob' },
          video: false,
          startedAt,
          endedAt: startedAt + 10,
          reason: 'timeout',
          missed: true,
          ...extra,
        });
        assert.deepEqual(await s.listCalls(), []);
        await s.atomic((w) => w.putCall(call('call_a', 100)).putCall(call('call_b', 300)));
        await s.atomic((w) => w.putCall(call('call_c', 200, { direction: 'outgoing', missed: false })));
        assert.deepEqual(
          (await s.listCalls()).map((c) => c.callId),
          ['call_b', 'call_c', 'call_a'],
        );
        assert.deepEqual(
          (await s.listCalls({ limit: 1 })).map((c) => c.callId),
          ['call_b'],
        );
        const answered = call('call_a', 100, {
          reason: 'hangup',
          missed: false,
          answeredAt: 105,
          answeredBy: 'd2',
        });
        await s.atomic((w) => w.putCall(answered));
        assert.deepEqual(await s.getCall('call_a'), answered);
        assert.equal(await s.getCall('nope'), undefined);
        assert.equal((await s.listCalls()).length, 3);
      }));

    it('refuses corrupt records on read instead of returning them', () =>
      withStore(async (s) => {
        const raw = s as unknown as { rawWrite?: (ops: unknown[]) => Promise<void> };
        if (raw.rawWrite === undefined) return;
        await raw.rawWrite([{ op: 'put', col: 'conversations', key: 'bad', value: '{"id":1}' }]);
        await assert.rejects(s.getConversation('bad'), /invalid/);
      }));

    if (factory.reopen !== undefined) {
      const reopen = factory.reopen.bind(factory);
      it('keeps data across close and reopen', async () => {
        let s = await factory.create();
        try {
          await s.atomic((w) =>
            w
              .putAccount(account)
              .putMessage(msg('c1', 1))
              .markSeen('k')
              .putConversation({ ...conv('g1'), admins: ['user_0000001', 'user_0000002'] }),
          );
          s = await reopen(s);
          assert.deepEqual(await s.getAccount(), account);
          assert.deepEqual((await s.getConversation('g1'))?.admins, ['user_0000001', 'user_0000002']);
          assert.equal((await s.listMessages('c1')).length, 1);
          assert.equal(await s.isSeen('k'), true);
        } finally {
          await s.close();
          await factory.cleanup?.();
        }
      });
    }
  });
}
