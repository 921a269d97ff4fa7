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

function connection(o: { stallMs?: number; pongTimeoutMs?: number } = {}, frames: { t: string }[] = []) {
  const fronts = new Fronts('https://a.example', ['https://b.example']);
  const conn = new Connection(
    fronts,
    transport,
    {
      token: async () => 'token-token-token-token',
      onFrame: (f) => frames.push(f),
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

/** A connection started on the first front, its socket (`main`) open and ready. */
async function online(o: Parameters<typeof connection>[0] = {}, frames: { t: string }[] = []) {
  FakeSocket.made = [];
  const { fronts, conn } = connection(o, frames);
  const started = conn.start();
  await until(() => FakeSocket.made.length === 1);
  const main = FakeSocket.made[0];
  assert.ok(main !== undefined);
  main.open();
  main.ready();
  await started;
  return { fronts, conn, main };
}

describe('Connection on fronts', () => {
  it('a request into a silent socket drops it at once and reconnects on the next front', async () => {
    const { fronts, conn, main: first } = await online();
    assert.equal(first.url, 'wss://a.example/v1/ws');
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
    const { conn, main: ws } = await online();
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

describe('Connection: the standby socket while urgent', () => {
  const ephemeral = (msgId: string) => ({
    t: 'ephemeral',
    item: {
      msgId,
      groupId: 'g'.repeat(22),
      epoch: 1,
      body: 'AAAA',
      sender: { userId: 'p'.repeat(22), deviceId: 'q'.repeat(16) },
      sentAt: 1,
    },
  });
  /** Online, urgent, with the standby socket open and ready. */
  async function withStandby() {
    const { fronts, conn, main } = await online({ stallMs: 60_000 });
    conn.urgent(5000);
    await until(() => FakeSocket.made.length === 2);
    const standby = FakeSocket.made[1];
    assert.ok(standby !== undefined);
    standby.open();
    standby.ready();
    return { fronts, conn, main, standby };
  }

  it('listens on the next front with the same token, passes pushes on and closes when urgency ends', async () => {
    const frames: { t: string }[] = [];
    const { conn, main } = await online({ stallMs: 60_000 }, frames);
    conn.urgent(300);
    await until(() => FakeSocket.made.length === 2);
    const standby = FakeSocket.made[1];
    assert.ok(standby !== undefined);
    assert.equal(standby.url, 'wss://b.example/v1/ws');
    standby.open();
    assert.deepEqual(
      standby.sent.map((f) => f.t),
      ['hello'],
    );
    assert.equal((standby.sent[0] as { token?: string }).token, 'token-token-token-token');
    standby.ready();
    standby.frame({ t: 'event', event: { type: 'keypackages-low', remaining: 1 } });
    standby.frame({ t: 'synced' });
    standby.frame(ephemeral('m'.repeat(22)));
    main.frame(ephemeral('m'.repeat(22)));
    assert.deepEqual(
      frames.map((f) => f.t),
      ['synced', 'ephemeral', 'ephemeral'],
      'events stay on the main socket; the duplicate ephemeral is the client’s to drop',
    );
    await until(() => standby.readyState === 3, 3000);
    assert.notEqual(main.readyState, 3, 'the main socket stays');
    conn.stop();
  });

  it('an ephemeral the main socket does not bring within the lead proves it frozen: left for the next front', async () => {
    const { fronts, conn, standby } = await withStandby();
    const t0 = Date.now();
    standby.frame(ephemeral('n'.repeat(22)));
    await until(() => FakeSocket.made.length === 3, 3000);
    assert.ok(Date.now() - t0 >= 700, 'not before the lead is over');
    assert.equal(FakeSocket.made[2]?.url, 'wss://b.example/v1/ws');
    assert.equal(fronts.current, 'https://b.example');
    conn.stop();
  });

  it('a main socket that brings the same ephemeral a little later is kept', async () => {
    const { conn, main, standby } = await withStandby();
    standby.frame(ephemeral('o'.repeat(22)));
    await new Promise((r) => setTimeout(r, 300));
    main.frame(ephemeral('o'.repeat(22)));
    await new Promise((r) => setTimeout(r, 1200));
    assert.equal(FakeSocket.made.length, 2, 'no reconnect');
    conn.stop();
  });

  const pong = (ws: FakeSocket) => {
    const rid = ws.sent.filter((f) => f.t === 'ping').at(-1)?.rid;
    assert.ok(rid !== undefined, 'a ping went out');
    ws.frame({ t: 'pong', rid });
  };

  it('the standby answering its ping while the main socket does not leaves the main one', async () => {
    const { fronts, conn, main, standby } = await withStandby();
    assert.ok(
      main.sent.some((f) => f.t === 'ping'),
      'urgent pings the main socket',
    );
    const t0 = Date.now();
    pong(standby);
    await until(() => FakeSocket.made.length === 3, 3000);
    const waited = Date.now() - t0;
    assert.ok(waited >= 700 && waited < 2000, `left after ${waited} ms: the lead, not the pong timeout`);
    assert.equal(fronts.current, 'https://b.example');
    conn.stop();
  });

  it('a main socket that answers its ping too is kept', async () => {
    const { conn, main, standby } = await withStandby();
    pong(standby);
    await new Promise((r) => setTimeout(r, 200));
    pong(main);
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal(FakeSocket.made.length, 2, 'no reconnect');
    conn.stop();
  });
});
