import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { toB64 } from '@kolokol/protocol';
import { ed25519 } from '@noble/curves/ed25519.js';
import { forgeAddCommit, forgeKeyPackage } from '../test/forge.ts';
import {
  finder,
  must,
  newDevice,
  newUser,
  publishKeyPackage,
  str,
  type TestDevice,
  type TestUser,
  text,
} from '../test/helpers.ts';
import { randomBytes } from './bytes.ts';
import {
  addMembers,
  certifyDevice,
  createAuthService,
  createGroup,
  encodeMemberIdentity,
  encryptMessage,
  type Group,
  generateIdentity,
  joinFromWelcome,
  type MemberIdentity,
  processMessage,
} from './index.ts';

const memberOf = (d: TestDevice): MemberIdentity => ({
  userId: d.user.userId,
  deviceId: d.device.deviceId,
  identityKey: d.user.identity.publicKey,
  deviceKey: d.device.publicKey,
  issuedAt: d.device.issuedAt,
  cert: d.device.cert,
});

/** The three ways a device key can be uncertified, each as a key package. */
async function untrustedKeyPackages(victim: TestUser, stranger: TestUser): Promise<[string, Uint8Array][]> {
  // cert made by a different identity key, while claiming the victim's user and identity key
  const mallory = generateIdentity();
  const fake = certifyDevice(mallory);
  const wrongSigner = await forgeKeyPackage(
    {
      userId: victim.userId,
      deviceId: fake.deviceId,
      identityKey: victim.identity.publicKey,
      deviceKey: fake.publicKey,
      issuedAt: fake.issuedAt,
      cert: fake.cert,
    },
    fake.privateKey,
  );
  // a genuine certificate of one device, but the leaf is signed by another key
  const genuine = newDevice(victim);
  const otherKey = ed25519.utils.randomSecretKey();
  const keyMismatch = await forgeKeyPackage(memberOf(genuine), otherKey);
  // a properly certified device of a user the receiver has never pinned
  const unknown = await publishKeyPackage(newDevice(stranger));
  return [
    ['cert signed by another identity key', wrongSigner],
    ['device key differs from the signature key', keyMismatch],
    ['unknown user', unknown],
  ];
}

async function twoMemberGroup() {
  const alice = newUser('alice');
  const bob = newUser('bob');
  const stranger = newUser('eve');
  const a1 = newDevice(alice, [bob]);
  const b1 = newDevice(bob, [alice]);
  const add = must(
    await addMembers(a1.ctx, await createGroup(a1.ctx, toB64(randomBytes(16))), [
      await publishKeyPackage(b1),
    ]),
  );
  const gb = must(await joinFromWelcome(b1.ctx, add.welcome ?? new Uint8Array(), finder(b1))).group;
  return { alice, bob, stranger, a1, b1, ga: add.group, gb };
}

describe('authentication service', () => {
  test('accepts a certified device of a pinned user and refuses everything else', async () => {
    const alice = newUser('alice');
    const a1 = newDevice(alice);
    const auth = createAuthService(a1.directory);
    const cred = { credentialType: 'basic', identity: encodeMemberIdentity(memberOf(a1)) };
    assert.equal(await auth.validateCredential(cred, a1.device.publicKey), true);
    assert.equal(await auth.validateCredential(cred, newDevice(alice).device.publicKey), false);
    assert.equal(
      await auth.validateCredential({ credentialType: 'x509', certificates: [] }, a1.device.publicKey),
      false,
    );
    assert.equal(
      await auth.validateCredential(
        { credentialType: 'basic', identity: randomBytes(40) },
        a1.device.publicKey,
      ),
      false,
    );
    assert.equal(await auth.validateCredential(null, a1.device.publicKey), false);
    a1.directory.keys.set(alice.userId, generateIdentity().publicKey);
    assert.equal(await auth.validateCredential(cred, a1.device.publicKey), false);
    a1.directory.keys.delete(alice.userId);
    assert.equal(await auth.validateCredential(cred, a1.device.publicKey), false);
  });

  test('a directory that throws means refusal, not an exception', async () => {
    const a1 = newDevice(newUser('alice'));
    const auth = createAuthService({
      trustedIdentityKey: async () => {
        throw new Error('db down');
      },
    });
    const cred = { credentialType: 'basic', identity: encodeMemberIdentity(memberOf(a1)) };
    assert.equal(await auth.validateCredential(cred, a1.device.publicKey), false);
  });
});

describe('uncertified devices are kept out', () => {
  test('addMembers refuses each kind of untrusted key package', async () => {
    const { alice, stranger, a1, ga } = await twoMemberGroup();
    for (const [why, kp] of await untrustedKeyPackages(alice, stranger)) {
      const r = await addMembers(a1.ctx, ga, [kp]);
      assert.ok(!r.ok, why);
      assert.equal(r.error.code, 'UNTRUSTED_CREDENTIAL', why);
      // one bad package spoils the batch, so nobody gets half-added
      const mixed = await addMembers(a1.ctx, ga, [await publishKeyPackage(newDevice(alice)), kp]);
      assert.equal(mixed.ok, false, why);
    }
  });

  test('a forged commit adding one is refused by the other members, and nobody joins through it', async () => {
    const { alice, bob, stranger, a1, b1, ga, gb } = await twoMemberGroup();
    for (const [why, kp] of await untrustedKeyPackages(alice, stranger)) {
      // alice's device is compromised (or buggy) and skips the checks
      const b2 = newDevice(bob, [alice]);
      const forged = await forgeAddCommit(ga, [kp, await publishKeyPackage(b2)]);
      const r = await processMessage(b1.ctx, gb, forged.commit);
      assert.ok(!r.ok, why);
      assert.equal(r.error.code, 'UNTRUSTED_CREDENTIAL', `${why}: ${r.error.message}`);
      // an honest device invited by the same commit refuses the welcome
      const j = await joinFromWelcome(b2.ctx, forged.welcome, finder(b2));
      assert.ok(!j.ok, why);
      assert.equal(j.error.code, 'UNTRUSTED_CREDENTIAL', `${why}: ${j.error.message}`);
      // bob's state is untouched and still talks with alice
      const m = must(await encryptMessage(a1.ctx, ga, text('still here')));
      const p = must(await processMessage(b1.ctx, gb, m.message));
      assert.ok(p.kind === 'application' && str(p.plaintext) === 'still here');
    }
  });

  test('a member whose credential no longer verifies cannot speak', async () => {
    const { alice, a1, b1, ga, gb } = await twoMemberGroup();
    const m = must(await encryptMessage(a1.ctx, ga, text('who am I?')));
    // bob's pinned key for alice changes (e.g. he verified a new safety number elsewhere)
    const pinned = b1.directory.keys.get(alice.userId) ?? new Uint8Array();
    b1.directory.keys.set(alice.userId, generateIdentity().publicKey);
    const refused = await processMessage(b1.ctx, gb, m.message);
    assert.ok(!refused.ok && refused.error.code === 'UNTRUSTED_CREDENTIAL');
    // and commits from alice are refused as well
    b1.directory.keys.delete(alice.userId);
    const { selfUpdate } = await import('./index.ts');
    const up = must(await selfUpdate(a1.ctx, m.group));
    assert.equal((await processMessage(b1.ctx, gb, up.commit)).ok, false);
    // the refused message did not damage bob's state: once trusted again it decrypts
    b1.directory.keys.set(alice.userId, pinned);
    const p = must(await processMessage(b1.ctx, gb, m.message));
    assert.ok(p.kind === 'application' && str(p.plaintext) === 'who am I?');
  });

  test('an untrusted device cannot join a group created around it', async () => {
    // eve's device is certified by a key bob never pinned for alice's user id
    const { alice, b1 } = await twoMemberGroup();
    const mallory = generateIdentity();
    const fakeAlice: TestUser = { userId: alice.userId, identity: mallory };
    const fake = newDevice(fakeAlice, [{ userId: b1.user.userId, identity: b1.user.identity }]);
    const gf: Group = await createGroup(fake.ctx, toB64(randomBytes(16)));
    const add = must(await addMembers(fake.ctx, gf, [await publishKeyPackage(b1)]));
    const j = await joinFromWelcome(b1.ctx, add.welcome ?? new Uint8Array(), finder(b1));
    assert.ok(!j.ok && j.error.code === 'UNTRUSTED_CREDENTIAL');
  });
});
