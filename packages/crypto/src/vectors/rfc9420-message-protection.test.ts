import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { CiphersuiteImpl, FramedContent } from 'ts-mls';
import { decodeMlsMessage } from 'ts-mls';
import { encodeCommit } from 'ts-mls/commit.js';
import { defaultKeyRetentionConfig } from 'ts-mls/keyRetentionConfig.js';
import { unprotectPrivateMessage } from 'ts-mls/messageProtection.js';
import { unprotectPublicMessage } from 'ts-mls/messageProtectionPublic.js';
import { encodeProposal } from 'ts-mls/proposal.js';
import { createSecretTree } from 'ts-mls/secretTree.js';
import { forEachSuiteCase, hex, loadVectors, report, toHex } from '../../test/vectors.ts';

type V = Record<string, string> & { cipher_suite: string };

function contentBytes(content: FramedContent): string {
  if (content.contentType === 'proposal') return toHex(encodeProposal(content.proposal));
  if (content.contentType === 'commit') return toHex(encodeCommit(content.commit));
  return toHex(content.applicationData);
}

async function check(c: V, cs: CiphersuiteImpl): Promise<void> {
  const f = (k: string) => c[k] ?? assert.fail(`missing ${k}`);
  const gc = {
    version: 'mls10' as const,
    cipherSuite: cs.name,
    groupId: hex(f('group_id')),
    epoch: BigInt(f('epoch')),
    treeHash: hex(f('tree_hash')),
    confirmedTranscriptHash: hex(f('confirmed_transcript_hash')),
    extensions: [],
  };
  const sigPub = hex(f('signature_pub'));
  for (const kind of ['proposal', 'commit', 'application'] as const) {
    const expected = f(kind);
    // the sender is leaf 1 of a two-member group (test-vectors.md)
    const secretTree = await createSecretTree(2, hex(f('encryption_secret')), cs.kdf);
    const priv = decodeMlsMessage(hex(f(`${kind}_priv`)), 0)?.[0];
    if (priv?.wireformat !== 'mls_private_message') assert.fail(`${kind}_priv is not a PrivateMessage`);
    const r = await unprotectPrivateMessage(
      hex(f('sender_data_secret')),
      priv.privateMessage,
      secretTree,
      [],
      gc,
      defaultKeyRetentionConfig,
      cs,
      sigPub,
    );
    assert.equal(contentBytes(r.content.content), expected, `${kind}_priv`);
    if (kind === 'application') continue; // application data is never sent as a PublicMessage
    const pub = decodeMlsMessage(hex(f(`${kind}_pub`)), 0)?.[0];
    if (pub?.wireformat !== 'mls_public_message') assert.fail(`${kind}_pub is not a PublicMessage`);
    const p = await unprotectPublicMessage(hex(f('membership_key')), gc, [], pub.publicMessage, cs, sigPub);
    assert.equal(contentBytes(p.content), expected, `${kind}_pub`);
  }
}

test('RFC 9420 message-protection.json: unprotect public and private proposal, commit, application', async (t) => {
  const cases = loadVectors<V>(t, 'message-protection.json');
  if (!cases) return;
  const r = await forEachSuiteCase(cases, async (c, cs) => check(c, cs));
  report(t, 'message-protection.json', r);
  assert.ok(r.tested >= 1);
});
