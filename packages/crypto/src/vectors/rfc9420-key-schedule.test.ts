import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mlsExporter } from 'ts-mls';
import { encodeGroupContext } from 'ts-mls/groupContext.js';
import { initializeEpoch } from 'ts-mls/keySchedule.js';
import { forEachSuiteCase, hex, loadVectors, report, toHex } from '../../test/vectors.ts';

interface Epoch {
  tree_hash: string;
  commit_secret: string;
  psk_secret: string;
  confirmed_transcript_hash: string;
  group_context: string;
  joiner_secret: string;
  welcome_secret: string;
  init_secret: string;
  sender_data_secret: string;
  encryption_secret: string;
  exporter_secret: string;
  epoch_authenticator: string;
  external_secret: string;
  confirmation_key: string;
  membership_key: string;
  resumption_psk: string;
  external_pub: string;
  exporter: { label: string; context: string; length: number; secret: string };
}
interface V {
  cipher_suite: number;
  group_id: string;
  initial_init_secret: string;
  epochs: Epoch[];
}

test('RFC 9420 key-schedule.json: every epoch of every case of the suites ts-mls has', async (t) => {
  const cases = loadVectors<V>(t, 'key-schedule.json');
  if (!cases) return;
  const r = await forEachSuiteCase(cases, async (c, cs) => {
    let initSecret = hex(c.initial_init_secret);
    for (const [i, e] of c.epochs.entries()) {
      const gc = {
        version: 'mls10' as const,
        cipherSuite: cs.name,
        groupId: hex(c.group_id),
        epoch: BigInt(i),
        treeHash: hex(e.tree_hash),
        confirmedTranscriptHash: hex(e.confirmed_transcript_hash),
        extensions: [],
      };
      assert.equal(toHex(encodeGroupContext(gc)), e.group_context);
      const s = await initializeEpoch(initSecret, hex(e.commit_secret), gc, hex(e.psk_secret), cs.kdf);
      assert.equal(toHex(s.joinerSecret), e.joiner_secret);
      assert.equal(toHex(s.welcomeSecret), e.welcome_secret);
      assert.equal(toHex(s.encryptionSecret), e.encryption_secret);
      const ks = s.keySchedule;
      assert.equal(toHex(ks.initSecret), e.init_secret);
      assert.equal(toHex(ks.senderDataSecret), e.sender_data_secret);
      assert.equal(toHex(ks.exporterSecret), e.exporter_secret);
      assert.equal(toHex(ks.epochAuthenticator), e.epoch_authenticator);
      assert.equal(toHex(ks.externalSecret), e.external_secret);
      assert.equal(toHex(ks.confirmationKey), e.confirmation_key);
      assert.equal(toHex(ks.membershipKey), e.membership_key);
      assert.equal(toHex(ks.resumptionPsk), e.resumption_psk);
      const ext = await cs.hpke.deriveKeyPair(ks.externalSecret);
      assert.equal(toHex(await cs.hpke.exportPublicKey(ext.publicKey)), e.external_pub);
      // The exporter label is used as the text of its hex string (that is how the vectors were
      // generated); this is the same mlsExporter call our exportSecret makes.
      const exported = await mlsExporter(
        ks.exporterSecret,
        e.exporter.label,
        hex(e.exporter.context),
        e.exporter.length,
        cs,
      );
      assert.equal(toHex(exported), e.exporter.secret);
      initSecret = ks.initSecret;
    }
  });
  report(t, 'key-schedule.json', r);
  assert.ok(r.tested >= 1);
});
