import assert from 'node:assert/strict';
import { test } from 'node:test';
import { expandWithLabel } from 'ts-mls/crypto/kdf.js';
import { createSecretTree, ratchetToGeneration } from 'ts-mls/secretTree.js';
import type { ReuseGuard } from 'ts-mls/sender.js';
import { forEachSuiteCase, hex, loadVectors, report, toHex } from '../../test/vectors.ts';

interface Gen {
  generation: number;
  application_key: string;
  application_nonce: string;
  handshake_key: string;
  handshake_nonce: string;
}
interface V {
  cipher_suite: number;
  encryption_secret: string;
  sender_data: { sender_data_secret: string; ciphertext: string; key: string; nonce: string };
  leaves: Gen[][];
}

const retention = { retainKeysForGenerations: 10, retainKeysForEpochs: 4, maximumForwardRatchetSteps: 1000 };

test('RFC 9420 secret-tree.json: sender data keys and every leaf generation', async (t) => {
  const cases = loadVectors<V>(t, 'secret-tree.json');
  if (!cases) return;
  const r = await forEachSuiteCase(cases, async (c, cs) => {
    // RFC 9420 §6.3.2: the sender data key and nonce come from the first Nh bytes of ciphertext.
    const sd = c.sender_data;
    const sample = hex(sd.ciphertext).subarray(0, cs.kdf.size);
    assert.equal(
      toHex(await expandWithLabel(hex(sd.sender_data_secret), 'key', sample, cs.hpke.keyLength, cs.kdf)),
      sd.key,
    );
    assert.equal(
      toHex(await expandWithLabel(hex(sd.sender_data_secret), 'nonce', sample, cs.hpke.nonceLength, cs.kdf)),
      sd.nonce,
    );

    const tree = await createSecretTree(c.leaves.length, hex(c.encryption_secret), cs.kdf);
    const noGuard = new Uint8Array(4) as ReuseGuard;
    for (const [leafIndex, gens] of c.leaves.entries()) {
      for (const g of gens) {
        const sender = { leafIndex, generation: g.generation, reuseGuard: noGuard };
        const app = await ratchetToGeneration(tree, sender, 'application', retention, cs);
        assert.equal(toHex(app.key), g.application_key);
        assert.equal(toHex(app.nonce), g.application_nonce);
        const hs = await ratchetToGeneration(tree, sender, 'commit', retention, cs);
        assert.equal(toHex(hs.key), g.handshake_key);
        assert.equal(toHex(hs.nonce), g.handshake_nonce);
      }
    }
  });
  report(t, 'secret-tree.json', r);
  assert.ok(r.tested >= 1);
});
