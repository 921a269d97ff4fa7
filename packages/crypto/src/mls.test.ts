import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { toB64 } from '@kolokol/protocol';
import {
  finder,
  must,
  newDevice,
  newUser,
  publishKeyPackage,
  str,
  type TestDevice,
  text,
} from '../test/helpers.ts';
import { randomBytes } from './bytes.ts';
import {
  addMembers,
  createGroup,
  decodeGroup,
  encryptMessage,
  exportSecret,
  type Group,
  generateKeyPackages,
  inspectKeyPackage,
  joinFromWelcome,
  processMessage,
  removeMembers,
  selfUpdate,
} from './index.ts';

const newGroupId = () => toB64(randomBytes(16));

/** Delivers `message` to every device, asserting acceptance, and returns their new groups. */
async function deliver(message: Uint8Array, to: [TestDevice, Group][]): Promise<Group[]> {
  const out: Group[] = [];
  for (const [d, g] of to) out.push(must(await processMessage(d.ctx, g, message)).group);
  return out;
}

describe('MLS groups: 2 users x 2 devices', () => {
  test('create, add, talk both ways, persist, remove; removed device is locked out', async () => {
    const alice = newUser('alice');
    const bob = newUser('bob');
    const a1 = newDevice(alice, [bob]);
    const a2 = newDevice(alice, [bob]);
    const b1 = newDevice(bob, [alice]);
    const b2 = newDevice(bob, [alice]);

    let ga1 = await createGroup(a1.ctx, newGroupId());
    assert.equal(ga1.epoch, 0);
    assert.equal(ga1.members().length, 1);

    const kps = [await publishKeyPackage(a2), await publishKeyPackage(b1), await publishKeyPackage(b2, true)];
    const add = must(await addMembers(a1.ctx, ga1, kps));
    assert.equal(add.added.length, 3);
    assert.ok(add.welcome);
    ga1 = add.group;
    assert.equal(ga1.epoch, 1);

    const joined = await Promise.all(
      [a2, b1, b2].map(async (d) =>
        must(await joinFromWelcome(d.ctx, add.welcome ?? new Uint8Array(), finder(d))),
      ),
    );
    let [ga2, gb1, gb2] = joined.map((j) => j.group) as [Group, Group, Group];
    assert.ok(b2.store.has(joined[2]?.usedRef ?? ''));
    for (const g of [ga1, ga2, gb1, gb2]) {
      assert.equal(g.epoch, 1);
      assert.equal(g.groupId, ga1.groupId);
      assert.deepEqual(
        g.members().map((m) => m.deviceId),
        ga1.members().map((m) => m.deviceId),
      );
    }

    // alice's first device speaks, everyone else hears it with the right sender
    const m1 = must(await encryptMessage(a1.ctx, ga1, text('hello from a1')));
    ga1 = m1.group;
    for (const [d, g] of [
      [a2, ga2],
      [b1, gb1],
      [b2, gb2],
    ] as const) {
      const p = must(await processMessage(d.ctx, g, m1.message));
      assert.equal(p.kind, 'application');
      if (p.kind !== 'application') return;
      assert.equal(str(p.plaintext), 'hello from a1');
      assert.equal(p.sender.userId, alice.userId);
      assert.equal(p.sender.deviceId, a1.device.deviceId);
      if (d === a2) ga2 = p.group;
      if (d === b1) gb1 = p.group;
      if (d === b2) gb2 = p.group;
    }

    // bob answers; persist b2 mid-conversation and continue from the decoded copy
    const m2 = must(await encryptMessage(b1.ctx, gb1, text('hi alice')));
    gb1 = m2.group;
    gb2 = must(await decodeGroup(b2.ctx, gb2.encode()));
    [ga1, ga2, gb2] = (await deliver(m2.message, [
      [a1, ga1],
      [a2, ga2],
      [b2, gb2],
    ])) as [Group, Group, Group];
    const m3 = must(await encryptMessage(b2.ctx, gb2, text('from the restored state')));
    gb2 = m3.group;
    const p3 = must(await processMessage(a1.ctx, ga1, m3.message));
    assert.ok(p3.kind === 'application' && str(p3.plaintext) === 'from the restored state');
    ga1 = p3.group;
    [ga2, gb1] = (await deliver(m3.message, [
      [a2, ga2],
      [b1, gb1],
    ])) as [Group, Group];

    // the exporter agrees across members
    const e1 = await exportSecret(ga1, 'sframe', new Uint8Array([1]), 32);
    assert.deepEqual(await exportSecret(gb2, 'sframe', new Uint8Array([1]), 32), e1);

    // alice removes bob's second device
    const rm = must(await removeMembers(a1.ctx, ga1, [b2.device.deviceId]));
    assert.deepEqual(
      rm.removed.map((m) => m.deviceId),
      [b2.device.deviceId],
    );
    assert.equal(rm.welcome, undefined);
    ga1 = rm.group;
    const pr = must(await processMessage(b2.ctx, gb2, rm.commit));
    assert.ok(pr.kind === 'commit' && pr.removedSelf);
    const gb2Removed = pr.group;
    for (const [d, g, set] of [
      [a2, ga2, (x: Group) => (ga2 = x)],
      [b1, gb1, (x: Group) => (gb1 = x)],
    ] as const) {
      const p = must(await processMessage(d.ctx, g, rm.commit));
      assert.ok(p.kind === 'commit');
      if (p.kind !== 'commit') return;
      assert.equal(p.removedSelf, false);
      assert.deepEqual(
        p.removed.map((m) => m.deviceId),
        [b2.device.deviceId],
      );
      assert.equal(p.sender?.deviceId, a1.device.deviceId);
      assert.equal(p.group.members().length, 3);
      set(p.group);
    }

    const after = must(await encryptMessage(b1.ctx, gb1, text('b2 must not read this')));
    gb1 = after.group;
    const locked = await processMessage(b2.ctx, gb2Removed, after.message);
    assert.equal(locked.ok, false);
    // nor with the state from just before its removal
    const stale = await processMessage(b2.ctx, gb2, after.message);
    assert.ok(!stale.ok && stale.error.code === 'WRONG_EPOCH');
    const ok2 = must(await processMessage(a1.ctx, ga1, after.message));
    assert.ok(ok2.kind === 'application' && str(ok2.plaintext) === 'b2 must not read this');

    // a self-update moves everyone to a new epoch with fresh keys
    const up = must(await selfUpdate(a2.ctx, ga2));
    ga2 = up.group;
    const [ga1u, gb1u] = await deliver(up.commit, [
      [a1, ok2.group],
      [b1, gb1],
    ]);
    assert.equal(ga1u?.epoch, ga2.epoch);
    assert.deepEqual(
      await exportSecret(ga2, 'x', new Uint8Array(), 16),
      await exportSecret(gb1u as Group, 'x', new Uint8Array(), 16),
    );
  });

  test('replays and duplicate commits are error Results; state stays usable', async () => {
    const alice = newUser('alice');
    const bob = newUser('bob');
    const a1 = newDevice(alice, [bob]);
    const b1 = newDevice(bob, [alice]);
    const add = must(
      await addMembers(a1.ctx, await createGroup(a1.ctx, newGroupId()), [await publishKeyPackage(b1)]),
    );
    let ga = add.group;
    let gb = must(await joinFromWelcome(b1.ctx, add.welcome ?? new Uint8Array(), finder(b1))).group;

    const m = must(await encryptMessage(a1.ctx, ga, text('once')));
    ga = m.group;
    gb = must(await processMessage(b1.ctx, gb, m.message)).group;
    const replay = await processMessage(b1.ctx, gb, m.message);
    assert.ok(!replay.ok && replay.error.code === 'REPLAY');
    // the group still works after the refused replay
    const m2 = must(await encryptMessage(a1.ctx, ga, text('twice')));
    ga = m2.group;
    const p2 = must(await processMessage(b1.ctx, gb, m2.message));
    assert.ok(p2.kind === 'application' && str(p2.plaintext) === 'twice');
    gb = p2.group;

    const up = must(await selfUpdate(a1.ctx, ga));
    ga = up.group;
    gb = must(await processMessage(b1.ctx, gb, up.commit)).group;
    const again = await processMessage(b1.ctx, gb, up.commit);
    assert.ok(!again.ok && again.error.code === 'WRONG_EPOCH');
    const m3 = must(await encryptMessage(a1.ctx, ga, text('after')));
    assert.equal(must(await processMessage(b1.ctx, gb, m3.message)).kind, 'application');

    // junk, truncation and other groups' messages are error Results, never exceptions
    for (const bad of [new Uint8Array(0), randomBytes(100), m3.message.subarray(0, 40)]) {
      const r = await processMessage(b1.ctx, gb, bad);
      assert.equal(r.ok, false);
    }
    const flipped = m3.message.slice();
    flipped[flipped.length - 5] = (flipped[flipped.length - 5] ?? 0) ^ 1;
    const rf = await processMessage(b1.ctx, gb, flipped);
    assert.equal(rf.ok, false);
    const other = await createGroup(b1.ctx, newGroupId());
    const ro = await processMessage(b1.ctx, other, m3.message);
    assert.ok(!ro.ok && ro.error.code === 'UNKNOWN_GROUP');
  });

  test('a stale commit can be dropped: the previous Group stays usable', async () => {
    const alice = newUser('alice');
    const bob = newUser('bob');
    const a1 = newDevice(alice, [bob]);
    const b1 = newDevice(bob, [alice]);
    const add = must(
      await addMembers(a1.ctx, await createGroup(a1.ctx, newGroupId()), [await publishKeyPackage(b1)]),
    );
    const ga = add.group;
    const gb = must(await joinFromWelcome(b1.ctx, add.welcome ?? new Uint8Array(), finder(b1))).group;
    // both commit at once; the server takes bob's, alice drops hers and processes bob's
    const mine = must(await selfUpdate(a1.ctx, ga));
    const theirs = must(await selfUpdate(b1.ctx, gb));
    assert.equal(mine.group.epoch, 2);
    const p = must(await processMessage(a1.ctx, ga, theirs.commit));
    assert.equal(p.group.epoch, 2);
    const m = must(await encryptMessage(a1.ctx, p.group, text('resynced')));
    const r = must(await processMessage(b1.ctx, theirs.group, m.message));
    assert.ok(r.kind === 'application' && str(r.plaintext) === 'resynced');
  });

  test('decodeGroup refuses garbage and another device', async () => {
    const alice = newUser('alice');
    const a1 = newDevice(alice);
    const a2 = newDevice(alice);
    const g = await createGroup(a1.ctx, newGroupId());
    assert.equal(must(await decodeGroup(a1.ctx, g.encode())).groupId, g.groupId);
    const other = await decodeGroup(a2.ctx, g.encode());
    assert.ok(!other.ok && other.error.code === 'MALFORMED');
    for (const bad of [new Uint8Array(0), randomBytes(50), g.encode().subarray(0, 100)])
      assert.equal((await decodeGroup(a1.ctx, bad)).ok, false);
  });

  test('key packages: refs, inspection, joining with an unknown package', async () => {
    const alice = newUser('alice');
    const bob = newUser('bob');
    const a1 = newDevice(alice, [bob]);
    const b1 = newDevice(bob, [alice]);
    const kps = await generateKeyPackages(b1.ctx, 3);
    assert.equal(new Set(kps.map((k) => k.ref)).size, 3);
    const [lr] = await generateKeyPackages(b1.ctx, 1, { lastResort: true });
    assert.equal(lr?.lastResort, true);
    const info = must(await inspectKeyPackage(a1.ctx, kps[0]?.publicBytes ?? new Uint8Array()));
    assert.equal(info.ref, kps[0]?.ref);
    assert.equal(info.member.userId, bob.userId);
    assert.equal(info.member.deviceId, b1.device.deviceId);
    assert.equal((await inspectKeyPackage(a1.ctx, randomBytes(64))).ok, false);

    const add = must(
      await addMembers(a1.ctx, await createGroup(a1.ctx, newGroupId()), [
        kps[1]?.publicBytes ?? new Uint8Array(),
      ]),
    );
    const none = await joinFromWelcome(b1.ctx, add.welcome ?? new Uint8Array(), async () => undefined);
    assert.ok(!none.ok && none.error.code === 'NO_KEY_PACKAGE');
    const j = must(
      await joinFromWelcome(b1.ctx, add.welcome ?? new Uint8Array(), async (ref) =>
        kps.find((k) => k.ref === ref),
      ),
    );
    assert.equal(j.usedRef, kps[1]?.ref);
    // the same device cannot be added twice
    const dup = await addMembers(a1.ctx, add.group, [kps[2]?.publicBytes ?? new Uint8Array()]);
    assert.equal(dup.ok, false);
    // removing an unknown device or oneself is refused
    const unknown = await removeMembers(a1.ctx, add.group, ['no-such-device']);
    assert.ok(!unknown.ok && unknown.error.code === 'NOT_A_MEMBER');
    assert.equal((await removeMembers(a1.ctx, add.group, [a1.device.deviceId])).ok, false);
  });
});
