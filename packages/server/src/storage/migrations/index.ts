import type { Migration, MigrationProvider } from 'kysely/migration';
import type { Dialect } from '../schema.ts';
import { m0001 } from './0001-initial.ts';
import { m0002 } from './0002-uploads-push-deletion.ts';
import { m0003 } from './0003-keypackage-claims.ts';
import { m0004 } from './0004-moderation.ts';
import { m0005 } from './0005-blocks.ts';
import { m0006 } from './0006-pg-send.ts';

/** Numbered migrations, applied in name order by Kysely's Migrator on both dialects. */
export function migrations(dialect: Dialect): MigrationProvider {
  return {
    async getMigrations(): Promise<Record<string, Migration>> {
      return {
        '0001-initial': m0001(dialect),
        '0002-uploads-push-deletion': m0002(dialect),
        '0003-keypackage-claims': m0003(dialect),
        '0004-moderation': m0004(dialect),
        '0005-blocks': m0005(dialect),
        '0006-pg-send': m0006(dialect),
      };
    },
  };
}
