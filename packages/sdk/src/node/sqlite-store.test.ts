import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { storeSuite } from '../store/store.suite.ts';
import { SqliteStore } from './sqlite-store.ts';

let dir = '';

storeSuite('SqliteStore', {
  async create() {
    dir = mkdtempSync(join(tmpdir(), 'kolokol-sqlite-'));
    return new SqliteStore(join(dir, 'store.db'));
  },
  async reopen(store) {
    await store.close();
    return new SqliteStore(join(dir, 'store.db'));
  },
  async cleanup() {
    rmSync(dir, { recursive: true, force: true });
  },
});
