/**
 * Issue 6 against the real in-process server: franked messages delivered with the server's tag, a
 * true report verified and queued, every kind of forged report refused, the operator's commands
 * (warn, suspend, appeals, lift), and the new-account limit on reaching strangers.
 */
import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../src/config.ts';
import { runModerationCommand, splitModerationArgs } from '../src/moderation/admin.ts';
import {
  type Api,
  b64,
  claimFor,
  errorCode,
  field,
  groupWith,
  login,
  num,
  registerUser,
  rid,
  str,
  type TestServer,
  testServer,
  type User,
  WsClient,
} from './helpers.ts';

const hmac = (key: Uint8Array, data: Uint8Array) => createHmac('sha256', key).update(data).digest();
const u = (b: Uint8Array) => Buffer.from(b).toString('base64url');

/** Runs `kolokol-server …` against the server's data folder, as the operator would. */
async function admin(server: TestServer, ...words: string[]): Promise<string> {
  const args = splitModerationArgs([...words, '--data', server.dataDir]);
  return runModerationCommand(loadConfig(args.rest, {}), args);
}

interface Received {
  msgId: string;
  groupId: string;
  sender: string;
  at: number;
  plaintext: string;
  nf: string;
  cf: string;
  tag: string;
}

/** `from` sends a franked message (the body stands in for its MLS ciphertext); `to` receives it. */
async function sendFranked(
  fromWs: WsClient,
  toWs: WsClient,
  groupId: string,
  text: string,
): Promise<Received> {
  const nf = randomBytes(32);
  const plaintext = Buffer.from(JSON.stringify({ v: 1, type: 'text', text, nf: u(nf) }));
  const cf = hmac(nf, plaintext);
  const msgId = rid();
  const ok = await fromWs.send({
    msgId,
    groupId,
    kind: 'application',
    epoch: 1,
    body: b64('ciphertext'),
    franking: u(cf),
  });
  assert.equal(ok.t, 'ok', JSON.stringify(ok));
  const [item] = await toWs.items(1);
  assert.ok(item);
  toWs.ack([num(item, 'id')]);
  const franking = field(item, 'franking');
  assert.equal(str(franking, 'cf'), u(cf));
  return {
    msgId,
    groupId,
    sender: str(field(item, 'sender'), 'userId'),
    at: num(item, 'sentAt'),
    plaintext: u(plaintext),
    nf: u(nf),
    cf: u(cf),
    tag: str(franking, 'tag'),
  };
}

const report = (api: Api, who: User, messages: Received[], category = 'scam') =>
  api.req('POST', '/v1/reports', { category, comment: 'asked for my bank code', messages }, who.token);

describe('reports and suspension', () => {
  let server: TestServer;
  let alice: User;
  let bob: User;
  let carol: User;
  let aliceWs: WsClient;
  let bobWs: WsClient;
  let groupId: string;

  before(async () => {
    server = await testServer({ moderation: { noticePollMs: 50 } });
    alice = await registerUser(server.api);
    bob = await registerUser(server.api);
    carol = await registerUser(server.api);
    aliceWs = await WsClient.connect(server.url, alice.token);
    bobWs = await WsClient.connect(server.url, bob.token);
    groupId = await groupWith(server.api, alice, aliceWs, bob);
    await bobWs.items(1).then((items) => bobWs.ack(items.map((i) => num(i, 'id'))));
  });
  after(async () => {
    await aliceWs.close().catch(() => {});
    await bobWs.close().catch(() => {});
    await server.stop();
  });

  it('delivers the commitment with a tag; unfranked messages carry none; franking is for application messages', async () => {
    const got = await sendFranked(aliceWs, bobWs, groupId, 'hello');
    assert.equal(got.sender, alice.userId);
    assert.equal(Buffer.from(got.tag, 'base64url').length, 32);
    await aliceWs.send({ msgId: rid(), groupId, kind: 'application', epoch: 1, body: b64('plain') });
    const [plain] = await bobWs.items(1);
    bobWs.ack([num(plain, 'id')]);
    assert.equal(field(plain, 'franking'), undefined);
    const bad = await aliceWs.send({
      msgId: rid(),
      groupId,
      kind: 'proposal',
      epoch: 1,
      body: b64('p'),
      franking: got.cf,
    });
    assert.equal(bad.code, 'BAD_REQUEST');
  });

  it('a true report is verified and queued; every forgery is refused', async () => {
    const m1 = await sendFranked(aliceWs, bobWs, groupId, 'send me the code from the SMS');
    const m2 = await sendFranked(aliceWs, bobWs, groupId, 'or your account is blocked');

    const forged = (change: Partial<Received>) => ({ ...m1, ...change });
    const otherNf = randomBytes(32);
    const otherText = Buffer.from('{"v":1,"type":"text","text":"I owe you 1000 euro"}');
    const cases: [string, Received, 'tag' | 'commitment'][] = [
      ['changed plaintext', forged({ plaintext: u(otherText) }), 'commitment'],
      ['changed franking key', forged({ nf: u(otherNf) }), 'commitment'],
      [
        'own commitment over other bytes',
        forged({ plaintext: u(otherText), nf: u(otherNf), cf: u(hmac(otherNf, otherText)) }),
        'tag',
      ],
      ['wrong sender', forged({ sender: carol.userId }), 'tag'],
      ['other group', forged({ groupId: rid() }), 'tag'],
      ['other msgId', forged({ msgId: rid() }), 'tag'],
      ['other time', forged({ at: m1.at + 1 }), 'tag'],
      ['tag not ours', forged({ tag: u(randomBytes(32)) }), 'tag'],
      ['tag of another message', forged({ tag: m2.tag }), 'tag'],
    ];
    for (const [what, m, reason] of cases) {
      // The forged one second, except where it names another sender (one report, one account).
      const res = await report(server.api, bob, what === 'wrong sender' ? [m] : [m2, m]);
      assert.equal(res.status, 422, `${what}: ${JSON.stringify(res.body)}`);
      assert.equal(errorCode(res.body), 'REPORT_UNVERIFIED', what);
      const details = field(field(res.body, 'error'), 'details');
      assert.equal(field(details, 'reason'), reason, what);
      assert.equal(field(details, 'index'), what === 'wrong sender' ? 0 : 1, what);
    }
    assert.match(
      (await admin(server, 'reports', 'list')).split('\n')[0] ?? '',
      /open reports: 0/,
      'nothing forged was queued',
    );

    assert.equal(errorCode((await report(server.api, alice, [m1])).body), 'BAD_REQUEST', 'not one’s own');
    const mixed = await report(server.api, bob, [m1, forged({ sender: carol.userId })]);
    assert.equal(errorCode(mixed.body), 'BAD_REQUEST', 'one account per report');
    const badCategory = await server.api.req(
      'POST',
      '/v1/reports',
      { category: 'rude', messages: [m1] },
      bob.token,
    );
    assert.equal(errorCode(badCategory.body), 'BAD_REQUEST');
    assert.equal(
      (await server.api.req('POST', '/v1/reports', { category: 'scam', messages: [m1] })).status,
      401,
    );

    const ok = await report(server.api, bob, [m1, m2]);
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    assert.equal(str(ok.body, 'reportedUserId'), alice.userId);
    const reportId = str(ok.body, 'reportId');
    const list = await admin(server, 'reports', 'list');
    assert.match(
      list,
      new RegExp(
        `${reportId} .* scam .* open .* reported ${alice.username} \\(${alice.userId}\\) by ${bob.username}, 2 message`,
      ),
    );
    const shown = await admin(server, 'reports', 'show', reportId);
    assert.match(shown, /send me the code from the SMS/);
    assert.match(shown, /asked for my bank code/);
  });

  it('warn: the user gets a notice event and finds it in GET /v1/notices', async () => {
    const m = await sendFranked(aliceWs, bobWs, groupId, 'spam spam');
    const reportId = str((await report(server.api, bob, [m], 'spam')).body, 'reportId');
    assert.match(
      await admin(server, 'reports', 'resolve', reportId, '--warn', '--reason', 'no spam here'),
      /warned/,
    );
    const ev = await aliceWs.next(
      (f) => f.t === 'event' && field(field(f, 'event'), 'type') === 'notice',
      5000,
    );
    const notice = field(field(ev, 'event'), 'notice');
    assert.equal(field(notice, 'kind'), 'warning');
    assert.equal(field(notice, 'reason'), 'no spam here');
    const notices = await server.api.req('GET', '/v1/notices', undefined, alice.token);
    const all = field(notices.body, 'notices');
    assert.ok(Array.isArray(all) && all.length === 1);
    const after = await server.api.req(
      'GET',
      `/v1/notices?after=${num(notice, 'id')}`,
      undefined,
      alice.token,
    );
    assert.deepEqual(field(after.body, 'notices'), []);
    assert.doesNotMatch(
      await admin(server, 'reports', 'list'),
      new RegExp(reportId),
      'resolved reports leave the queue',
    );
    assert.match(await admin(server, 'reports', 'list', '--all'), new RegExp(`${reportId} .* warned`));
  });

  it('suspend: sockets close, sessions and logins are refused with the reason; an appeal is stored; lift restores', async () => {
    const m = await sendFranked(aliceWs, bobWs, groupId, 'pay the fine to this card');
    const reportId = str((await report(server.api, bob, [m])).body, 'reportId');
    assert.match(
      await admin(server, 'reports', 'resolve', reportId, '--suspend', '--reason', 'fraud'),
      /suspended/,
    );

    // A suspended account's sessions are refused at once (no poll needed for that)...
    const devices = await server.api.req('GET', '/v1/devices', undefined, alice.token);
    assert.equal(devices.status, 403);
    assert.equal(errorCode(devices.body), 'SUSPENDED');
    const details = field(field(devices.body, 'error'), 'details');
    assert.equal(field(details, 'reason'), 'fraud');
    assert.equal(field(details, 'appeal'), 'POST /v1/appeals');
    assert.match(str(field(devices.body, 'error'), 'message'), /suspended: fraud; appeal/);
    // ...its live socket hears why and is closed...
    const ev = await aliceWs.next(
      (f) => f.t === 'event' && field(field(f, 'event'), 'type') === 'notice',
      5000,
    );
    assert.equal(field(field(field(ev, 'event'), 'notice'), 'kind'), 'suspended');
    assert.equal((await aliceWs.closed).code, 4403);
    // ...a new socket and a new login are refused with the reason.
    const ws = new WsClient(server.url);
    await ws.open();
    ws.sendRaw({ t: 'hello', v: 1, token: alice.token });
    const err = await ws.next((f) => f.t === 'error');
    assert.equal(err.code, 'SUSPENDED');
    await ws.closed;
    await assert.rejects(login(server.api, alice.device), /SUSPENDED.*fraud/);

    // The appeal takes the session the account still holds.
    const appeal = await server.api.req('POST', '/v1/appeals', { text: 'my phone was stolen' }, alice.token);
    assert.equal(appeal.status, 200, JSON.stringify(appeal.body));
    assert.equal(
      (await server.api.req('POST', '/v1/appeals', { text: 'x' }, 'not-a-token-at-all-xxxxxxxx')).status,
      401,
    );
    assert.match(await admin(server, 'reports', 'list'), /open appeals: 1/);
    assert.match(
      await admin(server, 'appeals', 'list'),
      new RegExp(`${alice.username} .*"my phone was stolen" \\(suspended .*: fraud\\)`),
    );
    const notices = field(
      (await server.api.req('GET', '/v1/notices', undefined, alice.token)).body,
      'notices',
    );
    assert.ok(Array.isArray(notices) && notices.some((n) => field(n, 'kind') === 'suspended'));

    assert.match(await admin(server, 'suspension', 'lift', alice.username), /lifted/);
    assert.match(await admin(server, 'appeals', 'list'), /open appeals: 0/);
    assert.equal((await server.api.req('GET', '/v1/devices', undefined, alice.token)).status, 200);
    await login(server.api, alice.device);
    aliceWs = await WsClient.connect(server.url, alice.token);
    assert.match(await admin(server, 'suspension', 'lift', alice.userId), /is not suspended/);
  });

  it('the directory tells coarsely whether an account was reported: distinct reporters, dismissed ones not counted', async () => {
    const reported = async (u: User) =>
      str((await server.api.req('GET', `/v1/users/id/${u.userId}`, undefined, carol.token)).body, 'reported');
    assert.equal(await reported(carol), 'none');
    // Bob reported Alice several times above: one reporter.
    assert.equal(await reported(alice), 'some');
    const ids = [...(await admin(server, 'reports', 'list', '--all')).matchAll(/^(\S+) .* reported (\S+) /gm)]
      .filter((x) => x[2] === alice.username)
      .map((x) => x[1] ?? '');
    assert.ok(ids.length >= 2, `reports of alice: ${ids.join(',')}`);
    for (const id of ids) await admin(server, 'reports', 'resolve', id, '--dismiss');
    assert.equal(await reported(alice), 'none', 'dismissed reports do not count');
  });

  it('admin commands name what is wrong', async () => {
    await assert.rejects(admin(server, 'reports', 'resolve', 'nope', '--warn'), /no report "nope"/);
    await assert.rejects(admin(server, 'reports', 'resolve', 'x', '--warn', '--dismiss'), /one of --warn/);
    await assert.rejects(admin(server, 'limits', 'lift', 'nobody_here'), /no user "nobody_here"/);
    await assert.rejects(admin(server, 'reports', 'frobnicate'), /unknown command/);
  });
});

describe('new accounts reaching strangers', () => {
  let server: TestServer;
  before(async () => {
    server = await testServer({ moderation: { strangersPerDay: 2 } });
  });
  after(() => server.stop());

  const claim = (by: User, target: User) =>
    server.api.req('POST', '/v1/keypackages/claim', { userId: target.userId }, by.token);

  it('a new account may reach N strangers a day; again the same one, contacts and itself are free; the operator lifts it', async () => {
    const newbie = await registerUser(server.api);
    const [s1, s2, s3, friend] = await Promise.all([1, 2, 3, 4].map(() => registerUser(server.api)));
    assert.ok(s1 && s2 && s3 && friend);
    // A friend who added the newbie to a group shares one with it: not a stranger.
    const friendWs = await WsClient.connect(server.url, friend.token);
    await groupWith(server.api, friend, friendWs, newbie);
    await friendWs.close();
    for (const t of [s1, s2, s3, friend]) {
      await server.api.req('POST', '/v1/keypackages', { keyPackages: [], lastResort: b64('kp') }, t.token);
    }
    assert.equal((await claim(newbie, s1)).status, 200);
    assert.equal((await claim(newbie, s2)).status, 200);
    const refused = await claim(newbie, s3);
    assert.equal(refused.status, 429);
    assert.equal(errorCode(refused.body), 'RATE_LIMITED');
    const e = field(refused.body, 'error');
    assert.match(
      str(e, 'message'),
      /younger than 7 days.* at most 2 people they share no group with per 24 hours/,
    );
    const retry = num(field(e, 'details'), 'retryAfterSeconds');
    assert.ok(retry > 23 * 3600 && retry <= 24 * 3600, String(retry));
    assert.equal((await claim(newbie, s1)).status, 200, 'someone reached today already');
    assert.equal((await claim(newbie, friend)).status, 200, 'a shared group');
    assert.equal(
      (await server.api.req('POST', '/v1/keypackages/claim', { userId: newbie.userId }, newbie.token)).status,
      200,
      'its own other devices',
    );
    assert.match(await admin(server, 'limits', 'lift', newbie.username), /limits lifted/);
    assert.equal((await claim(newbie, s3)).status, 200);
  });

  it('the limit ends with the account age (0 days: no limit)', async () => {
    const open = await testServer({ moderation: { strangersPerDay: 1, newAccountDays: 0 } });
    try {
      const a = await registerUser(open.api);
      const others = await Promise.all([1, 2, 3].map(() => registerUser(open.api)));
      await claimFor(open.api, a, ...others);
    } finally {
      await open.stop();
    }
  });
});
