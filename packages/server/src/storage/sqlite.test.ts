import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runStorageSuite } from './storage.suite.ts';
import { Store } from './store.ts';

runStorageSuite('sqlite', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kolokol-sqlite-'));
  const store = await Store.open({ kind: 'sqlite', path: join(dir, 'test.db') });
  return {
    store,
    cleanup: async () => {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});
