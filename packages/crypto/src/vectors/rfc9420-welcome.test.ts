import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeMlsMessage } from 'ts-mls';
import { verifyGroupInfoConfirmationTag, verifyGroupInfoSignature } from 'ts-mls/groupInfo.js';
import { makeKeyPackageRef } from 'ts-mls/keyPackage.js';
import { decryptGroupInfo, decryptGroupSecrets } from 'ts-mls/welcome.js';
import { forEachSuiteCase, hex, loadVectors, report } from '../../test/vectors.ts';

interface V {
  cipher_suite: number;
  init_priv: string;
  key_package: string;
  signer_pub: string;
  welcome: string;
}

test('RFC 9420 welcome.json: decrypt group secrets and GroupInfo, verify signature and tag', async (t) => {
  const cases = loadVectors<V>(t, 'welcome.json');
  if (!cases) return;
  const r = await forEachSuiteCase(cases, async (c, cs) => {
    const kp = decodeMlsMessage(hex(c.key_package), 0)?.[0];
    const w = decodeMlsMessage(hex(c.welcome), 0)?.[0];
    if (kp?.wireformat !== 'mls_key_package' || w?.wireformat !== 'mls_welcome')
      assert.fail('wrong wire formats');
    const ref = await makeKeyPackageRef(kp.keyPackage, cs.hash);
    const secrets = await decryptGroupSecrets(
      await cs.hpke.importPrivateKey(hex(c.init_priv)),
      ref,
      w.welcome,
      cs.hpke,
    );
    assert.ok(secrets, 'group secrets do not decrypt');
    const psk = new Uint8Array(cs.kdf.size);
    const gi = await decryptGroupInfo(w.welcome, secrets.joinerSecret, psk, cs);
    assert.ok(gi, 'group info does not decrypt');
    assert.ok(await verifyGroupInfoSignature(gi, hex(c.signer_pub), cs.signature));
    assert.ok(await verifyGroupInfoConfirmationTag(gi, secrets.joinerSecret, psk, cs));
  });
  report(t, 'welcome.json', r);
  assert.ok(r.tested >= 1);
});
