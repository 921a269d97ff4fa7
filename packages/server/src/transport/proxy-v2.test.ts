/**
 * PROXY v2 headers written byte by byte from haproxy's proxy-protocol.txt (2.2), not with the
 * library that decodes them: signature, version/command, family/protocol, length, addresses.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isTrusted, parseTrustedSources, readProxyHeader, trustedSources } from './proxy-v2.ts';

const SIG = [0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a];

function header(verCmd: number, famProto: number, body: number[]): Buffer {
  return Buffer.from([...SIG, verCmd, famProto, body.length >> 8, body.length & 0xff, ...body]);
}

// 0x21 = version 2, PROXY; 0x11 = AF_INET, STREAM. Source 203.0.113.7:51234, destination 10.0.0.2:443.
const v4 = header(0x21, 0x11, [203, 0, 113, 7, 10, 0, 0, 2, 0xc8, 0x22, 0x01, 0xbb]);

describe('PROXY v2 header', () => {
  it('reads an IPv4 PROXY header and says where the client bytes start', () => {
    const bytes = Buffer.concat([v4, Buffer.from('GET / HTTP/1.1\r\n')]);
    assert.deepEqual(readProxyHeader(bytes), {
      kind: 'ok',
      length: 28,
      source: { address: '203.0.113.7', port: 51234 },
    });
  });

  it('reads an IPv6 header (0x21 family AF_INET6) in RFC 5952 form', () => {
    const src = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x42];
    const dst = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01];
    const h = header(0x21, 0x21, [...src, ...dst, 0x30, 0x39, 0x01, 0xbb]);
    assert.deepEqual(readProxyHeader(h), {
      kind: 'ok',
      length: 52,
      source: { address: '2001:db8::42', port: 12345 },
    });
  });

  it('LOCAL (a health check of the proxy itself) names no client', () => {
    assert.deepEqual(readProxyHeader(header(0x20, 0x00, [])), { kind: 'ok', length: 16, source: undefined });
  });

  it('skips TLVs after the addresses (they count in the length)', () => {
    const tlv = [0x04, 0x00, 0x02, 0xab, 0xcd]; // PP2_TYPE_NOOP, 2 bytes
    const h = header(0x21, 0x11, [203, 0, 113, 7, 10, 0, 0, 2, 0xc8, 0x22, 0x01, 0xbb, ...tlv]);
    const r = readProxyHeader(h);
    assert.equal(r.kind, 'ok');
    assert.equal(r.kind === 'ok' && r.length, 33);
  });

  it('asks for more bytes while the header is incomplete, at every cut', () => {
    for (let cut = 1; cut < v4.length; cut++)
      assert.deepEqual(readProxyHeader(v4.subarray(0, cut)), { kind: 'more' }, `cut at ${cut}`);
  });

  it('refuses what is not a v2 header: plain HTTP, TLS, v1 text, another version, huge lengths', () => {
    assert.equal(readProxyHeader(Buffer.from('GET / HTTP/1.1\r\n')).kind, 'bad');
    assert.equal(readProxyHeader(Buffer.from([0x16, 0x03, 0x01])).kind, 'bad');
    assert.equal(readProxyHeader(Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n')).kind, 'bad');
    assert.equal(readProxyHeader(header(0x11, 0x11, [1, 2, 3, 4, 5, 6, 7, 8, 0, 1, 0, 2])).kind, 'bad');
    assert.equal(readProxyHeader(Buffer.from([...SIG, 0x21, 0x11, 0xff, 0xff])).kind, 'bad');
  });

  it('refuses an IPv4 header whose length is too short for its addresses', () => {
    assert.equal(readProxyHeader(header(0x21, 0x11, [1, 2, 3])).kind, 'bad');
  });
});

describe('trusted PROXY sources', () => {
  it('matches addresses and blocks, v4-mapped v6 included', () => {
    const list = trustedSources(['10.0.0.0/8', '192.0.2.5', '2001:db8::/32']);
    assert.ok(isTrusted(list, '10.1.2.3'));
    assert.ok(isTrusted(list, '::ffff:10.1.2.3'));
    assert.ok(isTrusted(list, '192.0.2.5'));
    assert.ok(!isTrusted(list, '192.0.2.6'));
    assert.ok(isTrusted(list, '2001:db8::9'));
    assert.ok(!isTrusted(list, '2001:db9::9'));
    assert.ok(!isTrusted(list, undefined));
  });

  it('parses the setting and names a bad entry', () => {
    assert.deepEqual(parseTrustedSources(' 10.0.0.0/8, ::1 '), { entries: ['10.0.0.0/8', '::1'] });
    assert.deepEqual(parseTrustedSources('10.0.0.0/33'), { bad: '10.0.0.0/33' });
    assert.deepEqual(parseTrustedSources('proxy.example'), { bad: 'proxy.example' });
  });
});
