import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { iceServerSource, iceUrlKind, restrictIceServers, withFrontRelays } from './ice.ts';

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

describe('withFrontRelays', () => {
  const turn = {
    iceServers: [
      {
        urls: ['turn:a.example:3478?transport=udp', 'turns:a.example:443?transport=tcp'],
        username: '1700000000:dev',
        credential: 'secret',
      },
    ],
  };
  it('adds TURN over TLS on every other front, with the same credentials', () => {
    const out = withFrontRelays(turn.iceServers, [
      'https://a.example',
      'https://b.example:8443',
      'https://[2001:db8::1]',
    ]);
    assert.equal(out.length, 2);
    assert.deepEqual(out[1], {
      urls: ['turns:b.example:8443?transport=tcp', 'turns:[2001:db8::1]:443?transport=tcp'],
      username: '1700000000:dev',
      credential: 'secret',
    });
  });
  it('adds nothing without a TURN over TLS server to borrow credentials from, or other fronts', () => {
    const udpOnly = [{ urls: 'turn:a.example:3478', username: 'u', credential: 'c' }];
    assert.deepEqual(withFrontRelays(udpOnly, ['https://b.example']), udpOnly);
    assert.deepEqual(withFrontRelays(turn.iceServers, ['https://a.example']), turn.iceServers);
  });
  it('skips malformed and plain-http fronts and stops at three', () => {
    const fronts = [
      'nonsense',
      'http://c.example',
      ...['d', 'e', 'f', 'g'].map((h) => `https://${h}.example`),
    ];
    const out = withFrontRelays(turn.iceServers, fronts);
    assert.deepEqual(out[1]?.urls, [
      'turns:d.example:443?transport=tcp',
      'turns:e.example:443?transport=tcp',
      'turns:f.example:443?transport=tcp',
    ]);
  });
});
