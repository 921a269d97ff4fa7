import type { Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';
import type { Dialect } from '../schema.ts';

/**
 * Moderation (issue 6): message franking beside each message (commitment and the server's tag),
 * the report queue, suspensions and lifted limits per account, appeals, operator notices, and
 * the strangers a new account reached (for its daily limit). Reported plaintext lives only in
 * `reports.messages`, put there by the reporter.
 */
export function m0004(dialect: Dialect): Migration {
  const pg = dialect === 'postgres';
  const int = pg ? 'bigint' : 'integer';
  const bytes = pg ? 'bytea' : 'blob';
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema.alterTable('messages').addColumn('franking_cf', bytes).execute();
      await db.schema.alterTable('messages').addColumn('franking_tag', bytes).execute();

      await db.schema
        .createTable('moderation_accounts')
        .addColumn('user_id', 'text', (c) => c.primaryKey())
        .addColumn('suspended_at', int)
        .addColumn('suspend_reason', 'text')
        .addColumn('limits_lifted_at', int)
        .execute();

      await db.schema
        .createTable('reports')
        .addColumn('report_id', 'text', (c) => c.primaryKey())
        .addColumn('reporter_user', 'text', (c) => c.notNull())
        .addColumn('reported_user', 'text', (c) => c.notNull())
        .addColumn('category', 'text', (c) => c.notNull())
        .addColumn('comment', 'text')
        // JSON: the verified messages (plaintext included), as the reporter sent them.
        .addColumn('messages', 'text', (c) => c.notNull())
        .addColumn('created_at', int, (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('resolved_at', int)
        .addColumn('resolution_reason', 'text')
        .execute();
      await db.schema.createIndex('reports_status').on('reports').columns(['status', 'created_at']).execute();
      await db.schema.createIndex('reports_reported').on('reports').column('reported_user').execute();

      await db.schema
        .createTable('appeals')
        .addColumn('appeal_id', 'text', (c) => c.primaryKey())
        .addColumn('user_id', 'text', (c) => c.notNull())
        .addColumn('text', 'text', (c) => c.notNull())
        .addColumn('created_at', int, (c) => c.notNull())
        .addColumn('resolved_at', int)
        .execute();
      await db.schema.createIndex('appeals_user').on('appeals').column('user_id').execute();

      await db.schema
        .createTable('notices')
        .addColumn('id', pg ? 'bigserial' : 'integer', (c) =>
          pg ? c.primaryKey() : c.primaryKey().autoIncrement(),
        )
        .addColumn('user_id', 'text', (c) => c.notNull())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('reason', 'text')
        .addColumn('created_at', int, (c) => c.notNull())
        .execute();
      await db.schema.createIndex('notices_user').on('notices').columns(['user_id', 'id']).execute();

      await db.schema
        .createTable('stranger_reach')
        .addColumn('user_id', 'text', (c) => c.notNull())
        .addColumn('target_user', 'text', (c) => c.notNull())
        .addColumn('reached_at', int, (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('stranger_reach_user')
        .on('stranger_reach')
        .columns(['user_id', 'reached_at'])
        .execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      for (const t of ['stranger_reach', 'notices', 'appeals', 'reports', 'moderation_accounts']) {
        await db.schema.dropTable(t).execute();
      }
      await db.schema.alterTable('messages').dropColumn('franking_tag').execute();
      await db.schema.alterTable('messages').dropColumn('franking_cf').execute();
    },
  };
}
