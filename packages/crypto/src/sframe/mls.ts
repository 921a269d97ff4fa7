/**
 * SFrame keys from MLS, exactly as RFC 9605 §5.2:
 *
 *   base_key = MLS-Exporter("SFrame 1.0 Base Key", "", AEAD.Nk)
 *   KID      = (context << (S + E)) + (sender_index << E) + (epoch % (1 << E))
 *
 * There is no per-sender exporter call or Expand step: every member of an epoch shares base_key,
 * and each sender's sframe_key/sframe_salt differ because derive_key_salt (§4.4.2) puts the KID,
 * which holds the sender's leaf index, into the HKDF labels. `sender_index` is the MLS leaf
 * index. We use context 0 (the shortest KIDs), so S does not matter on the wire and a receiver
 * reads the leaf index back as KID >> E.
 *
 * E (epochBits) is the application's choice, fixed per session and known to every member: only
 * 2^E epochs can be told apart at once, and §5.2 says a receiver MUST drop the old epoch when a
 * new one with the same low E bits arrives, which installMlsEpoch does.
 */

import type { MemberIdentity } from '../credential.ts';
import { exportSecret, type Group } from '../mls.ts';
import type { SFrameContext } from './context.ts';
import { groupView } from './group-view.ts';
import { MAX_U64 } from './header.ts';
import { type SFrameSuiteId, sframeSuite } from './suites.ts';

export const SFRAME_MLS_EXPORTER_LABEL = 'SFrame 1.0 Base Key';

export interface MlsSFrameOptions {
  suite: SFrameSuiteId;
  /** E: low-order epoch bits carried in the KID (1..32). */
  epochBits: number;
}

export interface MlsSender {
  leafIndex: number;
  kid: bigint;
  member: MemberIdentity;
}

/** Everything one device needs to run SFrame for one MLS epoch. */
export interface MlsSFrameEpoch {
  suite: SFrameSuiteId;
  epoch: bigint;
  epochBits: number;
  /** Shared by all members of the epoch; secret. */
  baseKey: Uint8Array;
  /** This device: the KID it sends with. */
  own: MlsSender;
  /** Every other member, each with the KID it sends with. */
  others: MlsSender[];
}

function checkEpochBits(e: number): void {
  if (!Number.isInteger(e) || e < 1 || e > 32) throw new RangeError('sframe/mls: epochBits must be in 1..32');
}

/**
 * KID for a sender in an epoch (§5.2) with context 0: (leafIndex << E) + (epoch mod 2^E).
 * Throws RangeError when the result does not fit in 64 bits.
 */
export function kidFor(epoch: number | bigint, leafIndex: number, epochBits: number): bigint {
  checkEpochBits(epochBits);
  if (!Number.isSafeInteger(leafIndex) || leafIndex < 0) throw new RangeError('sframe/mls: bad leaf index');
  const e = BigInt(epoch);
  if (e < 0n) throw new RangeError('sframe/mls: bad epoch');
  const E = BigInt(epochBits);
  const kid = (BigInt(leafIndex) << E) + (e & ((1n << E) - 1n));
  if (kid > MAX_U64) throw new RangeError('sframe/mls: KID does not fit in 64 bits');
  return kid;
}

/** The inverse of kidFor: the sender's leaf index and the epoch's low E bits. */
export function parseMlsKid(kid: bigint, epochBits: number): { leafIndex: bigint; epochLow: bigint } {
  checkEpochBits(epochBits);
  const E = BigInt(epochBits);
  return { leafIndex: kid >> E, epochLow: kid & ((1n << E) - 1n) };
}

/** base_key = MLS-Exporter("SFrame 1.0 Base Key", "", AEAD.Nk) for the group's current epoch. */
export async function exportSFrameBaseKey(group: Group, suite: SFrameSuiteId): Promise<Uint8Array> {
  const s = sframeSuite(suite);
  if (s === undefined) throw new RangeError(`sframe/mls: unknown cipher suite ${suite}`);
  return exportSecret(group, SFRAME_MLS_EXPORTER_LABEL, new Uint8Array(0), s.nk);
}

/**
 * The (KID, base_key) pair a sender at `leafIndex` uses in the group's current epoch. Feed it to
 * addSendKey (own leaf) or addReceiveKey (anyone else); the context derives that sender's
 * sframe_key/salt from it.
 */
export async function deriveSenderKey(
  group: Group,
  leafIndex: number,
  options: MlsSFrameOptions,
): Promise<{ kid: bigint; baseKey: Uint8Array }> {
  return {
    kid: kidFor(group.epoch, leafIndex, options.epochBits),
    baseKey: await exportSFrameBaseKey(group, options.suite),
  };
}

/** This device's and every other member's SFrame keys for the group's current epoch. */
export async function sframeKeyFromMls(group: Group, options: MlsSFrameOptions): Promise<MlsSFrameEpoch> {
  checkEpochBits(options.epochBits);
  const view = groupView(group);
  const baseKey = await exportSFrameBaseKey(group, options.suite);
  const senders = view.leaves.map((l) => ({ ...l, kid: kidFor(view.epoch, l.leafIndex, options.epochBits) }));
  const own = senders.find((s) => s.leafIndex === view.ownLeafIndex);
  if (own === undefined) throw new Error('unreachable: own leaf missing from our group');
  return {
    suite: options.suite,
    epoch: view.epoch,
    epochBits: options.epochBits,
    baseKey,
    own,
    others: senders.filter((s) => s !== own),
  };
}

/**
 * Switches a context to a new epoch: our send key for the new KID, receive keys for every other
 * member. Keys of other epochs are retired (receive keys keep working for the context's rotation
 * grace, so frames in flight still open); keys whose KID carries the same low E bits as the new
 * epoch (an older epoch that wrapped around) are removed at once, as §5.2 requires. Assumes the
 * context holds only this group's keys, all made with the same epochBits. Throws, leaving the
 * context as it was, when this epoch's send key is already installed.
 */
export function installMlsEpoch(ctx: SFrameContext, epoch: MlsSFrameEpoch): void {
  if (ctx.suite.id !== epoch.suite)
    throw new RangeError('sframe/mls: context and epoch use different suites');
  const E = BigInt(epoch.epochBits);
  const low = epoch.epoch & ((1n << E) - 1n);
  const before = ctx.keys();
  // First, because it is the step that can refuse (installing the same epoch twice would restart
  // CTR under the same key); nothing has changed yet when it does.
  ctx.addSendKey(epoch.own.kid, epoch.baseKey);
  for (const k of before) {
    if (k.kid === epoch.own.kid) continue;
    if (parseMlsKid(k.kid, epoch.epochBits).epochLow === low) ctx.removeKey(k.kid);
    else ctx.retireKey(k.kid);
  }
  for (const o of epoch.others) ctx.addReceiveKey(o.kid, epoch.baseKey);
}
