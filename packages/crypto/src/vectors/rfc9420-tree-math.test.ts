import assert from 'node:assert/strict';
import { test } from 'node:test';
import { left, nodeWidth, parent, right, root, sibling, toNodeIndex } from 'ts-mls/treemath.js';
import { loadVectors } from '../../test/vectors.ts';

interface V {
  n_leaves: number;
  n_nodes: number;
  root: number;
  left: (number | null)[];
  right: (number | null)[];
  parent: (number | null)[];
  sibling: (number | null)[];
}

test('RFC 9420 tree-math.json: all cases (suite-independent)', (t) => {
  const cases = loadVectors<V>(t, 'tree-math.json');
  if (!cases) return;
  for (const c of cases) {
    assert.equal(nodeWidth(c.n_leaves), c.n_nodes);
    assert.equal(root(c.n_leaves), c.root);
    for (let i = 0; i < c.n_nodes; i++) {
      const x = toNodeIndex(i);
      const leaf = i % 2 === 0;
      // RFC 9420 Appendix C: left/right of a leaf, parent/sibling of the root are null.
      if (!leaf) {
        assert.equal(left(x), c.left[i]);
        assert.equal(right(x), c.right[i]);
      } else {
        assert.equal(c.left[i], null);
        assert.equal(c.right[i], null);
      }
      if (i !== c.root) {
        assert.equal(parent(x, c.n_leaves), c.parent[i]);
        assert.equal(sibling(x, c.n_leaves), c.sibling[i]);
      } else {
        assert.equal(c.parent[i], null);
        assert.equal(c.sibling[i], null);
      }
    }
  }
  t.diagnostic(`tree-math.json: ${cases.length} cases tested`);
});
