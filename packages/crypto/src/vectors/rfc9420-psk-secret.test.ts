import assert from 'node:assert/strict';
import { test } from 'node:test';
import { computePskSecret } from 'ts-mls/presharedkey.js';
import { forEachSuiteCase, hex, loadVectors, report, toHex } from '../../test/vectors.ts';

interface V {
  cipher_suite: number;
  psks: { psk_id: string; psk: string; psk_nonce: string }[];
  psk_secret: string;
}

test('RFC 9420 psk_secret.json: psk_secret for 0..n external PSKs', async (t) => {
  const cases = loadVectors<V>(t, 'psk_secret.json');
  if (!cases) return;
  const r = await forEachSuiteCase(cases, async (c, cs) => {
    const psks = c.psks.map(
      (p) => [{ psktype: 'external', pskId: hex(p.psk_id), pskNonce: hex(p.psk_nonce) }, hex(p.psk)] as const,
    );
    assert.equal(
      toHex(
        await computePskSecret(
          psks.map(([id, k]) => [id, k]),
          cs,
        ),
      ),
      c.psk_secret,
    );
  });
  report(t, 'psk_secret.json', r);
  assert.ok(r.tested >= 1);
});
