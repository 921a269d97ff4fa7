import type { Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';
import type { Dialect } from '../schema.ts';

/**
 * Blocks (issue 6: "blocking stops delivery and calls from the blocked account at the server").
 * One row per (blocker, blocked) account; the send path looks rows up by `blocked_user` (the
 * sender) to leave the blocker's devices out of application messages and welcomes.
 */
export function m0005(dialect: Dialect): Migration {
  const int = dialect === 'postgres' ? 'bigint' : 'integer';
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('blocks')
        .addColumn('blocker_user', 'text', (c) => c.notNull())
        .addColumn('blocked_user', 'text', (c) => c.notNull())
        .addColumn('created_at', int, (c) => c.notNull())
        .addPrimaryKeyConstraint('blocks_pk', ['blocker_user', 'blocked_user'])
        .execute();
      await db.schema
        .createIndex('blocks_blocked')
        .on('blocks')
        .columns(['blocked_user', 'blocker_user'])
        .execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.dropTable('blocks').execute();
    },
  };
}
