import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeProposal } from 'ts-mls/proposal.js';
import {
  addLeafNode,
  decodeRatchetTree,
  encodeRatchetTree,
  removeLeafNode,
  updateLeafNode,
} from 'ts-mls/ratchetTree.js';
import { treeHashRoot } from 'ts-mls/treeHash.js';
import { toLeafIndex } from 'ts-mls/treemath.js';
import { forEachSuiteCase, hex, loadVectors, report, toHex } from '../../test/vectors.ts';

interface V {
  cipher_suite: string;
  proposal: string;
  proposal_sender: string;
  tree_before: string;
  tree_after: string;
  tree_hash_before: string;
  tree_hash_after: string;
}

test('RFC 9420 tree-operations.json: add, update, remove applied to the ratchet tree', async (t) => {
  const cases = loadVectors<V>(t, 'tree-operations.json');
  if (!cases) return;
  const r = await forEachSuiteCase(cases, async (c, cs) => {
    const before = decodeRatchetTree(hex(c.tree_before), 0)?.[0];
    const proposal = decodeProposal(hex(c.proposal), 0)?.[0];
    assert.ok(before && proposal);
    assert.equal(toHex(await treeHashRoot(before, cs.hash)), c.tree_hash_before);
    let after = before;
    if (proposal.proposalType === 'add') after = addLeafNode(before, proposal.add.keyPackage.leafNode)[0];
    else if (proposal.proposalType === 'update')
      after = updateLeafNode(before, proposal.update.leafNode, toLeafIndex(Number(c.proposal_sender)));
    else if (proposal.proposalType === 'remove')
      after = removeLeafNode(before, toLeafIndex(proposal.remove.removed));
    else assert.fail(`unexpected proposal ${proposal.proposalType}`);
    assert.equal(toHex(encodeRatchetTree(after)), c.tree_after);
    assert.equal(toHex(await treeHashRoot(after, cs.hash)), c.tree_hash_after);
  });
  report(t, 'tree-operations.json', r);
  assert.ok(r.tested >= 1);
});
