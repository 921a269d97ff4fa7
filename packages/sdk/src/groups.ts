/**
 * Group admin policy, the same pure rules on every member device. The server cannot enforce any of
 * it (it never sees the meta envelope nor who a commit adds), and MLS lets any member commit; so
 * each client refuses to act as a non-admin, and each receiver ignores a meta change from a
 * non-admin and flags membership commits by one (a commit it cannot undo).
 */
import type { ConversationRecord } from './store/records.ts';

type ConvLike = Pick<ConversationRecord, 'kind' | 'admins' | 'members'>;

/**
 * Who counts as admin now: the listed admins that are still members. A direct chat has no admins
 * (everybody may do everything). When no listed admin is a member (every admin left, or this
 * device has not learnt the admins yet: a legacy group, or a join whose first meta has not come)
 * every member counts as admin, so a group never locks up; that is also the trust-on-first-use
 * gap for a joiner, which takes its first meta from whichever member sends one.
 */
export function effectiveAdmins(conv: ConvLike): string[] {
  const members = conv.members.map((m) => m.userId);
  if (conv.kind === 'direct') return members;
  const present = conv.admins.filter((a) => members.includes(a));
  return present.length > 0 ? present : members;
}

export function isAdmin(conv: ConvLike, userId: string): boolean {
  return effectiveAdmins(conv).includes(userId);
}

/** The admin list after promoting or demoting `userId` (by an admin); undefined = no change. */
export function withAdmin(
  conv: ConvLike,
  actor: string,
  userId: string,
  admin: boolean,
): string[] | undefined {
  const members = conv.members.map((m) => m.userId);
  const known = conv.admins.filter((a) => members.includes(a));
  // Nobody listed yet (legacy group): the acting member becomes the first admin.
  const base = known.length > 0 ? known : [actor];
  if (admin === base.includes(userId) && base.length === known.length) return undefined;
  return admin ? [...new Set([...base, userId])] : base.filter((a) => a !== userId);
}

export interface MembershipChange {
  added: { userId: string; deviceId: string }[];
  removed: { userId: string; deviceId: string }[];
}

/**
 * The users a commit by a non-admin `committer` brought in or put out, which only an admin may do.
 * Admin is about people, so devices of users who stay members are not counted: any member adds the
 * new devices of existing members (their own account does too), and an account revokes its own.
 * Removing users who said they leave (or whose account was deleted) is no admin act either: MLS
 * forbids self-removal, so any member commits it. `conv` is the state before the commit; `after`
 * the userIds in the group after it.
 */
export function forbiddenMembershipChange(
  conv: ConvLike,
  committer: string,
  change: MembershipChange,
  leaving: readonly string[],
  after: readonly string[],
): string[] {
  if (isAdmin(conv, committer)) return [];
  const before = conv.members.map((m) => m.userId);
  const out = new Set<string>();
  for (const m of change.added) if (m.userId !== committer && !before.includes(m.userId)) out.add(m.userId);
  for (const m of change.removed)
    if (m.userId !== committer && !after.includes(m.userId) && !leaving.includes(m.userId)) out.add(m.userId);
  return [...out];
}
