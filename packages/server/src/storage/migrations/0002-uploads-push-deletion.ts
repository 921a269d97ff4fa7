import type { Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';
import type { Dialect } from '../schema.ts';

/** Chunked uploads, Web Push subscriptions, and account deletion (username quarantine). */
export function m0002(dialect: Dialect): Migration {
  const int = dialect === 'postgres' ? 'bigint' : 'integer';
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('uploads')
        .addColumn('upload_id', 'text', (c) => c.primaryKey())
        .addColumn('attachment_id', 'text', (c) => c.notNull().unique())
        .addColumn('device_id', 'text', (c) => c.notNull())
        .addColumn('size', int, (c) => c.notNull())
        .addColumn('received', int, (c) => c.notNull())
        .addColumn('created_at', int, (c) => c.notNull())
        .execute();
      await db.schema.createIndex('uploads_created').on('uploads').column('created_at').execute();

      await db.schema
        .createTable('push_subscriptions')
        .addColumn('device_id', 'text', (c) => c.primaryKey())
        .addColumn('endpoint', 'text', (c) => c.notNull())
        .addColumn('p256dh', 'text', (c) => c.notNull())
        .addColumn('auth', 'text', (c) => c.notNull())
        .addColumn('created_at', int, (c) => c.notNull())
        .execute();

      // A deleted account keeps its row (username reserved) until the quarantine ends.
      await db.schema.alterTable('accounts').addColumn('deleted_at', int).execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.alterTable('accounts').dropColumn('deleted_at').execute();
      await db.schema.dropTable('push_subscriptions').execute();
      await db.schema.dropTable('uploads').execute();
    },
  };
}
