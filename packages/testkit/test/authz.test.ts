/**
 * Authorization at the protocol level, with raw HTTP and WebSocket (no SDK): what a malicious or
 * buggy client could try, and the exact wire code it gets back.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { certifyDevice, generateIdentity, signLogin } from '@kolokol/crypto';
import { fromB64, toB64 } from '@kolokol/protocol';
import {
  errorCodeOf,
  http,
  httpOk,
  loginRaw,
  opaqueBody,
  RawSocket,
  type RawUser,
  randomId,
  rawGroup,
  rawUser,
  startTestServer,
  type TestServer,
  waitFor,
} from '@kolokol/testkit';

let server: TestServer;
let alice: RawUser;
let bob: RawUser;
let carol: RawUser;
const sockets: RawSocket[] = [];
const connect = async (u: { token: string }) => {
  const s = await RawSocket.connect(server.url, u.token);
  sockets.push(s);
  return s;
};

before(async () => {
  server = await startTestServer();
  [alice, bob, carol] = await Promise.all([
    rawUser(server.url, 'alice'),
    rawUser(server.url, 'bob'),
    rawUser(server.url, 'carol'),
  ]);
});

after(async () => {
  for (const s of sockets) s.close();
  await server.close();
});

describe('mailboxes', () => {
  test("a device cannot acknowledge (delete) another device's mailbox items", async () => {
    const aSock = await connect(alice);
    const bSock = await connect(bob);
    const { groupId, epoch } = await rawGroup(alice, aSock, [bob]);
    const sent = await aSock.send({
      msgId: randomId(),
      groupId,
      kind: 'application',
      epoch,
      body: opaqueBody(),
    });
    assert.equal(sent.t, 'ok');
    await waitFor(() => bSock.items.some((i) => i.kind === 'application'), 5000, { what: "bob's item" });
    const ids = bSock.items.map((i) => i.id);

    // Carol acknowledges bob's mailbox ids (and a few neighbours) on her own socket.
    const cSock = await connect(carol);
    cSock.ack([...ids, ...ids.map((i) => i + 1), 0, 1, 2, 3]);
    assert.equal((await cSock.ping()).t, 'pong');
    bSock.close();

    // Bob's items are still there: a new connection gets them again.
    const again = await connect(bob);
    await waitFor(() => ids.every((id) => again.items.some((i) => i.id === id)), 5000, {
      what: "bob's items redelivered after carol's ack",
      describe: () => `got ${again.items.map((i) => i.id).join(',')}`,
    });
    again.ack(ids);
    // Carol's mailbox never held them: she received nothing.
    assert.deepEqual(
      cSock.items.filter((i) => ids.includes(i.id)),
      [],
    );
  });

  test('mailbox items are pushed only to their own device', async () => {
    const aSock = await connect(alice);
    const cSock = await connect(carol);
    const { groupId, epoch } = await rawGroup(alice, aSock, [bob]);
    const msgId = randomId();
    assert.equal(
      (await aSock.send({ msgId, groupId, kind: 'application', epoch, body: opaqueBody() })).t,
      'ok',
    );
    assert.equal((await cSock.ping()).t, 'pong');
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(
      cSock.items.some((i) => i.msgId === msgId || i.groupId === groupId),
      false,
    );
  });
});

describe('groups', () => {
  test('a non-member cannot post to a group: NOT_GROUP_MEMBER', async () => {
    const aSock = await connect(alice);
    const cSock = await connect(carol);
    const { groupId, epoch } = await rawGroup(alice, aSock, [bob]);
    for (const kind of ['application', 'proposal'] as const) {
      const r = await cSock.send({ msgId: randomId(), groupId, kind, epoch, body: opaqueBody() });
      assert.equal(r.t, 'error');
      assert.equal(r.t === 'error' ? r.code : '', 'NOT_GROUP_MEMBER', `kind ${kind}`);
    }
    // A commit that would add herself is no back door.
    const commit = await cSock.send({
      msgId: randomId(),
      groupId,
      kind: 'commit',
      epoch,
      body: opaqueBody(),
      adds: [{ userId: carol.userId, deviceId: carol.deviceId }],
      welcome: opaqueBody(),
    });
    assert.equal(commit.t === 'error' ? commit.code : commit.t, 'NOT_GROUP_MEMBER');
    // Nor can she read the member list.
    const g = await http(server.url, 'GET', `/v1/groups/${groupId}`, { token: carol.token });
    assert.equal(g.status, 403);
    assert.equal(errorCodeOf(g.body), 'NOT_GROUP_MEMBER');
  });

  test('a removed device can no longer post', async () => {
    const aSock = await connect(alice);
    const bSock = await connect(bob);
    const { groupId, epoch } = await rawGroup(alice, aSock, [bob]);
    const rm = await aSock.send({
      msgId: randomId(),
      groupId,
      kind: 'commit',
      epoch,
      body: opaqueBody(),
      removes: [bob.deviceId],
    });
    assert.equal(rm.t, 'ok');
    const r = await bSock.send({
      msgId: randomId(),
      groupId,
      kind: 'application',
      epoch: epoch + 1,
      body: opaqueBody(),
    });
    assert.equal(r.t === 'error' ? r.code : r.t, 'NOT_GROUP_MEMBER');
  });

  test('creating a group id that exists is GROUP_EXISTS, not a takeover', async () => {
    const aSock = await connect(alice);
    const { groupId } = await rawGroup(alice, aSock, []);
    const r = await http(server.url, 'POST', '/v1/groups', { json: { groupId }, token: carol.token });
    assert.equal(errorCodeOf(r.body), 'GROUP_EXISTS');
  });
});

describe('accounts, devices and keys', () => {
  test('no authenticated route works without a valid token: UNAUTHORIZED', async () => {
    for (const [method, path] of [
      ['GET', '/v1/devices'],
      ['GET', '/v1/sessions'],
      ['POST', '/v1/keypackages'],
      ['GET', '/v1/keypackages/count'],
      ['POST', '/v1/groups'],
      ['POST', '/v1/links'],
    ] as const) {
      const none = await http(server.url, method, path, method === 'POST' ? { json: {} } : undefined);
      assert.equal(errorCodeOf(none.body), 'UNAUTHORIZED', `${method} ${path} without token`);
      const bogus = await http(server.url, method, path, {
        token: 'x'.repeat(43),
        ...(method === 'POST' ? { json: {} } : {}),
      });
      assert.equal(errorCodeOf(bogus.body), 'UNAUTHORIZED', `${method} ${path} with a made-up token`);
    }
    const ws = await RawSocket.open(server.url);
    sockets.push(ws);
    ws.sendFrame({ t: 'hello', v: 1, token: 'y'.repeat(43) });
    await waitFor(() => ws.closed ?? ws.frames.find((f) => f.t === 'error'), 5000, { what: 'hello refused' });
    const err = ws.frames.find((f) => f.t === 'error');
    if (err?.t === 'error') assert.equal(err.code, 'UNAUTHORIZED');
    else assert.equal(ws.closed?.code, 4401);
  });

  test("a device cannot log in as another account's device: CHALLENGE_FAILED", async () => {
    const ch = await httpOk(server.url, 'POST', '/v1/auth/challenge', { json: { deviceId: alice.deviceId } });
    const challenge = (ch as { challenge: string }).challenge;
    // Signed with carol's device key instead of alice's.
    const signature = toB64(signLogin({ ...carol.device, deviceId: alice.deviceId }, fromB64(challenge)));
    const r = await http(server.url, 'POST', '/v1/auth/login', {
      json: { deviceId: alice.deviceId, challenge, signature },
    });
    assert.equal(r.status, 401);
    assert.equal(errorCodeOf(r.body), 'CHALLENGE_FAILED');
  });

  test("a device cannot add a device to another account, even with that account's link id", async () => {
    // Alice makes a link; carol somehow learns its id (not its key) and tries to attach her own device.
    const link = (await httpOk(server.url, 'POST', '/v1/links', {
      json: { sealed: opaqueBody(200) },
      token: alice.token,
    })) as {
      linkId: string;
    };
    const mallory = generateIdentity();
    const dev = certifyDevice(mallory);
    const r = await http(server.url, 'POST', '/v1/devices', {
      json: {
        linkId: link.linkId,
        device: {
          deviceId: dev.deviceId,
          deviceKey: toB64(dev.publicKey),
          issuedAt: dev.issuedAt,
          cert: toB64(dev.cert),
        },
      },
    });
    assert.equal(r.status, 403);
    assert.equal(errorCodeOf(r.body), 'FORBIDDEN');
    // Alice's device list is unchanged.
    const devices = (await httpOk(server.url, 'GET', '/v1/devices', { token: alice.token })) as {
      devices: { deviceId: string }[];
    };
    assert.deepEqual(
      devices.devices.map((d) => d.deviceId),
      [alice.deviceId],
    );
  });

  test("a device cannot revoke another account's device or session", async () => {
    const d = await http(server.url, 'DELETE', `/v1/devices/${alice.deviceId}`, { token: carol.token });
    assert.equal(errorCodeOf(d.body), 'NOT_FOUND');
    const s = await http(server.url, 'DELETE', `/v1/sessions/${alice.sessionId}`, { token: carol.token });
    assert.equal(errorCodeOf(s.body), 'NOT_FOUND');
    // Alice's session still works.
    await httpOk(server.url, 'GET', '/v1/devices', { token: alice.token });
  });

  test('key packages are uploaded for the caller only, and one cannot be claimed for oneself', async () => {
    const up = await http(server.url, 'POST', '/v1/keypackages', {
      json: { keyPackages: [opaqueBody(100)], lastResort: opaqueBody(100) },
      token: carol.token,
    });
    assert.equal(up.status, 200, JSON.stringify(up.body));
    const count = (await httpOk(server.url, 'GET', '/v1/keypackages/count', { token: alice.token })) as {
      oneTime: number;
    };
    assert.equal(count.oneTime, 0, "carol's upload did not land in alice's device");
    const claim = (await httpOk(server.url, 'POST', '/v1/keypackages/claim', {
      json: { userId: carol.userId },
      token: carol.token,
    })) as { keyPackages: unknown[] };
    assert.equal(claim.keyPackages.length, 0, 'a device never claims its own packages');
  });

  test('a taken username cannot be registered again: USERNAME_TAKEN', async () => {
    const id = generateIdentity();
    const dev = certifyDevice(id);
    const r = await http(server.url, 'POST', '/v1/accounts', {
      json: {
        username: 'Alice',
        identityKey: toB64(id.publicKey),
        device: {
          deviceId: dev.deviceId,
          deviceKey: toB64(dev.publicKey),
          issuedAt: dev.issuedAt,
          cert: toB64(dev.cert),
        },
      },
    });
    assert.equal(errorCodeOf(r.body), 'USERNAME_TAKEN');
  });
});

describe('revocation', () => {
  test('a revoked session is refused everywhere: SESSION_REVOKED', async () => {
    const s1 = await loginRaw(alice);
    const s2 = await loginRaw(alice);
    const live = await connect(s1);
    await httpOk(server.url, 'DELETE', `/v1/sessions/${s1.sessionId}`, { token: s2.token });
    const r = await http(server.url, 'GET', '/v1/devices', { token: s1.token });
    assert.equal(r.status, 401);
    assert.equal(errorCodeOf(r.body), 'SESSION_REVOKED');
    // The socket that was open on it is closed...
    await waitFor(() => live.closed, 5000, { what: 'revoked session socket closed' });
    // ...and a new hello with it is refused.
    await assert.rejects(RawSocket.connect(server.url, s1.token), /SESSION_REVOKED|4403/);
    // The other session is untouched.
    await httpOk(server.url, 'GET', '/v1/devices', { token: s2.token });
  });

  test('a revoked device is refused everywhere: DEVICE_REVOKED', async () => {
    const dave = await rawUser(server.url, 'dave');
    // Dave links a second device with his identity key (the link bundle content is opaque to the server).
    const link = (await httpOk(server.url, 'POST', '/v1/links', {
      json: { sealed: opaqueBody(200) },
      token: dave.token,
    })) as {
      linkId: string;
    };
    const second = certifyDevice(dave.identity);
    await httpOk(server.url, 'POST', '/v1/devices', {
      json: {
        linkId: link.linkId,
        device: {
          deviceId: second.deviceId,
          deviceKey: toB64(second.publicKey),
          issuedAt: second.issuedAt,
          cert: toB64(second.cert),
        },
      },
    });
    const s2 = await loginRaw({ server: server.url, device: second });
    const live = await connect(s2);
    await httpOk(server.url, 'DELETE', `/v1/devices/${second.deviceId}`, { token: dave.token });

    const r = await http(server.url, 'GET', '/v1/devices', { token: s2.token });
    assert.equal(r.status, 401);
    assert.equal(errorCodeOf(r.body), 'DEVICE_REVOKED');
    await waitFor(() => live.closed, 5000, { what: 'revoked device socket closed' });
    // It cannot log in again either.
    const ch = await http(server.url, 'POST', '/v1/auth/challenge', { json: { deviceId: second.deviceId } });
    assert.equal(errorCodeOf(ch.body), 'DEVICE_REVOKED');
    // Nor can the link be used a second time to bring it (or another device) back.
    const third = certifyDevice(dave.identity);
    const again = await http(server.url, 'POST', '/v1/devices', {
      json: {
        linkId: link.linkId,
        device: {
          deviceId: third.deviceId,
          deviceKey: toB64(third.publicKey),
          issuedAt: third.issuedAt,
          cert: toB64(third.cert),
        },
      },
    });
    assert.equal(errorCodeOf(again.body), 'LINK_EXPIRED');
  });
});
