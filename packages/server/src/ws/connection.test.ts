/**
 * Session checks of an open socket (security review L1), with a stub store: a revocation that is
 * published while `hello` is still authenticating, and a session that expires while connected.
 */
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { it } from 'node:test';
import { pino } from 'pino';
import type WebSocket from 'ws';
import { resolveConfig } from '../app.ts';
import { LocalBus } from '../bus.ts';
import type { Context } from '../context.ts';
import { createMetrics } from '../metrics.ts';
import type { Moderation } from '../moderation/service.ts';
import { Presence } from '../push.ts';
import { RateLimiter } from '../ratelimit.ts';
import type { Device, Session, Store } from '../storage/store.ts';
import { Connection } from './connection.ts';
import { ConnectionRegistry } from './registry.ts';

class FakeSocket extends EventEmitter {
  readyState = 1;
  bufferedAmount = 0;
  sent: unknown[] = [];
  closedWith: number | undefined;
  send(data: string, cb?: () => void) {
    this.sent.push(JSON.parse(data));
    cb?.();
  }
  close(code: number) {
    if (this.readyState === 3) return;
    this.closedWith = code;
    this.readyState = 3;
    queueMicrotask(() => this.emit('close', code));
  }
  terminate() {
    this.close(1006);
  }
  ping() {}
  pause() {}
  resume() {}
}

function setup(session: Session, onDeviceLookup: (bus: LocalBus) => void) {
  const bus = new LocalBus();
  const device: Device = {
    deviceId: session.deviceId,
    userId: session.userId,
    deviceKey: 'k',
    cert: 'c',
    issuedAt: 0,
    name: undefined,
    createdAt: 0,
    revokedAt: undefined,
  };
  const store = {
    sessionByTokenHash: async () => session,
    device: async () => {
      onDeviceLookup(bus);
      await new Promise((r) => setTimeout(r, 20));
      return device;
    },
    touchSession: async () => {},
    keyPackageCount: async () => ({ oneTime: 100, lastResort: true }),
    mailboxIndex: async () => [],
    mailboxItems: async () => [],
  } as unknown as Store;
  const limiter = new RateLimiter(1, 1);
  const ctx: Context = {
    config: resolveConfig({ dataDir: '/nonexistent' }),
    store,
    bus,
    metrics: createMetrics(),
    log: pino({ level: 'silent' }),
    limiters: {
      registration: limiter,
      challenge: limiter,
      challengeUnknown: limiter,
      claims: limiter,
      claimPairs: limiter,
    },
    attachmentsDir: '/nonexistent',
    version: 'test',
    presence: new Presence(),
    push: undefined,
    connections: new ConnectionRegistry<Connection>(),
    moderation: { assertNotSuspended: async () => {}, tagFor: () => undefined } as unknown as Moderation,
  };
  const ws = new FakeSocket();
  const conn = new Connection(ctx, ws as unknown as WebSocket);
  ws.emit('message', Buffer.from(JSON.stringify({ t: 'hello', v: 1, token: 't'.repeat(40) })), false);
  return { ws, conn };
}

const session = (expiresAt: number): Session => ({
  sessionId: 'session-0001',
  deviceId: 'device-0001',
  userId: 'user-0001',
  tokenHash: 'h',
  createdAt: 0,
  lastSeenAt: Date.now(),
  expiresAt,
  revokedAt: undefined,
});

it('a revocation published while hello authenticates is not missed', async () => {
  const { ws, conn } = setup(session(Date.now() + 60_000), (bus) =>
    bus.publish('device-0001', { type: 'device-revoked' }),
  );
  await conn.closed;
  assert.equal(ws.closedWith, 4403);
  assert.ok(!ws.sent.some((f) => (f as { t: string }).t === 'ready'), 'never ready');
});

it('closes the socket when its session expires', async () => {
  const { ws, conn } = setup(session(Date.now() + 300), () => {});
  const started = Date.now();
  await conn.closed;
  assert.equal(ws.closedWith, 4401);
  assert.ok(ws.sent.some((f) => (f as { t: string }).t === 'ready'));
  assert.ok(Date.now() - started < 3000);
});
