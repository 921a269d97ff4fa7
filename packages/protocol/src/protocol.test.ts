import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  b64,
  ClientFrame,
  deviceCertTbs,
  ErrorCode,
  errorCodes,
  fromB64,
  httpStatusOf,
  loginTbs,
  ProtocolError,
  parseJson,
  parseUnknown,
  RegisterRequest,
  ServerFrame,
  toB64,
  Username,
} from './index.ts';

describe('usernames', () => {
  test('are normalised to lower case and trimmed', () => {
    assert.equal(parseUnknown(Username, '  Alice_01 '), 'alice_01');
  });
  for (const bad of ['ab', '1abc', '_abc', 'a'.repeat(33), 'al ice', 'алиса', '+79991234567', 'a@b.c']) {
    test(`refuse ${JSON.stringify(bad)}`, () => {
      assert.throws(
        () => parseUnknown(Username, bad),
        (e: unknown) => e instanceof ProtocolError && e.code === 'BAD_REQUEST',
      );
    });
  }
});

describe('base64url fields', () => {
  test('round-trip any bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        assert.deepEqual(fromB64(toB64(bytes)), bytes);
      }),
    );
  });
  test('length bounds are checked on decoded bytes', () => {
    const exact32 = b64(32, 32);
    assert.ok(exact32.safeParse(toB64(new Uint8Array(32))).success);
    assert.ok(!exact32.safeParse(toB64(new Uint8Array(31))).success);
    assert.ok(!exact32.safeParse(toB64(new Uint8Array(33))).success);
    assert.ok(!exact32.safeParse('not base64!').success);
  });
});

describe('frames', () => {
  test('a valid send frame parses', () => {
    const frame = {
      t: 'send',
      rid: 1,
      msg: {
        msgId: 'AAAAAAAAAAAAAAAAAAAAAA',
        groupId: 'BBBBBBBBBBBBBBBBBBBBBB',
        kind: 'application',
        epoch: 3,
        body: toB64(new Uint8Array([1, 2, 3])),
      },
    };
    const parsed = parseUnknown(ClientFrame, frame);
    assert.equal(parsed.t, 'send');
  });
  test('random JSON never parses into something unchecked and never throws anything but ProtocolError', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        try {
          parseUnknown(ClientFrame, value);
        } catch (e) {
          assert.ok(e instanceof ProtocolError);
          assert.equal(e.code, ErrorCode.BadRequest);
        }
      }),
    );
  });
  test('bad JSON text is a BAD_REQUEST', () => {
    assert.throws(
      () => parseJson(ServerFrame, '{"t":'),
      (e: unknown) => e instanceof ProtocolError && e.code === 'BAD_REQUEST',
    );
  });
  test('failures name the failing path', () => {
    assert.throws(
      () => parseUnknown(RegisterRequest, { username: 'alice', identityKey: 'x', device: {} }),
      (e: unknown) =>
        e instanceof ProtocolError && /identityKey/.test(e.message) && /device\.deviceId/.test(e.message),
    );
  });
});

describe('error codes', () => {
  test('every code has an HTTP status', () => {
    for (const code of errorCodes) assert.ok(httpStatusOf[code] >= 400, code);
  });
});

describe('signed bytes', () => {
  test('device certificates and logins use distinct contexts and bind every field', () => {
    const key = new Uint8Array(32).fill(7);
    const a = deviceCertTbs('device-one', key, 1000);
    assert.notDeepEqual(a, deviceCertTbs('device-two', key, 1000));
    assert.notDeepEqual(a, deviceCertTbs('device-one', new Uint8Array(32).fill(8), 1000));
    assert.notDeepEqual(a, deviceCertTbs('device-one', key, 1001));
    const login = loginTbs('device-one', key);
    assert.notDeepEqual(a.subarray(0, 24), login.subarray(0, 24));
  });
  test('length prefixes prevent field-boundary confusion', () => {
    fc.assert(
      fc.property(
        fc.string({ minLength: 1, maxLength: 10 }),
        fc.string({ minLength: 1, maxLength: 10 }),
        (x, y) => {
          fc.pre(x !== y);
          assert.notDeepEqual(loginTbs(x, new TextEncoder().encode(y)), loginTbs(x + y, new Uint8Array()));
        },
      ),
    );
  });
});
