/**
 * The app's side of consent and moderation: message requests and group invitations waiting for
 * an answer, calls that did not ring, the user's rules (shared by their devices through the SDK),
 * on-device scam verdicts, reports, and the operator's notices (a warning, a suspension and its
 * appeal, the lifting). The SDK (`client.consent`, `client.report`, `client.appeal`) decides and
 * syncs; this holds what the screens show. Nothing here renders.
 */

import type { Notice, ReportCategory } from '@kolokol/protocol';
import { CONVERSATION_WINDOW, type ConversationVerdict, classifyConversation } from '@kolokol/scam';
import {
  type CallRequest,
  ClientEvent,
  type ConsentRequest,
  ConsentRules,
  DEFAULT_RULES,
  type KolokolClient,
  type RulesPatch,
  SdkError,
} from '@kolokol/sdk';

export interface ConsentHost {
  readonly client: KolokolClient;
  changed(): void;
  /** A short message; `href` makes it a link (a request, the requests list). */
  toast(text: string, tone: 'info' | 'error', href?: string): void;
  nameOfUser(user: { userId: string; username: string; displayName?: string }): string;
  isContact(userId: string): boolean;
  /** The text messages of a conversation from `userId`, oldest first (for the scam check). */
  textsFrom(conversationId: string, userId: string, limit: number): Promise<string[]>;
  say: {
    request(name: string): string;
    invitation(name: string): string;
    callRequest(name: string): string;
    warning(reason: string): string;
    lifted(): string;
  };
}

/** How often a suspended account asks whether the operator lifted it. */
const SUSPENDED_POLL_MS = 15_000;

export interface Suspension {
  reason?: string;
  at?: number;
}

export class ConsentController {
  readonly #host: ConsentHost;
  requests: ConsentRequest[] = [];
  /** Every call that did not ring, newest first (requests, silenced and refused). */
  callRequests: CallRequest[] = [];
  rules: ConsentRules = DEFAULT_RULES;
  /** Set while this account is suspended: the app shows the notice and the appeal form. */
  suspended: Suspension | undefined;
  /** Warnings from the operator not yet acknowledged by the user, oldest first. */
  warnings: Notice[] = [];
  /** conversationId -> the verdict over the stranger's first messages (possible or likely only). */
  readonly scam = new Map<string, ConversationVerdict>();
  readonly #off: (() => void)[] = [];
  #poll: ReturnType<typeof setInterval> | undefined;

  constructor(host: ConsentHost) {
    this.#host = host;
  }

  get #client(): KolokolClient {
    return this.#host.client;
  }

  start(): void {
    const c = this.#client;
    const sub = <K extends Parameters<KolokolClient['on']>[0]>(
      event: K,
      fn: Parameters<KolokolClient['on']>[1],
    ) => {
      c.on(event, fn as never);
      this.#off.push(() => c.off(event, fn as never));
    };
    sub(ClientEvent.ConsentRequest, ((r: ConsentRequest) => {
      void this.reload();
      const name = this.#host.nameOfUser(r.from);
      this.#host.toast(
        r.kind === 'group' ? this.#host.say.invitation(name) : this.#host.say.request(name),
        'info',
        `#/requests/${encodeURIComponent(r.conversationId)}`,
      );
    }) as never);
    sub(ClientEvent.ConsentResolved, (() => void this.reload()) as never);
    sub(ClientEvent.CallRequest, ((r: CallRequest) => {
      void this.reload();
      // Silenced and refused calls are only logged: telling about them would be a ring after all.
      if (r.admission === 'request')
        this.#host.toast(this.#host.say.callRequest(this.#host.nameOfUser(r.from)), 'info', '#/requests');
    }) as never);
    sub(ClientEvent.ConsentRules, ((r: ConsentRules) => {
      this.rules = r;
      this.#host.changed();
    }) as never);
    sub(ClientEvent.Notice, ((n: Notice) => this.#onNotice(n)) as never);
    sub(ClientEvent.Suspended, ((s: Suspension) => this.#onSuspended(s)) as never);
    void this.reload();
  }

  stop(): void {
    for (const off of this.#off) off();
    this.#off.length = 0;
    if (this.#poll !== undefined) clearInterval(this.#poll);
  }

  async reload(): Promise<void> {
    try {
      const consent = this.#client.consent;
      [this.requests, this.callRequests, this.rules] = await Promise.all([
        consent.requests(),
        consent.callRequests(),
        consent.rules(),
      ]);
      await Promise.all(this.requests.map((r) => this.checkScam(r.conversationId, r.from.userId)));
    } catch (e) {
      console.warn('kolokol: loading requests failed', e);
    }
    this.#host.changed();
  }

  /** Requests and call requests that wait for an answer (the badge of the requests list). */
  get waiting(): number {
    return (
      this.requests.length +
      this.callRequests.filter((r) => r.admission === 'request' && r.state === 'pending').length
    );
  }

  request(conversationId: string): ConsentRequest | undefined {
    return this.requests.find((r) => r.conversationId === conversationId);
  }

  /**
   * Reads the first messages `userId` sent in a conversation with the on-device classifier, when
   * they are a stranger to us; the verdict is kept only when it warns. Nothing leaves the device.
   */
  async checkScam(conversationId: string, userId: string): Promise<ConversationVerdict | undefined> {
    if (userId === this.#client.userId || this.#host.isContact(userId)) {
      this.scam.delete(conversationId);
      return undefined;
    }
    const texts = await this.#host.textsFrom(conversationId, userId, CONVERSATION_WINDOW);
    const verdict = texts.length === 0 ? undefined : classifyConversation(texts);
    if (verdict === undefined || verdict.level === 'none') this.scam.delete(conversationId);
    else this.scam.set(conversationId, verdict);
    this.#host.changed();
    return verdict;
  }

  async accept(conversationId: string): Promise<void> {
    await this.#client.consent.accept(conversationId);
    await this.reload();
  }

  async decline(conversationId: string): Promise<void> {
    await this.#client.consent.decline(conversationId);
    await this.reload();
  }

  /** Blocks the sender (the server stops their messages and calls) and drops the request. */
  async block(conversationId: string): Promise<void> {
    await this.#client.consent.block(conversationId);
    await this.reload();
  }

  async acceptCall(callId: string): Promise<void> {
    await this.#client.consent.acceptCallRequest(callId);
    await this.reload();
  }

  async ignoreCall(callId: string): Promise<void> {
    await this.#client.consent.ignoreCallRequest(callId);
    await this.reload();
  }

  /** Shows the change at once (a radio button must not lag behind the click), then saves it. */
  async setRules(patch: RulesPatch): Promise<void> {
    const before = this.rules;
    this.rules = ConsentRules.parse({ ...before, ...patch });
    this.#host.changed();
    try {
      this.rules = await this.#client.consent.setRules(patch);
    } catch (e) {
      this.rules = before;
      throw e;
    } finally {
      this.#host.changed();
    }
  }

  /** Reports messages with their franking: the server can check they were really sent. */
  async report(o: {
    conversationId: string;
    messageIds: string[];
    category: ReportCategory;
    comment?: string;
  }): Promise<void> {
    await this.#client.report(o);
  }

  async appeal(text: string): Promise<void> {
    await this.#client.appeal(text);
  }

  dismissWarning(id: number): void {
    this.warnings = this.warnings.filter((w) => w.id !== id);
    this.#host.changed();
  }

  #onNotice(n: Notice): void {
    if (n.kind === 'warning') {
      this.warnings = [...this.warnings, n];
      this.#host.toast(this.#host.say.warning(n.reason ?? ''), 'error');
    } else if (n.kind === 'lifted' && this.suspended !== undefined) {
      this.suspended = undefined;
      if (this.#poll !== undefined) clearInterval(this.#poll);
      this.#poll = undefined;
      this.#host.toast(this.#host.say.lifted(), 'info');
      this.#client.resumeAfterSuspension().catch((e: unknown) => {
        const err = SdkError.from(e);
        console.warn('kolokol: reconnecting after the suspension failed', err.code, err.message);
      });
    }
    this.#host.changed();
  }

  #onSuspended(s: Suspension): void {
    this.suspended = s;
    // The socket stops for good while suspended; only a fetch tells when the operator lifts it.
    this.#poll ??= setInterval(() => {
      this.#client.checkNotices().catch(() => {});
    }, SUSPENDED_POLL_MS);
    this.#host.changed();
  }
}

export const REPORT_CATEGORIES: readonly ReportCategory[] = [
  'scam',
  'spam',
  'harassment',
  'impersonation',
  'illegal',
  'other',
];

/** A parsed copy for screens that edit the rules (never the live object). */
export function copyRules(r: ConsentRules): ConsentRules {
  return ConsentRules.parse(JSON.parse(JSON.stringify(r)));
}
