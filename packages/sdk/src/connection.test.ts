import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Connection } from './connection.ts';
import { Fronts } from './fronts.ts';
import type { Transport, WebSocketLike } from './transport.ts';

/** A socket the test drives: it opens, answers or stays silent as told. */
class FakeSocket implements WebSocketLike {
  static made: FakeSocket[] = [];
  readyState = 0;
  onopen: ((ev: unknown) => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  onclose: ((ev: { code: number; reason: string }) => void) | null = null;
  onerror: ((ev: unknown) => void) | null = null;
  readonly sent: { t: string; rid?: number }[] = [];
  readonly url: string;
  constructor(url: string) {
    this.url = url;
    FakeSocket.made.push(this);
  }
  send(data: string): void {
    this.sent.push(JSON.parse(data) as { t: string; rid?: number });
  }
  close(): void {
    this.readyState = 3;
  }
  open(): void {
    this.readyState = 1;
    this.onopen?.({});
  }
  frame(f: unknown): void {
    this.onmessage?.({ data: JSON.stringify(f) });
  }
  ready(): void {
    this.frame({
      t: 'ready',
      v: 1,
      userId: 'u'.repeat(22),
      deviceId: 'd'.repeat(16),
      sessionId: 's'.repeat(22),
      serverTime: 1,
    });
  }
}

const transport: Transport = {
  fetch: () => Promise.reject(new Error('no fetch here')),
  WebSocket: FakeSocket,
};

function connection(o: { stallMs?: number; pongTimeoutMs?: number } = {}) {
  const fronts = new Fronts('https://a.example', ['https://b.example']);
  const conn = new Connection(
    fronts,
    transport,
    {
      token: async () => 'token-token-token-token',
      onFrame: () => {},
      onState: () => {},
      onReady: () => {},
      onFatal: () => {},
      onProtocolError: () => {},
    },
    { backoff: { baseMs: 1, maxMs: 5 }, pingIntervalMs: 60_000, pongTimeoutMs: 10_000, stallMs: 200, ...o },
  );
  return { fronts, conn };
}

const until = async (ok: () => boolean, ms = 3000) => {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
};

describe('Connection on fronts', () => {
  it('a request into a silent socket drops it at once and reconnects on the next front', async () => {
    FakeSocket.made = [];
    const { fronts, conn } = connection();
    const started = conn.start();
    await until(() => FakeSocket.made.length === 1);
    const first = FakeSocket.made[0];
    assert.ok(first !== undefined);
    assert.equal(first.url, 'wss://a.example/v1/ws');
    first.open();
    first.ready();
    await started;
    const t0 = Date.now();
    const ping = conn.ping();
    await assert.rejects(ping, /connection closed \(stalled\)/);
    assert.ok(Date.now() - t0 < 2000, 'the watchdog, not the request timeout');
    await until(() => FakeSocket.made.length === 2);
    assert.equal(FakeSocket.made[1]?.url, 'wss://b.example/v1/ws');
    assert.equal(fronts.current, 'https://b.example');
    conn.stop();
  });

  it('a socket that answers slowly but keeps talking is not dropped', async () => {
    FakeSocket.made = [];
    const { conn } = connection();
    const started = conn.start();
    await until(() => FakeSocket.made.length === 1);
    const ws = FakeSocket.made[0];
    assert.ok(ws !== undefined);
    ws.open();
    ws.ready();
    await started;
    const ping = conn.ping();
    // Other frames keep coming while the answer takes longer than stallMs.
    const chatter = setInterval(() => ws.frame({ t: 'synced' }), 50);
    await new Promise((r) => setTimeout(r, 600));
    clearInterval(chatter);
    const rid = ws.sent.find((f) => f.t === 'ping')?.rid;
    ws.frame({ t: 'pong', rid });
    await ping;
    assert.equal(FakeSocket.made.length, 1);
    conn.stop();
  });

  it('a front whose socket never opens is left after the pong timeout', async () => {
    FakeSocket.made = [];
    const { fronts, conn } = connection({ pongTimeoutMs: 150 });
    void conn.start().catch(() => {});
    await until(() => FakeSocket.made.length === 2);
    assert.equal(FakeSocket.made[1]?.url, 'wss://b.example/v1/ws');
    assert.equal(fronts.current, 'https://b.example');
    conn.stop();
  });
});
