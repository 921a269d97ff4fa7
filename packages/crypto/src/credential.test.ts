import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { decodeMemberIdentity, encodeMemberIdentity, type MemberIdentity } from './index.ts';

const id = fc.string({ minLength: 1, maxLength: 60, unit: 'binary' }).filter((s) => {
  const n = new TextEncoder().encode(s).length;
  // Lone surrogates do not survive UTF-8; real ids are ASCII anyway.
  return (
    n >= 1 &&
    n <= 255 &&
    new TextDecoder().decode(new TextEncoder().encode(s)) === s &&
    !s.startsWith('\uFEFF')
  );
});

const member: fc.Arbitrary<MemberIdentity> = fc.record({
  userId: id,
  deviceId: id,
  identityKey: fc.uint8Array({ minLength: 32, maxLength: 32 }),
  deviceKey: fc.uint8Array({ minLength: 32, maxLength: 32 }),
  issuedAt: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
  cert: fc.uint8Array({ minLength: 64, maxLength: 64 }),
});

// fast-check's arrays may be views on a shared buffer; compare contents only.
const plain = (m: MemberIdentity) => ({
  ...m,
  identityKey: [...m.identityKey],
  deviceKey: [...m.deviceKey],
  cert: [...m.cert],
});

test('property: encode/decode round trip', () => {
  fc.assert(
    fc.property(member, (m) => {
      const r = decodeMemberIdentity(encodeMemberIdentity(m));
      assert.ok(r.ok);
      assert.deepEqual(plain(r.value), plain(m));
    }),
  );
});

test('property: decoding random bytes never throws', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 400 }), (bytes) => {
      const r = decodeMemberIdentity(bytes);
      if (!r.ok) assert.equal(r.error.code, 'MALFORMED');
      return true;
    }),
  );
});

test('property: any truncation or extension of a valid encoding is refused', () => {
  fc.assert(
    fc.property(member, fc.nat(), fc.uint8Array({ minLength: 1, maxLength: 8 }), (m, cut, extra) => {
      const enc = encodeMemberIdentity(m);
      assert.equal(decodeMemberIdentity(enc.subarray(0, cut % enc.length)).ok, false);
      assert.equal(decodeMemberIdentity(new Uint8Array([...enc, ...extra])).ok, false);
    }),
  );
});

test('refuses non-canonical forms: unknown version, empty id, BOM, invalid UTF-8, issuedAt > 2^53', () => {
  const m: MemberIdentity = {
    userId: 'u',
    deviceId: 'd',
    identityKey: new Uint8Array(32),
    deviceKey: new Uint8Array(32),
    issuedAt: 5,
    cert: new Uint8Array(64),
  };
  const enc = encodeMemberIdentity(m);
  assert.ok(decodeMemberIdentity(enc).ok);
  const v2 = enc.slice();
  v2[0] = 2;
  assert.equal(decodeMemberIdentity(v2).ok, false);
  const bom = new Uint8Array([1, 4, 0xef, 0xbb, 0xbf, 0x75, ...enc.subarray(3)]);
  assert.equal(decodeMemberIdentity(bom).ok, false);
  const badUtf8 = enc.slice();
  badUtf8[2] = 0xff;
  assert.equal(decodeMemberIdentity(badUtf8).ok, false);
  const empty = new Uint8Array([1, 0, ...enc.subarray(3)]);
  assert.equal(decodeMemberIdentity(empty).ok, false);
  const big = enc.slice();
  big.set([0, 0x20, 0, 0, 0, 0, 0, 0], 5 + 64);
  assert.equal(decodeMemberIdentity(big).ok, false);
  assert.throws(() => encodeMemberIdentity({ ...m, userId: '' }), RangeError);
  assert.throws(() => encodeMemberIdentity({ ...m, cert: new Uint8Array(63) }), RangeError);
});
