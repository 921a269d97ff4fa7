/**
 * The three passive-client files: join from a Welcome with given private keys, then process each
 * epoch's proposals and commit, checking the epoch authenticator after each. These run ts-mls's
 * public join/process functions end to end, with the default (accept-all) authentication service
 * because the vectors' credentials are not ours.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  acceptAll,
  bytesToBase64,
  type CiphersuiteImpl,
  type ClientState,
  decodeMlsMessage,
  joinGroup,
  makePskIndex,
  processMessage,
} from 'ts-mls';
import { defaultClientConfig } from 'ts-mls/clientConfig.js';
import { decodeRatchetTree } from 'ts-mls/ratchetTree.js';
import { forEachSuiteCase, hex, loadVectors, report, toHex } from '../../test/vectors.ts';

interface V {
  cipher_suite: number;
  external_psks: { psk_id: string; psk: string }[];
  key_package: string;
  signature_priv: string;
  encryption_priv: string;
  init_priv: string;
  welcome: string;
  ratchet_tree: string | null;
  initial_epoch_authenticator: string;
  epochs: { proposals: string[]; commit: string; epoch_authenticator: string }[];
}

function msg(bytes: string) {
  const m = decodeMlsMessage(hex(bytes), 0)?.[0];
  if (m === undefined) assert.fail('MLSMessage does not decode');
  return m;
}

async function runCase(c: V, cs: CiphersuiteImpl): Promise<void> {
  const kp = msg(c.key_package);
  const welcome = msg(c.welcome);
  if (kp.wireformat !== 'mls_key_package' || welcome.wireformat !== 'mls_welcome')
    assert.fail('wrong wire formats');
  const psks: Record<string, Uint8Array> = {};
  for (const p of c.external_psks) psks[bytesToBase64(hex(p.psk_id))] = hex(p.psk);
  const tree = c.ratchet_tree ? decodeRatchetTree(hex(c.ratchet_tree), 0)?.[0] : undefined;
  let state: ClientState = await joinGroup(
    welcome.welcome,
    kp.keyPackage,
    {
      initPrivateKey: hex(c.init_priv),
      hpkePrivateKey: hex(c.encryption_priv),
      signaturePrivateKey: hex(c.signature_priv),
    },
    makePskIndex(undefined, psks),
    cs,
    tree,
    undefined,
    defaultClientConfig,
  );
  assert.equal(toHex(state.keySchedule.epochAuthenticator), c.initial_epoch_authenticator);
  for (const e of c.epochs) {
    for (const p of e.proposals) {
      const m = msg(p);
      if (m.wireformat !== 'mls_public_message' && m.wireformat !== 'mls_private_message')
        assert.fail('not a message');
      state = (await processMessage(m, state, makePskIndex(state, psks), acceptAll, cs)).newState;
    }
    const m = msg(e.commit);
    if (m.wireformat !== 'mls_public_message' && m.wireformat !== 'mls_private_message')
      assert.fail('not a message');
    state = (await processMessage(m, state, makePskIndex(state, psks), acceptAll, cs)).newState;
    assert.equal(toHex(state.keySchedule.epochAuthenticator), e.epoch_authenticator);
  }
}

for (const [file, budgetNote] of [
  ['passive-client-welcome.json', ''],
  ['passive-client-handling-commit.json', ''],
  ['passive-client-random.json', ''],
] as const) {
  test(`RFC 9420 ${file}: join and follow every epoch${budgetNote}`, async (t) => {
    const cases = loadVectors<V>(t, file);
    if (!cases) return;
    const r = await forEachSuiteCase(cases, async (c, cs, i) => {
      try {
        await runCase(c, cs);
      } catch (e) {
        assert.fail(`${file} case ${i} (suite ${c.cipher_suite}): ${String(e)}`);
      }
    });
    report(t, file, r);
    assert.ok(r.tested >= 1);
  });
}
