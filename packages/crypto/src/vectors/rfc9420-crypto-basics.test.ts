import assert from 'node:assert/strict';
import { test } from 'node:test';
import { refhash } from 'ts-mls/crypto/hash.js';
import { decryptWithLabel, encryptWithLabel } from 'ts-mls/crypto/hpke.js';
import { deriveSecret, deriveTreeSecret, expandWithLabel } from 'ts-mls/crypto/kdf.js';
import { signWithLabel, verifyWithLabel } from 'ts-mls/crypto/signature.js';
import { forEachSuiteCase, hex, loadVectors, report, toHex } from '../../test/vectors.ts';

type Io = Record<string, string>;
interface V {
  cipher_suite: number;
  ref_hash: Io;
  expand_with_label: Io;
  derive_secret: Io;
  derive_tree_secret: Io;
  sign_with_label: Io;
  encrypt_with_label: Io;
}
const f = (o: Io, k: string): string => o[k] ?? assert.fail(`missing ${k}`);

test('RFC 9420 crypto-basics.json: every case of the suites ts-mls has', async (t) => {
  const cases = loadVectors<V>(t, 'crypto-basics.json');
  if (!cases) return;
  const r = await forEachSuiteCase(cases, async (c, cs) => {
    const rh = c.ref_hash;
    assert.equal(toHex(await refhash(f(rh, 'label'), hex(f(rh, 'value')), cs.hash)), f(rh, 'out'));
    const ew = c.expand_with_label;
    assert.equal(
      toHex(
        await expandWithLabel(
          hex(f(ew, 'secret')),
          f(ew, 'label'),
          hex(f(ew, 'context')),
          Number(f(ew, 'length')),
          cs.kdf,
        ),
      ),
      f(ew, 'out'),
    );
    const ds = c.derive_secret;
    assert.equal(toHex(await deriveSecret(hex(f(ds, 'secret')), f(ds, 'label'), cs.kdf)), f(ds, 'out'));
    const dt = c.derive_tree_secret;
    assert.equal(
      toHex(
        await deriveTreeSecret(
          hex(f(dt, 'secret')),
          f(dt, 'label'),
          Number(f(dt, 'generation')),
          Number(f(dt, 'length')),
          cs.kdf,
        ),
      ),
      f(dt, 'out'),
    );
    const sw = c.sign_with_label;
    const content = hex(f(sw, 'content'));
    assert.ok(
      await verifyWithLabel(
        hex(f(sw, 'pub')),
        f(sw, 'label'),
        content,
        hex(f(sw, 'signature')),
        cs.signature,
      ),
    );
    const ours = await signWithLabel(hex(f(sw, 'priv')), f(sw, 'label'), content, cs.signature);
    assert.ok(await verifyWithLabel(hex(f(sw, 'pub')), f(sw, 'label'), content, ours, cs.signature));
    assert.equal(
      await verifyWithLabel(hex(f(sw, 'pub')), `${f(sw, 'label')}x`, content, ours, cs.signature),
      false,
    );
    const en = c.encrypt_with_label;
    const priv = await cs.hpke.importPrivateKey(hex(f(en, 'priv')));
    const pt = await decryptWithLabel(
      priv,
      f(en, 'label'),
      hex(f(en, 'context')),
      hex(f(en, 'kem_output')),
      hex(f(en, 'ciphertext')),
      cs.hpke,
    );
    assert.equal(toHex(pt), f(en, 'plaintext'));
    const pub = await cs.hpke.importPublicKey(hex(f(en, 'pub')));
    const again = await encryptWithLabel(
      pub,
      f(en, 'label'),
      hex(f(en, 'context')),
      hex(f(en, 'plaintext')),
      cs.hpke,
    );
    const back = await decryptWithLabel(
      priv,
      f(en, 'label'),
      hex(f(en, 'context')),
      again.enc,
      again.ct,
      cs.hpke,
    );
    assert.equal(toHex(back), f(en, 'plaintext'));
  });
  report(t, 'crypto-basics.json', r);
  assert.ok(r.tested >= 1);
});
