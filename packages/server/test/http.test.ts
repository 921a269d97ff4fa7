import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { loginTbs } from '@kolokol/protocol';
import {
  b64,
  deviceRegistration,
  errorCode,
  field,
  keyPair,
  login,
  makeDevice,
  registerUser,
  rid,
  signB64,
  str,
  type TestServer,
  testServer,
  uniqueName,
  WsClient,
} from './helpers.ts';

describe('HTTP API', () => {
  let s: TestServer;
  before(async () => {
    s = await testServer({ maxAttachmentBytes: 64 * 1024 });
  });
  after(async () => {
    await s.stop();
  });

  it('serves info, health, readiness and OpenMetrics', async () => {
    const info = await s.api.req('GET', '/v1/info');
    assert.equal(info.status, 200);
    assert.deepEqual(info.body, {
      name: 'Kolokol',
      version: '0.1.0',
      protocol: 1,
      registration: 'open',
      maxAttachmentBytes: 65536,
    });
    assert.equal((await s.api.req('GET', '/healthz')).status, 200);
    assert.equal((await s.api.req('GET', '/readyz')).status, 200);
    const m = await fetch(`${s.url}/metrics`);
    assert.match(m.headers.get('content-type') ?? '', /openmetrics/);
    const text = await m.text();
    assert.match(text, /kolokol_http_requests_total\{method="GET",route="\/v1\/info",status="200"\} 1/);
    assert.match(text, /process_cpu_seconds_total/);
    const nf = await s.api.req('GET', '/v1/nothing');
    assert.equal(nf.status, 404);
    assert.equal(errorCode(nf.body), 'NOT_FOUND');
  });

  it('registers, logs in, refuses a replayed challenge and a wrong signature', async () => {
    const u = await registerUser(s.api);
    const otherIdentity = keyPair();
    const dup = await s.api.req('POST', '/v1/accounts', {
      username: u.username.toUpperCase(),
      identityKey: otherIdentity.publicB64,
      device: deviceRegistration(makeDevice(otherIdentity)),
    });
    assert.equal(errorCode(dup.body), 'USERNAME_TAKEN');
    assert.equal(dup.status, 409);

    const ch = await s.api.req('POST', '/v1/auth/challenge', { deviceId: u.device.deviceId });
    const challenge = str(ch.body, 'challenge');
    const signature = signB64(u.device.key, loginTbs(u.device.deviceId, Buffer.from(challenge, 'base64url')));
    const ok = await s.api.req('POST', '/v1/auth/login', {
      deviceId: u.device.deviceId,
      challenge,
      signature,
    });
    assert.equal(ok.status, 200);
    const replay = await s.api.req('POST', '/v1/auth/login', {
      deviceId: u.device.deviceId,
      challenge,
      signature,
    });
    assert.equal(errorCode(replay.body), 'CHALLENGE_FAILED');

    const ch2 = await s.api.req('POST', '/v1/auth/challenge', { deviceId: u.device.deviceId });
    const c2 = str(ch2.body, 'challenge');
    const wrongKey = signB64(keyPair(), loginTbs(u.device.deviceId, Buffer.from(c2, 'base64url')));
    const bad = await s.api.req('POST', '/v1/auth/login', {
      deviceId: u.device.deviceId,
      challenge: c2,
      signature: wrongKey,
    });
    assert.equal(errorCode(bad.body), 'CHALLENGE_FAILED');
    assert.equal(bad.status, 401);

    const unknown = await s.api.req('POST', '/v1/auth/challenge', { deviceId: rid() });
    assert.equal(errorCode(unknown.body), 'UNAUTHORIZED');
  });

  it('refuses a device cert that does not verify under the identity key', async () => {
    const identity = keyPair();
    const device = makeDevice(keyPair()); // certified by some other key
    const res = await s.api.req('POST', '/v1/accounts', {
      username: uniqueName(),
      identityKey: identity.publicB64,
      device: deviceRegistration(device),
    });
    assert.equal(errorCode(res.body), 'FORBIDDEN');
    const junk = await s.api.req('POST', '/v1/accounts', { username: 'ab', identityKey: 'x', device: {} });
    assert.equal(errorCode(junk.body), 'BAD_REQUEST');
    assert.match(String(field(field(junk.body, 'error'), 'message')), /username/);
  });

  it('authenticates: missing, bogus, revoked session, revoked device', async () => {
    assert.equal(errorCode((await s.api.req('GET', '/v1/devices')).body), 'UNAUTHORIZED');
    assert.equal(
      errorCode((await s.api.req('GET', '/v1/devices', undefined, 'x'.repeat(40))).body),
      'UNAUTHORIZED',
    );

    const u = await registerUser(s.api);
    const second = await login(s.api, u.device);
    const list = await s.api.req('GET', '/v1/sessions', undefined, u.token);
    const sessions = field(list.body, 'sessions');
    assert.ok(Array.isArray(sessions));
    assert.equal(sessions.length, 2);
    assert.equal(sessions.filter((x) => field(x, 'current') === true).length, 1);

    const ws = await WsClient.connect(s.url, second.token);
    const del = await s.api.req('DELETE', `/v1/sessions/${second.sessionId}`, undefined, u.token);
    assert.equal(del.status, 200);
    assert.equal((await ws.closed).code, 4403, 'the revoked session’s socket is closed at once');
    const after = await s.api.req('GET', '/v1/devices', undefined, second.token);
    assert.equal(errorCode(after.body), 'SESSION_REVOKED');
    const other = await registerUser(s.api);
    const notMine = await s.api.req('DELETE', `/v1/sessions/${other.sessionId}`, undefined, u.token);
    assert.equal(errorCode(notMine.body), 'NOT_FOUND');

    // Revoke a device through the account's other device, added with a link.
    const link = await s.api.req('POST', '/v1/links', { sealed: b64('sealed bundle') }, u.token);
    const linkId = str(link.body, 'linkId');
    const fetched = await s.api.req('GET', `/v1/links/${linkId}`);
    assert.equal(field(fetched.body, 'userId'), u.userId);
    const laptop = makeDevice(u.identity);
    const watcher = await WsClient.connect(s.url, u.token);
    const added = await s.api.req('POST', '/v1/devices', { linkId, device: deviceRegistration(laptop) });
    assert.equal(added.status, 200, JSON.stringify(added.body));
    const ev = await watcher.next((f) => f.t === 'event' && field(f.event, 'type') === 'device-added');
    assert.deepEqual(ev.event, { type: 'device-added', userId: u.userId, deviceId: laptop.deviceId });
    const reuse = await s.api.req('POST', '/v1/devices', {
      linkId,
      device: deviceRegistration(makeDevice(u.identity)),
    });
    assert.equal(errorCode(reuse.body), 'LINK_EXPIRED');
    assert.equal(errorCode((await s.api.req('GET', `/v1/links/${linkId}`)).body), 'LINK_EXPIRED');

    const laptopSession = await login(s.api, laptop);
    const laptopWs = await WsClient.connect(s.url, laptopSession.token);
    const devices = await s.api.req('GET', '/v1/devices', undefined, laptopSession.token);
    assert.equal((field(devices.body, 'devices') as unknown[]).length, 2);
    const revoke = await s.api.req('DELETE', `/v1/devices/${laptop.deviceId}`, undefined, u.token);
    assert.equal(revoke.status, 200);
    assert.equal((await laptopWs.closed).code, 4403);
    const ev2 = await watcher.next((f) => f.t === 'event' && field(f.event, 'type') === 'device-revoked');
    assert.deepEqual(ev2.event, { type: 'device-revoked', userId: u.userId, deviceId: laptop.deviceId });
    assert.equal(
      errorCode((await s.api.req('GET', '/v1/devices', undefined, laptopSession.token)).body),
      'DEVICE_REVOKED',
    );
    assert.equal(
      errorCode((await s.api.req('POST', '/v1/auth/challenge', { deviceId: laptop.deviceId })).body),
      'DEVICE_REVOKED',
    );
    await watcher.close();
  });

  it('refuses adding a device to another account (cert under the wrong identity)', async () => {
    const victim = await registerUser(s.api);
    const link = await s.api.req('POST', '/v1/links', { sealed: b64('x') }, victim.token);
    const linkId = str(link.body, 'linkId');
    const res = await s.api.req('POST', '/v1/devices', {
      linkId,
      device: deviceRegistration(makeDevice(keyPair())),
    });
    assert.equal(errorCode(res.body), 'FORBIDDEN');
    assert.equal(errorCode((await s.api.req('GET', `/v1/links/${rid()}`)).body), 'NOT_FOUND');
  });

  it('directory lookups show active devices', async () => {
    const u = await registerUser(s.api, { displayName: 'Ünïcode Name' });
    const byName = await s.api.req('GET', `/v1/users/${u.username}`, undefined, u.token);
    assert.equal(field(byName.body, 'userId'), u.userId);
    assert.equal(field(byName.body, 'displayName'), 'Ünïcode Name');
    assert.equal(field(byName.body, 'identityKey'), u.identity.publicB64);
    const byId = await s.api.req('GET', `/v1/users/id/${u.userId}`, undefined, u.token);
    assert.deepEqual(byId.body, byName.body);
    assert.equal(
      errorCode((await s.api.req('GET', `/v1/users/nobody_here`, undefined, u.token)).body),
      'NOT_FOUND',
    );
    assert.equal(errorCode((await s.api.req('GET', `/v1/users/${u.username}`)).body), 'UNAUTHORIZED');
  });

  it('key packages: upload, count, claim, last resort, low watermark event', async () => {
    const bob = await registerUser(s.api);
    const alice = await registerUser(s.api);
    const bobWs = await WsClient.connect(s.url, bob.token);
    const low = await bobWs.next((f) => f.t === 'event');
    assert.deepEqual(low.event, { type: 'keypackages-low', remaining: 0 });
    const up = await s.api.req(
      'POST',
      '/v1/keypackages',
      { keyPackages: Array.from({ length: 11 }, (_, i) => b64(`kp${i}`)), lastResort: b64('last') },
      bob.token,
    );
    assert.deepEqual(up.body, { oneTime: 11, lastResort: true });
    const claim = await s.api.req('POST', '/v1/keypackages/claim', { userId: bob.userId }, alice.token);
    assert.deepEqual(claim.body, {
      userId: bob.userId,
      keyPackages: [{ deviceId: bob.device.deviceId, keyPackage: b64('kp0'), lastResort: false }],
    });
    assert.equal(bobWs.frames.filter((f) => f.t === 'event').length, 0, '10 left: not low yet');
    await s.api.req('POST', '/v1/keypackages/claim', { userId: bob.userId }, alice.token);
    const ev = await bobWs.next((f) => f.t === 'event');
    assert.deepEqual(ev.event, { type: 'keypackages-low', remaining: 9 });
    const count = await s.api.req('GET', '/v1/keypackages/count', undefined, bob.token);
    assert.deepEqual(count.body, { oneTime: 9, lastResort: true });
    const none = await registerUser(s.api);
    assert.equal(
      errorCode(
        (await s.api.req('POST', '/v1/keypackages/claim', { userId: none.userId }, alice.token)).body,
      ),
      'NO_KEY_PACKAGE',
    );
    assert.equal(
      errorCode((await s.api.req('POST', '/v1/keypackages/claim', { userId: rid() }, alice.token)).body),
      'NOT_FOUND',
    );
    await bobWs.close();
  });

  it('groups: create, conflict, members only', async () => {
    const a = await registerUser(s.api);
    const b = await registerUser(s.api);
    const groupId = rid();
    const g = await s.api.req('POST', '/v1/groups', { groupId }, a.token);
    assert.deepEqual(g.body, {
      groupId,
      epoch: 0,
      members: [{ userId: a.userId, deviceId: a.device.deviceId }],
    });
    assert.equal(
      errorCode((await s.api.req('POST', '/v1/groups', { groupId }, b.token)).body),
      'GROUP_EXISTS',
    );
    assert.equal((await s.api.req('GET', `/v1/groups/${groupId}`, undefined, a.token)).status, 200);
    assert.equal(
      errorCode((await s.api.req('GET', `/v1/groups/${groupId}`, undefined, b.token)).body),
      'NOT_GROUP_MEMBER',
    );
  });

  it('attachments: upload, download, too large, unauthenticated', async () => {
    const u = await registerUser(s.api);
    const blob = Buffer.from(Array.from({ length: 50_000 }, (_, i) => i % 251));
    const up = await fetch(`${s.url}/v1/attachments`, {
      method: 'POST',
      headers: { authorization: `Bearer ${u.token}`, 'content-type': 'application/octet-stream' },
      body: blob,
    });
    const upBody: unknown = await up.json();
    assert.equal(up.status, 200, JSON.stringify(upBody));
    assert.equal(field(upBody, 'size'), blob.length);
    const id = str(upBody, 'attachmentId');
    const down = await fetch(`${s.url}/v1/attachments/${id}`, {
      headers: { authorization: `Bearer ${u.token}` },
    });
    assert.equal(down.status, 200);
    assert.deepEqual(Buffer.from(await down.arrayBuffer()), blob);
    const anon = await fetch(`${s.url}/v1/attachments/${id}`);
    assert.equal(anon.status, 401);
    await anon.body?.cancel();

    const big = await fetch(`${s.url}/v1/attachments`, {
      method: 'POST',
      headers: { authorization: `Bearer ${u.token}`, 'content-type': 'application/octet-stream' },
      body: Buffer.alloc(64 * 1024 + 1),
    });
    assert.equal(big.status, 413);
    assert.equal(errorCode(await big.json()), 'PAYLOAD_TOO_LARGE');
    const missing = await fetch(`${s.url}/v1/attachments/${rid()}`, {
      headers: { authorization: `Bearer ${u.token}` },
    });
    assert.equal(missing.status, 404);
    await missing.body?.cancel();
  });

  it('JSON bodies over the limit are PAYLOAD_TOO_LARGE', async () => {
    const res = await s.api.req('POST', '/v1/accounts', { username: 'x'.repeat(600 * 1024) });
    assert.equal(res.status, 413);
    assert.equal(errorCode(res.body), 'PAYLOAD_TOO_LARGE');
  });

  it('invite-only registration', async () => {
    const inv = await testServer({ registration: 'invite' });
    try {
      const identity = keyPair();
      const body = (extra: Record<string, unknown>) => ({
        username: uniqueName(),
        identityKey: identity.publicB64,
        device: deviceRegistration(makeDevice(identity)),
        ...extra,
      });
      assert.equal(errorCode((await inv.api.req('POST', '/v1/accounts', body({}))).body), 'INVITE_REQUIRED');
      assert.equal(
        errorCode((await inv.api.req('POST', '/v1/accounts', body({ inviteCode: 'nope' }))).body),
        'INVALID_INVITE',
      );
      // Bootstrap: the first account comes from an invite stored directly (an operator's job).
      const first = await registerUserWithInvite(inv);
      const code = str((await inv.api.req('POST', '/v1/invites', undefined, first)).body, 'code');
      assert.equal((await inv.api.req('POST', '/v1/accounts', body({ inviteCode: code }))).status, 200);
      const identity2 = keyPair();
      const again = await inv.api.req('POST', '/v1/accounts', {
        username: uniqueName(),
        identityKey: identity2.publicB64,
        device: deviceRegistration(makeDevice(identity2)),
        inviteCode: code,
      });
      assert.equal(errorCode(again.body), 'INVALID_INVITE');
    } finally {
      await inv.stop();
    }
  });

  it('rate-limits registrations per IP', async () => {
    const rl = await testServer({ rateLimits: { registrationsPerIp: 2 } });
    try {
      await registerUser(rl.api);
      await registerUser(rl.api);
      await assert.rejects(registerUser(rl.api), /RATE_LIMITED/);
    } finally {
      await rl.stop();
    }
  });
});

/** The first account of an invite-only server needs an invite that an operator put in the database. */
async function registerUserWithInvite(inv: TestServer): Promise<string> {
  const { Store } = await import('../src/storage/store.ts');
  const { sha256Hex } = await import('../src/crypto.ts');
  // The running server holds the SQLite file; a second connection can still write (WAL + busy timeout).
  const store = await Store.open({ kind: 'sqlite', path: `${inv.dataDir}/kolokol.db` });
  await store.createInvite(sha256Hex('bootstrap-code'), 'operator', Date.now(), Date.now() + 60_000);
  await store.close();
  const u = await registerUser(inv.api, { inviteCode: 'bootstrap-code' });
  return u.token;
}
