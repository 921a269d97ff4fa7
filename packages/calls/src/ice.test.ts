import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { iceServerSource, iceUrlKind, restrictIceServers } from './ice.ts';

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

describe('restrictIceServers', () => {
  const servers = [
    {
      urls: ['turn:t.example:3478?transport=udp', 'turn:t.example:3478?transport=tcp'],
      username: 'u',
      credential: 'c',
    },
    { urls: 'turns:t.example:443?transport=tcp', username: 'u', credential: 'c' },
    { urls: 'stun:t.example:3478' },
  ];

  it('reads the kind of a URL: turns, turn over UDP (the default) or TCP, stun', () => {
    assert.equal(iceUrlKind('turns:h:443?transport=tcp'), 'turns');
    assert.equal(iceUrlKind('turn:h:3478'), 'turn-udp');
    assert.equal(iceUrlKind('turn:h:3478?transport=udp'), 'turn-udp');
    assert.equal(iceUrlKind('TURN:h:3478?transport=TCP'), 'turn-tcp');
    assert.equal(iceUrlKind('stun:h'), 'stun');
    assert.equal(iceUrlKind('https://h'), undefined);
  });

  it('keeps only the URLs of the given kinds and drops servers left empty', () => {
    assert.deepEqual(restrictIceServers(servers, ['turns']), [
      { urls: ['turns:t.example:443?transport=tcp'], username: 'u', credential: 'c' },
    ]);
    assert.deepEqual(restrictIceServers(servers, ['turn-tcp', 'stun']), [
      { urls: ['turn:t.example:3478?transport=tcp'], username: 'u', credential: 'c' },
      { urls: ['stun:t.example:3478'] },
    ]);
    assert.deepEqual(restrictIceServers(servers, []), []);
  });
});
