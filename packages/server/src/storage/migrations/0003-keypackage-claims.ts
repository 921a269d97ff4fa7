import type { Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';
import type { Dialect } from '../schema.ts';

/**
 * Key package claims: which device claimed a package of which device, and when. A commit may add a
 * device only by using up such a claim of its sender (security review M1/H1), so nobody lands in a
 * group's fan-out list without someone having fetched a key package that could welcome it.
 */
export function m0003(dialect: Dialect): Migration {
  const pg = dialect === 'postgres';
  const int = pg ? 'bigint' : 'integer';
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('keypackage_claims')
        .addColumn('id', pg ? 'bigserial' : 'integer', (c) =>
          pg ? c.primaryKey() : c.primaryKey().autoIncrement(),
        )
        .addColumn('claimer_device', 'text', (c) => c.notNull())
        .addColumn('target_device', 'text', (c) => c.notNull())
        .addColumn('claimed_at', int, (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('keypackage_claims_pair')
        .on('keypackage_claims')
        .columns(['claimer_device', 'target_device', 'claimed_at'])
        .execute();
      await db.schema
        .createIndex('keypackage_claims_time')
        .on('keypackage_claims')
        .column('claimed_at')
        .execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.dropTable('keypackage_claims').execute();
    },
  };
}
