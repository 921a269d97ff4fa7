/**
 * Resource bounds of the WebSocket path (security review H3): bytes in flight per connection,
 * connections per device, unauthenticated sockets per IP, and the incoming frame queue.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Socket } from 'node:net';
import { it } from 'node:test';
import WebSocket from 'ws';
import { b64, groupWith, num, registerUser, rid, testServer, WsClient } from './helpers.ts';

const sha = (s: string) => createHash('sha256').update(s).digest('hex');
const pauseSocket = (ws: WebSocket) => {
  const socket: unknown = Reflect.get(ws, '_socket');
  assert.ok(socket instanceof Socket);
  socket.pause();
};

it('a device that stops reading does not make the server buffer its mailbox; the items arrive intact later', async () => {
  // slowClientMs is long: we measure what the server holds for sockets that do not read, not how
  // fast it gives up on them.
  const s = await testServer({ tuning: { slowClientMs: 60_000 } });
  try {
    const [a, b] = [await registerUser(s.api), await registerUser(s.api)];
    const a1 = await WsClient.connect(s.url, a.token);
    const groupId = await groupWith(s.api, a, a1, b);
    const n = 256;
    const bodies: string[] = [];
    for (let i = 0; i < n; i++) {
      const body = Buffer.alloc(300 * 1024, i).toString('base64url');
      bodies.push(body);
      a1.sendRaw({
        t: 'send',
        rid: 100 + i,
        msg: { msgId: rid(), groupId, kind: 'application', epoch: 1, body },
      });
      if (i % 16 === 15) await a1.next((f) => f.t === 'ok' && f.rid === 100 + i, 20_000);
    }
    await new Promise((r) => setTimeout(r, 300));
    const before = process.memoryUsage();

    // Six sockets of b say hello and then never read anything.
    const sockets: WebSocket[] = [];
    for (let i = 0; i < 6; i++) {
      const ws = new WebSocket(`${s.url.replace(/^http/, 'ws')}/v1/ws`);
      ws.on('error', () => {});
      await new Promise<void>((resolve) => ws.once('open', () => resolve()));
      ws.send(JSON.stringify({ t: 'hello', v: 1, token: b.token }));
      pauseSocket(ws);
      sockets.push(ws);
    }
    await new Promise((r) => setTimeout(r, 3000));
    const after = process.memoryUsage();
    const grew = (after.rss - before.rss + (after.external - before.external)) / 1024 / 1024;
    // Unbounded, this is about 100 MB per socket (256 items of 400 KB of JSON each).
    assert.ok(grew < 150, `server memory grew by ${grew.toFixed(0)} MB`);

    for (const ws of sockets) ws.terminate();
    const b2 = await WsClient.connect(s.url, b.token);
    const got: string[] = [];
    while (got.length < n) {
      const items = await b2.items(1, 20_000);
      for (const it of items) if (it.kind === 'application') got.push(String(it.body));
      b2.ack(items.map((x) => num(x, 'id')));
    }
    assert.deepEqual(got.map(sha), bodies.map(sha), 'every item, intact, in order');
    await a1.close();
    await b2.close();
  } finally {
    await s.stop();
  }
});

it('keeps at most 4 live sockets per device, closing the oldest with a clear reason', async () => {
  const s = await testServer();
  try {
    const u = await registerUser(s.api);
    const clients: WsClient[] = [];
    for (let i = 0; i < 6; i++) clients.push(await WsClient.connect(s.url, u.token));
    const timeout = new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error('the oldest sockets were not closed')), 3000).unref(),
    );
    const closed = await Promise.race([Promise.all(clients.slice(0, 2).map((c) => c.closed)), timeout]);
    for (const c of closed) {
      assert.equal(c.code, 4409);
      assert.match(c.reason, /too many connections/);
    }
    await new Promise((r) => setTimeout(r, 100));
    const open = clients.filter((c) => c.ws.readyState === WebSocket.OPEN);
    assert.equal(open.length, 4);
    assert.deepEqual(open, clients.slice(2));
    for (const c of open) {
      c.sendRaw({ t: 'ping', rid: 9 });
      await c.next((f) => f.t === 'pong');
      await c.close();
    }
  } finally {
    await s.stop();
  }
});

it('limits sockets that have not said hello per IP', async () => {
  const s = await testServer({ tuning: { maxUnauthenticatedPerIp: 3 } });
  try {
    const u = await registerUser(s.api);
    const waiting: WsClient[] = [];
    for (let i = 0; i < 3; i++) {
      const c = new WsClient(s.url);
      await c.open();
      waiting.push(c);
    }
    const refused = new WebSocket(`${s.url.replace(/^http/, 'ws')}/v1/ws`);
    const status = await new Promise<number>((resolve) => {
      refused.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      refused.on('open', () => resolve(101));
      refused.on('error', () => {});
    });
    assert.equal(status, 429);
    // Saying hello frees the slot.
    const first = waiting[0];
    assert.ok(first !== undefined);
    first.sendRaw({ t: 'hello', v: 1, token: u.token });
    await first.next((f) => f.t === 'ready');
    const more = await WsClient.connect(s.url, u.token);
    for (const c of [...waiting, more]) await c.close();
  } finally {
    await s.stop();
  }
});

it('stops reading a socket whose frames pile up, and still answers every one of them', async () => {
  const s = await testServer({ tuning: { maxPendingFrames: 4 } });
  try {
    const [a, b] = [await registerUser(s.api), await registerUser(s.api)];
    const a1 = await WsClient.connect(s.url, a.token);
    const groupId = await groupWith(s.api, a, a1, b);
    const n = 200;
    for (let i = 0; i < n; i++) {
      a1.sendRaw({
        t: 'send',
        rid: 1000 + i,
        msg: { msgId: rid(), groupId, kind: 'application', epoch: 1, body: b64(`m${i}`) },
      });
    }
    await a1.next((f) => f.t === 'ok' && f.rid === 1000 + n - 1, 20_000);
    assert.equal(a1.frames.filter((f) => f.t === 'ok').length, n - 1);
    const metrics = await (await fetch(`${s.url}/metrics`)).text();
    assert.match(metrics, /kolokol_ws_read_pauses_total [1-9]/);
    await a1.close();
  } finally {
    await s.stop();
  }
});
