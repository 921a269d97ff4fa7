import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { CryptoError } from '../errors.ts';
import { FrameKey } from './aead.ts';
import { SFrameContext, type SFrameContextOptions } from './context.ts';
import { MAX_U64 } from './header.ts';
import { type SFrameSuiteId, sframeSuite, sframeSuites } from './suites.ts';

const code = (r: { ok: true } | { ok: false; error: { code: string } }) => (r.ok ? 'ok' : r.error.code);

/** A sender and a receiver sharing one key; `clock` drives expiry. */
function pair(suite: SFrameSuiteId, kid: bigint, extra: Partial<SFrameContextOptions> = {}) {
  const clock = { now: 1_000_000 };
  const opts = { suite, allowDraftSuites: true, now: () => clock.now, ...extra };
  const baseKey = crypto.getRandomValues(new Uint8Array(32));
  const tx = new SFrameContext(opts);
  const rx = new SFrameContext(opts);
  tx.addSendKey(kid, baseKey);
  rx.addReceiveKey(kid, baseKey);
  return { tx, rx, clock, baseKey };
}

const kidArb = fc.oneof(fc.bigInt({ min: 0n, max: 7n }), fc.bigInt({ min: 0n, max: MAX_U64 }));
const bytes = (max: number) => fc.uint8Array({ maxLength: max });

for (const suite of sframeSuites()) {
  describe(`SFrame context, suite ${suite.id} ${suite.name}`, () => {
    test('round trip; CTR counts up from 0; overhead is header + Nt', () => {
      fc.assert(
        fc.property(
          kidArb,
          fc.array(fc.tuple(bytes(40), bytes(300)), { minLength: 1, maxLength: 5 }),
          (kid, frames) => {
            const { tx, rx } = pair(suite.id, kid);
            frames.forEach(([metadata, pt], i) => {
              const frame = tx.encrypt(kid, metadata, pt);
              const r = rx.decrypt(metadata, frame);
              assert.ok(r.ok, code(r));
              assert.deepEqual(r.value, { kid, ctr: BigInt(i), plaintext: pt });
              assert.ok(frame.length - pt.length - suite.nt <= 1 + 8 + 1);
            });
            assert.equal(tx.nextCounter(kid), BigInt(frames.length));
          },
        ),
        { numRuns: 40 },
      );
    });

    test('flipping any bit of header, ciphertext, tag or metadata fails, and does not burn the CTR', () => {
      fc.assert(
        fc.property(
          kidArb,
          bytes(24),
          bytes(64),
          fc.nat(),
          fc.integer({ min: 0, max: 7 }),
          fc.boolean(),
          (kid, metadata, pt, at, bit, inMetadata) => {
            const { tx, rx } = pair(suite.id, kid);
            tx.encrypt(kid, metadata, pt); // CTR 0, so the tampered frame below is not at CTR 0
            const frame = tx.encrypt(kid, metadata, pt);
            let r: ReturnType<SFrameContext['decrypt']>;
            if (inMetadata && metadata.length > 0) {
              const m2 = metadata.slice();
              m2[at % m2.length] = (m2[at % m2.length] ?? 0) ^ (1 << bit);
              r = rx.decrypt(m2, frame);
            } else {
              const f2 = frame.slice();
              f2[at % f2.length] = (f2[at % f2.length] ?? 0) ^ (1 << bit);
              r = rx.decrypt(metadata, f2);
            }
            assert.notEqual(code(r), 'ok');
            assert.ok(['DECRYPT_FAILED', 'MALFORMED', 'WRONG_EPOCH', 'REPLAY'].includes(code(r)), code(r));
            // The genuine frame still opens: failures never touch the replay window.
            assert.equal(code(rx.decrypt(metadata, frame)), 'ok');
          },
        ),
        { numRuns: 150 },
      );
    });

    test('truncated frames fail without throwing', () => {
      const { tx, rx } = pair(suite.id, 300n);
      const frame = tx.encrypt(300n, new Uint8Array(0), new Uint8Array(10));
      for (let n = 0; n < frame.length; n++)
        assert.notEqual(code(rx.decrypt(new Uint8Array(0), frame.subarray(0, n))), 'ok');
    });
  });
}

describe('SFrame context: replay window', () => {
  test('any order within the window is accepted once; every replay is refused', () => {
    fc.assert(
      fc.property(
        fc
          .integer({ min: 1, max: 64 })
          .chain((n) =>
            fc.tuple(
              fc.constant(n),
              fc.shuffledSubarray([...Array(n).keys()], { minLength: n, maxLength: n }),
            ),
          ),
        fc.integer({ min: 64, max: 200 }),
        ([n, order], window) => {
          const { tx, rx } = pair(4, 9n, { replayWindow: window });
          const frames = Array.from({ length: n }, (_, i) =>
            tx.encrypt(9n, new Uint8Array(0), Uint8Array.of(i)),
          );
          for (const i of order) {
            const r = rx.decrypt(new Uint8Array(0), frames[i] ?? new Uint8Array(0));
            assert.ok(r.ok, code(r));
            assert.equal(r.value.ctr, BigInt(i));
          }
          for (const f of frames) assert.equal(code(rx.decrypt(new Uint8Array(0), f)), 'REPLAY');
        },
      ),
      { numRuns: 60 },
    );
  });

  test('a frame older than the window is refused, one just inside is accepted', () => {
    const { tx, rx } = pair(1, 1n, { replayWindow: 16 });
    const frames = Array.from({ length: 40 }, () => tx.encrypt(1n, new Uint8Array(0), new Uint8Array(1)));
    const at = (i: number) => frames[i] ?? assert.fail();
    assert.equal(code(rx.decrypt(new Uint8Array(0), at(39))), 'ok');
    assert.equal(code(rx.decrypt(new Uint8Array(0), at(23))), 'REPLAY'); // 39 - 23 = 16: too old
    assert.equal(code(rx.decrypt(new Uint8Array(0), at(24))), 'ok'); // 15 back: inside
    assert.equal(code(rx.decrypt(new Uint8Array(0), at(24))), 'REPLAY');
    // A jump far ahead clears the window without letting old slots through.
    assert.equal(code(rx.decrypt(new Uint8Array(0), at(30))), 'ok');
  });

  test('the default window is 128 frames', () => {
    const { tx, rx } = pair(4, 2n);
    const frames = Array.from({ length: 130 }, () => tx.encrypt(2n, new Uint8Array(0), new Uint8Array(1)));
    assert.equal(code(rx.decrypt(new Uint8Array(0), frames[129] ?? assert.fail())), 'ok');
    assert.equal(code(rx.decrypt(new Uint8Array(0), frames[1] ?? assert.fail())), 'REPLAY');
    assert.equal(code(rx.decrypt(new Uint8Array(0), frames[2] ?? assert.fail())), 'ok');
  });
});

describe('SFrame context: keys', () => {
  const empty = new Uint8Array(0);

  test('unknown KID is WRONG_EPOCH (buffer and retry), a removed key too', () => {
    const { tx, rx } = pair(4, 5n);
    const f = tx.encrypt(5n, empty, empty);
    rx.removeKey(5n);
    assert.equal(code(rx.decrypt(empty, f)), 'WRONG_EPOCH');
    assert.throws(
      () => tx.encrypt(6n, empty, empty),
      (e) => e instanceof CryptoError && e.code === 'WRONG_EPOCH',
    );
  });

  test('the counter is refused once exhausted', () => {
    const { tx } = pair(4, 5n, { maxFramesPerKey: 3n });
    for (let i = 0; i < 3; i++) tx.encrypt(5n, empty, empty);
    assert.throws(
      () => tx.encrypt(5n, empty, empty),
      (e) => e instanceof CryptoError && e.code === 'UNSUPPORTED',
    );
  });

  test('maxFramesPerKey: counters 0..max-1, at most 2^64; CTR 2^64-1 still forms a nonce', () => {
    const small = new SFrameContext({ suite: 4, maxFramesPerKey: 1n });
    small.addSendKey(0n, new Uint8Array(16).fill(7));
    small.encrypt(0n, empty, empty);
    assert.throws(() => small.encrypt(0n, empty, empty), CryptoError);
    assert.throws(() => new SFrameContext({ suite: 4, maxFramesPerKey: (1n << 64n) + 1n }), RangeError);
    // We cannot encrypt 2^64 times; check the last counter's nonce and frame at the key level.
    const salt = Uint8Array.from({ length: 12 }, (_, i) => i);
    const key = new FrameKey(sframeSuite(4) ?? assert.fail(), new Uint8Array(16), salt);
    assert.deepEqual(
      key.nonceFor(MAX_U64),
      Uint8Array.from([0, 1, 2, 3, ...[4, 5, 6, 7, 8, 9, 10, 11].map((b) => b ^ 0xff)]),
    );
  });

  test('re-adding the same send key is refused (it would reuse nonces); a new key restarts CTR', () => {
    const { tx, baseKey } = pair(1, 3n);
    tx.encrypt(3n, empty, empty);
    assert.throws(
      () => tx.addSendKey(3n, baseKey),
      (e) => e instanceof CryptoError && e.code === 'UNSUPPORTED',
    );
    tx.removeKey(3n);
    assert.throws(() => tx.addSendKey(3n, baseKey), CryptoError);
    tx.addSendKey(3n, crypto.getRandomValues(new Uint8Array(32)));
    assert.equal(tx.nextCounter(3n), 0n);
  });

  test('a KID is a send key or a receive key, never both', () => {
    const { tx, rx, baseKey } = pair(4, 3n);
    assert.throws(() => tx.addReceiveKey(3n, baseKey), CryptoError);
    assert.throws(() => rx.addSendKey(3n, baseKey), CryptoError);
  });

  test('rotation: the previous receive key works during the grace period, then not', () => {
    const { tx, rx, clock } = pair(4, 8n, { rotationGraceMs: 500 });
    const old = [tx.encrypt(8n, empty, Uint8Array.of(1)), tx.encrypt(8n, empty, Uint8Array.of(2))];
    const next = crypto.getRandomValues(new Uint8Array(32));
    tx.addSendKey(8n, next);
    rx.addReceiveKey(8n, next);
    const fresh = tx.encrypt(8n, empty, Uint8Array.of(3));
    assert.equal(code(rx.decrypt(empty, fresh)), 'ok'); // new generation, CTR 0
    assert.equal(code(rx.decrypt(empty, old[0] ?? assert.fail())), 'ok'); // old generation, CTR 0
    assert.equal(code(rx.decrypt(empty, old[0] ?? assert.fail())), 'REPLAY');
    clock.now += 501;
    assert.equal(code(rx.decrypt(empty, old[1] ?? assert.fail())), 'DECRYPT_FAILED');
  });

  test('expiry and retirement', () => {
    const { tx, rx, clock } = pair(4, 8n);
    const f1 = tx.encrypt(8n, empty, empty);
    const f2 = tx.encrypt(8n, empty, empty);
    assert.ok(rx.retireKey(8n, 100));
    assert.equal(code(rx.decrypt(empty, f1)), 'ok');
    clock.now += 100;
    assert.equal(code(rx.decrypt(empty, f2)), 'WRONG_EPOCH');
    assert.deepEqual(rx.keys(), []);
    // A retired send key stops at once.
    assert.ok(tx.retireKey(8n));
    assert.throws(() => tx.encrypt(8n, empty, empty), CryptoError);
    const ctx = new SFrameContext({ suite: 4, now: () => clock.now });
    ctx.addSendKey(1n, new Uint8Array(16).fill(1), { expiresAt: clock.now + 10 });
    ctx.encrypt(1n, empty, empty);
    clock.now += 10;
    assert.throws(() => ctx.encrypt(1n, empty, empty), CryptoError);
  });

  test('options: draft suites need opt-in; bad suites and windows are refused', () => {
    assert.throws(() => new SFrameContext({ suite: 6 }), CryptoError);
    assert.equal(
      new SFrameContext({ suite: 6, allowDraftSuites: true }).suite.name,
      'AES_256_CTR_HMAC_SHA512_80',
    );
    assert.throws(() => new SFrameContext({ suite: 0 as SFrameSuiteId }), CryptoError);
    assert.throws(() => new SFrameContext({ suite: 4, replayWindow: 0 }), RangeError);
    assert.throws(() => new SFrameContext({ suite: 4 }).addSendKey(1n, new Uint8Array(8)), RangeError);
    assert.throws(() => new SFrameContext({ suite: 4 }).addSendKey(-1n, new Uint8Array(16)), RangeError);
  });
});
