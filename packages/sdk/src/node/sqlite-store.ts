/**
 * SQLite backend on node:sqlite: one (collection, key) -> JSON table in WAL mode with
 * synchronous=FULL, because mailbox items are acknowledged to the server right after a commit and
 * must survive a power cut from then on.
 */
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import { type Collection, KvStore, prefixEnd, type RawListOptions, type RawOp } from '../store/store.ts';

export class SqliteStore extends KvStore {
  readonly #db: DatabaseSync;
  readonly #get: StatementSync;
  readonly #put: StatementSync;
  readonly #del: StatementSync;
  readonly #count: StatementSync;

  /** `path` is a file name, or ':memory:'. */
  constructor(path: string) {
    super();
    this.#db = new DatabaseSync(path);
    this.#db.exec('PRAGMA journal_mode = WAL');
    this.#db.exec('PRAGMA synchronous = FULL');
    this.#db.exec('PRAGMA busy_timeout = 5000');
    this.#db.exec(
      'CREATE TABLE IF NOT EXISTS kv (col TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (col, key)) WITHOUT ROWID',
    );
    this.#get = this.#db.prepare('SELECT value FROM kv WHERE col = ? AND key = ?');
    this.#put = this.#db.prepare('INSERT OR REPLACE INTO kv (col, key, value) VALUES (?, ?, ?)');
    this.#del = this.#db.prepare('DELETE FROM kv WHERE col = ? AND key = ?');
    this.#count = this.#db.prepare('SELECT count(*) AS n FROM kv WHERE col = ?');
  }

  static async open(path: string): Promise<SqliteStore> {
    return new SqliteStore(path);
  }

  async rawGet(col: Collection, key: string): Promise<string | undefined> {
    const row = this.#get.get(col, key);
    const v = row?.value;
    return typeof v === 'string' ? v : undefined;
  }

  async rawList(col: Collection, opts: RawListOptions = {}): Promise<{ key: string; value: string }[]> {
    const prefix = opts.prefix ?? '';
    const order = opts.reverse === true ? 'DESC' : 'ASC';
    const limit = opts.limit === undefined ? -1 : opts.limit;
    const rows = this.#db
      .prepare(
        `SELECT key, value FROM kv WHERE col = ? AND key >= ? AND key < ? ORDER BY key ${order} LIMIT ?`,
      )
      .all(col, prefix, prefixEnd(prefix), limit);
    const out: { key: string; value: string }[] = [];
    for (const r of rows) {
      if (typeof r.key === 'string' && typeof r.value === 'string') out.push({ key: r.key, value: r.value });
    }
    return out;
  }

  async rawCount(col: Collection): Promise<number> {
    const n = this.#count.get(col)?.n;
    return typeof n === 'number' ? n : Number(n ?? 0);
  }

  async rawWrite(ops: RawOp[]): Promise<void> {
    this.#db.exec('BEGIN IMMEDIATE');
    try {
      for (const op of ops) {
        if (op.op === 'put') this.#put.run(op.col, op.key, op.value);
        else this.#del.run(op.col, op.key);
      }
      this.#db.exec('COMMIT');
    } catch (e) {
      this.#db.exec('ROLLBACK');
      throw e;
    }
  }

  async close(): Promise<void> {
    if (this.#db.isOpen) this.#db.close();
  }
}
