import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { open, randomBytes, seal } from './index.ts';

test('seal/open round trip, with and without aad', () => {
  const secret = randomBytes(32);
  const msg = new TextEncoder().encode('link bundle');
  const a = open(secret, seal(secret, msg));
  assert.ok(a.ok);
  assert.deepEqual(a.value, msg);
  const aad = new Uint8Array([1, 2, 3]);
  const b = open(secret, seal(secret, msg, aad), aad);
  assert.ok(b.ok);
  assert.deepEqual(b.value, msg);
});

test('seal is randomized: two seals of one plaintext differ', () => {
  const secret = randomBytes(32);
  const msg = new Uint8Array(10);
  assert.notDeepEqual(seal(secret, msg), seal(secret, msg));
});

test('open refuses a wrong secret, wrong aad, truncation and a bad secret length', () => {
  const secret = randomBytes(32);
  const sealed = seal(secret, new Uint8Array([9, 9]), new Uint8Array([1]));
  assert.equal(open(randomBytes(32), sealed, new Uint8Array([1])).ok, false);
  assert.equal(open(secret, sealed).ok, false);
  assert.equal(open(secret, sealed, new Uint8Array([2])).ok, false);
  assert.equal(open(secret, sealed.subarray(0, sealed.length - 1), new Uint8Array([1])).ok, false);
  const r = open(new Uint8Array(31), sealed);
  assert.ok(!r.ok && r.error.code === 'MALFORMED');
  assert.throws(() => seal(new Uint8Array(16), new Uint8Array(1)), RangeError);
});

test('property: round trip for any plaintext and aad', () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 32, maxLength: 32 }),
      fc.uint8Array(),
      fc.uint8Array(),
      (secret, pt, aad) => {
        const r = open(secret, seal(secret, pt, aad), aad);
        return r.ok && Buffer.from(r.value).equals(Buffer.from(pt));
      },
    ),
  );
});

test('property: flipping any bit of a sealed box is detected', () => {
  const secret = randomBytes(32);
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 64 }),
      fc.nat(),
      fc.integer({ min: 0, max: 7 }),
      (pt, pos, bit) => {
        const sealed = seal(secret, pt);
        const i = pos % sealed.length;
        sealed[i] = (sealed[i] ?? 0) ^ (1 << bit);
        const r = open(secret, sealed);
        return !r.ok;
      },
    ),
  );
});

test('property: open never throws on arbitrary input', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 40 }), fc.uint8Array({ maxLength: 200 }), (secret, box) => {
      open(secret, box);
      return true;
    }),
  );
});

test('randomBytes: length, chunking past the 65536-byte getRandomValues limit', () => {
  assert.equal(randomBytes(0).length, 0);
  const big = randomBytes(70000);
  assert.equal(big.length, 70000);
  assert.ok(big.subarray(65536).some((b) => b !== 0));
});
