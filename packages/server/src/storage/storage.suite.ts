/**
 * One behavioural suite for every storage backend: sqlite.test.ts and postgres.test.ts run it.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { ServerError } from '../errors.ts';
import { ModerationStore } from '../moderation/store.ts';
import { type NewDevice, type Outgoing, type Store, USERNAME_QUARANTINE_MS } from './store.ts';

const id = () => randomBytes(12).toString('base64url');
const b64 = (s: string) => Buffer.from(s).toString('base64url');

function device(deviceId = id()): NewDevice {
  return {
    deviceId,
    deviceKey: b64('k'.repeat(32)),
    cert: b64('c'.repeat(64)),
    issuedAt: 1,
    name: undefined,
  };
}

async function rejectsCode(p: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof ServerError, `expected ServerError, got ${String(err)}`);
    assert.equal(err.code, code);
    return true;
  });
}

export function runStorageSuite(
  name: string,
  makeStore: () => Promise<{ store: Store; cleanup: () => Promise<void> }>,
) {
  describe(`storage: ${name}`, () => {
    let store: Store;
    let cleanup: () => Promise<void>;
    const now = Date.now();

    before(async () => {
      ({ store, cleanup } = await makeStore());
    });
    after(async () => {
      await cleanup();
    });

    async function account(
      username = `u${id()
        .toLowerCase()
        .replace(/[^a-z0-9]/g, '')}`.slice(0, 20),
    ) {
      const userId = id();
      const dev = device();
      await store.createAccount({
        userId,
        username,
        displayName: undefined,
        identityKey: b64('i'.repeat(32)),
        device: dev,
        inviteCodeHash: undefined,
        now,
      });
      return { userId, deviceId: dev.deviceId };
    }

    /** `claimer` claims a key package of each of `targets` (so that a commit of it may add them). */
    async function claim(
      claimer: { deviceId: string },
      targets: { userId: string; deviceId: string }[],
      at = now,
    ): Promise<void> {
      for (const t of targets) {
        await store.uploadKeyPackages(t.deviceId, [], Buffer.from('last resort'), at);
        await store.claimKeyPackages(t.userId, claimer.deviceId, at);
      }
    }

    /** A group of `a` that has added `b` (epoch 1; `b` holds the welcome). */
    async function twoMemberGroup() {
      const a = await account();
      const b = await account();
      const g = id();
      await store.createGroup(g, a, now);
      await claim(a, [b]);
      await store.send(a, msg(g, 'commit', 0, { adds: [b], welcome: b64('w') }), now);
      return { a, b, g };
    }

    function msg(
      groupId: string,
      kind: Outgoing['kind'],
      epoch: number,
      extra: Partial<Outgoing> = {},
    ): Outgoing {
      return { msgId: id(), groupId, kind, epoch, body: b64(`body-${id()}`), ...extra };
    }

    it('migrations are idempotent', async () => {
      await store.migrate();
      await store.ping();
    });

    it('accounts: unique username, unique device id, lookups', async () => {
      const a = await account('alice_storage');
      await rejectsCode(
        store.createAccount({
          userId: id(),
          username: 'alice_storage',
          displayName: undefined,
          identityKey: 'x',
          device: device(),
          inviteCodeHash: undefined,
          now,
        }),
        'USERNAME_TAKEN',
      );
      await rejectsCode(
        store.createAccount({
          userId: id(),
          username: 'other_name',
          displayName: 'Other',
          identityKey: 'x',
          device: device(a.deviceId),
          inviteCodeHash: undefined,
          now,
        }),
        'BAD_REQUEST',
      );
      assert.equal(
        await store.accountByUsername('other_name'),
        undefined,
        'failed registration left nothing behind',
      );
      assert.equal((await store.accountByUsername('alice_storage'))?.userId, a.userId);
      assert.equal((await store.accountById(a.userId))?.username, 'alice_storage');
      assert.deepEqual(
        (await store.activeDevices(a.userId)).map((d) => d.deviceId),
        [a.deviceId],
      );
    });

    it('invites are single use and do not burn on failed registrations', async () => {
      await store.createInvite('hash1', 'someone', now, now + 1000_000);
      const taken = await account();
      const username = (await store.accountById(taken.userId))?.username ?? '';
      await rejectsCode(
        store.createAccount({
          userId: id(),
          username,
          displayName: undefined,
          identityKey: 'x',
          device: device(),
          inviteCodeHash: 'hash1',
          now,
        }),
        'USERNAME_TAKEN',
      );
      await store.createAccount({
        userId: id(),
        username: 'invited_one',
        displayName: undefined,
        identityKey: 'x',
        device: device(),
        inviteCodeHash: 'hash1',
        now,
      });
      await rejectsCode(
        store.createAccount({
          userId: id(),
          username: 'invited_two',
          displayName: undefined,
          identityKey: 'x',
          device: device(),
          inviteCodeHash: 'hash1',
          now,
        }),
        'INVALID_INVITE',
      );
    });

    it('challenges are single use and expire', async () => {
      const a = await account();
      await store.createChallenge(a.deviceId, 'ch1', now + 1000);
      assert.equal(await store.consumeChallenge(a.deviceId, 'ch1', now), true);
      assert.equal(await store.consumeChallenge(a.deviceId, 'ch1', now), false);
      await store.createChallenge(a.deviceId, 'ch2', now + 1000);
      assert.equal(await store.consumeChallenge('other', 'ch2', now), false);
      assert.equal(await store.consumeChallenge(a.deviceId, 'ch2', now + 1000), false);
    });

    it('sessions: create, find by token hash, revoke, list', async () => {
      const a = await account();
      const sessionId = id();
      await store.createSession({
        sessionId,
        deviceId: a.deviceId,
        userId: a.userId,
        tokenHash: `h${sessionId}`,
        now,
        expiresAt: now + 1000,
      });
      const s = await store.sessionByTokenHash(`h${sessionId}`);
      assert.equal(s?.deviceId, a.deviceId);
      assert.equal(s?.revokedAt, undefined);
      assert.equal((await store.activeSessions(a.userId, now)).length, 1);
      assert.equal(await store.revokeSession('someone-else', sessionId, now), undefined);
      assert.equal((await store.revokeSession(a.userId, sessionId, now))?.sessionId, sessionId);
      assert.equal((await store.sessionByTokenHash(`h${sessionId}`))?.revokedAt, now);
      assert.equal((await store.activeSessions(a.userId, now)).length, 0);
    });

    it('key packages: one-time first, then last resort; claims are all or nothing', async () => {
      const bob = await account();
      const caller = await account();
      await store.uploadKeyPackages(
        bob.deviceId,
        [Buffer.from('kp1'), Buffer.from('kp2')],
        Buffer.from('lr1'),
        now,
      );
      await store.uploadKeyPackages(bob.deviceId, [], Buffer.from('lr2'), now);
      assert.deepEqual(await store.keyPackageCount(bob.deviceId), { oneTime: 2, lastResort: true });
      const c1 = await store.claimKeyPackages(bob.userId, caller.deviceId);
      assert.equal(Buffer.from(c1[0]?.bytes ?? []).toString(), 'kp1');
      assert.equal(c1[0]?.remaining, 1);
      const c2 = await store.claimKeyPackages(bob.userId, caller.deviceId);
      assert.equal(Buffer.from(c2[0]?.bytes ?? []).toString(), 'kp2');
      const c3 = await store.claimKeyPackages(bob.userId, caller.deviceId);
      assert.equal(Buffer.from(c3[0]?.bytes ?? []).toString(), 'lr2', 'last resort replaced, reused');
      assert.equal(c3[0]?.lastResort, true);
      // The caller's own device is skipped.
      assert.deepEqual(await store.claimKeyPackages(bob.userId, bob.deviceId), []);

      // A second device without packages: the claim fails and consumes nothing.
      await store.uploadKeyPackages(bob.deviceId, [Buffer.from('kp3')], undefined, now);
      const userId = bob.userId;
      await store.db.transaction().execute(async (trx) => {
        await trx
          .insertInto('devices')
          .values({
            device_id: id(),
            user_id: userId,
            device_key: 'k',
            cert: 'c',
            issued_at: 1,
            name: null,
            created_at: now,
            revoked_at: null,
          })
          .execute();
      });
      await rejectsCode(store.claimKeyPackages(bob.userId, caller.deviceId), 'NO_KEY_PACKAGE');
      assert.deepEqual(await store.keyPackageCount(bob.deviceId), { oneTime: 1, lastResort: true });
    });

    it('key packages: concurrent claims never hand out the same one-time package', async () => {
      const bob = await account();
      const caller = await account();
      const n = 20;
      await store.uploadKeyPackages(
        bob.deviceId,
        Array.from({ length: n }, (_, i) => Buffer.from(`kp${i}`)),
        Buffer.from('lr'),
        now,
      );
      const claims = await Promise.all(
        Array.from({ length: n }, () => store.claimKeyPackages(bob.userId, caller.deviceId)),
      );
      const oneTime = claims
        .flat()
        .filter((c) => !c.lastResort)
        .map((c) => Buffer.from(c.bytes).toString());
      assert.equal(new Set(oneTime).size, oneTime.length, 'no package handed out twice');
      assert.equal((await store.keyPackageCount(bob.deviceId)).oneTime, n - oneTime.length);
    });

    it('groups: create, GROUP_EXISTS, members', async () => {
      const a = await account();
      const g = id();
      await store.createGroup(g, a, now);
      await rejectsCode(store.createGroup(g, a, now), 'GROUP_EXISTS');
      assert.deepEqual(await store.group(g), { epoch: 0, createdAt: now, members: [a] });
      assert.equal(await store.group(id()), undefined);
    });

    it('commits: epoch compare-and-set under concurrency', async () => {
      const a = await account();
      const g = id();
      await store.createGroup(g, a, now);
      const results = await Promise.allSettled(
        Array.from({ length: 10 }, () => store.send(a, msg(g, 'commit', 0), now)),
      );
      const ok = results.filter((r) => r.status === 'fulfilled');
      assert.equal(ok.length, 1, 'exactly one commit wins epoch 0');
      for (const r of results) {
        if (r.status === 'rejected') {
          assert.ok(r.reason instanceof ServerError);
          assert.equal(r.reason.code, 'STALE_EPOCH');
          assert.deepEqual(r.reason.details, { epoch: 1 });
        }
      }
      assert.equal((await store.group(g))?.epoch, 1);
    });

    it('concurrent sends to one group get distinct, gapless seqs; a retry racing its first send stores once', async () => {
      const { a, b, g } = await twoMemberGroup();
      const sends = Array.from({ length: 20 }, () => msg(g, 'application', 1));
      const first = sends[0];
      assert.ok(first !== undefined);
      const results = await Promise.all([...sends, first].map((m) => store.send(a, m, now)));
      const stored = results.filter((r) => !r.duplicate);
      assert.equal(stored.length, 20);
      const seqs = stored.map((r) => r.seq).sort((x, y) => x - y);
      const low = seqs[0] ?? 0;
      assert.deepEqual(
        seqs,
        seqs.map((_, i) => low + i),
      );
      assert.equal(results[20]?.seq, results[0]?.seq, 'the retry is answered with the first send');
      assert.equal(await store.mailboxSize(b.deviceId), 21, 'the welcome and twenty messages, once each');
    });

    it('sends: membership, idempotency, fan-out order, welcome and removes', async () => {
      const a = await account();
      const b = await account();
      const c = await account();
      const g = id();
      await store.createGroup(g, a, now);
      await rejectsCode(store.send(b, msg(g, 'application', 0), now), 'NOT_GROUP_MEMBER');
      await rejectsCode(store.send(a, msg(id(), 'application', 0), now), 'NOT_FOUND');
      await rejectsCode(
        store.send(
          a,
          msg(g, 'commit', 0, { adds: [{ userId: a.userId, deviceId: b.deviceId }], welcome: b64('w') }),
          now,
        ),
        'BAD_REQUEST',
      );
      const add = msg(g, 'commit', 0, { adds: [b, c], welcome: b64('welcome') });
      await claim(a, [b, c]);
      const r1 = await store.send(a, add, now);
      assert.deepEqual([r1.seq, r1.epoch, r1.duplicate], [0, 1, false]);
      assert.deepEqual(new Set(r1.recipients), new Set([b.deviceId, c.deviceId]));
      const again = await store.send(a, add, now);
      assert.deepEqual(again, { ...r1, duplicate: true, recipients: [] });

      const texts: string[] = [];
      for (let i = 0; i < 5; i++) {
        const m = msg(g, 'application', 1);
        texts.push(m.msgId);
        await store.send(a, m, now);
      }
      const boxB = await store.mailbox(b.deviceId, 100);
      assert.equal(boxB[0]?.kind, 'welcome');
      assert.equal(Buffer.from(boxB[0]?.body ?? []).toString(), 'welcome');
      assert.deepEqual(
        boxB.slice(1).map((i) => i.msgId),
        texts,
      );
      assert.deepEqual(
        boxB.map((i) => i.seq),
        [0, 1, 2, 3, 4, 5],
      );
      assert.ok(
        boxB.every((x, i) => i === 0 || x.id > (boxB[i - 1]?.id ?? 0)),
        'mailbox ids increase',
      );

      // Remove c: c still gets the commit that removes it, then nothing more.
      const rm = await store.send(b, msg(g, 'commit', 1, { removes: [c.deviceId, 'not-a-member'] }), now);
      assert.deepEqual(new Set(rm.recipients), new Set([a.deviceId, c.deviceId]));
      await store.send(a, msg(g, 'application', 2), now);
      const boxC = await store.mailbox(c.deviceId, 100);
      assert.equal(boxC.at(-1)?.kind, 'commit');
      assert.deepEqual(
        (await store.group(g))?.members.map((m) => m.deviceId).sort(),
        [a.deviceId, b.deviceId].sort(),
      );
    });

    it('adds only devices whose key package the committer claimed: single use, for 7 days', async () => {
      const a = await account();
      const b = await account();
      const c = await account();
      const g = id();
      await store.createGroup(g, a, now);
      const addB = (epoch: number, at = now) =>
        store.send(a, msg(g, 'commit', epoch, { adds: [b], welcome: b64('w') }), at);
      await rejectsCode(addB(0), 'FORBIDDEN');
      await claim(c, [b]);
      await rejectsCode(addB(0), 'FORBIDDEN'); // c's claim is not a's
      await claim(a, [b], now - 8 * 24 * 60 * 60 * 1000);
      await rejectsCode(addB(0), 'FORBIDDEN'); // expired
      await claim(a, [b]);
      assert.equal((await addB(0)).epoch, 1);
      await store.send(a, msg(g, 'commit', 1, { removes: [b.deviceId] }), now);
      await rejectsCode(addB(2), 'FORBIDDEN'); // used up
      assert.deepEqual((await store.group(g))?.members, [a]);
    });

    it('refuses application and proposal messages from an epoch the group has not reached', async () => {
      const { a, b, g } = await twoMemberGroup();
      for (const kind of ['application', 'proposal'] as const) {
        await rejectsCode(store.send(b, msg(g, kind, 2), now), 'BAD_REQUEST');
        await rejectsCode(store.send(b, msg(g, kind, 999_999), now), 'BAD_REQUEST');
        assert.equal((await store.send(b, msg(g, kind, 1), now)).epoch, 1);
        assert.equal(
          (await store.send(b, msg(g, kind, 0), now)).epoch,
          1,
          'older epochs are the receivers’ call',
        );
      }
      assert.equal(await store.mailboxSize(a.deviceId), 4);
    });

    it('idempotency is per (device, msgId) and comes after the membership check', async () => {
      const a = await account();
      const b = await account();
      const [g1, g2] = [id(), id()];
      await store.createGroup(g1, a, now);
      await store.createGroup(g2, a, now);
      await claim(a, [b]);
      await store.send(a, msg(g1, 'commit', 0, { adds: [b], welcome: b64('w') }), now);
      const m = msg(g1, 'application', 1);
      const first = await store.send(a, m, now);
      assert.equal((await store.send(a, m, now)).duplicate, true, 'a retry gets the first answer');
      // The same msgId in another group (or as another kind) is a reused id, not a retry.
      await rejectsCode(store.send(a, { ...m, groupId: g2, epoch: 0 }, now), 'BAD_REQUEST');
      await rejectsCode(store.send(a, { ...m, kind: 'proposal' }, now), 'BAD_REQUEST');
      // Another device may use the same msgId.
      assert.equal((await store.send(b, m, now)).duplicate, false);
      // A device that is no longer a member gets NOT_GROUP_MEMBER, also for a retry.
      const fromB = msg(g1, 'application', 1);
      await store.send(b, fromB, now);
      await store.send(a, msg(g1, 'commit', 1, { removes: [b.deviceId] }), now);
      await rejectsCode(store.send(b, fromB, now), 'NOT_GROUP_MEMBER');
      assert.equal(first.duplicate, false);
    });

    it('ack deletes only the acking device’s own rows', async () => {
      const { a, b, g } = await twoMemberGroup();
      await store.send(b, msg(g, 'application', 1), now);
      const boxA = await store.mailbox(a.deviceId, 10);
      const boxB = await store.mailbox(b.deviceId, 10);
      assert.equal(boxA.length, 1);
      assert.equal(
        await store.ack(
          a.deviceId,
          boxB.map((i) => i.id),
        ),
        0,
        "b's rows are not a's to ack",
      );
      assert.equal((await store.mailbox(b.deviceId, 10)).length, boxB.length);
      assert.equal(await store.ack(a.deviceId, [boxA[0]?.id ?? -1, boxA[0]?.id ?? -1]), 1);
      assert.equal((await store.mailbox(a.deviceId, 10)).length, 0);
    });

    it('device revocation clears sessions, packages, mailbox and memberships', async () => {
      const { a, b, g } = await twoMemberGroup();
      await store.uploadKeyPackages(b.deviceId, [Buffer.from('x')], undefined, now);
      await store.createSession({
        sessionId: id(),
        deviceId: b.deviceId,
        userId: b.userId,
        tokenHash: id(),
        now,
        expiresAt: now + 1000,
      });
      await rejectsCode(store.revokeDevice(a.userId, b.deviceId, now), 'NOT_FOUND');
      assert.equal(await store.revokeDevice(b.userId, b.deviceId, now), true);
      assert.equal(await store.revokeDevice(b.userId, b.deviceId, now), false);
      assert.equal(await store.mailboxSize(b.deviceId), 0);
      assert.deepEqual(await store.keyPackageCount(b.deviceId), { oneTime: 0, lastResort: false });
      assert.equal((await store.activeSessions(b.userId, now)).length, 0);
      assert.deepEqual((await store.group(g))?.members, [a]);
      assert.deepEqual(await store.activeDevices(b.userId), []);
    });

    it('account deletion: rows go, the username stays reserved until the quarantine ends', async () => {
      const { a, b, g } = await twoMemberGroup();
      await store.uploadKeyPackages(a.deviceId, [Buffer.from('x')], undefined, now);
      await store.putPushSubscription(
        a.deviceId,
        { endpoint: 'https://p/x', keys: { p256dh: 'k', auth: 'a' } },
        now,
      );
      await store.createUpload({ uploadId: id(), attachmentId: id(), deviceId: a.deviceId, size: 5, now });
      const accountRow = await store.accountById(a.userId);
      assert.ok(accountRow !== undefined);
      const r = await store.deleteAccount(a.userId, now);
      assert.deepEqual(r.devices, [a.deviceId]);
      assert.deepEqual(r.peers, [b.deviceId]);
      assert.equal(r.uploads.length, 1);
      assert.equal(await store.accountById(a.userId), undefined);
      assert.equal(await store.accountByUsername(accountRow.username), undefined);
      assert.equal(await store.device(a.deviceId), undefined);
      assert.equal(await store.pushSubscription(a.deviceId), undefined);
      assert.deepEqual((await store.group(g))?.members, [b]);
      await rejectsCode(
        store.createAccount({
          userId: id(),
          username: accountRow.username,
          displayName: undefined,
          identityKey: b64('i'.repeat(32)),
          device: device(),
          inviteCodeHash: undefined,
          now,
        }),
        'USERNAME_TAKEN',
      );
      // After the quarantine the sweeper frees the name.
      await store.sweep(now + USERNAME_QUARANTINE_MS + 1, {
        maxAgeDays: 36500,
        maxItemsPerDevice: 1_000_000,
      });
      await store.createAccount({
        userId: id(),
        username: accountRow.username,
        displayName: undefined,
        identityKey: b64('i'.repeat(32)),
        device: device(),
        inviteCodeHash: undefined,
        now,
      });
    });

    it('uploads and push subscriptions: create, progress, complete, expire', async () => {
      const a = await account();
      const u = { uploadId: id(), attachmentId: id(), deviceId: a.deviceId, size: 10, now };
      await store.createUpload(u);
      await store.setUploadReceived(u.uploadId, 10);
      const row = await store.upload(u.uploadId);
      assert.equal(row?.received, 10);
      assert.ok(row !== undefined);
      await store.completeUpload(row, now);
      assert.equal(await store.upload(u.uploadId), undefined);
      assert.equal(await store.attachmentSize(u.attachmentId), 10);
      const old = { uploadId: id(), attachmentId: id(), deviceId: a.deviceId, size: 10, now: now - 1000 };
      await store.createUpload(old);
      assert.ok((await store.expireUploads(now - 500)).includes(old.uploadId));
      assert.equal(await store.upload(old.uploadId), undefined);

      await store.putPushSubscription(
        a.deviceId,
        { endpoint: 'https://p/1', keys: { p256dh: 'k', auth: 'a' } },
        now,
      );
      await store.putPushSubscription(
        a.deviceId,
        { endpoint: 'https://p/2', keys: { p256dh: 'k', auth: 'a' } },
        now,
      );
      assert.equal((await store.pushSubscription(a.deviceId))?.endpoint, 'https://p/2');
      await store.deletePushSubscription(a.deviceId, 'https://p/1'); // an older endpoint: kept
      assert.equal((await store.pushSubscription(a.deviceId))?.endpoint, 'https://p/2');
      await store.deletePushSubscription(a.deviceId);
      assert.equal(await store.pushSubscription(a.deviceId), undefined);
    });

    it('retention: expires old items, trims the oldest above the cap, drops orphan messages', async () => {
      const a = await account();
      const b = await account();
      const g = id();
      const day = 24 * 60 * 60 * 1000;
      await store.createGroup(g, a, now - 40 * day);
      await claim(a, [b], now - 40 * day);
      await store.send(a, msg(g, 'commit', 0, { adds: [b], welcome: b64('w') }), now - 40 * day);
      for (let i = 0; i < 6; i++) await store.send(a, msg(g, 'application', 1), now);
      assert.equal(await store.mailboxSize(b.deviceId), 7);
      const r = await store.sweep(now, { maxAgeDays: 30, maxItemsPerDevice: 4 });
      assert.ok(r.expiredItems >= 1);
      assert.ok(r.trimmedItems >= 2);
      const box = await store.mailbox(b.deviceId, 10);
      assert.equal(box.length, 4, 'kept the newest four');
      assert.ok(r.orphanMessages >= 2, 'the old welcome and the old commit are gone');
      const rows = await store.db.selectFrom('messages').select('kind').where('group_id', '=', g).execute();
      assert.equal(rows.length, 6, 'messages still referenced (or recent) are kept');
    });

    it('retention: expires attachments older than the cutoff, keeps newer ones', async () => {
      const a = await account();
      const day = 24 * 60 * 60 * 1000;
      const [old, fresh] = [id(), id()];
      await store.createAttachment(old, 10, a.deviceId, now - 40 * day);
      await store.createAttachment(fresh, 20, a.deviceId, now);
      const gone = await store.expireAttachments(now - 30 * day);
      assert.ok(gone.includes(old));
      assert.ok(!gone.includes(fresh));
      assert.equal(await store.attachmentSize(old), undefined);
      assert.equal(await store.attachmentSize(fresh), 20);
    });

    it('franking: the commitment and the server tag are stored with the message and delivered', async () => {
      const { a, b, g } = await twoMemberGroup();
      const cf = Buffer.alloc(32, 7).toString('base64url');
      const tag = new Uint8Array(32).fill(9);
      await store.send(a, msg(g, 'application', 1, { franking: cf }), now, tag);
      await store.send(a, msg(g, 'application', 1), now);
      await rejectsCode(store.send(a, msg(g, 'proposal', 1, { franking: cf }), now, tag), 'BAD_REQUEST');
      const items = (await store.mailbox(b.deviceId, 10)).filter((i) => i.kind === 'application');
      assert.deepEqual(items[0]?.franking, { cf, tag: Buffer.from(tag).toString('base64url') });
      assert.equal(items[1]?.franking, undefined, 'an unfranked message has none');
    });

    it('moderation: suspensions, limits, strangers, reports, appeals and notices', async () => {
      const mod = new ModerationStore(store.db);
      const a = await account();
      const b = await account();
      const c = await account();
      assert.equal(await mod.suspension(a.userId), undefined);
      await mod.suspend(a.userId, 'scam', now);
      assert.deepEqual(await mod.suspension(a.userId), { at: now, reason: 'scam' });
      await mod.liftLimits(a.userId, now);
      assert.equal(await mod.limitsLifted(a.userId), true, 'an upsert keeps the other columns');
      assert.deepEqual(await mod.suspension(a.userId), { at: now, reason: 'scam' });
      await mod.liftSuspension(a.userId);
      assert.equal(await mod.suspension(a.userId), undefined);
      assert.equal(await mod.limitsLifted(b.userId), false);

      const g = id();
      await store.createGroup(g, a, now);
      assert.equal(await mod.shareGroup(a.userId, b.userId), false);
      await claim(a, [b]);
      await store.send(a, msg(g, 'commit', 0, { adds: [b], welcome: b64('w') }), now);
      assert.equal(await mod.shareGroup(a.userId, b.userId), true);
      assert.equal(await mod.shareGroup(b.userId, a.userId), true);
      assert.equal(await mod.shareGroup(a.userId, c.userId), false);

      const day = 24 * 60 * 60 * 1000;
      await mod.recordStranger(c.userId, a.userId, now - 2 * day, now - 3 * day);
      await mod.recordStranger(c.userId, b.userId, now - 10, now - day);
      await mod.recordStranger(c.userId, b.userId, now - 5, now - day);
      await mod.recordStranger(c.userId, a.userId, now, now - day);
      assert.deepEqual(
        (await mod.strangersSince(c.userId, now - day)).map((r) => r.target),
        [b.userId, a.userId],
        'distinct, oldest first, the old reach forgotten',
      );

      const reportId = id();
      await mod.createReport({
        reportId,
        reporterUserId: b.userId,
        reportedUserId: a.userId,
        category: 'scam',
        comment: 'asked for a code',
        messages: [],
        now,
      });
      assert.equal((await mod.reports({ status: 'open', reportedUserId: a.userId })).length, 1);
      assert.equal(await mod.resolveReport(reportId, 'warned', 'first time', now + 1), true);
      const r = await mod.report(reportId);
      assert.equal(r?.status, 'warned');
      assert.equal(r?.resolutionReason, 'first time');
      assert.equal(await mod.resolveReport(id(), 'dismissed', undefined, now), false);

      await mod.createAppeal(id(), a.userId, 'it was not me', now);
      assert.equal((await mod.openAppeals(a.userId)).length, 1);
      await mod.resolveAppeals(a.userId, now);
      assert.equal((await mod.openAppeals(a.userId)).length, 0);

      const before = await mod.lastNoticeId();
      const n1 = await mod.addNotice(a.userId, 'warning', 'be nice', now);
      const n2 = await mod.addNotice(b.userId, 'suspended', undefined, now);
      assert.ok(n1 > before && n2 > n1);
      assert.deepEqual(
        (await mod.notices(a.userId, 0)).map((n) => [n.kind, n.reason]),
        [['warning', 'be nice']],
      );
      assert.deepEqual(
        (await mod.noticesAfter(before)).map((n) => n.id),
        [n1, n2],
      );
      assert.equal(await mod.lastNoticeId(), n2);
    });
  });
}
