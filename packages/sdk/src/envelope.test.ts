import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { bodyOf, decodeEnvelope, encodeEnvelope, envelopeOf } from './envelope.ts';

describe('envelope', () => {
  it('round-trips text and attachment envelopes', () => {
    const text = { v: 1, type: 'text', text: 'héllo 👋' } as const;
    assert.deepEqual(decodeEnvelope(encodeEnvelope(text)), { ok: true, envelope: text });
    const att = {
      v: 1,
      type: 'attachment',
      attachmentId: 'att_0123456789',
      key: 'A'.repeat(43),
      digest: 'B'.repeat(43),
      size: 12,
      name: 'f.txt',
      mime: 'text/plain',
    } as const;
    const back = decodeEnvelope(encodeEnvelope(att));
    assert.ok(back.ok);
    const body = bodyOf(back.envelope);
    assert.equal(body?.type, 'attachment');
    assert.deepEqual(body === undefined ? undefined : envelopeOf(body), att);
  });

  it('refuses unknown versions, types and oversize fields', () => {
    const enc = new TextEncoder();
    assert.equal(decodeEnvelope(enc.encode('{"v":2,"type":"text","text":"x"}')).ok, false);
    assert.equal(decodeEnvelope(enc.encode('{"v":1,"type":"poll"}')).ok, false);
    assert.equal(decodeEnvelope(enc.encode('{"v":1,"type":"attachment","key":"short"}')).ok, false);
    assert.equal(decodeEnvelope(new Uint8Array([0xff, 0xfe])).ok, false);
    assert.equal(decodeEnvelope(enc.encode('null')).ok, false);
    assert.equal(decodeEnvelope(enc.encode('{"__proto__":{"v":1}}')).ok, false);
  });

  it('never throws on arbitrary decrypted bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2048 }), (bytes) => {
        const r = decodeEnvelope(bytes);
        assert.equal(typeof r.ok, 'boolean');
      }),
      { numRuns: 2000 },
    );
  });

  it('never throws on arbitrary JSON values', () => {
    const enc = new TextEncoder();
    fc.assert(
      fc.property(
        fc.jsonValue(),
        fc.constantFrom('text', 'attachment', 'meta', 'leave', 'x'),
        (value, type) => {
          const obj =
            typeof value === 'object' && value !== null && !Array.isArray(value) ? value : { value };
          const r1 = decodeEnvelope(enc.encode(JSON.stringify(value)));
          const r2 = decodeEnvelope(enc.encode(JSON.stringify({ ...obj, v: 1, type })));
          assert.equal(typeof r1.ok, 'boolean');
          assert.equal(typeof r2.ok, 'boolean');
        },
      ),
      { numRuns: 1000 },
    );
  });
});
