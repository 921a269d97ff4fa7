import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  decodeAddress,
  decodeChannelNumber,
  decodeErrorCode,
  decodeEvenPort,
  decodeRequestedFamily,
  decodeRequestedTransport,
  decodeReservationToken,
  decodeText,
  decodeUint32,
  decodeUnknownAttributes,
  decodeXorAddress,
  encodeAddress,
  encodeChannelNumber,
  encodeErrorCode,
  encodeEvenPort,
  encodeRequestedFamily,
  encodeRequestedTransport,
  encodeUint32,
  encodeUnknownAttributes,
  encodeXorAddress,
} from './attributes.ts';
import { decodeChannelData, encodeChannelData } from './channel-data.ts';
import { isChannelData, isStun } from './classify.ts';
import { StreamFramer } from './framing.ts';
import { encodeMessage } from './message.ts';

const tid = Buffer.from('0102030405060708090a0b0c', 'hex');
const addresses = [
  { address: '192.0.2.1', port: 32853 },
  { address: '0.0.0.0', port: 0 },
  { address: '255.255.255.255', port: 65535 },
  { address: '2001:db8::1', port: 3478 },
  { address: '::', port: 1 },
  { address: 'fe80::1:2:3:4', port: 9 },
];

describe('attributes', () => {
  it('MAPPED-ADDRESS and the XOR family (MAPPED, PEER, RELAYED) round-trip IPv4 and IPv6', () => {
    for (const a of addresses) {
      assert.deepEqual(decodeAddress(encodeAddress(a)), a);
      const xored = encodeXorAddress(a, tid);
      assert.deepEqual(decodeXorAddress(xored, tid), a);
      assert.equal(xored.length, a.address.includes(':') ? 20 : 8);
      // The port and address really are XORed.
      assert.notDeepEqual(xored.subarray(2), encodeAddress(a).subarray(2));
    }
    assert.equal(decodeAddress(Buffer.from([0, 3, 0, 1, 1, 2, 3, 4])), undefined);
    assert.equal(decodeXorAddress(Buffer.from([0, 1, 0, 1, 1, 2, 3]), tid), undefined);
    assert.equal(decodeXorAddress(Buffer.alloc(20, 0).fill(1, 1, 2), tid), undefined); // IPv4 family, 16 bytes
  });

  it('ERROR-CODE carries class, number and reason', () => {
    for (const code of [300, 400, 401, 403, 420, 437, 438, 440, 441, 442, 443, 486, 500, 508]) {
      assert.deepEqual(decodeErrorCode(encodeErrorCode(code, 'Reason')), { code, reason: 'Reason' });
    }
    assert.equal(decodeErrorCode(Buffer.from([0, 0, 2, 0])), undefined);
    assert.equal(decodeErrorCode(Buffer.from([0, 0, 4])), undefined);
  });

  it('UNKNOWN-ATTRIBUTES, LIFETIME, REQUESTED-TRANSPORT, REQUESTED-ADDRESS-FAMILY', () => {
    assert.deepEqual(decodeUnknownAttributes(encodeUnknownAttributes([0x1a, 0x7fff])), [0x1a, 0x7fff]);
    assert.equal(decodeUnknownAttributes(Buffer.from([1])), undefined);
    assert.equal(decodeUint32(encodeUint32(600)), 600);
    assert.equal(decodeUint32(encodeUint32(0xffffffff)), 0xffffffff);
    assert.equal(decodeUint32(Buffer.alloc(3)), undefined);
    assert.equal(decodeRequestedTransport(encodeRequestedTransport(17)), 17);
    assert.equal(decodeRequestedTransport(Buffer.alloc(1)), undefined);
    assert.equal(decodeRequestedFamily(encodeRequestedFamily(4)), 4);
    assert.equal(decodeRequestedFamily(encodeRequestedFamily(6)), 6);
    assert.equal(decodeRequestedFamily(Buffer.from([3, 0, 0, 0])), undefined);
  });

  it('CHANNEL-NUMBER only in 0x4000-0x4FFF; EVEN-PORT; RESERVATION-TOKEN', () => {
    assert.equal(decodeChannelNumber(encodeChannelNumber(0x4000)), 0x4000);
    assert.equal(decodeChannelNumber(encodeChannelNumber(0x4fff)), 0x4fff);
    assert.equal(decodeChannelNumber(encodeChannelNumber(0x3fff)), undefined);
    assert.equal(decodeChannelNumber(encodeChannelNumber(0x5000)), undefined);
    assert.equal(decodeChannelNumber(Buffer.alloc(2)), undefined);
    assert.deepEqual(decodeEvenPort(encodeEvenPort(true)), { reserveNext: true });
    assert.deepEqual(decodeEvenPort(encodeEvenPort(false)), { reserveNext: false });
    assert.equal(decodeEvenPort(Buffer.alloc(2)), undefined);
    assert.equal(decodeReservationToken(Buffer.alloc(8))?.length, 8);
    assert.equal(decodeReservationToken(Buffer.alloc(4)), undefined);
  });

  it('text attributes (USERNAME, REALM, NONCE, SOFTWARE) must be valid UTF-8 within limits', () => {
    assert.equal(decodeText(Buffer.from('マトリックス'), 512), 'マトリックス');
    assert.equal(decodeText(Buffer.from([0x80]), 512), undefined);
    assert.equal(decodeText(Buffer.alloc(513, 0x61), 512), undefined);
  });

  it('decoders never throw on random values', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 40 }), (bytes) => {
        const b = Buffer.from(bytes);
        decodeAddress(b);
        decodeXorAddress(b, tid);
        decodeErrorCode(b);
        decodeUnknownAttributes(b);
        decodeUint32(b);
        decodeRequestedTransport(b);
        decodeRequestedFamily(b);
        decodeChannelNumber(b);
        decodeEvenPort(b);
        decodeText(b, 16);
        decodeChannelData(b);
        isStun(b);
        isChannelData(b);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('ChannelData', () => {
  it('pads to 4 bytes over streams and not over UDP', () => {
    const data = Buffer.from([1, 2, 3, 4, 5]);
    const udp = encodeChannelData(0x4001, data, false);
    const tcp = encodeChannelData(0x4001, data, true);
    assert.equal(udp.length, 9);
    assert.equal(tcp.length, 12);
    assert.deepEqual(decodeChannelData(udp), { channel: 0x4001, data });
    assert.deepEqual(decodeChannelData(tcp), { channel: 0x4001, data });
    assert.equal(decodeChannelData(udp.subarray(0, 8)), undefined);
    assert.equal(decodeChannelData(Buffer.from([0x50, 0, 0, 0])), undefined);
  });
});

describe('classifier', () => {
  const stun = encodeMessage({ method: 1, cls: 0, transactionId: tid, attributes: [] });
  it('recognises STUN by its top bits and magic cookie', () => {
    assert.equal(isStun(stun), true);
    assert.equal(isStun(stun.subarray(0, 7)), false);
    assert.equal(isStun(Buffer.from('GET / HTTP/1.1\r\n')), false);
    assert.equal(isStun(Buffer.from('PRI * HTTP/2.0\r\n')), false);
    const bad = Buffer.from(stun);
    bad[0] = 0x40;
    assert.equal(isStun(bad), false);
  });
  it('recognises ChannelData by its first byte', () => {
    assert.equal(isChannelData(encodeChannelData(0x4000, Buffer.alloc(1), true)), true);
    assert.equal(isChannelData(Buffer.from([0x50, 0, 0, 0])), false);
    assert.equal(isChannelData(stun), false);
  });
});

describe('stream framing', () => {
  const stun = encodeMessage({ method: 3, cls: 0, transactionId: tid, attributes: [] });
  const cd = encodeChannelData(0x4002, Buffer.from('hello'), true);

  it('splits STUN and padded ChannelData across arbitrary chunk boundaries', () => {
    const all = Buffer.concat([stun, cd, stun, cd]);
    for (let size = 1; size <= all.length; size++) {
      const framer = new StreamFramer();
      const frames = [];
      for (let i = 0; i < all.length; i += size) {
        const r = framer.push(all.subarray(i, i + size));
        assert.equal(r.error, undefined);
        frames.push(...r.frames);
      }
      assert.deepEqual(
        frames.map((f) => f.kind),
        ['stun', 'channel-data', 'stun', 'channel-data'],
      );
      assert.deepEqual(frames[1]?.bytes, cd);
      assert.equal(framer.pending, 0);
    }
  });

  it('fails on garbage, and on ChannelData before any STUN message', () => {
    assert.ok(new StreamFramer().push(Buffer.from('GET / HTTP/1.1\r\n\r\n')).error);
    assert.ok(new StreamFramer().push(cd).error);
    const framer = new StreamFramer();
    assert.equal(framer.push(stun).error, undefined);
    assert.ok(framer.push(Buffer.from([0xff, 0, 0, 0])).error);
    assert.ok(framer.push(stun).error); // stays failed
    const noCookie = Buffer.from(stun);
    noCookie[5] = 0;
    assert.ok(new StreamFramer().push(noCookie).error);
  });

  it('never throws on random chunks', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 8 }), (chunks) => {
        const framer = new StreamFramer();
        framer.push(stun);
        for (const c of chunks) framer.push(Buffer.from(c));
      }),
    );
  });
});
