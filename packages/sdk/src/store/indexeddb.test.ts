import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { toB64 } from '@kolokol/protocol';
import { IDBFactory, IDBKeyRange } from 'fake-indexeddb';
import { SdkError } from '../errors.ts';
import { type IdbFactoryLike, IndexedDbStore, KEYRING, RECORD_KEY } from './indexeddb.ts';
import { MemoryStore } from './memory.ts';
import type { AccountRecord, MessageRecord } from './records.ts';
import { storeSuite } from './store.suite.ts';
import { Collections, messageKey } from './store.ts';

// fake-indexeddb clones values with the global structuredClone, and Node 24's clones a CryptoKey
// (still usable, still non-extractable), so the real key object round-trips as in a browser.

let factory: IdbFactoryLike = new IDBFactory();
let n = 0;
let current = '';

storeSuite('IndexedDbStore (fake-indexeddb)', {
  async create() {
    factory = new IDBFactory();
    current = `kolokol-test-${++n}`;
    return IndexedDbStore.open(current, { indexedDB: factory, IDBKeyRange });
  },
  async reopen(store) {
    await store.close();
    return IndexedDbStore.open(current, { indexedDB: factory, IDBKeyRange });
  },
});

type RawDb = ReturnType<IdbFactoryLike['open']>['result'];
type RawRequest<T> = { result: T; error: unknown; onsuccess: unknown; onerror: unknown };

function req<T>(r: RawRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
}

/** The database as any other script of the origin would see it, bypassing IndexedDbStore. */
function openRaw(
  f: IdbFactoryLike,
  name: string,
  version?: number,
  upgrade?: (db: RawDb) => void,
): Promise<RawDb> {
  const r = f.open(name, version);
  if (upgrade !== undefined) r.onupgradeneeded = () => upgrade(r.result);
  return req(r);
}

async function dump(
  db: RawDb,
  names: readonly string[],
): Promise<{ store: string; key: unknown; value: unknown }[]> {
  const out: { store: string; key: unknown; value: unknown }[] = [];
  for (const name of names) {
    if (!db.objectStoreNames.contains(name)) continue;
    const cursor = db.transaction([name], 'readonly').objectStore(name).openCursor();
    await new Promise<void>((resolve, reject) => {
      cursor.onerror = () => reject(cursor.error);
      cursor.onsuccess = () => {
        const c = cursor.result;
        if (c === null) return resolve();
        out.push({ store: name, key: c.key, value: c.value });
        c.continue();
      };
    });
  }
  return out;
}

async function rawPut(db: RawDb, name: string, key: string, value: unknown): Promise<void> {
  await req(db.transaction([name], 'readwrite').objectStore(name).put(value, key));
}

async function rawGet(db: RawDb, name: string, key: string): Promise<unknown> {
  return req(db.transaction([name], 'readonly').objectStore(name).get(key));
}

function contains(hay: Uint8Array, needle: Uint8Array): boolean {
  outer: for (let i = 0; i + needle.length <= hay.length; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return true;
  }
  return false;
}

const MARKER = 'MARKER-d41d8cd98f00b204';
const secret = new TextEncoder().encode('SECRET-KEY-BYTES-0123456789abcdef');

const account: AccountRecord = {
  userId: 'user_0000001',
  username: 'alice',
  displayName: MARKER,
  server: 'http://127.0.0.1:1',
  identity: { publicKey: new Uint8Array([1, 2, 3]), privateKey: secret },
  device: {
    deviceId: 'device_00001',
    publicKey: new Uint8Array([7]),
    privateKey: secret,
    issuedAt: 5,
    cert: new Uint8Array([9]),
  },
  createdAt: 1,
};

const message = (seq: number): MessageRecord => ({
  id: `msg_${seq}`,
  conversationId: 'c1',
  seq,
  from: { userId: 'user_0000001', username: 'alice', deviceId: 'device_00001' },
  sentAt: seq,
  receivedAt: seq,
  body: { type: 'text', text: `${MARKER} ${seq}` },
  outgoing: false,
  reactions: {},
});

/** Fills a store with the marker in every kind of secret it holds. */
async function fill(s: MemoryStore | IndexedDbStore): Promise<void> {
  await s.atomic((w) =>
    w
      .putAccount(account)
      .putSession({ token: MARKER, sessionId: 's1', expiresAt: 9 })
      .putKeyPackage({
        ref: 'ref1',
        publicBytes: new Uint8Array([1]),
        privateBytes: secret,
        lastResort: false,
        createdAt: 1,
      })
      .putGroupState({ groupId: 'g1', epoch: 1, state: secret })
      .putMessage(message(1))
      .putMessage(message(2))
      .putConversationState('c1', { unread: 0, draft: MARKER })
      .putPending({
        item: {
          id: 1,
          msgId: 'msg-0001-xxxxxxxxxxxx',
          groupId: 'group-01',
          seq: 3,
          kind: 'application',
          epoch: 2,
          body: toB64(secret),
          sender: { userId: 'user-0001', deviceId: 'device-0001' },
          sentAt: 1,
        },
        heldAt: 1,
      })
      .setKv('note', MARKER),
  );
}

const needles = [
  new TextEncoder().encode(MARKER),
  secret,
  new TextEncoder().encode(toB64(secret)),
  new TextEncoder().encode('alice'),
];

/** Asserts that no record value shows any needle: every value is an opaque sealed blob. */
function assertNoPlaintext(rows: { store: string; key: unknown; value: unknown }[]): void {
  for (const r of rows) {
    if (r.store === KEYRING) continue;
    assert.ok(r.value instanceof Uint8Array, `${r.store}/${String(r.key)} is not sealed bytes`);
    for (const needle of needles)
      assert.ok(!contains(r.value, needle), `${r.store}/${String(r.key)} shows a secret in the clear`);
  }
}

describe('IndexedDbStore sealing', () => {
  const fresh = async () => {
    const f: IdbFactoryLike = new IDBFactory();
    const name = `kolokol-seal-${++n}`;
    const store = await IndexedDbStore.open(name, { indexedDB: f, IDBKeyRange });
    return { f, name, store };
  };
  const isStoreError = (re: RegExp) => (e: unknown) =>
    e instanceof SdkError && e.code === 'STORE' && re.test(e.message);

  it('keeps no record value in the clear', async () => {
    const { f, name, store } = await fresh();
    await fill(store);
    assert.deepEqual(await store.getAccount(), account);
    const raw = await openRaw(f, name);
    const rows = await dump(raw, [...Collections, KEYRING]);
    raw.close();
    assert.ok(rows.filter((r) => r.store !== KEYRING).length >= 10);
    assertNoPlaintext(rows);
    // Only the record key lives beside the data, and only as a CryptoKey object.
    assert.deepEqual(
      rows.filter((r) => r.store === KEYRING).map((r) => r.key),
      [RECORD_KEY],
    );
    await store.close();
  });

  it('stores the record key as a non-extractable AES-GCM CryptoKey', async () => {
    const { f, name, store } = await fresh();
    await store.close();
    const raw = await openRaw(f, name);
    const key = await rawGet(raw, KEYRING, RECORD_KEY);
    raw.close();
    assert.ok(key instanceof CryptoKey);
    assert.equal(key.extractable, false);
    assert.equal(key.type, 'secret');
    assert.deepEqual(key.algorithm, { name: 'AES-GCM', length: 256 });
    assert.deepEqual([...key.usages].sort(), ['decrypt', 'encrypt']);
    await assert.rejects(crypto.subtle.exportKey('raw', key), /not extractable/);
    await assert.rejects(crypto.subtle.exportKey('jwk', key), /not extractable/);
  });

  it('refuses a tampered value, a value moved to another record, and a plaintext one', async () => {
    const { f, name, store } = await fresh();
    await store.atomic((w) =>
      w
        .putAccount(account)
        .putMessage(message(1))
        .putMessage(message(2))
        .putContact({ userId: 'u2', username: 'bob', addedAt: 1 }),
    );
    const raw = await openRaw(f, name);
    const sealed = await rawGet(raw, 'meta', 'account');
    assert.ok(sealed instanceof Uint8Array);
    const flipped = sealed.slice();
    flipped[flipped.length - 20] = (flipped[flipped.length - 20] ?? 0) ^ 1;
    await rawPut(raw, 'meta', 'account', flipped);
    await assert.rejects(store.getAccount(), isStoreError(/meta\/account does not decrypt/));

    // Message 1's ciphertext under message 2's key: a valid seal, but for another record.
    await rawPut(raw, 'messages', messageKey('c1', 2), await rawGet(raw, 'messages', messageKey('c1', 1)));
    await assert.rejects(store.getMessage('c1', 2), isStoreError(/does not decrypt/));
    await assert.rejects(store.listMessages('c1'), isStoreError(/does not decrypt/));
    // Same key, another collection.
    await rawPut(raw, 'profiles', 'u2', await rawGet(raw, 'contacts', 'u2'));
    await assert.rejects(store.getProfile('u2'), isStoreError(/profiles\/u2 does not decrypt/));
    // A plaintext record written behind the store's back is not trusted either.
    await rawPut(raw, 'contacts', 'u3', JSON.stringify({ userId: 'u3', username: 'mallory', addedAt: 1 }));
    await assert.rejects(store.getContact('u3'), isStoreError(/contacts\/u3 is not sealed/));
    raw.close();
    // The untouched record still opens.
    assert.equal((await store.getContact('u2'))?.username, 'bob');
    await store.close();
  });

  it('clear() deletes the record key: what was sealed before no longer opens', async () => {
    const { f, name, store } = await fresh();
    await store.atomic((w) => w.putAccount(account));
    let raw = await openRaw(f, name);
    const before = await rawGet(raw, 'meta', 'account');
    raw.close();
    await store.clear();
    assert.equal(await store.getAccount(), undefined);
    raw = await openRaw(f, name);
    await rawPut(raw, 'meta', 'account', before);
    raw.close();
    await assert.rejects(store.getAccount(), isStoreError(/does not decrypt/));
    // The store goes on under its new key, across a reopen too.
    await store.atomic((w) => w.putAccount(account));
    await store.close();
    const again = await IndexedDbStore.open(name, { indexedDB: f, IDBKeyRange });
    assert.deepEqual(await again.getAccount(), account);
    await again.close();
  });

  it('migrates a plaintext database from before sealing, once', async () => {
    // The version-4 layout: one object store per collection, JSON text values (MemoryStore
    // writes exactly those texts).
    const old = new MemoryStore();
    await fill(old);
    const f: IdbFactoryLike = new IDBFactory();
    const name = `kolokol-v4-${++n}`;
    const raw = await openRaw(f, name, 4, (db) => {
      for (const c of Collections) db.createObjectStore(c);
    });
    for (const c of Collections)
      for (const r of await old.rawList(c)) {
        assert.equal(typeof r.value, 'string');
        await rawPut(raw, c, r.key, r.value);
      }
    raw.close();

    const store = await IndexedDbStore.open(name, { indexedDB: f, IDBKeyRange });
    assert.deepEqual(await store.getAccount(), account);
    assert.deepEqual(await store.getGroupState('g1'), await old.getGroupState('g1'));
    assert.deepEqual(await store.listMessages('c1'), await old.listMessages('c1'));
    assert.deepEqual(await store.listPending(), await old.listPending());
    assert.equal(await store.getKv('note'), MARKER);
    assert.equal((await store.getMessageById('c1', 'msg_2'))?.seq, 2);
    await store.close();

    const check = await openRaw(f, name);
    const rows = await dump(check, [...Collections, KEYRING]);
    check.close();
    assertNoPlaintext(rows);
    // The migration marker is gone: a plaintext record from now on is refused.
    assert.deepEqual(
      rows.filter((r) => r.store === KEYRING).map((r) => r.key),
      [RECORD_KEY],
    );
    const again = await IndexedDbStore.open(name, { indexedDB: f, IDBKeyRange });
    assert.deepEqual(await again.getAccount(), account);
    await again.close();
  });

  it('finishes an interrupted migration on the next open', async () => {
    const f: IdbFactoryLike = new IDBFactory();
    const name = `kolokol-v4-${++n}`;
    const raw = await openRaw(f, name, 4, (db) => {
      for (const c of Collections) db.createObjectStore(c);
    });
    const old = new MemoryStore();
    await old.atomic((w) => w.putAccount(account).putContact({ userId: 'u2', username: 'bob', addedAt: 1 }));
    for (const c of ['meta', 'contacts'] as const)
      for (const r of await old.rawList(c)) await rawPut(raw, c, r.key, r.value);
    raw.close();
    let store = await IndexedDbStore.open(name, { indexedDB: f, IDBKeyRange });
    await store.close();
    // As if the tab had closed mid-way: the marker is back and one record is plaintext again.
    const undo = await openRaw(f, name);
    await rawPut(undo, KEYRING, 'legacy-plaintext', true);
    const plainContact = (await old.rawList('contacts'))[0]?.value;
    await rawPut(undo, 'contacts', 'u2', plainContact);
    undo.close();
    store = await IndexedDbStore.open(name, { indexedDB: f, IDBKeyRange });
    assert.equal((await store.getContact('u2'))?.username, 'bob');
    assert.deepEqual(await store.getAccount(), account);
    await store.close();
    const check = await openRaw(f, name);
    assertNoPlaintext(await dump(check, Collections));
    check.close();
  });

  it('agrees on one record key when two tabs open a new database at once', async () => {
    const f: IdbFactoryLike = new IDBFactory();
    const name = `kolokol-race-${++n}`;
    const [a, b] = await Promise.all([
      IndexedDbStore.open(name, { indexedDB: f, IDBKeyRange }),
      IndexedDbStore.open(name, { indexedDB: f, IDBKeyRange }),
    ]);
    await a.atomic((w) => w.putAccount(account));
    assert.deepEqual(await b.getAccount(), account);
    await Promise.all([a.close(), b.close()]);
  });
});
