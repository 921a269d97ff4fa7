import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { WebSocketServer } from 'ws';
import { chaosWebSocket, seededRandom } from './chaos.ts';

let wss: WebSocketServer;
let port = 0;

before(async () => {
  wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  await new Promise<void>((r) => wss.once('listening', () => r()));
  const addr = wss.address();
  port = typeof addr === 'object' && addr !== null ? addr.port : 0;
  wss.on('connection', (s) => {
    for (let i = 0; i < 200; i++) s.send(JSON.stringify({ t: 'deliver', items: [{ n: i }] }));
    s.send(JSON.stringify({ t: 'synced' }));
  });
});

after(() => new Promise<void>((r) => wss.close(() => r())));

test('seededRandom is deterministic', () => {
  const a = seededRandom(42);
  const b = seededRandom(42);
  for (let i = 0; i < 10; i++) assert.equal(a(), b());
});

test('chaos WebSocket duplicates and reorders deliver frames but loses none, and synced comes last', async () => {
  const { WebSocket: Chaos, stats } = chaosWebSocket({
    duplicate: 0.2,
    reorder: 0.2,
    random: seededRandom(7),
  });
  const ws = new Chaos(`ws://127.0.0.1:${port}`);
  const got: number[] = [];
  let syncedAt = -1;
  await new Promise<void>((resolve) => {
    ws.onmessage = (ev) => {
      const f = JSON.parse(String(ev.data)) as { t: string; items?: { n: number }[] };
      if (f.t === 'synced') {
        syncedAt = got.length;
        resolve();
      } else for (const it of f.items ?? []) got.push(it.n);
    };
  });
  ws.close();
  assert.ok(stats.duplicated > 0 && stats.reordered > 0, JSON.stringify(stats));
  assert.equal(got.length, 200 + stats.duplicated);
  assert.deepEqual(
    [...new Set(got)].sort((x, y) => x - y),
    Array.from({ length: 200 }, (_, i) => i),
  );
  assert.notDeepEqual(
    got,
    [...got].sort((x, y) => x - y),
    'some frames arrived out of order',
  );
  assert.equal(syncedAt, got.length, 'synced arrived after every deliver');
});
