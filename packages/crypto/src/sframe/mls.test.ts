import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { toB64 } from '@kolokol/protocol';
import { finder, must, newDevice, newUser, publishKeyPackage, type TestDevice } from '../../test/helpers.ts';
import { randomBytes } from '../bytes.ts';
import {
  addMembers,
  createGroup,
  exportSecret,
  type Group,
  joinFromWelcome,
  processMessage,
  removeMembers,
  selfUpdate,
} from '../index.ts';
import { deriveKeySalt } from './aead.ts';
import { SFrameContext } from './context.ts';
import {
  deriveSenderKey,
  exportSFrameBaseKey,
  installMlsEpoch,
  kidFor,
  type MlsSFrameEpoch,
  parseMlsKid,
  SFRAME_MLS_EXPORTER_LABEL,
  sframeKeyFromMls,
} from './mls.ts';
import { sframeSuite } from './suites.ts';

const empty = new Uint8Array(0);
const code = (r: { ok: true } | { ok: false; error: { code: string } }) => (r.ok ? 'ok' : r.error.code);

/** alice creates a group and adds bob and carol; everyone at epoch 1. */
async function threeMembers() {
  const [alice, bob, carol] = [newUser('alice'), newUser('bob'), newUser('carol')];
  const a = newDevice(alice, [bob, carol]);
  const b = newDevice(bob, [alice, carol]);
  const c = newDevice(carol, [alice, bob]);
  const add = must(
    await addMembers(a.ctx, await createGroup(a.ctx, toB64(randomBytes(16))), [
      await publishKeyPackage(b),
      await publishKeyPackage(c),
    ]),
  );
  const join = async (d: TestDevice) =>
    must(await joinFromWelcome(d.ctx, add.welcome ?? assert.fail('no welcome'), finder(d))).group;
  return { a, b, c, groups: [add.group, await join(b), await join(c)] as [Group, Group, Group] };
}

/** Delivers a commit to the other members and returns their new groups. */
async function deliver(commit: Uint8Array, to: [TestDevice, Group][]): Promise<Group[]> {
  const out: Group[] = [];
  for (const [d, g] of to) out.push(must(await processMessage(d.ctx, g, commit)).group);
  return out;
}

describe('SFrame keys from MLS (RFC 9605 §5.2)', () => {
  const opts = { suite: 4, epochBits: 8 } as const;

  test('KID layout: (leaf index << E) + (epoch mod 2^E), and back', () => {
    assert.equal(kidFor(1, 0, 8), 1n);
    assert.equal(kidFor(1, 2, 8), 0x201n);
    assert.equal(kidFor(0x1ff, 3, 8), 0x3ffn);
    assert.deepEqual(parseMlsKid(0x3ffn, 8), { leafIndex: 3n, epochLow: 0xffn });
    assert.equal(kidFor(5n, 1, 1), 0b11n);
    assert.throws(() => kidFor(0, 1, 0), RangeError);
    assert.throws(() => kidFor(0, 2 ** 40, 32), RangeError);
  });

  test('base_key is MLS-Exporter("SFrame 1.0 Base Key", "", AEAD.Nk) for every suite', async () => {
    const { groups } = await threeMembers();
    for (const id of [1, 2, 3, 4, 5] as const) {
      const nk = sframeSuite(id)?.nk ?? assert.fail();
      const bk = await exportSFrameBaseKey(groups[0], id);
      assert.equal(bk.length, nk);
      assert.deepEqual(bk, await exportSecret(groups[0], SFRAME_MLS_EXPORTER_LABEL, empty, nk));
      assert.deepEqual(bk, await exportSFrameBaseKey(groups[1], id));
    }
  });

  test('members agree on every sender key; senders get different keys; frames flow both ways', async () => {
    const { a, b, c, groups } = await threeMembers();
    const epochs = await Promise.all(groups.map((g) => sframeKeyFromMls(g, opts)));
    const [ea, eb, ec] = epochs as [MlsSFrameEpoch, MlsSFrameEpoch, MlsSFrameEpoch];
    assert.equal(ea.epoch, 1n);
    assert.deepEqual(ea.baseKey, eb.baseKey);
    assert.deepEqual(ea.baseKey, ec.baseKey);
    assert.deepEqual(
      epochs.map((e) => e.own.leafIndex),
      [0, 1, 2],
    );
    assert.deepEqual(
      epochs.map((e) => e.own.kid),
      [0, 1, 2].map((i) => kidFor(1, i, 8)),
    );
    assert.equal(ea.own.member.deviceId, a.device.deviceId);
    assert.deepEqual(
      ea.others.map((o) => o.member.deviceId),
      [b.device.deviceId, c.device.deviceId],
    );
    // Each member's view of sender X yields the same sframe_key/salt; different senders differ.
    const suite = sframeSuite(4) ?? assert.fail();
    const keysSeenBy = (e: MlsSFrameEpoch) =>
      new Map([e.own, ...e.others].map((s) => [s.leafIndex, deriveKeySalt(suite, s.kid, e.baseKey)]));
    const [ka, kb, kc] = epochs.map(keysSeenBy) as [
      ReturnType<typeof keysSeenBy>,
      ReturnType<typeof keysSeenBy>,
      ReturnType<typeof keysSeenBy>,
    ];
    for (const leaf of [0, 1, 2]) {
      assert.deepEqual(kb.get(leaf)?.key, ka.get(leaf)?.key);
      assert.deepEqual(kc.get(leaf)?.salt, ka.get(leaf)?.salt);
    }
    assert.notDeepEqual(ka.get(0)?.key, ka.get(1)?.key);
    assert.notDeepEqual(ka.get(1)?.salt, ka.get(2)?.salt);
    // deriveSenderKey gives the same (KID, base_key) pair for one sender.
    assert.deepEqual(await deriveSenderKey(groups[1], 2, opts), { kid: ec.own.kid, baseKey: ec.baseKey });

    const [ctxA, ctxB, ctxC] = epochs.map((e) => {
      const ctx = new SFrameContext({ suite: 4 });
      installMlsEpoch(ctx, e);
      return ctx;
    }) as [SFrameContext, SFrameContext, SFrameContext];
    const meta = Uint8Array.of(1, 2, 3);
    const fromB = ctxB.encrypt(eb.own.kid, meta, Uint8Array.of(42));
    for (const rx of [ctxA, ctxC]) {
      const r = must(rx.decrypt(meta, fromB));
      assert.deepEqual(r.plaintext, Uint8Array.of(42));
      assert.equal(parseMlsKid(r.kid, 8).leafIndex, 1n);
    }
    // Nobody accepts frames under their own KID (a reflected frame), and only own KID sends.
    assert.equal(code(ctxB.decrypt(meta, fromB)), 'WRONG_EPOCH');
    assert.throws(() => ctxA.encrypt(eb.own.kid, meta, empty));
  });

  test('keys change with the epoch; old-epoch frames open only during the grace period', async () => {
    const { a, b, c, groups } = await threeMembers();
    let [ga, gb, gc] = groups;
    const clock = { now: 0 };
    const ctxA = new SFrameContext({ suite: 4, rotationGraceMs: 1000, now: () => clock.now });
    const ctxB = new SFrameContext({ suite: 4, rotationGraceMs: 1000, now: () => clock.now });
    const e1a = await sframeKeyFromMls(ga, opts);
    const e1b = await sframeKeyFromMls(gb, opts);
    installMlsEpoch(ctxA, e1a);
    installMlsEpoch(ctxB, e1b);
    const oldFrames = [
      ctxB.encrypt(e1b.own.kid, empty, Uint8Array.of(1)),
      ctxB.encrypt(e1b.own.kid, empty, Uint8Array.of(2)),
    ];

    // carol updates her path: epoch 2 for everyone
    const up = must(await selfUpdate(c.ctx, gc));
    gc = up.group;
    [ga, gb] = (await deliver(up.commit, [
      [a, ga],
      [b, gb],
    ])) as [Group, Group];
    const e2a = await sframeKeyFromMls(ga, opts);
    const e2b = await sframeKeyFromMls(gb, opts);
    assert.equal(e2a.epoch, 2n);
    assert.notDeepEqual(e2a.baseKey, e1a.baseKey);
    assert.deepEqual(e2a.baseKey, e2b.baseKey);
    assert.deepEqual(e2a.baseKey, (await sframeKeyFromMls(gc, opts)).baseKey);
    assert.notEqual(e2b.own.kid, e1b.own.kid);
    installMlsEpoch(ctxA, e2a);
    installMlsEpoch(ctxB, e2b);
    // Installing the same epoch twice would restart CTR under the same key: refused.
    assert.throws(() => installMlsEpoch(ctxB, e2b));

    assert.throws(() => ctxB.encrypt(e1b.own.kid, empty, empty), 'old send key is gone');
    const fresh = ctxB.encrypt(e2b.own.kid, empty, Uint8Array.of(3));
    assert.deepEqual(must(ctxA.decrypt(empty, fresh)).plaintext, Uint8Array.of(3));
    assert.equal(code(ctxA.decrypt(empty, oldFrames[0] ?? assert.fail())), 'ok'); // in flight
    clock.now += 1000;
    assert.equal(code(ctxA.decrypt(empty, oldFrames[1] ?? assert.fail())), 'WRONG_EPOCH');

    // A frame sealed with epoch 1's base key under the epoch-2 KID is not accepted either.
    const forger = new SFrameContext({ suite: 4 });
    forger.addSendKey(e2b.own.kid, e1b.baseKey);
    forger.encrypt(e2b.own.kid, empty, empty); // CTR 0 was seen already; use a fresh CTR
    assert.equal(code(ctxA.decrypt(empty, forger.encrypt(e2b.own.kid, empty, empty))), 'DECRYPT_FAILED');
  });

  test('a removed member has no KID in the next epoch; epoch bits that wrap drop the old epoch at once', async () => {
    const { a, b, c, groups } = await threeMembers();
    let [ga, gb] = groups;
    const wrap = { suite: 4, epochBits: 1 } as const;
    const ctxA = new SFrameContext({ suite: 4 });
    installMlsEpoch(ctxA, await sframeKeyFromMls(ga, wrap)); // epoch 1: low bit 1
    const e1b = await sframeKeyFromMls(gb, wrap);
    const ctxB = new SFrameContext({ suite: 4 });
    installMlsEpoch(ctxB, e1b);
    const epoch1Frame = ctxB.encrypt(e1b.own.kid, empty, empty);

    const rm = must(await removeMembers(a.ctx, ga, [c.device.deviceId]));
    ga = rm.group;
    [gb] = (await deliver(rm.commit, [[b, gb]])) as [Group];
    const e2a = await sframeKeyFromMls(ga, wrap); // epoch 2: low bit 0
    assert.deepEqual(
      e2a.others.map((o) => o.member.deviceId),
      [b.device.deviceId],
    );
    installMlsEpoch(ctxA, e2a);
    assert.equal(ctxA.keys().length, 1 + 1 + 2, 'own + bob for epoch 2, bob + carol of epoch 1 retiring');

    const up = must(await selfUpdate(b.ctx, gb));
    gb = up.group;
    [ga] = (await deliver(up.commit, [[a, ga]])) as [Group];
    const e3a = await sframeKeyFromMls(ga, wrap); // epoch 3: low bit 1 again, collides with epoch 1
    installMlsEpoch(ctxA, e3a);
    assert.equal(code(ctxA.decrypt(empty, epoch1Frame)), 'DECRYPT_FAILED', 'epoch 1 key replaced by epoch 3');
    // Left: our epoch-3 send key (KID 1), bob's epoch-3 key (KID 3, no previous generation kept),
    // and bob's epoch-2 key (KID 2) in its grace period. Epoch 1's KIDs 3 and 5 went at once.
    assert.deepEqual(
      ctxA
        .keys()
        .map((k) => [k.kid, k.usage, k.expiresAt === Number.POSITIVE_INFINITY])
        .sort((x, y) => Number(x[0]) - Number(y[0])),
      [
        [1n, 'send', true],
        [2n, 'receive', false],
        [3n, 'receive', true],
      ],
    );
  });
});
