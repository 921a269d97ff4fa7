import type { DatabaseSync, StatementSync } from 'node:sqlite';
import { ServerError } from '../errors.ts';

/** Runs `fn` while no other query or transaction holds the connection (Kysely's mutex). */
export type Exclusive = <T>(fn: () => T) => Promise<T>;

interface Op {
  /** Runs the write, keeping its result for `done`. */
  run: () => void;
  /** Resolves the caller's promise with the result, after COMMIT. */
  done: () => void;
  reject: (err: unknown) => void;
}

/**
 * Group commit for SQLite: the writes of many sends and acks in one transaction.
 *
 * A transaction's COMMIT is the dearest step of a small write (the WAL append, and an fsync with
 * synchronous=FULL), and with one transaction per send it was most of the cost of a message. Ops
 * queued during one turn of the event loop run together on the next `setImmediate`: each inside a
 * SAVEPOINT, so one that throws (a refused send) rolls back alone and gets its own error, then one
 * COMMIT for all. Every promise settles only after that COMMIT returned, so whoever answers `ok` to
 * a client does so for data that is in the database; if COMMIT fails, every op of the batch fails.
 *
 * Ops are synchronous functions over node:sqlite (no await inside a transaction: nothing else can
 * interleave), and the batch holds Kysely's connection lock while it runs, so it never meets a
 * Kysely transaction half-way. A batch takes at most `maxOps`; the rest waits for the next one.
 * The queue itself is bounded by its callers: a connection waits for its op before it reads its
 * next frame.
 */
export class GroupCommit {
  readonly #db: DatabaseSync;
  readonly #exclusive: Exclusive;
  readonly #maxOps: number;
  readonly #intervalMs: number;
  #queue: Op[] = [];
  #timeout: NodeJS.Timeout | undefined;
  #immediate: NodeJS.Immediate | undefined;
  #running: Promise<void> | undefined;
  #lastStart = Number.NEGATIVE_INFINITY;
  /** Prepared once: `exec` would compile these again for every op. */
  #stmts: Record<'begin' | 'commit' | 'savepoint' | 'release' | 'rollbackTo', StatementSync> | undefined;

  /**
   * `intervalMs`: a batch starts at least this long after the previous one started. An op that
   * finds the queue idle for that long goes at once; under load each COMMIT takes the ops of the
   * whole interval, because a COMMIT costs about as much for one op as for a hundred (the pages a
   * batch touches are written to the WAL once, however many of its ops touched them).
   */
  constructor(
    db: DatabaseSync,
    exclusive: Exclusive,
    options: { maxOps?: number; intervalMs?: number } = {},
  ) {
    this.#db = db;
    this.#exclusive = exclusive;
    this.#maxOps = options.maxOps ?? 512;
    this.#intervalMs = options.intervalMs ?? 2;
  }

  /** Runs `fn` in the next batch; resolves with its result once the batch has committed. */
  run<T>(fn: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let result: T;
      this.#queue.push({
        run: () => {
          result = fn();
        },
        done: () => resolve(result),
        reject,
      });
      this.#schedule();
    });
  }

  /** Resolves when everything queued so far has been committed or failed. */
  async drain(): Promise<void> {
    while (this.#running !== undefined || this.#queue.length > 0) {
      if (this.#running === undefined) this.#start();
      await this.#running;
    }
  }

  #schedule(): void {
    if (this.#timeout !== undefined || this.#immediate !== undefined || this.#running !== undefined) return;
    const wait = this.#lastStart + this.#intervalMs - performance.now();
    // setImmediate at the soonest, not a microtask: the frames that arrived in this turn of the
    // loop are all read before the batch starts, so they share its COMMIT.
    if (wait > 0) this.#timeout = setTimeout(() => this.#start(), wait);
    else this.#immediate = setImmediate(() => this.#start());
  }

  #start(): void {
    clearTimeout(this.#timeout);
    clearImmediate(this.#immediate);
    this.#timeout = undefined;
    this.#immediate = undefined;
    if (this.#running !== undefined) return;
    const batch = this.#queue.splice(0, this.#maxOps);
    if (batch.length === 0) return;
    this.#lastStart = performance.now();
    this.#running = this.#flush(batch).finally(() => {
      this.#running = undefined;
      if (this.#queue.length > 0) this.#schedule();
    });
  }

  async #flush(batch: Op[]): Promise<void> {
    // The error of each op that failed alone (its savepoint rolled back), by position.
    const failed = new Map<number, unknown>();
    try {
      await this.#exclusive(() => this.#transaction(batch, failed));
    } catch (cause) {
      const err =
        cause instanceof ServerError
          ? cause
          : new ServerError('INTERNAL', 'database write failed', { cause });
      for (const op of batch) op.reject(err);
      return;
    }
    batch.forEach((op, i) => {
      if (failed.has(i)) op.reject(failed.get(i));
      else op.done();
    });
  }

  #transaction(batch: Op[], failed: Map<number, unknown>): void {
    const db = this.#db;
    this.#stmts ??= {
      // IMMEDIATE: take the write lock now (another process on the same file waits for
      // busy_timeout here, before any op ran) rather than fail half-way through the batch.
      begin: db.prepare('BEGIN IMMEDIATE'),
      commit: db.prepare('COMMIT'),
      savepoint: db.prepare('SAVEPOINT op'),
      release: db.prepare('RELEASE op'),
      rollbackTo: db.prepare('ROLLBACK TO op'),
    };
    const st = this.#stmts;
    st.begin.run();
    try {
      batch.forEach((op, i) => {
        st.savepoint.run();
        try {
          op.run();
          st.release.run();
        } catch (err) {
          // Some errors (disk full, I/O) end the whole transaction: then the batch fails.
          if (!db.isTransaction) throw err;
          st.rollbackTo.run();
          st.release.run();
          failed.set(i, err);
        }
      });
      st.commit.run();
    } catch (err) {
      if (db.isTransaction) db.exec('ROLLBACK');
      throw err;
    }
  }
}
