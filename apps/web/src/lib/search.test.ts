import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fold, matchesChat, matchRanges, searchMessages } from './search.ts';

const msgs = [
  { id: '1', text: 'Ёжик в тумане' },
  { id: '2', text: 'Meet at the Café at noon' },
  { id: '3', text: 'noon is fine, see you at the cafe' },
];

test('folding ignores case, accents and ё/е', () => {
  assert.equal(fold('Ёжик CAFÉ'), 'ежик cafe');
});

test('every word of the query must occur', () => {
  assert.deepEqual(searchMessages(msgs, 'ежик'), ['1']);
  assert.deepEqual(searchMessages(msgs, 'cafe noon'), ['2', '3']);
  assert.deepEqual(searchMessages(msgs, 'cafe tea'), []);
  assert.deepEqual(searchMessages(msgs, '   '), []);
});

test('match ranges point into the original text', () => {
  const text = 'Meet at the Café, café!';
  const ranges = matchRanges(text, 'cafe');
  assert.deepEqual(
    ranges.map(([s, e]) => text.slice(s, e)),
    ['Café', 'café'],
  );
  assert.deepEqual(matchRanges('abc', ''), []);
});

test('chat filter looks at titles and member names', () => {
  assert.ok(matchesChat(['Tea party', 'alice'], 'ALI'));
  assert.ok(!matchesChat(['Tea party'], 'bob'));
  assert.ok(matchesChat(['anything'], ''));
});
