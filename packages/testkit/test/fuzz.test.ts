/**
 * Bad input: random and mutated WebSocket frames and HTTP bodies thrown at the server. Every
 * answer must be a well-formed error with a known wire code (never a 500, never a crash), and a
 * well-behaved pair of clients must keep sending and receiving throughout.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { certifyDevice, generateIdentity } from '@kolokol/crypto';
import { ErrorBody, errorCodes, toB64 } from '@kolokol/protocol';
import {
  http,
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
import fc from 'fast-check';

let server: TestServer;
let alice: RawUser;
let bob: RawUser;
let mallory: RawUser;
let aSock: RawSocket;
let bSock: RawSocket;
let group: { groupId: string; epoch: number };
const sockets: RawSocket[] = [];
const RUNS = Number(process.env.KOLOKOL_FUZZ_RUNS ?? 150);

before(async () => {
  server = await startTestServer({
    rateLimits: { registrationsPerIp: 1_000_000, challengesPerDevice: 1_000_000 },
    tuning: { helloTimeoutMs: 2000 },
  });
  [alice, bob, mallory] = await Promise.all([
    rawUser(server.url, 'alice'),
    rawUser(server.url, 'bob'),
    rawUser(server.url, 'mallory'),
  ]);
  aSock = await RawSocket.connect(server.url, alice.token);
  bSock = await RawSocket.connect(server.url, bob.token);
  sockets.push(aSock, bSock);
  group = await rawGroup(alice, aSock, [bob]);
});

after(async () => {
  for (const s of sockets) s.close();
  await server.close();
});

/** Alice -> bob still works: a durable ok and a delivery. */
async function healthy(): Promise<void> {
  const msgId = randomId();
  const r = await aSock.send({
    msgId,
    groupId: group.groupId,
    kind: 'application',
    epoch: group.epoch,
    body: opaqueBody(),
  });
  assert.equal(r.t, 'ok', `healthy send failed: ${JSON.stringify(r)}`);
  await waitFor(() => bSock.items.some((i) => i.msgId === msgId), 5000, { what: 'healthy delivery' });
  bSock.ack(bSock.items.map((i) => i.id));
  bSock.items.length = 0;
}

const validFrames = (): fc.Arbitrary<Record<string, unknown>> =>
  fc.constantFrom<Record<string, unknown>>(
    { t: 'hello', v: 1, token: 'x'.repeat(40) },
    {
      t: 'send',
      rid: 1,
      msg: { msgId: randomId(), groupId: randomId(), kind: 'application', epoch: 0, body: opaqueBody(16) },
    },
    {
      t: 'send',
      rid: 2,
      msg: {
        msgId: randomId(),
        groupId: randomId(),
        kind: 'commit',
        epoch: 0,
        body: opaqueBody(16),
        adds: [{ userId: randomId(), deviceId: randomId() }],
        removes: [randomId()],
        welcome: opaqueBody(16),
      },
    },
    { t: 'ack', ids: [1, 2, 3] },
    { t: 'ping', rid: 3 },
  );

/** Replaces, deletes or adds one field somewhere in an object (one level into `msg`). */
const mutated = (): fc.Arbitrary<unknown> =>
  fc
    .tuple(
      validFrames(),
      fc.constantFrom(
        't',
        'rid',
        'v',
        'token',
        'ids',
        'msg',
        'msg.msgId',
        'msg.groupId',
        'msg.kind',
        'msg.epoch',
        'msg.body',
        'msg.adds',
        'msg.welcome',
        'extra',
      ),
      fc.oneof(
        fc.anything({ maxDepth: 2 }),
        fc.constant(undefined),
        fc.integer(),
        fc.double(),
        fc.string({ maxLength: 300 }),
        fc.constant('A'.repeat(70_000)),
        fc.constant(-1),
        fc.constant(Number.MAX_SAFE_INTEGER + 2),
      ),
    )
    .map(([frame, path, value]) => {
      const copy = structuredClone(frame);
      const [head, tail] = path.split('.');
      if (head === undefined) return copy;
      let target: Record<string, unknown> = copy;
      let key = head;
      if (tail !== undefined) {
        const inner = copy[head];
        if (typeof inner !== 'object' || inner === null) return copy;
        target = inner as Record<string, unknown>;
        key = tail;
      }
      if (value === undefined) delete target[key];
      else target[key] = value;
      return copy;
    });

const junkFrame = (): fc.Arbitrary<string | Uint8Array> =>
  fc.oneof(
    mutated().map((v) => JSON.stringify(v) ?? 'null'),
    fc.json({ maxDepth: 3 }),
    fc.string({ maxLength: 200 }),
    fc.uint8Array({ maxLength: 200 }),
    fc.constantFrom(
      '{',
      '{"t":',
      '[]',
      'null',
      '{"t":"send"}',
      '{"t":"hello","v":999,"token":"xxxxxxxxxxxxxxxxxxxxxxx"}',
      '\u0000',
    ),
  );

/** After a junk frame the socket either answers a ping or was closed by the server on purpose. */
async function answersOrClosesCleanly(sock: RawSocket): Promise<void> {
  if (sock.closed === undefined) {
    try {
      await sock.ping(3000);
    } catch {
      // closed meanwhile: checked below
    }
  }
  if (sock.closed !== undefined) {
    // 1000-1011 are the protocol's own; 4xxx are ours. 1006 would mean the server dropped us hard.
    assert.notEqual(sock.closed.code, 1006, 'server dropped the connection without a close frame');
  }
  assert.deepEqual(sock.invalid, [], 'the server sent a frame that does not parse as a ServerFrame');
  for (const f of sock.frames) if (f.t === 'error') assert.ok(errorCodes.includes(f.code));
}

test('random and mutated frames on an authenticated socket get error codes, not a crash', async () => {
  let sock = await RawSocket.connect(server.url, mallory.token);
  sockets.push(sock);
  let n = 0;
  await fc.assert(
    fc.asyncProperty(junkFrame(), async (frame) => {
      if (sock.closed !== undefined) {
        sock = await RawSocket.connect(server.url, mallory.token);
        sockets.push(sock);
      }
      sock.sendText(frame);
      await answersOrClosesCleanly(sock);
      if (++n % 50 === 0) await healthy();
    }),
    { numRuns: RUNS },
  );
  await healthy();
});

test('random frames before hello are refused: an error or a close, never ready', async () => {
  await fc.assert(
    fc.asyncProperty(junkFrame(), async (frame) => {
      const sock = await RawSocket.open(server.url);
      sockets.push(sock);
      sock.sendText(frame);
      await waitFor(() => sock.closed ?? sock.frames.find((f) => f.t === 'error'), 5000, {
        what: 'junk refused',
      });
      if (sock.closed !== undefined) assert.notEqual(sock.closed.code, 1006);
      assert.deepEqual(sock.invalid, []);
      assert.equal(
        sock.frames.some((f) => f.t === 'ready'),
        false,
        'junk got a ready',
      );
      sock.close();
    }),
    { numRuns: Math.ceil(RUNS / 3) },
  );
  await healthy();
});

const validBodies = (): Record<
  string,
  { method: string; path: string; auth: boolean; body: () => unknown }
> => {
  const id = generateIdentity();
  const dev = certifyDevice(id);
  const device = {
    deviceId: dev.deviceId,
    deviceKey: toB64(dev.publicKey),
    issuedAt: dev.issuedAt,
    cert: toB64(dev.cert),
  };
  return {
    register: {
      method: 'POST',
      path: '/v1/accounts',
      auth: false,
      body: () => ({
        username: `f${randomId()
          .toLowerCase()
          .replace(/[^a-z0-9]/g, 'x')
          .slice(0, 12)}`,
        identityKey: toB64(id.publicKey),
        device,
      }),
    },
    challenge: {
      method: 'POST',
      path: '/v1/auth/challenge',
      auth: false,
      body: () => ({ deviceId: alice.deviceId }),
    },
    login: {
      method: 'POST',
      path: '/v1/auth/login',
      auth: false,
      body: () => ({ deviceId: alice.deviceId, challenge: opaqueBody(32), signature: opaqueBody(64) }),
    },
    keypackages: {
      method: 'POST',
      path: '/v1/keypackages',
      auth: true,
      body: () => ({ keyPackages: [opaqueBody(50)], lastResort: opaqueBody(50) }),
    },
    claim: {
      method: 'POST',
      path: '/v1/keypackages/claim',
      auth: true,
      body: () => ({ userId: bob.userId }),
    },
    groups: { method: 'POST', path: '/v1/groups', auth: true, body: () => ({ groupId: randomId() }) },
    links: { method: 'POST', path: '/v1/links', auth: true, body: () => ({ sealed: opaqueBody(50) }) },
    devices: {
      method: 'POST',
      path: '/v1/devices',
      auth: false,
      body: () => ({ linkId: randomId(), device }),
    },
    invites: { method: 'POST', path: '/v1/invites', auth: true, body: () => ({}) },
  };
};

test('random and mutated HTTP bodies get 4xx with an error body, never a 5xx', async () => {
  const routes = validBodies();
  const routeNames = Object.keys(routes);
  let n = 0;
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom(...routeNames),
      fc.oneof(
        fc.json({ maxDepth: 3 }).map((s) => ({ raw: s })),
        fc.string({ maxLength: 300 }).map((s) => ({ raw: s })),
        fc
          .tuple(fc.string({ maxLength: 20 }), fc.anything({ maxDepth: 2 }))
          .map(([k, v]) => ({ field: k, value: v })),
        fc
          .constantFrom(
            'username',
            'identityKey',
            'device',
            'deviceId',
            'challenge',
            'signature',
            'keyPackages',
            'userId',
            'groupId',
            'sealed',
            'linkId',
          )
          .chain((k) =>
            fc
              .oneof(
                fc.anything({ maxDepth: 2 }),
                fc.string({ maxLength: 100 }),
                fc.integer(),
                fc.constant(null),
              )
              .map((v) => ({ field: k, value: v })),
          ),
      ),
      fc.boolean(),
      async (name, mutation, jsonType) => {
        const route = routes[name];
        if (route === undefined) return;
        let payload: string;
        if ('raw' in mutation) payload = mutation.raw;
        else {
          const body = route.body() as Record<string, unknown>;
          body[mutation.field] = mutation.value;
          payload = JSON.stringify(body) ?? '';
        }
        const token = route.auth ? mallory.token : undefined;
        const r = await http(server.url, route.method, route.path, {
          raw: payload,
          contentType: jsonType ? 'application/json' : 'text/plain',
          ...(token === undefined ? {} : { token }),
        });
        assert.ok(
          r.status < 500,
          `${route.method} ${route.path} -> ${r.status} ${JSON.stringify(r.body)} for ${payload.slice(0, 200)}`,
        );
        if (r.status >= 400) {
          const parsed = ErrorBody.safeParse(r.body);
          assert.ok(parsed.success, `error body does not parse: ${JSON.stringify(r.body)}`);
        }
        if (++n % 50 === 0) await healthy();
      },
    ),
    { numRuns: RUNS },
  );
  await healthy();
});

test('oversized and malformed requests: PAYLOAD_TOO_LARGE, NOT_FOUND, BAD_REQUEST', async () => {
  const big = await http(server.url, 'POST', '/v1/accounts', {
    raw: `{"username":"${'a'.repeat(3_000_000)}"}`,
    contentType: 'application/json',
  });
  assert.ok([400, 413].includes(big.status), `status ${big.status}`);
  assert.ok(ErrorBody.safeParse(big.body).success);
  const nf = await http(server.url, 'GET', '/v1/nope');
  assert.equal(nf.status, 404);
  assert.ok(ErrorBody.safeParse(nf.body).success);
  const user = await http(server.url, 'GET', `/v1/users/${encodeURIComponent('../../etc/passwd')}`);
  assert.ok(user.status >= 400 && user.status < 500);
  const att = await http(server.url, 'GET', `/v1/attachments/${encodeURIComponent('../kolokol.db')}`, {
    token: mallory.token,
  });
  assert.ok(att.status >= 400 && att.status < 500, `attachment path traversal: ${att.status}`);
  // A frame over the protocol's limit closes that socket but nobody else's.
  const sock = await RawSocket.connect(server.url, mallory.token);
  sockets.push(sock);
  sock.sendText(`{"t":"ping","rid":1,"pad":"${'x'.repeat(1_100_000)}"}`);
  await waitFor(() => sock.closed ?? sock.frames.find((f) => f.t === 'error'), 5000, {
    what: 'oversized frame refused',
  });
  await healthy();
});
