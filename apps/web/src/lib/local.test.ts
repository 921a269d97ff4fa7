import assert from 'node:assert/strict';
import { test } from 'node:test';
import { countUnread, defaultPrefs, parseLocal, parsePrefs } from './local.ts';

test('preferences parse to defaults when missing or wrong', () => {
  assert.deepEqual(parsePrefs(null), defaultPrefs);
  assert.deepEqual(parsePrefs({ theme: 'neon', readReceipts: 'yes' }), defaultPrefs);
  assert.deepEqual(parsePrefs({ theme: 'dark', language: 'ru', readReceipts: false }), {
    ...defaultPrefs,
    theme: 'dark',
    language: 'ru',
    readReceipts: false,
  });
});

test('local data keeps only well-formed entries', () => {
  const d = parseLocal({
    lastRead: { a: 3, b: 'x' },
    drafts: { a: 'hi', b: 5 },
    contacts: [{ userId: 'u1', username: 'ann' }, { userId: 5 }],
    blocked: 'nope',
    verified: { ann: true, bob: 'no' },
    notices: { a: [{ id: 'n', at: 1, kind: 'safetyChanged', name: 'Ann' }], b: [{ id: 1 }] },
    avatar: 'javascript:alert(1)',
  });
  assert.deepEqual(d.lastRead, { a: 3 });
  assert.deepEqual(d.drafts, { a: 'hi' });
  assert.deepEqual(d.contacts, [{ userId: 'u1', username: 'ann' }]);
  assert.deepEqual(d.blocked, []);
  assert.deepEqual(d.verified, { ann: true });
  assert.deepEqual(Object.keys(d.notices), ['a']);
  assert.equal(d.avatar, undefined);
});

test('unread counts incoming messages after the read cursor', () => {
  const msgs = [
    { seq: 1, outgoing: false },
    { seq: 2, outgoing: true },
    { seq: 3, outgoing: false },
    { seq: 4, outgoing: false },
  ];
  assert.equal(countUnread(msgs, undefined), 3);
  assert.equal(countUnread(msgs, 3), 1);
  assert.equal(countUnread(msgs, 4), 0);
});
