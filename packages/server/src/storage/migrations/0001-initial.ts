import { type Kysely, sql } from 'kysely';
import type { Migration } from 'kysely/migration';
import type { Dialect } from '../schema.ts';

/** The first schema. Both dialects; only column types differ. */
export function m0001(dialect: Dialect): Migration {
  const pg = dialect === 'postgres';
  const int = pg ? 'bigint' : 'integer';
  const bytes = pg ? 'bytea' : 'blob';
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      const serial = (t: string) =>
        db.schema
          .createTable(t)
          .addColumn(
            t === 'mailbox' ? 'id' : t === 'messages' ? 'message_pk' : 'id',
            pg ? 'bigserial' : 'integer',
            (c) => (pg ? c.primaryKey() : c.primaryKey().autoIncrement()),
          );

      await db.schema
        .createTable('accounts')
        .addColumn('user_id', 'text', (c) => c.primaryKey())
        .addColumn('username', 'text', (c) => c.notNull().unique())
        .addColumn('display_name', 'text')
        .addColumn('identity_key', 'text', (c) => c.notNull())
        .addColumn('created_at', int, (c) => c.notNull())
        .execute();

      await db.schema
        .createTable('devices')
        .addColumn('device_id', 'text', (c) => c.primaryKey())
        .addColumn('user_id', 'text', (c) => c.notNull())
        .addColumn('device_key', 'text', (c) => c.notNull())
        .addColumn('cert', 'text', (c) => c.notNull())
        .addColumn('issued_at', int, (c) => c.notNull())
        .addColumn('name', 'text')
        .addColumn('created_at', int, (c) => c.notNull())
        .addColumn('revoked_at', int)
        .execute();
      await db.schema.createIndex('devices_user').on('devices').column('user_id').execute();

      await db.schema
        .createTable('sessions')
        .addColumn('session_id', 'text', (c) => c.primaryKey())
        .addColumn('device_id', 'text', (c) => c.notNull())
        .addColumn('user_id', 'text', (c) => c.notNull())
        .addColumn('token_hash', 'text', (c) => c.notNull().unique())
        .addColumn('created_at', int, (c) => c.notNull())
        .addColumn('last_seen_at', int, (c) => c.notNull())
        .addColumn('expires_at', int, (c) => c.notNull())
        .addColumn('revoked_at', int)
        .execute();
      await db.schema.createIndex('sessions_device').on('sessions').column('device_id').execute();
      await db.schema.createIndex('sessions_user').on('sessions').column('user_id').execute();

      await db.schema
        .createTable('challenges')
        .addColumn('challenge', 'text', (c) => c.primaryKey())
        .addColumn('device_id', 'text', (c) => c.notNull())
        .addColumn('expires_at', int, (c) => c.notNull())
        .execute();

      await serial('key_packages')
        .addColumn('device_id', 'text', (c) => c.notNull())
        .addColumn('bytes', bytes, (c) => c.notNull())
        .addColumn('last_resort', 'integer', (c) => c.notNull())
        .addColumn('created_at', int, (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('key_packages_device')
        .on('key_packages')
        .columns(['device_id', 'last_resort', 'id'])
        .execute();

      await db.schema
        .createTable('groups')
        .addColumn('group_id', 'text', (c) => c.primaryKey())
        .addColumn('epoch', int, (c) => c.notNull())
        .addColumn('next_seq', int, (c) => c.notNull())
        .addColumn('created_at', int, (c) => c.notNull())
        .execute();

      await db.schema
        .createTable('group_members')
        .addColumn('group_id', 'text', (c) => c.notNull())
        .addColumn('user_id', 'text', (c) => c.notNull())
        .addColumn('device_id', 'text', (c) => c.notNull())
        .addColumn('joined_at', int, (c) => c.notNull())
        .addPrimaryKeyConstraint('group_members_pk', ['group_id', 'device_id'])
        .execute();
      await db.schema.createIndex('group_members_device').on('group_members').column('device_id').execute();

      await serial('messages')
        .addColumn('group_id', 'text', (c) => c.notNull())
        .addColumn('seq', int, (c) => c.notNull())
        .addColumn('msg_id', 'text', (c) => c.notNull())
        .addColumn('sender_user', 'text', (c) => c.notNull())
        .addColumn('sender_device', 'text', (c) => c.notNull())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('epoch', int, (c) => c.notNull())
        .addColumn('ok_epoch', int, (c) => c.notNull())
        .addColumn('body', bytes, (c) => c.notNull())
        .addColumn('created_at', int, (c) => c.notNull())
        .execute();
      // Idempotency: one stored send per (device, msgId). A commit's welcome shares the msgId.
      await db.schema
        .createIndex('messages_idempotency')
        .on('messages')
        .columns(['sender_device', 'msg_id'])
        .unique()
        .where(sql<boolean>`kind <> 'welcome'`)
        .execute();
      await db.schema.createIndex('messages_created').on('messages').column('created_at').execute();

      await serial('mailbox')
        .addColumn('device_id', 'text', (c) => c.notNull())
        .addColumn('message_pk', int, (c) => c.notNull())
        .addColumn('created_at', int, (c) => c.notNull())
        .execute();
      await db.schema.createIndex('mailbox_device').on('mailbox').columns(['device_id', 'id']).execute();
      await db.schema.createIndex('mailbox_message').on('mailbox').column('message_pk').execute();
      await db.schema.createIndex('mailbox_created').on('mailbox').column('created_at').execute();

      await db.schema
        .createTable('links')
        .addColumn('link_id', 'text', (c) => c.primaryKey())
        .addColumn('user_id', 'text', (c) => c.notNull())
        .addColumn('sealed', 'text', (c) => c.notNull())
        .addColumn('created_at', int, (c) => c.notNull())
        .addColumn('expires_at', int, (c) => c.notNull())
        .addColumn('used_at', int)
        .execute();

      await db.schema
        .createTable('invites')
        .addColumn('code_hash', 'text', (c) => c.primaryKey())
        .addColumn('created_by', 'text', (c) => c.notNull())
        .addColumn('created_at', int, (c) => c.notNull())
        .addColumn('expires_at', int, (c) => c.notNull())
        .addColumn('used_at', int)
        .execute();

      await db.schema
        .createTable('attachments')
        .addColumn('attachment_id', 'text', (c) => c.primaryKey())
        .addColumn('size', int, (c) => c.notNull())
        .addColumn('uploader_device', 'text', (c) => c.notNull())
        .addColumn('created_at', int, (c) => c.notNull())
        .execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      for (const t of [
        'attachments',
        'invites',
        'links',
        'mailbox',
        'messages',
        'group_members',
        'groups',
        'key_packages',
        'challenges',
        'sessions',
        'devices',
        'accounts',
      ]) {
        await db.schema.dropTable(t).execute();
      }
    },
  };
}
