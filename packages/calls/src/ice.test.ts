import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { iceServerSource } from './ice.ts';

describe('iceServerSource', () => {
  it('parses GET /v1/turn, caches for most of the ttl, refetches after, shares one request', async () => {
    let fetches = 0;
    let clock = 0;
    const body = {
      iceServers: [
        {
          urls: ['turn:t.example:3478?transport=udp', 'turn:t.example:443?transport=tcp'],
          username: '9:u',
          credential: 'c',
        },
        { urls: 'turns:t.example:443?transport=tcp', username: '9:u', credential: 'c' },
      ],
      ttl: 100,
    };
    const get = iceServerSource(
      async () => {
        fetches++;
        return body;
      },
      () => clock,
    );
    const [a, b] = await Promise.all([get(), get()]);
    assert.equal(fetches, 1);
    assert.deepEqual(a, body.iceServers);
    assert.equal(a, b);
    clock = 79_000;
    await get();
    assert.equal(fetches, 1);
    clock = 81_000;
    await get();
    assert.equal(fetches, 2);
  });

  it('refuses a malformed answer and tries again next time', async () => {
    let n = 0;
    const get = iceServerSource(async () =>
      ++n === 1 ? { iceServers: [{ urls: 3 }], ttl: 5 } : { iceServers: [], ttl: 5 },
    );
    await assert.rejects(get());
    assert.deepEqual(await get(), []);
  });
});
