/**
 * Reports and server notices (issue 6). `report` gathers the franking each reported message
 * arrived with (franking.ts) so that the server can check the messages were really sent by that
 * account; notices (an operator's warning, suspension, or lifting of it) arrive as a `notice`
 * event on the socket and are fetched again after every connect (GET /v1/notices), so a device
 * that was offline still hears them; each is surfaced once per device (by its id).
 */
import {
  type AppealResponse,
  type Notice,
  type ReportCategory,
  type ReportedMessage,
  ReportLimits,
  type ReportResponse,
} from '@kolokol/protocol';
import { z } from 'zod';
import { SdkError } from './errors.ts';
import { reportedMessage } from './franking.ts';
import type { HttpApi } from './http.ts';
import type { Store } from './store/store.ts';

export const ModerationEvent = {
  /** A warning, suspension or lifting from the server's operator. */
  Notice: 'notice',
  /** This account is suspended (a notice, or SUSPENDED on connect): `appeal(text)` still works. */
  Suspended: 'suspended',
} as const;

export interface ModerationEvents {
  notice: [Notice];
  suspended: [{ reason?: string; at?: number }];
}

/** The id of the newest notice this device has surfaced. */
const LAST_NOTICE_KEY = 'moderation.lastNotice';

export interface ModerationHost {
  api: HttpApi;
  store: Store;
  emit<K extends keyof ModerationEvents>(event: K, ...args: ModerationEvents[K]): void;
}

export interface ReportOptions {
  conversationId: string;
  messageIds: string[];
  category: ReportCategory;
  comment?: string;
}

export class ClientModeration {
  readonly #host: ModerationHost;
  /** Notices from the socket and from a fetch are handled one at a time (ids only go up). */
  #chain: Promise<void> = Promise.resolve();

  constructor(host: ModerationHost) {
    this.#host = host;
  }

  async report(o: ReportOptions): Promise<ReportResponse> {
    if (o.messageIds.length === 0 || o.messageIds.length > ReportLimits.maxMessages) {
      throw new SdkError('INVALID_ARGUMENT', `a report carries 1..${ReportLimits.maxMessages} messages`);
    }
    const messages: ReportedMessage[] = [];
    for (const id of new Set(o.messageIds)) {
      const m = await this.#host.store.getMessageById(o.conversationId, id);
      if (m === undefined) throw new SdkError('NOT_FOUND_LOCAL', `no message ${id} in ${o.conversationId}`);
      const r = reportedMessage(m.id, m.franking);
      if (typeof r === 'string')
        throw new SdkError('INVALID_ARGUMENT', `message ${id} cannot be reported: ${r}`);
      messages.push(r);
    }
    return this.#host.api.report({
      category: o.category,
      messages,
      ...(o.comment === undefined ? {} : { comment: o.comment }),
    });
  }

  appeal(text: string): Promise<AppealResponse> {
    return this.#host.api.appeal(text);
  }

  /** A notice from the socket. */
  onNotice(n: Notice): Promise<void> {
    return this.#serial(async () => this.#surface([n]));
  }

  /** Catches up on notices given while this device was offline. */
  fetchNotices(): Promise<void> {
    return this.#serial(async () => {
      const last = await this.#last();
      await this.#surface((await this.#host.api.notices(last)).notices, last);
    });
  }

  /** SUSPENDED on connect (details from the server's error). */
  onSuspendedError(e: SdkError): void {
    const reason = e.details?.reason;
    const at = e.details?.suspendedAt;
    this.#host.emit(ModerationEvent.Suspended, {
      ...(typeof reason === 'string' ? { reason } : {}),
      ...(typeof at === 'number' ? { at } : {}),
    });
  }

  #serial(fn: () => Promise<void>): Promise<void> {
    const next = this.#chain.then(fn);
    this.#chain = next.catch(() => {});
    return next;
  }

  async #last(): Promise<number> {
    const r = z
      .number()
      .int()
      .nonnegative()
      .safeParse(await this.#host.store.getKv(LAST_NOTICE_KEY));
    return r.success ? r.data : 0;
  }

  async #surface(notices: readonly Notice[], known?: number): Promise<void> {
    let last = known ?? (await this.#last());
    for (const n of notices) {
      if (n.id <= last) continue;
      last = n.id;
      await this.#host.store.setKv(LAST_NOTICE_KEY, last);
      this.#host.emit(ModerationEvent.Notice, n);
      if (n.kind === 'suspended') {
        this.#host.emit(ModerationEvent.Suspended, {
          at: n.at,
          ...(n.reason === undefined ? {} : { reason: n.reason }),
        });
      }
    }
  }
}
