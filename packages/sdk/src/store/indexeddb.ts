/**
 * IndexedDB backend for browsers (tested in Node with fake-indexeddb). One object store per
 * collection, string keys, JSON-text values sealed at rest (see "Sealing" below). The IDB and
 * WebCrypto types below are the few members we use, declared here because the SDK compiles
 * without DOM types.
 *
 * Sealing: every value is AES-256-GCM ciphertext under one non-extractable WebCrypto key that
 * lives in the `keyring` object store as a CryptoKey object (structured-cloneable, but script can
 * only use it, never export it). Our identity and MLS keys are Ed25519/X25519/HPKE keys that
 * ts-mls and @noble need as bytes, so they cannot be CryptoKeys themselves; sealing them is how
 * they get "non-extractable where WebCrypto allows". The additional data binds each value to its
 * object store and record key, so ciphertext moved to another record does not open.
 *
 * Record keys stay in the clear: the store's queries are key-range scans over them (messages by
 * `conversationId/seq`, outbox and held items by prefix) and there is no index over a value. They
 * hold ids and sequence numbers (conversation, user, message, call ids), never message text or
 * key material.
 */
import { z } from 'zod';
import { SdkError } from '../errors.ts';
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
  onupgradeneeded: ((ev: { readonly oldVersion: number }) => void) | null;
  onblocked: ((ev: unknown) => void) | null;
}
interface IdbCursor {
  readonly key: unknown;
  readonly value: unknown;
  continue(): void;
}
interface IdbObjectStore {
  get(key: string): IdbRequest<unknown>;
  put(value: unknown, key: string): IdbRequest<unknown>;
  delete(key: string): IdbRequest<unknown>;
  clear(): IdbRequest<unknown>;
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

/** A WebCrypto CryptoKey as far as we look at it. */
interface CryptoKeyLike {
  readonly type: string;
  readonly extractable: boolean;
  readonly algorithm: unknown;
  readonly usages: readonly string[];
}
interface AesGcmParams {
  name: 'AES-GCM';
  iv: Uint8Array;
  additionalData: Uint8Array;
}
interface SubtleLike {
  generateKey(
    alg: { name: 'AES-GCM'; length: 256 },
    extractable: boolean,
    usages: ('encrypt' | 'decrypt')[],
  ): Promise<unknown>;
  encrypt(alg: AesGcmParams, key: CryptoKeyLike, data: Uint8Array): Promise<ArrayBuffer>;
  decrypt(alg: AesGcmParams, key: CryptoKeyLike, data: Uint8Array): Promise<ArrayBuffer>;
}

/**
 * 2: msgids, contacts, profiles, convstate, blocked. Bumped whenever Collections grows: the upgrade
 * creates the missing object stores. 5: the keyring, and values sealed (older ones are migrated).
 */
const VERSION = 5;
/** Not a Collection, so the typed API (and KvStore.clear) never sees it. */
export const KEYRING = 'keyring';
/** The keyring entry holding the record key (a CryptoKey). */
export const RECORD_KEY = 'records';
/** Present while records written before version 5 (plaintext) may remain; see #migrate. */
const LEGACY_MARKER = 'legacy-plaintext';

/** Sealed value: FORMAT (1 byte) | IV (12) | AES-GCM ciphertext and 16-byte tag. */
const FORMAT = 1;
const IV_BYTES = 12;
const TAG_BYTES = 16;
/** Plaintext records are sealed in batches, so a large history does not sit in memory twice. */
const MIGRATE_BATCH = 500;

const KeyShape = z.object({
  type: z.literal('secret'),
  extractable: z.literal(false),
  algorithm: z.object({ name: z.literal('AES-GCM'), length: z.literal(256) }),
  usages: z.array(z.string()).refine((u) => u.includes('encrypt') && u.includes('decrypt')),
});
/**
 * The stored record key. Checked on the object itself (z.custom) because parsing with z.object
 * would hand back a plain copy, and only the real CryptoKey can encrypt.
 */
const RecordKey = z.custom<CryptoKeyLike>((v) => KeyShape.safeParse(v).success);

const utf8 = new TextEncoder();
const utf8Strict = new TextDecoder('utf-8', { fatal: true });

/** Binds a sealed value to where it is stored; NUL cannot occur in a collection name. */
const additionalData = (col: string, key: string): Uint8Array =>
  utf8.encode(`kolokol/idb/v1\0${col}\0${key}`);

function req<T>(r: IdbRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
}

/** Resolves once `tx` committed (requests issued by the caller), rejects if it aborted. */
function done(tx: IdbTransaction): Promise<void> {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error ?? new Error('IndexedDB transaction aborted'));
  });
}

function subtleCrypto(): SubtleLike {
  const g = globalThis as unknown as { crypto?: { subtle?: SubtleLike } };
  const subtle = g.crypto?.subtle;
  if (subtle === undefined)
    // Browsers expose WebCrypto only in secure contexts; without it we would have to keep the
    // keys in the clear, so we refuse instead.
    throw new SdkError(
      'STORE',
      'the store needs WebCrypto, which browsers offer only over https or on localhost',
    );
  return subtle;
}

async function newRecordKey(subtle: SubtleLike): Promise<CryptoKeyLike> {
  const key = await subtle.generateKey({ name: 'AES-GCM', length: 256 }, false, ['encrypt', 'decrypt']);
  const r = RecordKey.safeParse(key);
  if (!r.success) throw new SdkError('STORE', 'WebCrypto did not make a non-extractable AES-GCM key');
  return r.data;
}

export class IndexedDbStore extends KvStore {
  readonly #db: IdbDatabase;
  readonly #range: IdbKeyRangeCtor;
  readonly #subtle: SubtleLike;
  #key: CryptoKeyLike;

  private constructor(db: IdbDatabase, range: IdbKeyRangeCtor, subtle: SubtleLike, key: CryptoKeyLike) {
    super();
    this.#db = db;
    this.#range = range;
    this.#subtle = subtle;
    this.#key = key;
  }

  /**
   * Opens (creating if needed) the database `name`; defaults to the platform's indexedDB. Makes
   * the record key on first use, and seals what an older version left in the clear.
   */
  static async open(
    name: string,
    opts: { indexedDB?: IdbFactoryLike; IDBKeyRange?: IdbKeyRangeCtor } = {},
  ): Promise<IndexedDbStore> {
    const g = globalThis as unknown as { indexedDB?: IdbFactoryLike; IDBKeyRange?: IdbKeyRangeCtor };
    const factory = opts.indexedDB ?? g.indexedDB;
    const range = opts.IDBKeyRange ?? g.IDBKeyRange;
    if (factory === undefined || range === undefined) throw new Error('IndexedDB is not available here');
    const subtle = subtleCrypto();
    const request = factory.open(name, VERSION);
    request.onupgradeneeded = (ev) => {
      const db = request.result;
      for (const c of Collections) if (!db.objectStoreNames.contains(c)) db.createObjectStore(c);
      if (!db.objectStoreNames.contains(KEYRING)) {
        const keyring = db.createObjectStore(KEYRING);
        // A database from before sealing holds plaintext; the marker survives an interrupted
        // migration, so the next open finishes it.
        if (ev.oldVersion > 0) keyring.put(true, LEGACY_MARKER);
      }
    };
    request.onblocked = () => console.warn(`kolokol: IndexedDB ${name} upgrade blocked by another tab`);
    const db = await req(request);
    try {
      const key = await IndexedDbStore.#recordKey(db, subtle);
      const store = new IndexedDbStore(db, range, subtle, key);
      await store.#migrate();
      return store;
    } catch (e) {
      db.close();
      throw e;
    }
  }

  /** The stored record key, or a new one if there is none yet. */
  static async #recordKey(db: IdbDatabase, subtle: SubtleLike): Promise<CryptoKeyLike> {
    const existing = await req(db.transaction([KEYRING], 'readonly').objectStore(KEYRING).get(RECORD_KEY));
    if (existing !== undefined) return IndexedDbStore.#parseKey(existing);
    // Generated outside the transaction (it would commit while we await WebCrypto), then stored
    // only if no other tab stored one meanwhile: get-then-put in one readwrite transaction is
    // atomic, so every tab ends up with the same key.
    const candidate = await newRecordKey(subtle);
    const tx = db.transaction([KEYRING], 'readwrite', { durability: 'strict' });
    const keyring = tx.objectStore(KEYRING);
    let chosen: unknown = candidate;
    const get = keyring.get(RECORD_KEY);
    get.onsuccess = () => {
      if (get.result === undefined) keyring.put(candidate, RECORD_KEY);
      else chosen = get.result;
    };
    await done(tx);
    return IndexedDbStore.#parseKey(chosen);
  }

  static #parseKey(value: unknown): CryptoKeyLike {
    const r = RecordKey.safeParse(value);
    if (!r.success) throw new SdkError('STORE', 'the stored record key is not a non-extractable AES-GCM key');
    return r.data;
  }

  /**
   * Seals the plaintext records an older version wrote, collection by collection. A record is
   * replaced only if it still holds the plaintext we read: another tab may have migrated or
   * rewritten it in between, and its newer value must win.
   */
  async #migrate(): Promise<void> {
    const marker = await req(
      this.#db.transaction([KEYRING], 'readonly').objectStore(KEYRING).get(LEGACY_MARKER),
    );
    if (marker === undefined) return;
    for (const col of Collections) {
      const plain = (await this.#scan(col)).filter(
        (r): r is { key: string; value: string } => typeof r.value === 'string',
      );
      for (let i = 0; i < plain.length; i += MIGRATE_BATCH) {
        const batch = plain.slice(i, i + MIGRATE_BATCH);
        const sealed = await Promise.all(batch.map((r) => this.#seal(col, r.key, r.value)));
        const tx = this.#db.transaction([col], 'readwrite', { durability: 'strict' });
        const store = tx.objectStore(col);
        batch.forEach((r, j) => {
          const get = store.get(r.key);
          get.onsuccess = () => {
            if (get.result === r.value) store.put(sealed[j], r.key);
          };
        });
        await done(tx);
      }
    }
    const tx = this.#db.transaction([KEYRING], 'readwrite', { durability: 'strict' });
    tx.objectStore(KEYRING).delete(LEGACY_MARKER);
    await done(tx);
  }

  async #seal(col: Collection, key: string, text: string): Promise<Uint8Array> {
    // A random 96-bit IV per value: one device writes far fewer than the 2^32 values per key
    // that random IVs allow for AES-GCM.
    const iv = crypto.getRandomValues(new Uint8Array(IV_BYTES));
    const ct = new Uint8Array(
      await this.#subtle.encrypt(
        { name: 'AES-GCM', iv, additionalData: additionalData(col, key) },
        this.#key,
        utf8.encode(text),
      ),
    );
    const out = new Uint8Array(1 + IV_BYTES + ct.length);
    out[0] = FORMAT;
    out.set(iv, 1);
    out.set(ct, 1 + IV_BYTES);
    return out;
  }

  async #open(col: Collection, key: string, value: unknown): Promise<string> {
    const where = `${col}/${key}`;
    const details = { collection: col, key };
    // A plaintext string is refused too: after migration only something without the key (another
    // program, a bad disk) could have written it, and reading it would let it forge records.
    if (!(value instanceof Uint8Array) || value.length < 1 + IV_BYTES + TAG_BYTES || value[0] !== FORMAT)
      throw new SdkError('STORE', `stored record ${where} is not sealed`, { details });
    let plain: ArrayBuffer;
    try {
      plain = await this.#subtle.decrypt(
        {
          name: 'AES-GCM',
          iv: value.subarray(1, 1 + IV_BYTES),
          additionalData: additionalData(col, key),
        },
        this.#key,
        value.subarray(1 + IV_BYTES),
      );
    } catch (cause) {
      throw new SdkError(
        'STORE',
        `stored record ${where} does not decrypt: it was altered, moved from another record, or sealed under another key`,
        { cause, details },
      );
    }
    try {
      return utf8Strict.decode(new Uint8Array(plain));
    } catch (cause) {
      throw new SdkError('STORE', `stored record ${where} is not UTF-8`, { cause, details });
    }
  }

  /** Every record of `col` as stored (no decryption); reads inside one cursor, decrypts after. */
  #scan(col: Collection, opts: RawListOptions = {}): Promise<{ key: string; value: unknown }[]> {
    const store = this.#db.transaction([col], 'readonly').objectStore(col);
    const range = opts.prefix ? this.#range.bound(opts.prefix, prefixEnd(opts.prefix)) : undefined;
    const cursorReq = store.openCursor(range, opts.reverse === true ? 'prev' : 'next');
    const out: { key: string; value: unknown }[] = [];
    return new Promise((resolve, reject) => {
      cursorReq.onerror = () => reject(cursorReq.error);
      cursorReq.onsuccess = () => {
        const cursor = cursorReq.result;
        if (cursor === null || (opts.limit !== undefined && out.length >= opts.limit)) {
          resolve(out);
          return;
        }
        if (typeof cursor.key === 'string') out.push({ key: cursor.key, value: cursor.value });
        cursor.continue();
      };
    });
  }

  async rawGet(col: Collection, key: string): Promise<string | undefined> {
    const v = await req(this.#db.transaction([col], 'readonly').objectStore(col).get(key));
    return v === undefined ? undefined : this.#open(col, key, v);
  }

  async rawList(col: Collection, opts: RawListOptions = {}): Promise<{ key: string; value: string }[]> {
    const rows = await this.#scan(col, opts);
    return Promise.all(rows.map(async (r) => ({ key: r.key, value: await this.#open(col, r.key, r.value) })));
  }

  rawCount(col: Collection): Promise<number> {
    return req(this.#db.transaction([col], 'readonly').objectStore(col).count());
  }

  async rawWrite(ops: RawOp[]): Promise<void> {
    // Sealed before the transaction opens: it would commit early while we await WebCrypto.
    const values = await Promise.all(
      ops.map((op) => (op.op === 'put' ? this.#seal(op.col, op.key, op.value) : undefined)),
    );
    const cols = [...new Set(ops.map((o) => o.col))];
    // 'strict' durability: the transaction completes only once flushed, because the caller
    // acknowledges mailbox items to the server right after.
    const tx = this.#db.transaction(cols, 'readwrite', { durability: 'strict' });
    const committed = done(tx);
    ops.forEach((op, i) => {
      const s = tx.objectStore(op.col);
      if (op.op === 'put') s.put(values[i], op.key);
      else s.delete(op.key);
    });
    await committed;
  }

  /**
   * Deletes every record and the record key with it (logout, account deletion), in one
   * transaction, and starts over with a fresh key: nothing sealed before can be opened again.
   */
  override async clear(): Promise<void> {
    const fresh = await newRecordKey(this.#subtle);
    const names = [...Collections, KEYRING];
    const tx = this.#db.transaction(names, 'readwrite', { durability: 'strict' });
    const committed = done(tx);
    for (const n of names) tx.objectStore(n).clear();
    tx.objectStore(KEYRING).put(fresh, RECORD_KEY);
    await committed;
    this.#key = fresh;
  }

  async close(): Promise<void> {
    this.#db.close();
  }
}
