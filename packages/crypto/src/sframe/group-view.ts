/**
 * Read-only facts about a Group that SFrame needs and Group does not expose: this device's leaf
 * index and which member sits at which leaf. Group keeps its ts-mls state private to mls.ts, and
 * we do not want to widen that class for one consumer, so we read them from Group.encode() (the
 * same bytes decodeGroup restores). This runs once per epoch, never per frame. The encoded state
 * holds secrets, so the buffer is wiped as soon as the numbers and credentials are copied out.
 */
import { decodeGroupState } from 'ts-mls';
import { wipe } from '../bytes.ts';
import { decodeMemberIdentity, type MemberIdentity } from '../credential.ts';
import type { Group } from '../mls.ts';

export interface GroupLeaf {
  leafIndex: number;
  member: MemberIdentity;
}

export interface GroupView {
  epoch: bigint;
  ownLeafIndex: number;
  /** Occupied leaves with a credential that decodes, in leaf order (this device included). */
  leaves: GroupLeaf[];
}

export function groupView(group: Group): GroupView {
  const bytes = group.encode();
  try {
    // Group.encode() is u8 version || encodeGroupState; mls.ts decodes from offset 1 the same way.
    const decoded = decodeGroupState(bytes, 1);
    if (decoded === undefined) throw new Error('unreachable: our own group state does not decode');
    const state = decoded[0];
    const leaves: GroupLeaf[] = [];
    state.ratchetTree.forEach((node, nodeIndex) => {
      if (node?.nodeType !== 'leaf' || node.leaf.credential.credentialType !== 'basic') return;
      const m = decodeMemberIdentity(node.leaf.credential.identity.slice());
      if (m.ok) leaves.push({ leafIndex: nodeIndex / 2, member: m.value });
    });
    return { epoch: state.groupContext.epoch, ownLeafIndex: state.privatePath.leafIndex, leaves };
  } finally {
    wipe(bytes);
  }
}
