import { IDBFactory, IDBKeyRange } from 'fake-indexeddb';
import { IndexedDbStore } from './indexeddb.ts';
import { storeSuite } from './store.suite.ts';

let factory = new IDBFactory();
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
