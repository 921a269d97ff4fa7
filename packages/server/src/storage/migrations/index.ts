import type { Migration, MigrationProvider } from 'kysely/migration';
import type { Dialect } from '../schema.ts';
import { m0001 } from './0001-initial.ts';

/** Numbered migrations, applied in name order by Kysely's Migrator on both dialects. */
export function migrations(dialect: Dialect): MigrationProvider {
  return {
    async getMigrations(): Promise<Record<string, Migration>> {
      return { '0001-initial': m0001(dialect) };
    },
  };
}
