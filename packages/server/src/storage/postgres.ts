import { PostgresDialect } from 'kysely';
import pg from 'pg';

export interface PostgresOptions {
  url: string;
  /** Tables live in this schema (created if missing); tests use a fresh one per run. */
  schema?: string;
  max?: number;
}

export function postgresPool(options: PostgresOptions): pg.Pool {
  const config: pg.PoolConfig = { connectionString: options.url, max: options.max ?? 10 };
  // Set at connection start-up, so no query can ever run with another search_path.
  if (options.schema !== undefined) config.options = `-c search_path=${options.schema}`;
  return new pg.Pool(config);
}

export function postgresDialect(pool: pg.Pool): PostgresDialect {
  return new PostgresDialect({ pool });
}
