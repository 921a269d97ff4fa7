import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { decodeHeader, encodeHeader, headerLength, MAX_U64 } from './header.ts';

const u64 = fc.oneof(
  fc.bigInt({ min: 0n, max: 16n }),
  fc.bigInt({ min: 0n, max: MAX_U64 }),
  fc.integer({ min: 0, max: 64 }).map((b) => (1n << BigInt(b)) - 1n),
);

test('header: round trip for any (KID, CTR), minimal length', () => {
  fc.assert(
    fc.property(u64, u64, fc.uint8Array({ maxLength: 8 }), (kid, ctr, tail) => {
      const h = encodeHeader(kid, ctr);
      assert.equal(h.length, headerLength(kid, ctr));
      const bytesFor = (v: bigint) => (v < 8n ? 0 : Math.ceil(v.toString(16).length / 2));
      assert.equal(h.length, 1 + bytesFor(kid) + bytesFor(ctr));
      const withTail = new Uint8Array(h.length + tail.length);
      withTail.set(h, 0);
      withTail.set(tail, h.length);
      const d = decodeHeader(withTail);
      assert.ok(d.ok);
      assert.deepEqual(d.value, { kid, ctr, length: h.length });
    }),
  );
});

test('header: the decoder never throws, and whatever it accepts re-encodes to the same bytes', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 24 }), (bytes) => {
      const d = decodeHeader(bytes);
      if (!d.ok) {
        assert.equal(d.error.code, 'MALFORMED');
        return;
      }
      assert.deepEqual(encodeHeader(d.value.kid, d.value.ctr), bytes.subarray(0, d.value.length));
    }),
    { numRuns: 5000 },
  );
});

test('header: non-minimal and truncated encodings are refused', () => {
  const bad = (hex: string) => {
    const r = decodeHeader(Uint8Array.from(Buffer.from(hex, 'hex')));
    return r.ok ? 'ok' : r.error.code;
  };
  assert.equal(bad(''), 'MALFORMED');
  assert.equal(bad('8805'), 'MALFORMED'); // X=1 with a 1-byte KID of 5 (fits in K)
  assert.equal(bad('0805'), 'MALFORMED'); // Y=1 with a 1-byte CTR of 5
  assert.equal(bad('90' + '00ff'), 'MALFORMED'); // 2-byte KID with a leading zero
  assert.equal(bad('09' + '00ff'), 'MALFORMED'); // 2-byte CTR with a leading zero
  assert.equal(bad('9f0100ffffffffffffff'), 'MALFORMED'); // one CTR byte short
  assert.equal(bad('88ff'), 'MALFORMED'); // CTR byte missing
  assert.equal(bad('80ff'), 'ok');
});

test('header: KID and CTR outside 0..2^64-1 are caller bugs (RangeError)', () => {
  assert.throws(() => encodeHeader(-1n, 0n), RangeError);
  assert.throws(() => encodeHeader(0n, MAX_U64 + 1n), RangeError);
});
