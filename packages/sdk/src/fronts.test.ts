import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { Fronts, frontOrigin, MAX_FRONTS, parseProxyLink, proxyFront, proxyLink } from './fronts.ts';

describe('Fronts', () => {
  it('keeps the primary first, adds published origins once, skips what is not http(s)', () => {
    const f = new Fronts('https://chat.example/', ['https://b.example/x', 'ftp://c.example', 'nonsense']);
    assert.deepEqual(f.all(), ['https://chat.example', 'https://b.example']);
    assert.equal(f.learn(['https://b.example', 'https://chat.example:443']), false);
    assert.equal(f.learn(['http://10.0.0.2:8080']), true);
    assert.deepEqual(f.all(), ['https://chat.example', 'https://b.example', 'http://10.0.0.2:8080']);
    assert.equal(f.current, 'https://chat.example');
  });

  it('a failure of the current front moves on, round the list; late reports change nothing', () => {
    const f = new Fronts('https://a.example', ['https://b.example', 'https://c.example']);
    const seen: string[] = [];
    f.onChange((c) => seen.push(c));
    f.failed('https://a.example/v1/turn');
    assert.equal(f.current, 'https://b.example');
    // A second request that started on a and failed later must not skip b.
    f.failed('https://a.example');
    assert.equal(f.current, 'https://b.example');
    f.failed('https://b.example');
    f.failed('https://c.example');
    assert.equal(f.current, 'https://a.example');
    f.learn(['https://d.example']);
    assert.deepEqual(seen, [
      'https://b.example',
      'https://c.example',
      'https://a.example',
      'https://a.example',
    ]);
  });

  it('one front never moves', () => {
    const f = new Fronts('https://a.example');
    f.failed('https://a.example');
    assert.equal(f.current, 'https://a.example');
  });

  it('holds at most MAX_FRONTS, whatever a server publishes', () => {
    fc.assert(
      fc.property(fc.array(fc.webUrl(), { maxLength: 60 }), (urls) => {
        const f = new Fronts('https://primary.example', urls);
        const all = f.all();
        return (
          all.length <= MAX_FRONTS &&
          all[0] === 'https://primary.example' &&
          new Set(all).size === all.length &&
          all.every((u) => frontOrigin(u) === u)
        );
      }),
    );
  });
});

describe('proxy links', () => {
  it('finds the link in a message, with the port or 443', () => {
    assert.deepEqual(parseProxyLink('use kolokol://proxy?host=203.0.113.5&port=8443 today'), {
      host: '203.0.113.5',
      port: 8443,
    });
    assert.deepEqual(parseProxyLink('kolokol://proxy?host=Proxy.Example.org'), {
      host: 'proxy.example.org',
      port: 443,
    });
    assert.deepEqual(parseProxyLink('kolokol://proxy?port=443&host=%5B2001%3Adb8%3A%3A1%5D'), {
      host: '2001:db8::1',
      port: 443,
    });
  });

  it('refuses what is not a host and a port', () => {
    for (const bad of [
      'no link here',
      'kolokol://proxy?host=',
      'kolokol://proxy?host=a%20b',
      'kolokol://proxy?host=x.example&port=0',
      'kolokol://proxy?host=x.example&port=70000',
      'kolokol://proxy?host=x.example&port=80a',
      'kolokol://proxy?host=user@x.example',
      'kolokol://proxy?host=%E0%A4%A',
    ])
      assert.equal(parseProxyLink(bad), undefined, bad);
  });

  it('a proxy is a front on the server port it forwards to; links round-trip', () => {
    assert.equal(proxyFront({ host: '203.0.113.5', port: 443 }), 'https://203.0.113.5');
    assert.equal(proxyFront({ host: '2001:db8::1', port: 8443 }), 'https://[2001:db8::1]:8443');
    fc.assert(
      fc.property(fc.domain(), fc.integer({ min: 1, max: 65535 }), (host, port) => {
        const p = parseProxyLink(proxyLink({ host, port }));
        return p !== undefined && p.host === host.toLowerCase() && p.port === port;
      }),
    );
  });
});
