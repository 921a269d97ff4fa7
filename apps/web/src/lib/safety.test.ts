import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseSafetyQr, safetyQrText, sameBytes } from './safety.ts';

test('safety QR text round-trips every length', () => {
  for (let n = 0; n < 70; n++) {
    const bytes = Uint8Array.from({ length: n }, (_, i) => (i * 37 + n) & 0xff);
    const back = parseSafetyQr(safetyQrText(bytes));
    assert.ok(back !== undefined && sameBytes(back, bytes), `length ${n}`);
  }
});

test('anything else is refused', () => {
  assert.equal(parseSafetyQr('https://example.com'), undefined);
  assert.equal(parseSafetyQr('kolokol-safety:not base64!'), undefined);
  assert.equal(parseSafetyQr('kolokol-safety:A'), undefined);
});
