/**
 * Consent rules: who may message me, call me, add me to groups, and reach me peer-to-peer in a
 * call. Pure functions only (no I/O): the same rules on every device of the account, which share
 * them end-to-end encrypted (see consent/manager.ts), and a property test covers every rule and
 * every relation.
 *
 * One table for every kind: `everybody` lets a stranger in, `contacts` turns a stranger into a
 * request, `nobody` turns a contact into a request and refuses a stranger. The never-allow list
 * refuses and wins over everything; the always-allow list lets in.
 *
 * Defaults: messages, calls and groups from everybody (what WhatsApp and Telegram do, and what a
 * person who was just given a username expects), peer-to-peer only with contacts (a stranger never
 * learns our IP address). Strict mode, or any rule set to `contacts`, turns strangers' first
 * messages into message requests (as Signal does), their calls into call requests and their
 * groups into invitations.
 */
import { z } from 'zod';

export const Audience = z.enum(['everybody', 'contacts', 'nobody']);
export type Audience = z.infer<typeof Audience>;
const UserIds = z.array(z.string().min(1).max(64)).max(1000);

export const Rule = z.object({
  who: Audience,
  /** Always allowed (userIds), whatever `who` says; never-allow wins over it. */
  allow: UserIds.default([]),
  /** Never allowed (userIds). */
  deny: UserIds.default([]),
});
export type Rule = z.infer<typeof Rule>;

export const CONSENT_KINDS = ['messages', 'calls', 'groups', 'p2p'] as const;
export type ConsentKind = (typeof CONSENT_KINDS)[number];

const rule = (who: Audience): Rule => ({ who, allow: [], deny: [] });

export const ConsentRules = z.object({
  /** Who may start a conversation with me (1:1). */
  messages: Rule.default(rule('everybody')),
  /** Whose calls ring me. */
  calls: Rule.default(rule('everybody')),
  /** Who may add me to a group. */
  groups: Rule.default(rule('everybody')),
  /** With whom a call may go peer-to-peer (anyone else: relay only, my IP address stays hidden). */
  p2p: Rule.default(rule('contacts')),
  /** Calls from non-contacts that the rules would let ring (or hold as a request) are silenced: logged, no ring. */
  silenceUnknownCallers: z.boolean().default(false),
  /** The safest of all, whatever the rest says (see `effectiveRules`). */
  strict: z.boolean().default(false),
  /** Wall clock of the device that last changed them: the newest wins across devices. */
  updatedAt: z.number().int().nonnegative().default(0),
});
export type ConsentRules = z.infer<typeof ConsentRules>;

export const DEFAULT_RULES: ConsentRules = ConsentRules.parse({});

export type Decision = 'allow' | 'request' | 'refuse';
/** The other person as this device sees them. */
export interface Relation {
  userId: string;
  /** In my contacts. */
  contact: boolean;
}

/** The one table (see the top of this file): the rule of one kind applied to one person. */
export function decide(r: Rule, rel: Relation): Decision {
  if (r.deny.includes(rel.userId)) return 'refuse';
  if (r.allow.includes(rel.userId)) return 'allow';
  switch (r.who) {
    case 'everybody':
      return 'allow';
    case 'contacts':
      return rel.contact ? 'allow' : 'request';
    case 'nobody':
      return rel.contact ? 'request' : 'refuse';
  }
}

const STRICTNESS: Record<Audience, number> = { everybody: 0, contacts: 1, nobody: 2 };
const stricter = (a: Audience, b: Audience): Audience => (STRICTNESS[a] >= STRICTNESS[b] ? a : b);

/** What strict mode raises each kind to at least (never lowers a stricter choice). */
export const STRICT_FLOOR: Record<ConsentKind, Audience> = {
  messages: 'contacts',
  calls: 'contacts',
  groups: 'contacts',
  p2p: 'nobody',
};

/**
 * The rules in force: strict mode raises every kind to its floor and silences unknown callers.
 * The lists stay: a person the user named explicitly is the user's own decision.
 */
export function effectiveRules(r: ConsentRules): ConsentRules {
  if (!r.strict) return r;
  const raise = (k: ConsentKind): Rule => ({ ...r[k], who: stricter(r[k].who, STRICT_FLOOR[k]) });
  return {
    ...r,
    messages: raise('messages'),
    calls: raise('calls'),
    groups: raise('groups'),
    p2p: raise('p2p'),
    silenceUnknownCallers: true,
  };
}

/** What a call from this person does here: rings, waits as a call request, or is silenced / refused (logged only). */
export type CallAdmission = 'ring' | 'request' | 'silence' | 'refuse';

/** The decision for one kind under the rules in force (strict mode included). */
export function decideFor(kind: ConsentKind, rules: ConsentRules, rel: Relation): Decision {
  return decide(effectiveRules(rules)[kind], rel);
}

export function admitCall(rules: ConsentRules, rel: Relation): CallAdmission {
  const eff = effectiveRules(rules);
  const d = decideFor('calls', rules, rel);
  if (d === 'refuse') return 'refuse';
  // Silencing is about unknown callers: a contact or someone the user always allows still rings.
  if (eff.silenceUnknownCallers && !rel.contact && !eff.calls.allow.includes(rel.userId)) return 'silence';
  return d === 'allow' ? 'ring' : 'request';
}

/** ICE policy for a call with this person: peer-to-peer only where the p2p rule allows it. */
export function iceFor(rules: ConsentRules, rel: Relation): 'all' | 'relay' {
  return decideFor('p2p', rules, rel) === 'allow' ? 'all' : 'relay';
}

/** `rules` with `userId` on the always-allow list of `kind` (and off its never-allow list). */
export function withAllowed(
  rules: ConsentRules,
  kind: ConsentKind,
  userId: string,
  now: number,
): ConsentRules {
  const r = rules[kind];
  const allow = r.allow.includes(userId) ? r.allow : [...r.allow, userId].slice(-1000);
  return { ...rules, [kind]: { ...r, allow, deny: r.deny.filter((u) => u !== userId) }, updatedAt: now };
}
