import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import pg from 'pg';
import { PG_URL, postgresProblem } from '../../test/helpers.ts';
import { runStorageSuite } from './storage.suite.ts';
import { Store } from './store.ts';

const problem = await postgresProblem();
if (problem !== undefined) {
  test('storage: postgres', (t) => {
    const msg = `PostgreSQL not reachable at ${PG_URL}: ${problem}`;
    console.warn(`\n*** SKIPPED: ${msg} ***\n`);
    t.skip(msg);
  });
} else {
  runStorageSuite('postgres', async () => {
    const schema = `kolokol_test_${randomBytes(6).toString('hex')}`;
    const store = await Store.open({ kind: 'postgres', url: PG_URL, schema });
    return {
      store,
      cleanup: async () => {
        await store.close();
        const client = new pg.Client({ connectionString: PG_URL });
        await client.connect();
        await client.query(`drop schema if exists "${schema}" cascade`);
        await client.end();
      },
    };
  });
}
