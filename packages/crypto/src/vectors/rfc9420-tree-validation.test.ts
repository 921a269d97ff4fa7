import assert from 'node:assert/strict';
import { test } from 'node:test';
import { verifyLeafNodeSignature, verifyLeafNodeSignatureKeyPackage } from 'ts-mls/leafNode.js';
import { verifyParentHashes } from 'ts-mls/parentHash.js';
import { decodeRatchetTree, resolution } from 'ts-mls/ratchetTree.js';
import { treeHash } from 'ts-mls/treeHash.js';
import { toNodeIndex } from 'ts-mls/treemath.js';
import { forEachSuiteCase, hex, loadVectors, report, toHex } from '../../test/vectors.ts';

interface V {
  cipher_suite: string;
  tree: string;
  group_id: string;
  tree_hashes: string[];
  resolutions: number[][];
}

test('RFC 9420 tree-validation.json: tree hashes, resolutions, parent hashes, leaf signatures', async (t) => {
  const cases = loadVectors<V>(t, 'tree-validation.json');
  if (!cases) return;
  const r = await forEachSuiteCase(cases, async (c, cs) => {
    const tree = decodeRatchetTree(hex(c.tree), 0)?.[0];
    assert.ok(tree);
    for (let i = 0; i < c.tree_hashes.length; i++) {
      assert.equal(
        toHex(await treeHash(tree, toNodeIndex(i), cs.hash)),
        c.tree_hashes[i],
        `tree hash of node ${i}`,
      );
      assert.deepEqual(resolution(tree, toNodeIndex(i)), c.resolutions[i], `resolution of node ${i}`);
    }
    assert.ok(await verifyParentHashes(tree, cs.hash));
    for (const [i, node] of tree.entries()) {
      if (node?.nodeType !== 'leaf') continue;
      const leaf = node.leaf;
      const ok =
        leaf.leafNodeSource === 'key_package'
          ? await verifyLeafNodeSignatureKeyPackage(leaf, cs.signature)
          : await verifyLeafNodeSignature(leaf, hex(c.group_id), i / 2, cs.signature);
      assert.ok(ok, `leaf ${i / 2} signature`);
    }
  });
  report(t, 'tree-validation.json', r);
  assert.ok(r.tested >= 1);
});
