import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { bytesToIp, canonicalIp, ipToBytes } from './ip.ts';

describe('ip', () => {
  it('converts IPv4 and IPv6 text to bytes and back in canonical form', () => {
    const cases: [string, string][] = [
      ['192.0.2.1', '192.0.2.1'],
      ['::', '::'],
      ['::1', '::1'],
      ['2001:DB8:0:0:0:0:0:1', '2001:db8::1'],
      ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
      ['fe80::1%eth0', 'fe80::1'],
      ['2001:db8:1234:5678:11:2233:4455:6677', '2001:db8:1234:5678:11:2233:4455:6677'],
      ['::ffff:10.0.0.1', '::ffff:a00:1'],
      ['1:0:1:0:0:0:1:0', '1:0:1::1:0'],
    ];
    for (const [text, canonical] of cases) {
      const bytes = ipToBytes(text);
      assert.ok(bytes, text);
      assert.equal(bytesToIp(bytes), canonical);
    }
    assert.equal(ipToBytes('example.org'), undefined);
    assert.equal(ipToBytes('1.2.3'), undefined);
  });

  it('canonicalIp turns IPv4-mapped IPv6 into IPv4', () => {
    assert.equal(canonicalIp('::ffff:127.0.0.1'), '127.0.0.1');
    assert.equal(canonicalIp('::FFFF:7f00:1'), '127.0.0.1');
    assert.equal(canonicalIp('2001:db8::1'), '2001:db8::1');
    assert.equal(canonicalIp('nope'), undefined);
  });

  it('round-trips random IPv6 addresses through Node’s own formatting', () => {
    fc.assert(
      fc.property(fc.ipV6(), (text) => {
        const bytes = ipToBytes(text);
        assert.ok(bytes);
        assert.deepEqual(ipToBytes(bytesToIp(bytes)), bytes);
      }),
    );
    fc.assert(
      fc.property(fc.ipV4(), (text) => {
        assert.equal(bytesToIp(ipToBytes(text) ?? Buffer.alloc(0)), text);
      }),
    );
  });
});
