import assert from 'node:assert/strict';
import { test } from 'node:test';
import { deviceCertTbs, fromB64, loginTbs } from '@kolokol/protocol';
import { ed25519 } from '@noble/curves/ed25519.js';
import { certifyDevice, generateIdentity, newDeviceId, signLogin, verifyDeviceCert } from './index.ts';

test('newDeviceId: 22 base64url characters of 16 random bytes', () => {
  const id = newDeviceId();
  assert.match(id, /^[A-Za-z0-9_-]{22}$/);
  assert.equal(fromB64(id).length, 16);
  assert.notEqual(newDeviceId(), id);
});

test('certifyDevice signs exactly deviceCertTbs with the identity key', () => {
  const identity = generateIdentity();
  const d = certifyDevice(identity, { deviceId: 'dev-12345678', now: 1_700_000_000_000 });
  assert.equal(d.deviceId, 'dev-12345678');
  assert.equal(d.issuedAt, 1_700_000_000_000);
  assert.ok(ed25519.verify(d.cert, deviceCertTbs(d.deviceId, d.publicKey, d.issuedAt), identity.publicKey));
  assert.ok(verifyDeviceCert(identity.publicKey, d.deviceId, d.publicKey, d.issuedAt, d.cert));
});

test('verifyDeviceCert refuses any changed field and never throws', () => {
  const identity = generateIdentity();
  const d = certifyDevice(identity);
  assert.equal(
    verifyDeviceCert(generateIdentity().publicKey, d.deviceId, d.publicKey, d.issuedAt, d.cert),
    false,
  );
  assert.equal(
    verifyDeviceCert(identity.publicKey, `${d.deviceId}x`, d.publicKey, d.issuedAt, d.cert),
    false,
  );
  assert.equal(
    verifyDeviceCert(identity.publicKey, d.deviceId, generateIdentity().publicKey, d.issuedAt, d.cert),
    false,
  );
  assert.equal(verifyDeviceCert(identity.publicKey, d.deviceId, d.publicKey, d.issuedAt + 1, d.cert), false);
  assert.equal(verifyDeviceCert(identity.publicKey, d.deviceId, d.publicKey, -1, d.cert), false);
  assert.equal(
    verifyDeviceCert(new Uint8Array(32).fill(0xff), d.deviceId, d.publicKey, d.issuedAt, d.cert),
    false,
  );
  assert.equal(
    verifyDeviceCert(identity.publicKey, d.deviceId, d.publicKey, d.issuedAt, new Uint8Array(64)),
    false,
  );
  assert.equal(
    verifyDeviceCert(identity.publicKey, d.deviceId, d.publicKey, d.issuedAt, new Uint8Array(3)),
    false,
  );
});

test('signLogin signs loginTbs with the device key', () => {
  const d = certifyDevice(generateIdentity());
  const challenge = crypto.getRandomValues(new Uint8Array(32));
  const sig = signLogin(d, challenge);
  assert.ok(ed25519.verify(sig, loginTbs(d.deviceId, challenge), d.publicKey));
  assert.equal(ed25519.verify(sig, loginTbs(d.deviceId, new Uint8Array(32)), d.publicKey), false);
});

test('verifyDeviceCert remembers only what verified: a cached success never vouches for other bytes', () => {
  const identity = generateIdentity();
  const other = generateIdentity();
  const d = certifyDevice(identity);
  for (let round = 0; round < 2; round++) {
    assert.equal(verifyDeviceCert(identity.publicKey, d.deviceId, d.publicKey, d.issuedAt, d.cert), true);
    assert.equal(verifyDeviceCert(other.publicKey, d.deviceId, d.publicKey, d.issuedAt, d.cert), false);
    assert.equal(
      verifyDeviceCert(identity.publicKey, `${d.deviceId}x`, d.publicKey, d.issuedAt, d.cert),
      false,
    );
    assert.equal(
      verifyDeviceCert(identity.publicKey, d.deviceId, d.publicKey, d.issuedAt + 1, d.cert),
      false,
    );
    const bad = d.cert.slice();
    bad[0] = (bad[0] ?? 0) ^ 1;
    assert.equal(verifyDeviceCert(identity.publicKey, d.deviceId, d.publicKey, d.issuedAt, bad), false);
  }
});
