import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'node:test';
import fc from 'fast-check';
import { frankingTag, loadFrankingKey, verifyFranked } from './franking.ts';

const key = randomBytes(32);
const id = fc.stringMatching(/^[A-Za-z0-9_-]{8,24}$/);
const bytes32 = fc.uint8Array({ minLength: 32, maxLength: 32 });

/** An honest franked message as the server saw it and a recipient kept it. */
const franked = fc
  .record({
    plaintext: fc.uint8Array({ minLength: 1, maxLength: 300 }),
    nf: bytes32,
    senderUserId: id,
    groupId: id,
    msgId: id,
    receivedAt: fc.integer({ min: 0, max: 2 ** 45 }),
  })
  .map((m) => {
    const commitment = createHmac('sha256', m.nf).update(m.plaintext).digest();
    return { ...m, commitment, tag: frankingTag(key, { ...m, commitment }) };
  });
type Franked = typeof franked extends fc.Arbitrary<infer T> ? T : never;

const flip = (b: Uint8Array, i: number) => {
  const out = Uint8Array.from(b);
  const at = i % out.length;
  out[at] = (out[at] ?? 0) ^ 0x01;
  return out;
};

it('an honest message verifies', () => {
  fc.assert(fc.property(franked, (m) => verifyFranked(key, m) === 'ok'));
});

it('any change to plaintext, nf, cf, sender, group, msgId, time or tag fails verification', () => {
  const changes: ((m: Franked, i: number, s: string) => Franked)[] = [
    (m, i) => ({ ...m, plaintext: flip(m.plaintext, i) }),
    (m, i) => ({ ...m, plaintext: Uint8Array.from([...m.plaintext, i & 0xff]) }),
    (m, i) => ({ ...m, nf: flip(m.nf, i) }),
    (m, i) => ({ ...m, commitment: Buffer.from(flip(m.commitment, i)) }),
    (m, _i, s) => ({ ...m, senderUserId: `${m.senderUserId}${s}` }),
    (m, _i, s) => ({ ...m, groupId: `${s}${m.groupId}` }),
    (m, _i, s) => ({ ...m, msgId: `${m.msgId}${s}` }),
    (m, i) => ({ ...m, receivedAt: m.receivedAt + 1 + i }),
    (m, i) => ({ ...m, tag: flip(m.tag, i) }),
  ];
  fc.assert(
    fc.property(
      franked,
      fc.integer({ min: 0, max: changes.length - 1 }),
      fc.nat(),
      fc.stringMatching(/^[A-Za-z0-9_-]{1,4}$/),
      (m, which, i, s) => verifyFranked(key, changes[which]?.(m, i, s) ?? m) !== 'ok',
    ),
  );
});

it('fields cannot slide into each other (length-prefixed), and another server key fails', () => {
  fc.assert(
    fc.property(franked, (m) => {
      const slid = {
        ...m,
        senderUserId: `${m.senderUserId}${m.groupId.slice(0, 1)}`,
        groupId: m.groupId.slice(1),
      };
      return verifyFranked(key, slid) === 'tag' && verifyFranked(randomBytes(32), m) === 'tag';
    }),
  );
});

it('the key is made once into the data folder (0600) and kept; a configured one wins', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kolokol-franking-'));
  try {
    const first = loadFrankingKey(dir, undefined);
    assert.equal(statSync(join(dir, 'franking-key')).mode & 0o777, 0o600);
    assert.deepEqual(loadFrankingKey(dir, undefined), first);
    assert.equal(readFileSync(join(dir, 'franking-key'), 'utf8').trim(), Buffer.from(first).toString('utf8'));
    assert.deepEqual(loadFrankingKey(dir, 'x'.repeat(40)), Buffer.from('x'.repeat(40)));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
