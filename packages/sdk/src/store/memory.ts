import { type Collection, KvStore, type RawListOptions, type RawOp } from './store.ts';

/**
 * In-memory backend for tests and ephemeral sessions. Values are kept as JSON text, as on disk, so
 * nothing read back aliases an object the caller still holds.
 */
export class MemoryStore extends KvStore {
  readonly #data = new Map<Collection, Map<string, string>>();
  #closed = false;

  #col(col: Collection): Map<string, string> {
    if (this.#closed) throw new Error('MemoryStore is closed');
    let m = this.#data.get(col);
    if (m === undefined) {
      m = new Map();
      this.#data.set(col, m);
    }
    return m;
  }

  async rawGet(col: Collection, key: string): Promise<string | undefined> {
    return this.#col(col).get(key);
  }

  async rawList(col: Collection, opts: RawListOptions = {}): Promise<{ key: string; value: string }[]> {
    const prefix = opts.prefix ?? '';
    const keys = [...this.#col(col).keys()].filter((k) => k.startsWith(prefix)).sort();
    if (opts.reverse === true) keys.reverse();
    const picked = opts.limit === undefined ? keys : keys.slice(0, opts.limit);
    const m = this.#col(col);
    return picked.map((key) => ({ key, value: m.get(key) ?? '' }));
  }

  async rawCount(col: Collection): Promise<number> {
    return this.#col(col).size;
  }

  async rawWrite(ops: RawOp[]): Promise<void> {
    // Synchronous apply: nothing can interleave, so the batch is atomic.
    for (const op of ops) {
      if (op.op === 'put') this.#col(op.col).set(op.key, op.value);
      else this.#col(op.col).delete(op.key);
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
  }
}
