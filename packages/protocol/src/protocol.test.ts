import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  b64,
  ClientFrame,
  CreateUploadRequest,
  deviceCertTbs,
  ErrorCode,
  errorCodes,
  fromB64,
  httpStatusOf,
  loginTbs,
  ProtocolError,
  PushSubscriptionRequest,
  parseJson,
  parseUnknown,
  RegisterRequest,
  ServerFrame,
  toB64,
  UploadOffsetQuery,
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

describe('new bodies and frames', () => {
  const base = {
    msgId: 'AAAAAAAAAAAAAAAAAAAAAA',
    groupId: 'BBBBBBBBBBBBBBBBBBBBBB',
    kind: 'application',
    epoch: 3,
    body: toB64(new Uint8Array([1, 2, 3])),
  };
  test('send frames without `ephemeral` still parse; with it too', () => {
    assert.equal(parseUnknown(ClientFrame, { t: 'send', rid: 1, msg: base }).t, 'send');
    const f = parseUnknown(ClientFrame, { t: 'send', rid: 1, msg: { ...base, ephemeral: true } });
    assert.ok(f.t === 'send' && f.msg.ephemeral === true);
    assert.throws(() => parseUnknown(ClientFrame, { t: 'send', rid: 1, msg: { ...base, ephemeral: 'yes' } }));
  });
  test('ephemeral server frames and account-deleted events parse', () => {
    const item = { ...base, sender: { userId: 'CCCCCCCCCCCC', deviceId: 'DDDDDDDDDDDD' }, sentAt: 5 };
    const { kind: _k, ...rest } = item;
    assert.equal(parseUnknown(ServerFrame, { t: 'ephemeral', item: rest }).t, 'ephemeral');
    const ev = parseUnknown(ServerFrame, {
      t: 'event',
      event: { type: 'account-deleted', userId: 'CCCCCCCCCCCC' },
    });
    assert.equal(ev.t, 'event');
  });
  test('upload bodies', () => {
    assert.equal(parseUnknown(CreateUploadRequest, { size: 10 }).size, 10);
    assert.throws(() => parseUnknown(CreateUploadRequest, { size: 0 }));
    assert.equal(parseUnknown(UploadOffsetQuery, { offset: '1024' }).offset, 1024);
    assert.throws(() => parseUnknown(UploadOffsetQuery, { offset: '-1' }));
    assert.throws(() => parseUnknown(UploadOffsetQuery, {}));
  });
  test('push subscriptions need an http(s) endpoint, a 65-byte P-256 key and a 16-byte secret', () => {
    const good = {
      endpoint: 'https://push.example/abc',
      keys: { p256dh: toB64(new Uint8Array(65).fill(4)), auth: toB64(new Uint8Array(16)) },
    };
    assert.equal(parseUnknown(PushSubscriptionRequest, good).endpoint, good.endpoint);
    assert.throws(() => parseUnknown(PushSubscriptionRequest, { ...good, endpoint: 'file:///etc/passwd' }));
    assert.throws(() =>
      parseUnknown(PushSubscriptionRequest, {
        ...good,
        keys: { ...good.keys, auth: toB64(new Uint8Array(8)) },
      }),
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
