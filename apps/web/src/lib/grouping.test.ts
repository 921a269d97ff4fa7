import assert from 'node:assert/strict';
import { test } from 'node:test';
import { groupMessages, RUN_GAP_MS } from './grouping.ts';

const day = new Date(2026, 10, 20, 9, 0).getTime();
const msg = (id: string, senderId: string, sentAt: number) => ({ id, senderId, sentAt });

test('runs break on a new sender, a long pause and a new day', () => {
  const items = groupMessages(
    [
      msg('a', 'u1', day),
      msg('b', 'u1', day + 60_000),
      msg('c', 'u2', day + 120_000),
      msg('d', 'u2', day + 120_000 + RUN_GAP_MS + 1),
      msg('e', 'u2', day + 24 * 3600_000),
    ],
    day + 24 * 3600_000,
    'en',
  );
  const shape = items.map((i) =>
    i.kind === 'day' ? `day:${i.label.kind}` : `${i.key}${i.firstOfRun ? '<' : ''}${i.lastOfRun ? '>' : ''}`,
  );
  assert.deepEqual(shape, ['day:yesterday', 'a<', 'b>', 'c<>', 'd<>', 'day:today', 'e<>']);
});

test('no messages, no items', () => {
  assert.deepEqual(groupMessages([], day, 'en'), []);
});
