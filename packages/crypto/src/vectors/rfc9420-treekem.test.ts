import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { CiphersuiteImpl } from 'ts-mls';
import { applyUpdatePathSecret } from 'ts-mls/createCommit.js';
import { deriveSecret } from 'ts-mls/crypto/kdf.js';
import { pathToRoot } from 'ts-mls/pathSecrets.js';
import { toPrivateKeyPath } from 'ts-mls/privateKeyPath.js';
import { decodeRatchetTree } from 'ts-mls/ratchetTree.js';
import { treeHashRoot } from 'ts-mls/treeHash.js';
import { leafToNodeIndex, leafWidth, root, toLeafIndex, toNodeIndex } from 'ts-mls/treemath.js';
import { applyUpdatePath, decodeUpdatePath } from 'ts-mls/updatePath.js';
import { forEachSuiteCase, hex, loadVectors, report, toHex } from '../../test/vectors.ts';

interface V {
  cipher_suite: string;
  group_id: string;
  epoch: string;
  confirmed_transcript_hash: string;
  ratchet_tree: string;
  leaves_private: {
    index: number;
    encryption_priv: string;
    signature_priv: string;
    path_secrets: { node: number; path_secret: string }[];
  }[];
  update_paths: {
    sender: number;
    update_path: string;
    path_secrets: (string | null)[];
    commit_secret: string;
    tree_hash_after: string;
  }[];
}

async function check(c: V, cs: CiphersuiteImpl): Promise<void> {
  const tree = decodeRatchetTree(hex(c.ratchet_tree), 0)?.[0];
  assert.ok(tree);
  const width = leafWidth(tree.length);
  // Each member's private view: its leaf key plus the keys of the path secrets it already knows.
  const views = new Map<number, Awaited<ReturnType<typeof toPrivateKeyPath>>>();
  for (const lp of c.leaves_private) {
    const secrets: Record<number, Uint8Array> = {};
    for (const ps of lp.path_secrets) secrets[ps.node] = hex(ps.path_secret);
    const fromSecrets = await toPrivateKeyPath(secrets, lp.index, cs);
    views.set(lp.index, {
      leafIndex: lp.index,
      privateKeys: {
        ...fromSecrets.privateKeys,
        [leafToNodeIndex(toLeafIndex(lp.index))]: hex(lp.encryption_priv),
      },
    });
  }
  for (const up of c.update_paths) {
    const path = decodeUpdatePath(hex(up.update_path), 0)?.[0];
    assert.ok(path);
    const after = await applyUpdatePath(tree, toLeafIndex(up.sender), path, cs.hash);
    const hashAfter = await treeHashRoot(after, cs.hash);
    assert.equal(toHex(hashAfter), up.tree_hash_after);
    const gc = {
      version: 'mls10' as const,
      cipherSuite: cs.name,
      groupId: hex(c.group_id),
      epoch: BigInt(c.epoch),
      treeHash: hashAfter,
      confirmedTranscriptHash: hex(c.confirmed_transcript_hash),
      extensions: [],
    };
    // Every other member decrypts its path secret and reaches the same commit secret.
    for (const [index, view] of views) {
      if (index === up.sender) continue;
      const expected = up.path_secrets[index];
      const got = await applyUpdatePathSecret(after, view, toLeafIndex(up.sender), gc, path, [], cs);
      assert.equal(toHex(got.pathSecret), expected, `leaf ${index} path secret`);
      const secrets = await pathToRoot(after, toNodeIndex(got.nodeIndex), got.pathSecret, cs.kdf);
      const rootSecret = secrets[root(width)];
      assert.ok(rootSecret);
      assert.equal(
        toHex(await deriveSecret(rootSecret, 'path', cs.kdf)),
        up.commit_secret,
        `leaf ${index} commit secret`,
      );
    }
  }
}

test('RFC 9420 treekem.json: apply update paths, tree hash, every receiver path and commit secret', async (t) => {
  const cases = loadVectors<V>(t, 'treekem.json');
  if (!cases) return;
  const r = await forEachSuiteCase(cases, async (c, cs, i) => {
    try {
      await check(c, cs);
    } catch (e) {
      assert.fail(`treekem case ${i} (suite ${c.cipher_suite}): ${String(e)}`);
    }
  });
  report(t, 'treekem.json', r);
  assert.ok(r.tested >= 1);
});
