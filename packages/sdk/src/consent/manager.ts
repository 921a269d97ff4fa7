/**
 * ConsentManager (`client.consent`): the user's consent rules, shared by all their devices, and
 * what strangers get under them: message requests, group invitations and call requests.
 *
 * Rules travel end-to-end encrypted between the account's own devices in a `consent` envelope
 * through the account's self group (an MLS group of this account's devices only, whose id every
 * device derives from the identity key; see client.ts). The newest `updatedAt` wins. Accepting
 * or declining a request on one device is sent the same way, so the other devices follow.
 *
 * The decisions are the pure functions of rules.ts; the client asks this class for a relation's
 * decision and does the MLS side (join, hide, leave), CallManager asks it whether a call rings.
 */

import { z } from 'zod';
import type { ConsentEnvelope } from '../envelope.ts';
import { SdkError } from '../errors.ts';
import type { ConversationRecord, UserRef } from '../store/records.ts';
import type { Store } from '../store/store.ts';
import { KeyedMutex } from '../util.ts';
import {
  admitCall,
  type CallAdmission,
  type ConsentKind,
  ConsentRules,
  DEFAULT_RULES,
  type Decision,
  decideFor,
  iceFor,
  type Relation,
  withAllowed,
} from './rules.ts';

export const ConsentEvent = {
  /** A message request or group invitation arrived, or its card changed (ConsentRequest). */
  ConsentRequest: 'consentRequest',
  /** A request was accepted, declined or blocked, here or on another of our devices. */
  ConsentResolved: 'consentResolved',
  /** A call did not ring: it waits as a call request, or was silenced or refused (CallRequest). */
  CallRequest: 'callRequest',
  /** The rules changed (here or synced from another of our devices). */
  ConsentRules: 'consentRules',
  /** `block(…, { report: true })`: the app's hook to file a report once reports exist. */
  ReportRequested: 'reportRequested',
} as const;

export interface ConsentEvents {
  consentRequest: [ConsentRequest];
  consentResolved: [{ conversationId: string; action: 'accept' | 'decline' | 'block' }];
  callRequest: [CallRequest];
  consentRules: [ConsentRules];
  reportRequested: [{ userId: string; conversationId?: string; callId?: string }];
}

/** What the app shows about a stranger before answering their request. */
export interface ContextCard {
  /** When the account was registered (the server's clock); undefined if the lookup failed. */
  accountCreatedAt?: number;
  /** Groups this device is in (accepted) where they are a member too. */
  groupsInCommon: { conversationId: string; title: string }[];
  /** This device saw their display name change within the last RECENT_NAME_MS (7 days). */
  nameChangedRecently: boolean;
  nameChangedAt?: number;
  /**
   * Whether others reported the account lately, in the server's coarse words (distinct reporters
   * whose reports were not dismissed); 'unknown' when the lookup failed or the server does not say.
   */
  reported: 'none' | 'some' | 'many' | 'unknown';
}

export interface GroupOverview {
  /** The first admin of the group's encrypted meta (its creator), once known. */
  createdBy?: UserRef;
  /** Who added us (the server's word for the sender of the welcome). */
  addedBy: UserRef;
  /** People in it, us included. */
  size: number;
  members: UserRef[];
  /** When the server created the group; undefined if it did not say. */
  createdAt?: number;
}

export interface ConsentRequest {
  conversationId: string;
  /** A stranger's first message (1:1) or an invitation to a group. */
  kind: 'message' | 'group';
  from: UserRef & { displayName?: string };
  at: number;
  card: ContextCard;
  /** Group invitations only. */
  overview?: GroupOverview;
  /** Until accepted: media stays blurred and links are not clickable. */
  blurMedia: boolean;
  linksClickable: boolean;
}

export const CallRequestRecord = z.object({
  callId: z.string(),
  conversationId: z.string(),
  from: z.object({ userId: z.string(), username: z.string() }),
  video: z.boolean(),
  at: z.number(),
  /** Why it did not ring: the rules made it a request, or silenced or refused it. */
  admission: z.enum(['request', 'silence', 'refuse']),
  state: z.enum(['pending', 'accepted', 'ignored']),
});
export type CallRequest = z.infer<typeof CallRequestRecord>;

/** What the client does for the manager: identity, sync, MLS-side actions, lookups, events. */
export interface ConsentHost {
  readonly userId: string;
  readonly store: Store;
  /** Sends a consent envelope to our own devices (the self group); resolves once the server has it. */
  sendToSelf(envelope: ConsentEnvelope): Promise<void>;
  /** Accept or decline a request conversation on this device (the MLS and store side). */
  resolveConversation(conversationId: string, action: 'accept' | 'decline'): Promise<boolean>;
  block(userId: string): Promise<void>;
  usernameOf(userId: string): Promise<string>;
  displayNameOf(userId: string): Promise<string | undefined>;
  /** What the server's directory says of the account: when it was registered, whether it was reported. */
  account(userId: string): Promise<{ createdAt?: number; reported?: 'none' | 'some' | 'many' }>;
  groupCreatedAt(groupId: string): Promise<number | undefined>;
  emit<K extends keyof ConsentEvents>(event: K, ...args: ConsentEvents[K]): void;
  reportError(e: SdkError): void;
}

const RULES_KEY = 'consent:rules';
const CALL_REQUESTS_KEY = 'consent:call-requests';
const NAMES_KEY = 'consent:name-changes';
const MAX_CALL_REQUESTS = 200;
const MAX_NAMES = 2000;
export const RECENT_NAME_MS = 7 * 24 * 60 * 60 * 1000;
const CallRequests = z.array(CallRequestRecord).max(MAX_CALL_REQUESTS);
const NameChanges = z.record(z.string(), z.number());

const LOCK = 'consent';

/** Partial rules: each kind's rule replaces the stored one as a whole. */
export type RulesPatch = Partial<Omit<ConsentRules, 'updatedAt'>>;

export class ConsentManager {
  readonly #host: ConsentHost;
  readonly #locks = new KeyedMutex();
  #rules: ConsentRules | undefined;

  /** @internal */
  constructor(host: ConsentHost) {
    this.#host = host;
  }

  /** The rules as the user set them (`effectiveRules` in rules.ts says what strict mode makes of them). */
  async rules(): Promise<ConsentRules> {
    if (this.#rules !== undefined) return this.#rules;
    const parsed = ConsentRules.safeParse((await this.#host.store.getKv(RULES_KEY)) ?? {});
    if (!parsed.success)
      throw new SdkError('STORE', `stored consent rules do not parse: ${parsed.error.message}`);
    this.#rules = parsed.data;
    return parsed.data;
  }

  /** Changes the rules here and on every other device of ours (end-to-end encrypted). */
  async setRules(patch: RulesPatch): Promise<ConsentRules> {
    const next = await this.#locks.with(LOCK, async () => {
      const cur = await this.rules();
      const parsed = ConsentRules.safeParse({
        ...cur,
        ...patch,
        updatedAt: Math.max(Date.now(), cur.updatedAt + 1),
      });
      if (!parsed.success) throw new SdkError('INVALID_ARGUMENT', `consent rules: ${parsed.error.message}`);
      await this.#saveRules(parsed.data);
      return parsed.data;
    });
    this.#host.emit(ConsentEvent.ConsentRules, next);
    await this.#host.sendToSelf({ v: 1, type: 'consent', rules: next });
    return next;
  }

  /** Message requests and group invitations waiting for an answer, newest first. */
  async requests(): Promise<ConsentRequest[]> {
    const all = await this.#host.store.listConversations();
    const out: ConsentRequest[] = [];
    for (const c of all) if (c.request?.state === 'request') out.push(await this.#view(c, all));
    return out.sort((a, b) => b.at - a.at);
  }

  async request(conversationId: string): Promise<ConsentRequest | undefined> {
    const all = await this.#host.store.listConversations();
    const c = all.find((x) => x.id === conversationId);
    return c?.request?.state === 'request' ? this.#view(c, all) : undefined;
  }

  /**
   * How the app should treat content of a conversation: blurred media and dead links while it is
   * a request (or not yet decided); everything normal once accepted.
   */
  async contentFlags(conversationId: string): Promise<{ blurMedia: boolean; linksClickable: boolean }> {
    const c = await this.#host.store.getConversation(conversationId);
    const pending = c?.request !== undefined;
    return { blurMedia: pending, linksClickable: !pending };
  }

  /** Shows the conversation (and everything stored in it); our other devices follow. */
  async accept(conversationId: string): Promise<void> {
    await this.#resolve(conversationId, 'accept');
  }

  /**
   * Hides the request. A 1:1 request is dropped quietly (the sender learns nothing); a group
   * invitation is left (the group's members see that we left). Our other devices follow.
   */
  async decline(conversationId: string): Promise<void> {
    await this.#resolve(conversationId, 'decline');
  }

  /** Blocks whoever sent the request and declines it; `report` raises ReportRequested for the app. */
  async block(conversationId: string, opts?: { report?: boolean }): Promise<void> {
    const c = await this.#host.store.getConversation(conversationId);
    if (c?.request === undefined) throw new SdkError('NOT_FOUND_LOCAL', `no request ${conversationId}`);
    await this.#host.block(c.request.by);
    await this.#resolve(conversationId, 'decline', 'block');
    if (opts?.report === true)
      this.#host.emit(ConsentEvent.ReportRequested, { userId: c.request.by, conversationId });
  }

  /** Calls that did not ring (requests, silenced and refused), newest first. */
  async callRequests(): Promise<CallRequest[]> {
    return [...(await this.#callRequests())].sort((a, b) => b.at - a.at);
  }

  /**
   * Lets this caller ring from now on: puts them on the calls always-allow list (synced to our
   * other devices). The call itself is over; the caller (or we) may call again.
   */
  async acceptCallRequest(callId: string): Promise<void> {
    const req = await this.#setCallRequestState(callId, 'accepted');
    if (req === undefined) throw new SdkError('NOT_FOUND_LOCAL', `no call request ${callId}`);
    const rules = await this.rules();
    if (!rules.calls.allow.includes(req.from.userId)) {
      const next = withAllowed(rules, 'calls', req.from.userId, Math.max(Date.now(), rules.updatedAt + 1));
      await this.setRules({ calls: next.calls });
    }
    await this.#host.sendToSelf({ v: 1, type: 'consent', callRequest: { callId, action: 'accept' } });
  }

  async ignoreCallRequest(callId: string): Promise<void> {
    if ((await this.#setCallRequestState(callId, 'ignored')) === undefined)
      throw new SdkError('NOT_FOUND_LOCAL', `no call request ${callId}`);
    await this.#host.sendToSelf({ v: 1, type: 'consent', callRequest: { callId, action: 'ignore' } });
  }

  // ---------------------------------------------------------------------------------------------
  // For the client and the call manager

  /** @internal */
  async relation(userId: string): Promise<Relation> {
    return { userId, contact: (await this.#host.store.getContact(userId)) !== undefined };
  }

  /** @internal */
  async decide(kind: ConsentKind, userId: string): Promise<Decision> {
    return decideFor(kind, await this.rules(), await this.relation(userId));
  }

  /** @internal ICE policy for a call with `userId`: peer-to-peer only where the p2p rule allows. */
  async icePolicy(userId: string): Promise<'all' | 'relay'> {
    return iceFor(await this.rules(), await this.relation(userId));
  }

  /**
   * @internal Whether an incoming call offer may ring. Anything but 'ring' is recorded as a call
   * request (and announced): the call manager then creates no call, makes no media engine, and
   * sends nothing back, so the caller learns neither our addresses nor that a device of ours saw it.
   */
  async admitCall(o: {
    callId: string;
    conversationId: string;
    from: string;
    video: boolean;
    at: number;
  }): Promise<CallAdmission> {
    const admission = admitCall(await this.rules(), await this.relation(o.from));
    if (admission === 'ring') return admission;
    const rec: CallRequest = {
      callId: o.callId,
      conversationId: o.conversationId,
      from: { userId: o.from, username: await this.#host.usernameOf(o.from) },
      video: o.video,
      at: o.at,
      admission,
      state: 'pending',
    };
    const added = await this.#locks.with(LOCK, async () => {
      const list = await this.#callRequests();
      if (list.some((r) => r.callId === o.callId)) return false;
      await this.#host.store.setKv(CALL_REQUESTS_KEY, [...list, rec].slice(-MAX_CALL_REQUESTS));
      return true;
    });
    if (added) this.#host.emit(ConsentEvent.CallRequest, rec);
    return admission;
  }

  /** @internal A `consent` envelope from one of our own devices (the client checked the sender). */
  async onSync(env: ConsentEnvelope): Promise<void> {
    if (env.rules !== undefined) {
      const incoming = env.rules;
      const applied = await this.#locks.with(LOCK, async () => {
        if (incoming.updatedAt <= (await this.rules()).updatedAt) return false;
        await this.#saveRules(incoming);
        return true;
      });
      if (applied) this.#host.emit(ConsentEvent.ConsentRules, incoming);
    }
    if (env.request !== undefined) {
      const { conversationId, action } = env.request;
      if (await this.#host.resolveConversation(conversationId, action))
        this.#host.emit(ConsentEvent.ConsentResolved, { conversationId, action });
    }
    if (env.callRequest !== undefined)
      await this.#setCallRequestState(
        env.callRequest.callId,
        env.callRequest.action === 'accept' ? 'accepted' : 'ignored',
      );
  }

  /** @internal The envelope that brings a new device of ours up to date (undefined: never set). */
  async snapshot(): Promise<ConsentEnvelope | undefined> {
    const rules = await this.rules();
    return rules.updatedAt === 0 ? undefined : { v: 1, type: 'consent', rules };
  }

  /** @internal A profile showed a display name other than the one this device knew. */
  async noteNameChange(userId: string, at: number): Promise<void> {
    await this.#locks.with(LOCK, async () => {
      const parsed = NameChanges.safeParse(await this.#host.store.getKv(NAMES_KEY));
      const map = parsed.success ? parsed.data : {};
      map[userId] = at;
      const entries = Object.entries(map)
        .sort(([, a], [, b]) => b - a)
        .slice(0, MAX_NAMES);
      await this.#host.store.setKv(NAMES_KEY, Object.fromEntries(entries));
    });
  }

  /** @internal Announces a request that just became visible as one. */
  announce(conversationId: string): void {
    this.request(conversationId).then(
      (r) => {
        if (r !== undefined) this.#host.emit(ConsentEvent.ConsentRequest, r);
      },
      (e: unknown) => this.#host.reportError(SdkError.from(e)),
    );
  }

  // ---------------------------------------------------------------------------------------------

  async #resolve(conversationId: string, action: 'accept' | 'decline', as?: 'block'): Promise<void> {
    const c = await this.#host.store.getConversation(conversationId);
    if (c?.request === undefined) throw new SdkError('NOT_FOUND_LOCAL', `no request ${conversationId}`);
    await this.#host.resolveConversation(conversationId, action);
    this.#host.emit(ConsentEvent.ConsentResolved, { conversationId, action: as ?? action });
    await this.#host.sendToSelf({ v: 1, type: 'consent', request: { conversationId, action } });
  }

  async #saveRules(r: ConsentRules): Promise<void> {
    await this.#host.store.setKv(RULES_KEY, r);
    this.#rules = r;
  }

  async #callRequests(): Promise<CallRequest[]> {
    const parsed = CallRequests.safeParse((await this.#host.store.getKv(CALL_REQUESTS_KEY)) ?? []);
    return parsed.success ? parsed.data : [];
  }

  async #setCallRequestState(callId: string, state: CallRequest['state']): Promise<CallRequest | undefined> {
    return this.#locks.with(LOCK, async () => {
      const list = await this.#callRequests();
      const i = list.findIndex((r) => r.callId === callId);
      const cur = list[i];
      if (cur === undefined) return undefined;
      const next = { ...cur, state };
      list[i] = next;
      await this.#host.store.setKv(CALL_REQUESTS_KEY, list);
      return next;
    });
  }

  async #view(c: ConversationRecord, all: ConversationRecord[]): Promise<ConsentRequest> {
    const req = c.request;
    if (req === undefined) throw new SdkError('INTERNAL', `${c.id} is not a request`);
    const by = req.by;
    const names = NameChanges.safeParse(await this.#host.store.getKv(NAMES_KEY));
    const changedAt = names.success ? names.data[by] : undefined;
    const account = await this.#host.account(by).catch(() => undefined);
    const createdAt = account?.createdAt;
    const displayName = await this.#host.displayNameOf(by);
    const from = {
      userId: by,
      username: await this.#host.usernameOf(by),
      ...(displayName === undefined ? {} : { displayName }),
    };
    const kind = c.kind === 'group' || new Set(c.members.map((m) => m.userId)).size > 2 ? 'group' : 'message';
    const card: ContextCard = {
      groupsInCommon: all
        .filter(
          (g) =>
            g.id !== c.id &&
            g.kind === 'group' &&
            !g.left &&
            g.hidden !== true &&
            g.request === undefined &&
            g.members.some((m) => m.userId === by),
        )
        .map((g) => ({ conversationId: g.id, title: g.title })),
      nameChangedRecently: changedAt !== undefined && Date.now() - changedAt < RECENT_NAME_MS,
      ...(changedAt === undefined ? {} : { nameChangedAt: changedAt }),
      ...(createdAt === undefined ? {} : { accountCreatedAt: createdAt }),
      reported: account?.reported ?? 'unknown',
    };
    let overview: GroupOverview | undefined;
    if (kind === 'group') {
      const creator = c.admins[0];
      const groupCreatedAt = await this.#host.groupCreatedAt(c.id).catch(() => undefined);
      overview = {
        addedBy: { userId: by, username: from.username },
        size: c.members.length,
        members: c.members,
        ...(creator === undefined
          ? {}
          : { createdBy: { userId: creator, username: await this.#host.usernameOf(creator) } }),
        ...(groupCreatedAt === undefined ? {} : { createdAt: groupCreatedAt }),
      };
    }
    return {
      conversationId: c.id,
      kind,
      from,
      at: req.at,
      card,
      ...(overview === undefined ? {} : { overview }),
      blurMedia: true,
      linksClickable: false,
    };
  }
}

export { DEFAULT_RULES };
