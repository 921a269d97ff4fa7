import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encode } from 'ts-mls/codec/tlsEncoder.js';
import {
  decodeVarLenData,
  determineLength,
  lengthEncoder,
  varLenDataEncoder,
} from 'ts-mls/codec/variableLength.js';
import { hex, loadVectors, toHex } from '../../test/vectors.ts';

interface V {
  vlbytes_header: string;
  length: number;
}

test('RFC 9420 deserialization.json: variable-length headers, all cases', (t) => {
  const cases = loadVectors<V>(t, 'deserialization.json');
  if (!cases) return;
  for (const c of cases) {
    const header = hex(c.vlbytes_header);
    assert.equal(determineLength(header, 0).length, c.length);
    // encoding that length produces exactly this (minimal) header
    const [size, write] = lengthEncoder(c.length);
    const buf = new ArrayBuffer(size);
    write(0, buf);
    assert.equal(toHex(new Uint8Array(buf)), c.vlbytes_header);
    // and a whole vector round-trips, for the lengths small enough to allocate quickly
    if (c.length <= 1 << 16) {
      const encoded = encode(varLenDataEncoder)(new Uint8Array(c.length));
      assert.equal(encoded.length, header.length + c.length);
      assert.equal(decodeVarLenData(encoded, 0)?.[0].length, c.length);
    }
  }
  t.diagnostic(`deserialization.json: ${cases.length} cases tested`);
});
