import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TestkitError } from './errors.ts';
import { waitFor, withTimeout } from './wait.ts';

test('waitFor returns the first truthy value', async () => {
  let n = 0;
  assert.equal(await waitFor(() => (++n >= 3 ? n : undefined), 1000, { intervalMs: 1 }), 3);
});

test('waitFor times out with what it waited for and the state it saw', async () => {
  await assert.rejects(
    waitFor(() => false, 50, { what: 'the moon', describe: () => 'saw 2 of 3' }),
    (e: unknown) =>
      e instanceof TestkitError &&
      e.code === 'TIMEOUT' &&
      /the moon/.test(e.message) &&
      /saw 2 of 3/.test(e.message),
  );
});

test('waitFor reports the last error a throwing predicate gave', async () => {
  await assert.rejects(
    waitFor(() => {
      throw new Error('not yet ready');
    }, 50),
    /last error: not yet ready/,
  );
});

test('withTimeout names the operation', async () => {
  await assert.rejects(withTimeout(new Promise(() => undefined), 20, 'frobnicate'), /frobnicate/);
  assert.equal(await withTimeout(Promise.resolve(7), 20, 'x'), 7);
});
