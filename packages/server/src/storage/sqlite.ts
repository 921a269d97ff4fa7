import { DatabaseSync, type SQLInputValue, type StatementSync } from 'node:sqlite';
import { type SqliteDatabase, SqliteDialect, type SqliteStatement } from 'kysely';
import { ServerError } from '../errors.ts';

export interface SqliteOptions {
  /** File path, or ':memory:'. */
  path: string;
  synchronous?: 'normal' | 'full';
  busyTimeoutMs?: number;
}

function toInput(value: unknown): SQLInputValue {
  if (value === null || typeof value === 'number' || typeof value === 'bigint' || typeof value === 'string') {
    return value;
  }
  if (value instanceof Uint8Array) return value;
  // node:sqlite binds no booleans or undefined; the schema stores flags as 0/1 so this is a bug.
  throw new ServerError('INTERNAL', `cannot bind a ${typeof value} to SQLite`);
}

/**
 * Kysely's SqliteDialect expects better-sqlite3's API; node:sqlite's DatabaseSync is close enough
 * that this small adapter is all it takes (and saves a native dependency). Prepared statements are
 * cached because Kysely prepares on every query.
 */
class NodeSqliteDatabase implements SqliteDatabase {
  readonly #db: DatabaseSync;
  readonly #cache = new Map<string, { stmt: StatementSync; reader: boolean }>();

  constructor(db: DatabaseSync) {
    this.#db = db;
  }

  close(): void {
    this.#cache.clear();
    if (this.#db.isOpen) this.#db.close();
  }

  prepare(sql: string): SqliteStatement {
    let entry = this.#cache.get(sql);
    if (entry === undefined) {
      const stmt = this.#db.prepare(sql);
      entry = { stmt, reader: stmt.columns().length > 0 };
      if (this.#cache.size >= 500) this.#cache.clear();
      this.#cache.set(sql, entry);
    }
    const { stmt, reader } = entry;
    return {
      reader,
      all: (params) => stmt.all(...params.map(toInput)),
      run: (params) => {
        const r = stmt.run(...params.map(toInput));
        return { changes: r.changes, lastInsertRowid: r.lastInsertRowid };
      },
      iterate: (params) => stmt.iterate(...params.map(toInput)),
    };
  }
}

/**
 * The dialect for Kysely, and the same connection for the store's hot path (group-committed sends
 * and acks, mailbox reads: group-commit.ts), which runs prepared statements on it directly while
 * it holds Kysely's connection lock.
 */
export function openSqlite(options: SqliteOptions): { dialect: SqliteDialect; database: DatabaseSync } {
  const db = new DatabaseSync(options.path);
  db.exec('PRAGMA journal_mode = WAL');
  db.exec(`PRAGMA synchronous = ${options.synchronous === 'full' ? 'FULL' : 'NORMAL'}`);
  db.exec(`PRAGMA busy_timeout = ${Math.trunc(options.busyTimeoutMs ?? 5000)}`);
  db.exec('PRAGMA foreign_keys = ON');
  // A file database is checkpointed by a worker thread (checkpointer.ts); this connection does
  // it only past 8000 pages (32 MiB with 4 KiB pages), instead of SQLite's 1000.
  if (options.path !== ':memory:') db.exec('PRAGMA wal_autocheckpoint = 8000');
  return { dialect: new SqliteDialect({ database: new NodeSqliteDatabase(db) }), database: db };
}
