/** The testkit's own server helpers: in-process and spawned, restart on the same port and data. */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { test } from 'node:test';
import { http, httpOk, rawUser, spawnServer, startTestServer } from '@kolokol/testkit';

test('startTestServer: a fresh server on a random port, its folder removed on close', async () => {
  const s = await startTestServer();
  assert.match(s.url, /^http:\/\/127\.0\.0\.1:\d+$/);
  assert.ok(s.port > 0);
  const info = (await httpOk(s.url, 'GET', '/v1/info')) as { protocol: number };
  assert.equal(info.protocol, 1);
  assert.ok(existsSync(s.dataDir));
  await s.close();
  assert.equal(existsSync(s.dataDir), false);
  await s.close(); // twice is fine
});

test('spawnServer: the real process, its logs, SIGKILL and restart on the same port and data', async () => {
  const s = await spawnServer();
  try {
    assert.match(s.logs(), /Kolokol listening on http:\/\/127\.0\.0\.1:\d+/);
    const port = s.port;
    const u = await rawUser(s.url, 'restart_me');
    const killed = await s.kill('SIGKILL');
    assert.equal(killed.signal, 'SIGKILL');
    await assert.rejects(fetch(`${s.url}/v1/info`));
    await s.restart();
    assert.equal(s.port, port, 'same port after restart');
    // The account survived: its device can still ask for a login challenge.
    const r = await http(s.url, 'POST', '/v1/auth/challenge', { json: { deviceId: u.deviceId } });
    assert.equal(r.status, 200);
    assert.equal((s.logs().match(/listening on/g) ?? []).length, 2);
  } finally {
    await s.close();
  }
  assert.equal(existsSync(s.dataDir), false);
});

test('spawnServer: a server that cannot start fails with its output in the error', async () => {
  await assert.rejects(
    spawnServer({ args: ['--no-such-flag'] }),
    (e: unknown) => e instanceof Error && /no-such-flag/.test(e.message),
  );
});
