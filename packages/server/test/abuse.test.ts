/**
 * Abuse limits of the HTTP side (security review M3, M4, M5): key package claims, attachment
 * quota and stalled uploads, bounded rate limiter maps, and the client IP behind a proxy.
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { RateLimiter } from '../src/ratelimit.ts';
import {
  b64,
  deviceRegistration,
  errorCode,
  keyPair,
  makeDevice,
  registerUser,
  rid,
  testServer,
  uniqueName,
} from './helpers.ts';

describe('abuse limits', () => {
  it('M3: key package claims are limited per (claimer, target) and per claimer', async () => {
    const s = await testServer({ rateLimits: { claimsPerPair: 3, claimsPerClaimer: 5 } });
    try {
      const [mallory, bob, carol] = [
        await registerUser(s.api),
        await registerUser(s.api),
        await registerUser(s.api),
      ];
      for (const u of [bob, carol]) {
        const kps = Array.from({ length: 20 }, (_, i) => b64(`kp${i}`));
        await s.api.req('POST', '/v1/keypackages', { keyPackages: kps, lastResort: b64('lr') }, u.token);
      }
      const claim = async (u: { userId: string }) =>
        errorCode(
          (await s.api.req('POST', '/v1/keypackages/claim', { userId: u.userId }, mallory.token)).body,
        );
      for (let i = 0; i < 3; i++) assert.equal(await claim(bob), undefined);
      assert.equal(await claim(bob), 'RATE_LIMITED');
      assert.equal(await claim(carol), undefined);
      assert.equal(await claim(carol), undefined);
      assert.equal(await claim(carol), 'RATE_LIMITED', 'five claims in all');
      const left = await s.api.req('GET', '/v1/keypackages/count', undefined, bob.token);
      assert.deepEqual(left.body, { oneTime: 17, lastResort: true }, 'refused claims take nothing');
    } finally {
      await s.stop();
    }
  });

  it('M4: a device keeps at most its quota of attachment bytes', async () => {
    const s = await testServer({ attachmentQuotaBytes: 1000 });
    try {
      const u = await registerUser(s.api);
      const post = (n: number) =>
        fetch(`${s.url}/v1/attachments`, {
          method: 'POST',
          headers: { authorization: `Bearer ${u.token}`, 'content-type': 'application/octet-stream' },
          body: new Uint8Array(n),
        });
      assert.equal((await post(600)).status, 200);
      const over = await post(600);
      assert.equal(over.status, 413);
      assert.match(JSON.stringify(await over.json()), /quota/);
      const chunked = await s.api.req('POST', '/v1/attachments/uploads', { size: 500 }, u.token);
      assert.equal(errorCode(chunked.body), 'PAYLOAD_TOO_LARGE');
      assert.equal((await s.api.req('POST', '/v1/attachments/uploads', { size: 400 }, u.token)).status, 200);
      assert.equal(
        errorCode((await s.api.req('POST', '/v1/attachments/uploads', { size: 1 }, u.token)).body),
        'PAYLOAD_TOO_LARGE',
        'unfinished uploads count',
      );
    } finally {
      await s.stop();
    }
  });

  it('M4: an upload that stops sending is cut off and leaves no file', async () => {
    const s = await testServer({ tuning: { uploadIdleMs: 300 } });
    try {
      const u = await registerUser(s.api);
      const { port } = new URL(s.url);
      const socket = connect(Number(port), '127.0.0.1');
      await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
      socket.write(
        `POST /v1/attachments HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${u.token}\r\n` +
          'Content-Type: application/octet-stream\r\nContent-Length: 1000\r\n\r\n0123456789',
      );
      const started = Date.now();
      await new Promise<void>((resolve) => {
        socket.on('close', () => resolve());
        socket.on('error', () => {});
        socket.resume();
      });
      assert.ok(Date.now() - started < 5000, 'closed soon after the idle timeout');
      await new Promise((r) => setTimeout(r, 100));
      assert.deepEqual(readdirSync(join(s.dataDir, 'attachments', 'tmp')), []);
      assert.deepEqual(
        readdirSync(join(s.dataDir, 'attachments')).filter((f) => f !== 'tmp' && f !== 'uploads'),
        [],
      );
    } finally {
      await s.stop();
    }
  });

  it('M5: a limiter never holds more than maxKeys keys, and forgets the oldest first', () => {
    const l = new RateLimiter(1, 60_000, 100);
    for (let i = 0; i < 10_000; i++) l.hit(`k${i}`, 1000);
    assert.equal(l.size, 100);
    assert.throws(() => l.hit('k9999', 1000), { code: 'RATE_LIMITED' });
    l.hit('k0', 1000); // long forgotten: counts from zero again
  });

  it('M5: challenges for unknown devices count per IP, not per made-up device id', async () => {
    const s = await testServer({ rateLimits: { challengesUnknownPerIp: 3, maxKeys: 10 } });
    try {
      const codes: unknown[] = [];
      for (let i = 0; i < 5; i++)
        codes.push(errorCode((await s.api.req('POST', '/v1/auth/challenge', { deviceId: rid() })).body));
      assert.deepEqual(codes, [
        'UNAUTHORIZED',
        'UNAUTHORIZED',
        'UNAUTHORIZED',
        'RATE_LIMITED',
        'RATE_LIMITED',
      ]);
      // A real device still gets its challenge: its own budget.
      const u = await registerUser(s.api);
      assert.equal(
        (await s.api.req('POST', '/v1/auth/challenge', { deviceId: u.device.deviceId })).status,
        200,
      );
    } finally {
      await s.stop();
    }
  });

  for (const trustProxy of [false, true] as const) {
    it(`M5: X-Forwarded-For is ${trustProxy ? 'used with trustProxy' : 'ignored by default'}`, async () => {
      const s = await testServer({ trustProxy, rateLimits: { registrationsPerIp: 1 } });
      try {
        const register = async (ip: string) => {
          const identity = keyPair();
          const res = await fetch(`${s.url}/v1/accounts`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', 'x-forwarded-for': ip },
            body: JSON.stringify({
              username: uniqueName(),
              identityKey: identity.publicB64,
              device: deviceRegistration(makeDevice(identity)),
            }),
          });
          return res.status;
        };
        assert.equal(await register('203.0.113.1'), 200);
        assert.equal(await register('203.0.113.2'), trustProxy ? 200 : 429);
        assert.equal(await register('203.0.113.2'), 429);
      } finally {
        await s.stop();
      }
    });
  }
});
