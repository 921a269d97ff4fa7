/**
 * Moderation's tables (migration 0004), apart from the delivery Store so that the two can change
 * independently; it shares the Store's Kysely instance. Every row read is parsed again.
 */
import { MAX_BLOCKED, NoticeKind, ReportCategory, ReportedMessage } from '@kolokol/protocol';
import type { Kysely } from 'kysely';
import { z } from 'zod';
import { DbInt, DbIntOrNull, DbText, DbTextOrNull, parseRow } from '../storage/rows.ts';
import type { DB } from '../storage/schema.ts';

/** Accounts one account may block: far above any person's need, bounded for the table's sake. */
export const MAX_BLOCKS = MAX_BLOCKED;

export const ReportStatus = z.enum(['open', 'warned', 'suspended', 'dismissed']);
export type ReportStatus = z.infer<typeof ReportStatus>;

const ReportRow = z
  .object({
    report_id: DbText,
    reporter_user: DbText,
    reported_user: DbText,
    category: ReportCategory,
    comment: DbTextOrNull,
    messages: DbText,
    created_at: DbInt,
    status: ReportStatus,
    resolved_at: DbIntOrNull,
    resolution_reason: DbTextOrNull,
  })
  .transform((r) => ({
    reportId: r.report_id,
    reporterUserId: r.reporter_user,
    reportedUserId: r.reported_user,
    category: r.category,
    comment: r.comment,
    messagesJson: r.messages,
    createdAt: r.created_at,
    status: r.status,
    resolvedAt: r.resolved_at,
    resolutionReason: r.resolution_reason,
  }));
export type Report = z.output<typeof ReportRow>;
/** What `reports.messages` holds: the verified messages as the reporter sent them. */
export const StoredReportMessages = z.array(ReportedMessage);

const AppealRow = z
  .object({ appeal_id: DbText, user_id: DbText, text: DbText, created_at: DbInt, resolved_at: DbIntOrNull })
  .transform((r) => ({
    appealId: r.appeal_id,
    userId: r.user_id,
    text: r.text,
    createdAt: r.created_at,
    resolvedAt: r.resolved_at,
  }));
export type Appeal = z.output<typeof AppealRow>;

const NoticeRow = z
  .object({ id: DbInt, user_id: DbText, kind: NoticeKind, reason: DbTextOrNull, created_at: DbInt })
  .transform((r) => ({
    id: r.id,
    userId: r.user_id,
    kind: r.kind,
    reason: r.reason,
    at: r.created_at,
  }));
export type StoredNotice = z.output<typeof NoticeRow>;

const AccountStateRow = z.object({
  suspended_at: DbIntOrNull,
  suspend_reason: DbTextOrNull,
  limits_lifted_at: DbIntOrNull,
});

export interface Suspension {
  at: number;
  reason: string | undefined;
}

export class ModerationStore {
  readonly #db: Kysely<DB>;

  constructor(db: Kysely<DB>) {
    this.#db = db;
  }

  // ---- per-account state ----

  async #state(userId: string): Promise<z.output<typeof AccountStateRow> | undefined> {
    const row = await this.#db
      .selectFrom('moderation_accounts')
      .select(['suspended_at', 'suspend_reason', 'limits_lifted_at'])
      .where('user_id', '=', userId)
      .executeTakeFirst();
    return row === undefined ? undefined : parseRow(AccountStateRow, row, 'moderation account');
  }

  async suspension(userId: string): Promise<Suspension | undefined> {
    const s = await this.#state(userId);
    if (s?.suspended_at === undefined) return undefined;
    return { at: s.suspended_at, reason: s.suspend_reason };
  }

  async limitsLifted(userId: string): Promise<boolean> {
    return (await this.#state(userId))?.limits_lifted_at !== undefined;
  }

  async #upsert(userId: string, set: Partial<Omit<DB['moderation_accounts'], 'user_id'>>): Promise<void> {
    await this.#db.transaction().execute(async (trx) => {
      const r = await trx
        .updateTable('moderation_accounts')
        .set(set)
        .where('user_id', '=', userId)
        .executeTakeFirst();
      if (Number(r.numUpdatedRows) > 0) return;
      await trx
        .insertInto('moderation_accounts')
        .values({ user_id: userId, suspended_at: null, suspend_reason: null, limits_lifted_at: null, ...set })
        .execute();
    });
  }

  suspend(userId: string, reason: string | undefined, now: number): Promise<void> {
    return this.#upsert(userId, { suspended_at: now, suspend_reason: reason ?? null });
  }

  liftSuspension(userId: string): Promise<void> {
    return this.#upsert(userId, { suspended_at: null, suspend_reason: null });
  }

  liftLimits(userId: string, now: number): Promise<void> {
    return this.#upsert(userId, { limits_lifted_at: now });
  }

  // ---- strangers ----

  /** Whether two accounts are members of one group now (any of their devices). */
  async shareGroup(a: string, b: string): Promise<boolean> {
    const row = await this.#db
      .selectFrom('group_members as x')
      .innerJoin('group_members as y', 'y.group_id', 'x.group_id')
      .select('x.group_id')
      .where('x.user_id', '=', a)
      .where('y.user_id', '=', b)
      .limit(1)
      .executeTakeFirst();
    return row !== undefined;
  }

  /** The distinct strangers `userId` reached since `since`, oldest reach first. */
  async strangersSince(userId: string, since: number): Promise<{ target: string; at: number }[]> {
    const rows = await this.#db
      .selectFrom('stranger_reach')
      .select(['target_user', 'reached_at'])
      .where('user_id', '=', userId)
      .where('reached_at', '>', since)
      .orderBy('reached_at')
      .execute();
    const seen = new Map<string, number>();
    for (const r of rows) {
      const target = parseRow(DbText, r.target_user, 'stranger');
      if (!seen.has(target)) seen.set(target, parseRow(DbInt, r.reached_at, 'stranger time'));
    }
    return [...seen].map(([target, at]) => ({ target, at }));
  }

  /** Records a reach and forgets this account's reaches from before `cutoff` (they count for nothing). */
  async recordStranger(userId: string, target: string, now: number, cutoff: number): Promise<void> {
    await this.#db.transaction().execute(async (trx) => {
      await trx
        .deleteFrom('stranger_reach')
        .where('user_id', '=', userId)
        .where('reached_at', '<', cutoff)
        .execute();
      await trx
        .insertInto('stranger_reach')
        .values({ user_id: userId, target_user: target, reached_at: now })
        .execute();
    });
  }

  // ---- blocks ----

  /** Idempotent; false when the account has MAX_BLOCKS already (and this one is new). */
  async block(blocker: string, blocked: string, now: number): Promise<boolean> {
    return this.#db.transaction().execute(async (trx) => {
      const has = await trx
        .selectFrom('blocks')
        .select('blocked_user')
        .where('blocker_user', '=', blocker)
        .where('blocked_user', '=', blocked)
        .executeTakeFirst();
      if (has !== undefined) return true;
      const n = await trx
        .selectFrom('blocks')
        .select((eb) => eb.fn.countAll<number | string | bigint>().as('n'))
        .where('blocker_user', '=', blocker)
        .executeTakeFirst();
      if (Number(n?.n ?? 0) >= MAX_BLOCKS) return false;
      await trx
        .insertInto('blocks')
        .values({ blocker_user: blocker, blocked_user: blocked, created_at: now })
        .execute();
      return true;
    });
  }

  async unblock(blocker: string, blocked: string): Promise<void> {
    await this.#db
      .deleteFrom('blocks')
      .where('blocker_user', '=', blocker)
      .where('blocked_user', '=', blocked)
      .execute();
  }

  async blocked(blocker: string): Promise<string[]> {
    const rows = await this.#db
      .selectFrom('blocks')
      .select('blocked_user')
      .where('blocker_user', '=', blocker)
      .orderBy('created_at')
      .execute();
    return rows.map((r) => parseRow(z.object({ blocked_user: DbText }), r, 'block').blocked_user);
  }

  // ---- reports ----

  async createReport(r: {
    reportId: string;
    reporterUserId: string;
    reportedUserId: string;
    category: ReportCategory;
    comment: string | undefined;
    messages: z.input<typeof StoredReportMessages>;
    now: number;
  }): Promise<void> {
    await this.#db
      .insertInto('reports')
      .values({
        report_id: r.reportId,
        reporter_user: r.reporterUserId,
        reported_user: r.reportedUserId,
        category: r.category,
        comment: r.comment ?? null,
        messages: JSON.stringify(r.messages),
        created_at: r.now,
        status: 'open',
        resolved_at: null,
        resolution_reason: null,
      })
      .execute();
  }

  async reports(
    opts: { status?: ReportStatus; reportedUserId?: string; limit?: number } = {},
  ): Promise<Report[]> {
    let q = this.#db
      .selectFrom('reports')
      .selectAll()
      .orderBy('created_at')
      .limit(opts.limit ?? 1000);
    if (opts.status !== undefined) q = q.where('status', '=', opts.status);
    if (opts.reportedUserId !== undefined) q = q.where('reported_user', '=', opts.reportedUserId);
    return (await q.execute()).map((r) => parseRow(ReportRow, r, 'report'));
  }

  /** Distinct accounts whose reports about `userId` since `since` were not dismissed. */
  async reporterCount(userId: string, since: number): Promise<number> {
    const r = await this.#db
      .selectFrom('reports')
      .select((eb) => eb.fn.count<number | string | bigint>('reporter_user').distinct().as('n'))
      .where('reported_user', '=', userId)
      .where('status', '!=', 'dismissed')
      .where('created_at', '>=', since)
      .executeTakeFirst();
    return Number(r?.n ?? 0);
  }

  async report(reportId: string): Promise<Report | undefined> {
    const r = await this.#db
      .selectFrom('reports')
      .selectAll()
      .where('report_id', '=', reportId)
      .executeTakeFirst();
    return r === undefined ? undefined : parseRow(ReportRow, r, 'report');
  }

  async resolveReport(
    reportId: string,
    status: ReportStatus,
    reason: string | undefined,
    now: number,
  ): Promise<boolean> {
    const r = await this.#db
      .updateTable('reports')
      .set({ status, resolved_at: now, resolution_reason: reason ?? null })
      .where('report_id', '=', reportId)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  // ---- appeals ----

  async createAppeal(appealId: string, userId: string, text: string, now: number): Promise<void> {
    await this.#db
      .insertInto('appeals')
      .values({ appeal_id: appealId, user_id: userId, text, created_at: now, resolved_at: null })
      .execute();
  }

  async openAppeals(userId?: string): Promise<Appeal[]> {
    let q = this.#db.selectFrom('appeals').selectAll().where('resolved_at', 'is', null).orderBy('created_at');
    if (userId !== undefined) q = q.where('user_id', '=', userId);
    return (await q.execute()).map((r) => parseRow(AppealRow, r, 'appeal'));
  }

  async resolveAppeals(userId: string, now: number): Promise<void> {
    await this.#db
      .updateTable('appeals')
      .set({ resolved_at: now })
      .where('user_id', '=', userId)
      .where('resolved_at', 'is', null)
      .execute();
  }

  // ---- notices ----

  async addNotice(
    userId: string,
    kind: NoticeKind,
    reason: string | undefined,
    now: number,
  ): Promise<number> {
    const row = await this.#db
      .insertInto('notices')
      .values({ user_id: userId, kind, reason: reason ?? null, created_at: now })
      .returning('id')
      .executeTakeFirstOrThrow();
    return parseRow(DbInt, row.id, 'notice id');
  }

  /** One account's notices after `afterId`, oldest first. */
  async notices(userId: string, afterId: number, limit = 100): Promise<StoredNotice[]> {
    const rows = await this.#db
      .selectFrom('notices')
      .selectAll()
      .where('user_id', '=', userId)
      .where('id', '>', afterId)
      .orderBy('id')
      .limit(limit)
      .execute();
    return rows.map((r) => parseRow(NoticeRow, r, 'notice'));
  }

  /** Every account's notices after `afterId` (the server's poll for what the CLI wrote). */
  async noticesAfter(afterId: number, limit = 500): Promise<StoredNotice[]> {
    const rows = await this.#db
      .selectFrom('notices')
      .selectAll()
      .where('id', '>', afterId)
      .orderBy('id')
      .limit(limit)
      .execute();
    return rows.map((r) => parseRow(NoticeRow, r, 'notice'));
  }

  async lastNoticeId(): Promise<number> {
    const row = await this.#db
      .selectFrom('notices')
      .select((eb) => eb.fn.max('id').as('id'))
      .executeTakeFirst();
    return row === undefined ? 0 : (parseRow(DbIntOrNull, row.id, 'notice id') ?? 0);
  }
}
