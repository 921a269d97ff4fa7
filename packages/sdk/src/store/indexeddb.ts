/**
 * IndexedDB backend for browsers (tested in Node with fake-indexeddb). One object store per
 * collection, string keys, JSON-text values. The IDB types below are the few members we use,
 * declared here because the SDK compiles without DOM types.
 */
import {
  type Collection,
  Collections,
  KvStore,
  prefixEnd,
  type RawListOptions,
  type RawOp,
} from './store.ts';

interface IdbRequest<T> {
  readonly result: T;
  readonly error: unknown;
  onsuccess: ((ev: unknown) => void) | null;
  onerror: ((ev: unknown) => void) | null;
}
interface IdbOpenRequest extends IdbRequest<IdbDatabase> {
  onupgradeneeded: ((ev: unknown) => void) | null;
  onblocked: ((ev: unknown) => void) | null;
}
interface IdbCursor {
  readonly key: unknown;
  readonly value: unknown;
  continue(): void;
}
interface IdbObjectStore {
  get(key: string): IdbRequest<unknown>;
  put(value: string, key: string): IdbRequest<unknown>;
  delete(key: string): IdbRequest<unknown>;
  count(): IdbRequest<number>;
  openCursor(range?: unknown, direction?: 'next' | 'prev'): IdbRequest<IdbCursor | null>;
}
interface IdbTransaction {
  objectStore(name: string): IdbObjectStore;
  readonly error: unknown;
  oncomplete: ((ev: unknown) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  onabort: ((ev: unknown) => void) | null;
}
interface IdbDatabase {
  readonly objectStoreNames: { contains(name: string): boolean };
  createObjectStore(name: string): IdbObjectStore;
  transaction(
    names: string[],
    mode: 'readonly' | 'readwrite',
    opts?: { durability?: 'strict' | 'relaxed' | 'default' },
  ): IdbTransaction;
  close(): void;
}
export interface IdbFactoryLike {
  open(name: string, version?: number): IdbOpenRequest;
}
export interface IdbKeyRangeCtor {
  bound(lower: string, upper: string, lowerOpen?: boolean, upperOpen?: boolean): unknown;
}

/** 2: msgids, contacts, profiles, convstate, blocked (created on upgrade). */
/** Bumped whenever Collections grows: the upgrade creates the missing object stores. */
const VERSION = 4;

function req<T>(r: IdbRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
}

export class IndexedDbStore extends KvStore {
  readonly #db: IdbDatabase;
  readonly #range: IdbKeyRangeCtor;

  private constructor(db: IdbDatabase, range: IdbKeyRangeCtor) {
    super();
    this.#db = db;
    this.#range = range;
  }

  /** Opens (creating if needed) the database `name`; defaults to the platform's indexedDB. */
  static async open(
    name: string,
    opts: { indexedDB?: IdbFactoryLike; IDBKeyRange?: IdbKeyRangeCtor } = {},
  ): Promise<IndexedDbStore> {
    const g = globalThis as unknown as { indexedDB?: IdbFactoryLike; IDBKeyRange?: IdbKeyRangeCtor };
    const factory = opts.indexedDB ?? g.indexedDB;
    const range = opts.IDBKeyRange ?? g.IDBKeyRange;
    if (factory === undefined || range === undefined) throw new Error('IndexedDB is not available here');
    const request = factory.open(name, VERSION);
    request.onupgradeneeded = () => {
      const db = request.result;
      for (const c of Collections) if (!db.objectStoreNames.contains(c)) db.createObjectStore(c);
    };
    request.onblocked = () => console.warn(`kolokol: IndexedDB ${name} upgrade blocked by another tab`);
    const db = await req(request);
    return new IndexedDbStore(db, range);
  }

  async rawGet(col: Collection, key: string): Promise<string | undefined> {
    const v = await req(this.#db.transaction([col], 'readonly').objectStore(col).get(key));
    return typeof v === 'string' ? v : undefined;
  }

  rawList(col: Collection, opts: RawListOptions = {}): Promise<{ key: string; value: string }[]> {
    const store = this.#db.transaction([col], 'readonly').objectStore(col);
    const range = opts.prefix ? this.#range.bound(opts.prefix, prefixEnd(opts.prefix)) : undefined;
    const cursorReq = store.openCursor(range, opts.reverse === true ? 'prev' : 'next');
    const out: { key: string; value: string }[] = [];
    return new Promise((resolve, reject) => {
      cursorReq.onerror = () => reject(cursorReq.error);
      cursorReq.onsuccess = () => {
        const cursor = cursorReq.result;
        if (cursor === null || (opts.limit !== undefined && out.length >= opts.limit)) {
          resolve(out);
          return;
        }
        if (typeof cursor.key === 'string' && typeof cursor.value === 'string') {
          out.push({ key: cursor.key, value: cursor.value });
        }
        cursor.continue();
      };
    });
  }

  rawCount(col: Collection): Promise<number> {
    return req(this.#db.transaction([col], 'readonly').objectStore(col).count());
  }

  rawWrite(ops: RawOp[]): Promise<void> {
    const cols = [...new Set(ops.map((o) => o.col))];
    // 'strict' durability: the transaction completes only once flushed, because the caller
    // acknowledges mailbox items to the server right after.
    const tx = this.#db.transaction(cols, 'readwrite', { durability: 'strict' });
    return new Promise((resolve, reject) => {
      tx.oncomplete = () => resolve();
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error ?? new Error('IndexedDB transaction aborted'));
      for (const op of ops) {
        const s = tx.objectStore(op.col);
        if (op.op === 'put') s.put(op.value, op.key);
        else s.delete(op.key);
      }
    });
  }

  async close(): Promise<void> {
    this.#db.close();
  }
}
