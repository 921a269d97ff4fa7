import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import fc from 'fast-check';
import {
  b64,
  claimFor,
  errorCode,
  field,
  num,
  registerUser,
  rid,
  type TestServer,
  testServer,
  WsClient,
} from './helpers.ts';

let s: TestServer;
before(async () => {
  s = await testServer();
});
after(async () => {
  await s.stop();
});

/** Valid-looking frames, then mutated: fields dropped, swapped for random JSON, types changed. */
const validFrame = fc.oneof(
  fc.record({ t: fc.constant('ping'), rid: fc.nat() }),
  fc.record({ t: fc.constant('ack'), ids: fc.array(fc.integer({ min: -5, max: 1e9 }), { maxLength: 5 }) }),
  fc.record({
    t: fc.constant('send'),
    rid: fc.nat(),
    msg: fc.record({
      msgId: fc.string({ minLength: 8, maxLength: 20 }).map((x) => x.replace(/[^A-Za-z0-9_-]/g, 'a')),
      groupId: fc.string({ minLength: 0, maxLength: 70 }),
      kind: fc.constantFrom('application', 'commit', 'proposal', 'welcome', ''),
      epoch: fc.oneof(fc.nat(), fc.integer(), fc.double()),
      body: fc.oneof(fc.base64String(), fc.string()),
      adds: fc.option(fc.array(fc.record({ userId: fc.string(), deviceId: fc.string() }), { maxLength: 3 }), {
        nil: undefined,
      }),
      removes: fc.option(fc.array(fc.string(), { maxLength: 3 }), { nil: undefined }),
    }),
  }),
  fc.record({ t: fc.constant('hello'), v: fc.integer(), token: fc.string() }),
);

const mutated = fc.tuple(validFrame, fc.jsonValue(), fc.nat(), fc.boolean()).map(([frame, junk, n, drop]) => {
  const keys = Object.keys(frame);
  const key = keys[n % keys.length] ?? 't';
  const copy: Record<string, unknown> = { ...frame };
  if (drop) delete copy[key];
  else copy[key] = junk;
  return copy;
});

const anyText = fc.oneof(
  validFrame.map((f) => JSON.stringify(f)),
  mutated.map((f) => JSON.stringify(f)),
  fc.jsonValue().map((v) => JSON.stringify(v)),
  fc.string({ maxLength: 200 }),
);

it('random and mutated frames and bodies never break the server for a well-behaved client', async () => {
  const [a, b, fuzzer] = [await registerUser(s.api), await registerUser(s.api), await registerUser(s.api)];
  const a1 = await WsClient.connect(s.url, a.token);
  const b1 = await WsClient.connect(s.url, b.token);
  const groupId = rid();
  await s.api.req('POST', '/v1/groups', { groupId }, a.token);
  await claimFor(s.api, a, b);
  const add = await a1.send({
    msgId: rid(),
    groupId,
    kind: 'commit',
    epoch: 0,
    body: b64('c'),
    adds: [{ userId: b.userId, deviceId: b.device.deviceId }],
    welcome: b64('w'),
  });
  assert.equal(add.t, 'ok');
  b1.ack((await b1.items(1)).map((i) => num(i, 'id')));

  let round = 0;
  let fz = await WsClient.connect(s.url, fuzzer.token);
  await fc.assert(
    fc.asyncProperty(
      fc.array(anyText, { minLength: 1, maxLength: 15 }),
      fc.jsonValue(),
      async (texts, body) => {
        if (fz.ws.readyState !== fz.ws.OPEN) fz = await WsClient.connect(s.url, fuzzer.token);
        for (const t of texts) fz.sendRaw(t);
        // Random HTTP bodies at routes that parse them: always a well-formed error or success.
        for (const path of [
          '/v1/accounts',
          '/v1/auth/challenge',
          '/v1/auth/login',
          '/v1/keypackages/claim',
          '/v1/groups',
        ]) {
          const res = await s.api.req('POST', path, body, fuzzer.token);
          assert.ok(res.status < 500, `${path} -> ${res.status} ${JSON.stringify(res.body)}`);
          if (res.status >= 400) assert.equal(typeof errorCode(res.body), 'string');
        }
        // Meanwhile the well-behaved pair goes on working.
        const msgId = rid();
        const ok = await a1.send({
          msgId,
          groupId,
          kind: 'application',
          epoch: 1,
          body: b64(`round ${round++}`),
        });
        assert.equal(ok.t, 'ok', JSON.stringify(ok));
        const [item] = await b1.items(1);
        assert.equal(item?.msgId, msgId);
        b1.ack([num(item, 'id')]);
        // No fuzz frame may have produced a server error.
        for (const f of fz.frames) {
          if (f.t === 'error') assert.notEqual(f.code, 'INTERNAL', JSON.stringify(f));
        }
        fz.frames.length = 0;
      },
    ),
    { numRuns: 60 },
  );
  assert.equal(field(await s.api.req('GET', '/readyz'), 'status'), 200);
  for (const c of [a1, b1, fz]) await c.close();
});
