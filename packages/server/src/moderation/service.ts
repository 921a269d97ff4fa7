/**
 * Moderation on the request path: franking tags on accepted messages, report verification,
 * refusal of suspended accounts, the new-account limit on reaching strangers, and the poll that
 * turns notices the operator's CLI wrote into events and closed sockets.
 */
import {
  ErrorCode,
  fromB64,
  type Notice,
  type OutgoingMessage,
  type ReportRequest,
  type ReportResponse,
} from '@kolokol/protocol';
import type { z } from 'zod';
import type { Bus } from '../bus.ts';
import { randomId } from '../crypto.ts';
import { ServerError } from '../errors.ts';
import type { Store } from '../storage/store.ts';
import { frankingTag, verifyFranked } from './franking.ts';
import { defaultModeration, type ModerationConfig } from './options.ts';
import { ModerationStore, type StoredNotice } from './store.ts';

const DAY_MS = 24 * 60 * 60 * 1000;

type Outgoing = z.output<typeof OutgoingMessage>;
type Report = z.output<typeof ReportRequest>;

/** How far back reports count for the context card (reportedBucket). */
export const REPORTED_WINDOW_MS = 90 * 24 * 60 * 60 * 1000;
/** Distinct reporters from which the card says 'many'. */
export const REPORTED_MANY = 3;

export const APPEAL_HINT = 'appeal with POST /v1/appeals (this session still opens that route)';

/** SUSPENDED with the reason and how to appeal: at login, on a request, and on a live socket. */
export function suspendedError(reason: string | undefined, at: number): ServerError {
  return new ServerError(
    ErrorCode.Suspended,
    `this account is suspended${reason === undefined ? '' : `: ${reason}`}; ${APPEAL_HINT}`,
    {
      details: {
        ...(reason === undefined ? {} : { reason }),
        suspendedAt: at,
        appeal: 'POST /v1/appeals',
      },
    },
  );
}

export function noticeOf(n: StoredNotice): Notice {
  return { id: n.id, kind: n.kind, at: n.at, ...(n.reason === undefined ? {} : { reason: n.reason }) };
}

export class Moderation {
  readonly store: ModerationStore;
  readonly config: ModerationConfig;
  readonly #key: Uint8Array;
  readonly #accounts: Store;

  constructor(accounts: Store, key: Uint8Array, config: Partial<ModerationConfig> = {}) {
    this.#accounts = accounts;
    this.store = new ModerationStore(accounts.db);
    this.#key = key;
    this.config = { ...defaultModeration, ...config };
  }

  /** The tag the server binds to a franked message it accepts now; undefined when it is not franked. */
  tagFor(senderUserId: string, msg: Outgoing, receivedAt: number): Uint8Array | undefined {
    if (msg.franking === undefined || msg.kind !== 'application' || msg.ephemeral === true) return undefined;
    let commitment: Uint8Array;
    try {
      commitment = fromB64(msg.franking);
    } catch (cause) {
      throw new ServerError(ErrorCode.BadRequest, 'franking is not canonical base64url', { cause });
    }
    return frankingTag(this.#key, {
      commitment,
      senderUserId,
      groupId: msg.groupId,
      msgId: msg.msgId,
      receivedAt,
    });
  }

  /**
   * What a message request's context card says about reports of an account: distinct reporters
   * over REPORTED_WINDOW_MS whose reports were not dismissed. Coarse, so that it warns without
   * publishing the queue; one person reporting again and again counts once.
   */
  async reportedBucket(userId: string, now: number): Promise<'none' | 'some' | 'many'> {
    const n = await this.store.reporterCount(userId, now - REPORTED_WINDOW_MS);
    return n === 0 ? 'none' : n < REPORTED_MANY ? 'some' : 'many';
  }

  /** SUSPENDED, with the reason and how to appeal, for a suspended account. */
  async assertNotSuspended(userId: string): Promise<void> {
    const s = await this.store.suspension(userId);
    if (s === undefined) return;
    throw suspendedError(s.reason, s.at);
  }

  /**
   * The new-account limit on reaching strangers (issue 6): an account younger than
   * `newAccountDays` may claim key packages of at most `strangersPerDay` users it shares no group
   * with per 24 hours. Returns what to record once the claim has worked, or nothing to record;
   * throws RATE_LIMITED (naming the limit, with retryAfterSeconds) past the limit.
   */
  async strangerGate(
    claimerUserId: string,
    targetUserId: string,
    now: number,
  ): Promise<(() => Promise<void>) | undefined> {
    const { newAccountDays, strangersPerDay } = this.config;
    if (claimerUserId === targetUserId || newAccountDays === 0) return undefined;
    const account = await this.#accounts.accountById(claimerUserId);
    if (account === undefined) return undefined;
    const grownUpAt = account.createdAt + newAccountDays * DAY_MS;
    if (now >= grownUpAt) return undefined;
    if (await this.store.limitsLifted(claimerUserId)) return undefined;
    if (await this.store.shareGroup(claimerUserId, targetUserId)) return undefined;
    const reached = await this.store.strangersSince(claimerUserId, now - DAY_MS);
    // Someone reached today already: claiming again (another device, a retry) costs nothing.
    if (reached.some((r) => r.target === targetUserId)) return undefined;
    if (reached.length >= strangersPerDay) {
      const oldest = reached[0]?.at ?? now;
      const retryAt = Math.min(oldest + DAY_MS, grownUpAt);
      const retryAfterSeconds = Math.max(1, Math.ceil((retryAt - now) / 1000));
      throw new ServerError(
        ErrorCode.RateLimited,
        `new accounts (younger than ${newAccountDays} days) may reach at most ${strangersPerDay} people they share no group with per 24 hours; try again in ${Math.ceil(retryAfterSeconds / 60)} minutes`,
        {
          details: {
            limit: 'new-account-strangers',
            strangersPerDay,
            newAccountDays,
            retryAfterSeconds,
            liftedAt: grownUpAt,
          },
        },
      );
    }
    return () => this.store.recordStranger(claimerUserId, targetUserId, now, now - DAY_MS);
  }

  /**
   * Verifies every message of a report (our tag, then the sender's commitment) and queues it.
   * REPORT_UNVERIFIED names the first message that fails and why; nothing is stored then.
   */
  async fileReport(reporterUserId: string, report: Report, now: number): Promise<ReportResponse> {
    const first = report.messages[0];
    if (first === undefined) throw new ServerError(ErrorCode.BadRequest, 'a report needs a message');
    const reported = first.sender;
    for (const [index, m] of report.messages.entries()) {
      if (m.sender !== reported) {
        throw new ServerError(
          ErrorCode.BadRequest,
          'one report is about one account: every message must be from the same sender',
          {
            details: { index },
          },
        );
      }
      const bytes = (field: string, text: string): Uint8Array => {
        try {
          return fromB64(text);
        } catch (cause) {
          // The schema checks the alphabet and length, not the padding bits.
          throw new ServerError(
            ErrorCode.BadRequest,
            `message ${index}: ${field} is not canonical base64url`,
            {
              cause,
              details: { index },
            },
          );
        }
      };
      const verdict = verifyFranked(this.#key, {
        commitment: bytes('cf', m.cf),
        senderUserId: m.sender,
        groupId: m.groupId,
        msgId: m.msgId,
        receivedAt: m.at,
        tag: bytes('tag', m.tag),
        plaintext: bytes('plaintext', m.plaintext),
        nf: bytes('nf', m.nf),
      });
      if (verdict !== 'ok') {
        throw new ServerError(
          ErrorCode.ReportUnverified,
          verdict === 'tag'
            ? `message ${index} (${m.msgId}): this server did not deliver it as sent by ${m.sender} at ${m.at} in ${m.groupId} (the franking tag does not verify)`
            : `message ${index} (${m.msgId}): the plaintext or franking key does not match the sender's commitment`,
          { details: { index, msgId: m.msgId, reason: verdict } },
        );
      }
    }
    if (reported === reporterUserId)
      throw new ServerError(ErrorCode.BadRequest, 'you cannot report your own messages');
    const reportId = randomId();
    await this.store.createReport({
      reportId,
      reporterUserId,
      reportedUserId: reported,
      category: report.category,
      comment: report.comment === undefined || report.comment === '' ? undefined : report.comment,
      messages: report.messages,
      now,
    });
    return { reportId, reportedUserId: reported };
  }

  /**
   * Publishes notices the operator's CLI wrote (it works on the database, not on this process):
   * each goes to the account's devices as an event; a suspension then closes their sockets. Every
   * node of a cluster publishes what it finds; clients drop repeated notice ids.
   */
  startNoticePoll(bus: Bus, onError: (err: unknown) => void): () => void {
    let last: number | undefined;
    let running = false;
    const tick = async () => {
      if (running) return;
      running = true;
      try {
        if (last === undefined) {
          last = await this.store.lastNoticeId();
          return;
        }
        for (const n of await this.store.noticesAfter(last)) {
          last = n.id;
          const now = Date.now();
          for (const d of await this.#accounts.activeDevices(n.userId)) {
            bus.publish(d.deviceId, { type: 'event', event: { type: 'notice', notice: noticeOf(n) } });
          }
          if (n.kind === 'suspended') {
            // Not 'session-revoked': the app must hear SUSPENDED (and may appeal with the same
            // session), not that it was logged out.
            for (const s of await this.#accounts.activeSessions(n.userId, now)) {
              bus.publish(s.deviceId, {
                type: 'suspended',
                sessionId: s.sessionId,
                at: n.at,
                ...(n.reason === undefined ? {} : { reason: n.reason }),
              });
            }
          }
        }
      } catch (err) {
        onError(err);
      } finally {
        running = false;
      }
    };
    void tick();
    const timer = setInterval(() => void tick(), this.config.noticePollMs);
    timer.unref();
    return () => clearInterval(timer);
  }
}
