/**
 * Chunked uploads, account deletion, ephemeral messages and Web Push, against a real server. The
 * push service is a local HTTP server: it checks the VAPID JWT and decrypts the aes128gcm body with
 * the subscription's private key, which the test made with node:crypto (ECDH P-256).
 */
import assert from 'node:assert/strict';
import { createDecipheriv, createECDH, createPublicKey, hkdfSync, randomBytes, verify } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, before, describe, it } from 'node:test';
import {
  b64,
  claimFor,
  deviceRegistration,
  errorCode,
  field,
  keyPair,
  makeDevice,
  num,
  registerUser,
  rid,
  str,
  type TestServer,
  testServer,
  type User,
  WsClient,
} from './helpers.ts';

async function putChunk(s: TestServer, token: string, uploadId: string, offset: number, bytes: Uint8Array) {
  const res = await fetch(`${s.url}/v1/attachments/uploads/${uploadId}?offset=${offset}`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/octet-stream' },
    body: bytes,
  });
  return { status: res.status, body: (await res.json()) as unknown };
}

function db(s: TestServer): DatabaseSync {
  return new DatabaseSync(join(s.dataDir, 'kolokol.db'), { readOnly: true });
}

interface PushRequest {
  url: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** A stand-in push service: records each POST and answers with `status()`. */
async function pushService(
  status: () => number,
): Promise<{ url: string; got: PushRequest[]; server: Server }> {
  const got: PushRequest[] = [];
  const server = createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => {
      got.push({ url: req.url ?? '', headers: req.headers, body: Buffer.concat(parts) });
      res.statusCode = status();
      res.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address();
  if (addr === null || typeof addr === 'string') throw new Error('no address');
  return { url: `http://127.0.0.1:${addr.port}`, got, server };
}

/** RFC 8291 decryption, written out here independently of the library under test. */
function decryptAes128gcm(
  body: Buffer,
  uaPrivate: ReturnType<typeof createECDH>,
  authSecret: Buffer,
): Buffer {
  const salt = body.subarray(0, 16);
  const idlen = body[20] ?? 0;
  const asPublic = body.subarray(21, 21 + idlen);
  const ciphertext = body.subarray(21 + idlen);
  const shared = uaPrivate.computeSecret(asPublic);
  const uaPublic = uaPrivate.getPublicKey();
  const keyInfo = Buffer.concat([Buffer.from('WebPush: info\0'), uaPublic, asPublic]);
  const ikm = Buffer.from(hkdfSync('sha256', shared, authSecret, keyInfo, 32));
  const cek = Buffer.from(hkdfSync('sha256', ikm, salt, Buffer.from('Content-Encoding: aes128gcm\0'), 16));
  const nonce = Buffer.from(hkdfSync('sha256', ikm, salt, Buffer.from('Content-Encoding: nonce\0'), 12));
  const d = createDecipheriv('aes-128-gcm', cek, nonce);
  d.setAuthTag(ciphertext.subarray(ciphertext.length - 16));
  const padded = Buffer.concat([d.update(ciphertext.subarray(0, ciphertext.length - 16)), d.final()]);
  // The last record ends with the delimiter 0x02 followed by zero padding.
  let end = padded.length - 1;
  while (end >= 0 && padded[end] === 0) end--;
  assert.equal(padded[end], 2, 'last-record delimiter');
  return padded.subarray(0, end);
}

/** Checks the RFC 8292 `vapid t=JWT, k=KEY` header: ES256 under the server's VAPID key, right audience. */
function checkVapid(headers: IncomingHttpHeaders, publicKey: string, audience: string): void {
  const m = /^vapid t=([^,]+),\s*k=(.+)$/.exec(String(headers.authorization));
  assert.ok(m, `authorization header: ${String(headers.authorization)}`);
  const [, jwt = '', k = ''] = m;
  assert.equal(k, publicKey);
  const [h = '', p = '', sig = ''] = jwt.split('.');
  const header: unknown = JSON.parse(Buffer.from(h, 'base64url').toString());
  assert.equal(field(header, 'alg'), 'ES256');
  const claims: unknown = JSON.parse(Buffer.from(p, 'base64url').toString());
  assert.equal(field(claims, 'aud'), audience);
  assert.ok(num(claims, 'exp') * 1000 > Date.now());
  assert.match(str(claims, 'sub'), /^(mailto:|https:)/);
  const raw = Buffer.from(publicKey, 'base64url');
  const key = createPublicKey({
    key: {
      kty: 'EC',
      crv: 'P-256',
      x: raw.subarray(1, 33).toString('base64url'),
      y: raw.subarray(33).toString('base64url'),
    },
    format: 'jwk',
  });
  const ok = verify(
    'sha256',
    Buffer.from(`${h}.${p}`),
    { key, dsaEncoding: 'ieee-p1363' },
    Buffer.from(sig, 'base64url'),
  );
  assert.ok(ok, 'VAPID JWT signature verifies under the advertised key');
}

describe('server features', () => {
  let s: TestServer;
  let push: Awaited<ReturnType<typeof pushService>>;
  let pushStatus = 201;
  before(async () => {
    push = await pushService(() => pushStatus);
    s = await testServer({
      maxAttachmentBytes: 10_000,
      tuning: { uploadChunkBytes: 1000 },
      push: { allowHttpEndpoints: true, coalesceMs: 400 },
    });
  });
  after(async () => {
    await s.stop();
    push.server.close();
  });

  /** Two new users on `on`, and a Web Push subscription (at the fake push service) for b to register. */
  async function pushPair(on: TestServer) {
    const a = await registerUser(on.api);
    const b = await registerUser(on.api);
    const ua = createECDH('prime256v1');
    ua.generateKeys();
    const authSecret = randomBytes(16);
    const sub = {
      endpoint: `${push.url}/push/${rid()}`,
      keys: { p256dh: ua.getPublicKey().toString('base64url'), auth: authSecret.toString('base64url') },
    };
    return { a, b, ua, authSecret, sub };
  }

  const groupOf = (a: User, ws: WsClient, ...others: User[]) => groupOn(s, a, ws, ...others);

  async function groupOn(on: TestServer, a: User, ws: WsClient, ...others: User[]): Promise<string> {
    const groupId = rid();
    assert.equal((await on.api.req('POST', '/v1/groups', { groupId }, a.token)).status, 200);
    await claimFor(on.api, a, ...others);
    const ok = await ws.send({
      msgId: rid(),
      groupId,
      kind: 'commit',
      epoch: 0,
      body: b64('commit'),
      adds: others.map((o) => ({ userId: o.userId, deviceId: o.device.deviceId })),
      welcome: b64('welcome'),
    });
    assert.equal(ok.t, 'ok', JSON.stringify(ok));
    return groupId;
  }

  it('chunked upload: offsets enforced, limits up front and per chunk, completes into an attachment', async () => {
    const u = await registerUser(s.api);
    assert.equal(
      errorCode((await s.api.req('POST', '/v1/attachments/uploads', { size: 10_001 }, u.token)).body),
      'PAYLOAD_TOO_LARGE',
    );
    const created = await s.api.req('POST', '/v1/attachments/uploads', { size: 2500 }, u.token);
    assert.equal(created.status, 200);
    const uploadId = str(created.body, 'uploadId');
    assert.equal(num(created.body, 'chunkSize'), 1000);
    const data = randomBytes(2500);
    assert.equal(
      (await putChunk(s, u.token, uploadId, 0, data.subarray(0, 1001))).status,
      413,
      'chunk over chunkSize',
    );
    assert.equal(
      num((await putChunk(s, u.token, uploadId, 0, data.subarray(0, 1000))).body, 'received'),
      1000,
    );
    const wrong = await putChunk(s, u.token, uploadId, 0, data.subarray(0, 1000));
    assert.equal(errorCode(wrong.body), 'BAD_REQUEST');
    assert.equal(field(field(field(wrong.body, 'error'), 'details'), 'received'), 1000);
    const other = await registerUser(s.api);
    assert.equal(
      (await putChunk(s, other.token, uploadId, 1000, data.subarray(1000, 2000))).status,
      404,
      "another device's upload",
    );
    const early = await s.api.req('POST', `/v1/attachments/uploads/${uploadId}/complete`, undefined, u.token);
    assert.equal(errorCode(early.body), 'BAD_REQUEST');
    await putChunk(s, u.token, uploadId, 1000, data.subarray(1000, 2000));
    assert.equal(
      (await putChunk(s, u.token, uploadId, 2000, Buffer.concat([data.subarray(2000), Buffer.alloc(1)])))
        .status,
      413,
      'past the announced size',
    );
    await putChunk(s, u.token, uploadId, 2000, data.subarray(2000));
    const done = await s.api.req('POST', `/v1/attachments/uploads/${uploadId}/complete`, undefined, u.token);
    assert.equal(done.status, 200, JSON.stringify(done.body));
    const attachmentId = str(done.body, 'attachmentId');
    const got = await fetch(`${s.url}/v1/attachments/${attachmentId}`, {
      headers: { authorization: `Bearer ${u.token}` },
    });
    assert.equal(got.headers.get('content-length'), '2500');
    assert.deepEqual(Buffer.from(await got.arrayBuffer()), data);
  });

  it('chunked upload: cancel leaves no attachment and no file', async () => {
    const u = await registerUser(s.api);
    const created = await s.api.req('POST', '/v1/attachments/uploads', { size: 1500 }, u.token);
    const uploadId = str(created.body, 'uploadId');
    const attachmentId = str(created.body, 'attachmentId');
    await putChunk(s, u.token, uploadId, 0, randomBytes(1000));
    assert.equal(
      (await s.api.req('DELETE', `/v1/attachments/uploads/${uploadId}`, undefined, u.token)).status,
      200,
    );
    assert.equal((await putChunk(s, u.token, uploadId, 1000, randomBytes(500))).status, 404);
    assert.equal((await s.api.req('GET', `/v1/attachments/${attachmentId}`, undefined, u.token)).status, 404);
    assert.ok(!readdirSync(join(s.dataDir, 'attachments', 'uploads')).includes(uploadId));
    assert.ok(!existsSync(join(s.dataDir, 'attachments', attachmentId)));
  });

  it('ephemeral messages reach connected members only and never touch a mailbox', async () => {
    const a = await registerUser(s.api);
    const b = await registerUser(s.api);
    const wa = await WsClient.connect(s.url, a.token);
    const wb = await WsClient.connect(s.url, b.token);
    const groupId = await groupOf(a, wa, b);
    const msgId = rid();
    const ok = await wa.send({
      msgId,
      groupId,
      kind: 'application',
      epoch: 1,
      body: b64('typing'),
      ephemeral: true,
    });
    assert.equal(ok.t, 'ok');
    assert.equal(ok.seq, 0);
    const f = await wb.next((x) => x.t === 'ephemeral');
    assert.equal(field(field(f, 'item'), 'msgId'), msgId);
    assert.equal(field(field(field(f, 'item'), 'sender'), 'userId'), a.userId);
    const bad = await wa.send({
      msgId: rid(),
      groupId,
      kind: 'commit',
      epoch: 1,
      body: b64('x'),
      ephemeral: true,
    });
    assert.equal(bad.code, 'BAD_REQUEST');
    const d = db(s);
    try {
      assert.equal(d.prepare('select count(*) as n from messages where msg_id = ?').get(msgId)?.n, 0);
    } finally {
      d.close();
    }
    await wa.close();
    await wb.close();
  });

  it('push: an offline device gets a content-free, VAPID-signed, aes128gcm wake-up; coalesced; 410 forgets it', async () => {
    const vapid = await s.api.req('GET', '/v1/push/vapid');
    const publicKey = str(vapid.body, 'publicKey');
    assert.ok(existsSync(join(s.dataDir, 'vapid.json')));
    const { a, b, ua, authSecret, sub } = await pushPair(s);
    assert.equal(
      errorCode(
        (await s.api.req('PUT', '/v1/push/subscription', { ...sub, endpoint: 'ftp://x/y' }, b.token)).body,
      ),
      'BAD_REQUEST',
    );
    assert.equal((await s.api.req('PUT', '/v1/push/subscription', sub, b.token)).status, 200);

    const wa = await WsClient.connect(s.url, a.token);
    const groupId = await groupOf(a, wa, b); // b's welcome lands in its mailbox: b is offline
    const secret = 'secret message text';
    for (let i = 0; i < 5; i++) {
      await wa.send({ msgId: rid(), groupId, kind: 'application', epoch: 1, body: b64(secret) });
    }
    await new Promise((r) => setTimeout(r, 900));
    const mine = push.got.filter((g) => g.url === new URL(sub.endpoint).pathname);
    assert.ok(mine.length >= 1 && mine.length <= 2, `coalesced: got ${mine.length} pushes for 6 items`);
    for (const p of mine) {
      checkVapid(p.headers, publicKey, push.url);
      assert.equal(p.headers['content-encoding'], 'aes128gcm');
      assert.ok(Number(p.headers.ttl) > 0);
      assert.equal(p.headers.urgency, 'high');
      assert.ok(!p.body.includes(Buffer.from(secret)));
      const plain = decryptAes128gcm(p.body, ua, authSecret).toString();
      assert.equal(plain, '{"t":"wake"}');
    }

    // Online: no push.
    const before = push.got.length;
    const wb = await WsClient.connect(s.url, b.token);
    await wa.send({ msgId: rid(), groupId, kind: 'application', epoch: 1, body: b64('x') });
    await wb.next((f) => f.t === 'deliver');
    await new Promise((r) => setTimeout(r, 600));
    assert.equal(push.got.length, before);
    await wb.close();

    // The push service says the subscription is gone: the server forgets it.
    pushStatus = 410;
    await new Promise((r) => setTimeout(r, 450));
    await wa.send({ msgId: rid(), groupId, kind: 'application', epoch: 1, body: b64('y') });
    const deadline = Date.now() + 3000;
    for (;;) {
      const d = db(s);
      const n = d
        .prepare('select count(*) as n from push_subscriptions where device_id = ?')
        .get(b.device.deviceId)?.n;
      d.close();
      if (n === 0) break;
      if (Date.now() > deadline) assert.fail('subscription not deleted after 410');
      await new Promise((r) => setTimeout(r, 50));
    }
    pushStatus = 201;
    await wa.close();
  });

  it('push: a call hint rings at once (no coalescing), a missed-call replaces it, both content-free', async () => {
    // The default wake window (10 s) on a server of its own: a ring that waited for the window
    // would come long after waitFor's 3 s, so no timing bound is needed to tell the two apart.
    const s = await testServer({ push: { allowHttpEndpoints: true } });
    try {
      const { a, b, ua, authSecret, sub } = await pushPair(s);
      assert.equal((await s.api.req('PUT', '/v1/push/subscription', sub, b.token)).status, 200);
      const wa = await WsClient.connect(s.url, a.token);
      const groupId = await groupOn(s, a, wa, b); // the welcome: a wake, which opens the window
      const path = new URL(sub.endpoint).pathname;
      const kinds = () =>
        push.got
          .filter((g) => g.url === path)
          .map((g) => decryptAes128gcm(g.body, ua, authSecret).toString());
      const waitFor = async (n: number) => {
        const deadline = Date.now() + 3000;
        while (kinds().length < n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      };
      await waitFor(1);
      assert.deepEqual(kinds(), ['{"t":"wake"}']);
      // Within the wake window, a call does not wait for it.
      await wa.send({
        msgId: rid(),
        groupId,
        kind: 'application',
        epoch: 1,
        body: b64('offer'),
        push: 'call',
      });
      await waitFor(2);
      assert.deepEqual(
        kinds(),
        ['{"t":"wake"}', '{"t":"call"}'],
        'a ring is not coalesced with the wake before it',
      );
      const ring = push.got.filter((g) => g.url === path)[1];
      assert.ok(ring !== undefined && Number(ring.headers.ttl) <= 60, 'a ring is short-lived');
      // The caller gives up: one missed-call push (after the per-device call gap), never the body.
      await wa.send({
        msgId: rid(),
        groupId,
        kind: 'application',
        epoch: 1,
        body: b64('cancel'),
        push: 'missed-call',
      });
      await new Promise((r) => setTimeout(r, 2300));
      assert.deepEqual(kinds(), ['{"t":"wake"}', '{"t":"call"}', '{"t":"missed-call"}']);
      // A hint is a closed set: anything else is a bad frame, and the server stays up.
      const bad = await wa.send({
        msgId: rid(),
        groupId,
        kind: 'application',
        epoch: 1,
        body: b64('x'),
        push: 'urgent',
      });
      assert.equal(field(bad, 't'), 'error');
      assert.equal(field(bad, 'code'), 'BAD_REQUEST');
      await wa.close();
    } finally {
      await s.stop();
    }
  });

  it('account deletion: lookups 404, sockets closed, peers told, username quarantined', async () => {
    const a = await registerUser(s.api);
    const b = await registerUser(s.api);
    const wa = await WsClient.connect(s.url, a.token);
    const wb = await WsClient.connect(s.url, b.token);
    await groupOf(a, wa, b);
    assert.equal((await s.api.req('DELETE', '/v1/accounts/me', undefined, a.token)).status, 200);
    assert.equal((await wa.closed).code, 4403);
    const ev = await wb.next(
      (f) => f.t === 'event' && field(field(f, 'event'), 'type') === 'account-deleted',
    );
    assert.equal(field(field(ev, 'event'), 'userId'), a.userId);
    assert.equal((await s.api.req('GET', `/v1/users/${a.username}`, undefined, b.token)).status, 404);
    assert.equal((await s.api.req('GET', `/v1/users/id/${a.userId}`, undefined, b.token)).status, 404);
    assert.equal((await s.api.req('GET', '/v1/devices', undefined, a.token)).status, 401);
    const again = await s.api.req('POST', '/v1/auth/challenge', { deviceId: a.device.deviceId });
    assert.equal(again.status, 401);
    const d = db(s);
    try {
      for (const t of ['mailbox', 'key_packages', 'sessions', 'devices', 'push_subscriptions']) {
        const col =
          t === 'mailbox' || t === 'key_packages' || t === 'push_subscriptions' ? 'device_id' : 'user_id';
        const v = col === 'device_id' ? a.device.deviceId : a.userId;
        assert.equal(d.prepare(`select count(*) as n from ${t} where ${col} = ?`).get(v)?.n, 0, t);
      }
      assert.equal(
        d.prepare('select count(*) as n from group_members where user_id = ?').get(a.userId)?.n,
        0,
      );
    } finally {
      d.close();
    }
    // The name stays reserved during the quarantine.
    const identity = keyPair();
    const taken = await s.api.req('POST', '/v1/accounts', {
      username: a.username,
      identityKey: identity.publicB64,
      device: deviceRegistration(makeDevice(identity)),
    });
    assert.equal(errorCode(taken.body), 'USERNAME_TAKEN');
    await wb.close();
  });
});
