import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Api, b64, claimFor, num, registerUser, rid, WsClient } from './helpers.ts';

const main = fileURLToPath(new URL('../src/main.ts', import.meta.url));

async function start(
  dataDir: string,
): Promise<{ child: ChildProcess; url: string; exited: Promise<number | null> }> {
  const child = spawn(
    process.execPath,
    [main, '--port', '0', '--data', dataDir, '--log-level', 'warn', '--tls', 'off', '--turn', 'off'],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening on (http\S+)/.exec(out);
      if (m?.[1] !== undefined) resolve(m[1]);
    });
    child.on('exit', () => reject(new Error(`server exited early: ${out}`)));
  });
  return { child, url, exited };
}

it('graceful shutdown loses no acknowledged message', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'kolokol-shutdown-'));
  try {
    const first = await start(dataDir);
    const api = new Api(first.url);
    const a = await registerUser(api);
    const b = await registerUser(api);
    const a1 = await WsClient.connect(first.url, a.token);
    const groupId = rid();
    await api.req('POST', '/v1/groups', { groupId }, a.token);
    await claimFor(api, a, b);
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

    // Fire a stream of sends and stop the server in the middle of it.
    const msgIds = new Map<number, string>();
    for (let i = 0; i < 400; i++) {
      const msgId = rid();
      msgIds.set(i + 100, msgId);
      a1.sendRaw({
        t: 'send',
        rid: i + 100,
        msg: { msgId, groupId, kind: 'application', epoch: 1, body: b64(`m${i}`) },
      });
    }
    await a1.next((f) => f.t === 'ok' && f.rid === 150, 10_000);
    first.child.kill('SIGTERM');
    const close = await a1.closed;
    assert.equal(close.code, 4503, 'closed with ServerShutdown');
    assert.equal(await first.exited, 0);
    const acknowledged = a1.frames.filter((f) => f.t === 'ok').map((f) => msgIds.get(num(f, 'rid')));
    assert.ok(acknowledged.length >= 50, `some acknowledged (${acknowledged.length})`);

    const second = await start(dataDir);
    const b1 = await WsClient.connect(second.url, b.token);
    const received = new Set<unknown>();
    while (![...acknowledged].every((m) => received.has(m))) {
      const items = await b1.items(1, 10_000);
      for (const it of items) received.add(it.msgId);
      b1.ack(items.map((x) => num(x, 'id')));
    }
    await b1.close();
    second.child.kill('SIGTERM');
    assert.equal(await second.exited, 0);
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});
