import assert from 'node:assert/strict';
import { test } from 'node:test';
import { inviteLink, linkCodeFromInput, parseRoute, routeHash, usernameFromInput } from './route.ts';

test('routes round-trip through the hash', () => {
  const routes = [
    { name: 'home' },
    { name: 'chat', id: 'abc_-1' },
    { name: 'chatInfo', id: 'abc' },
    { name: 'safety', id: 'abc', username: 'bob' },
    { name: 'settings' },
    { name: 'devices' },
    { name: 'contacts' },
    { name: 'requests' },
    { name: 'request', id: 'grp_1-x' },
    { name: 'invite', username: 'anna_k' },
  ] as const;
  for (const r of routes) assert.deepEqual(parseRoute(routeHash(r)), r);
  assert.deepEqual(parseRoute(''), { name: 'home' });
  assert.deepEqual(parseRoute('#/nonsense/x'), { name: 'home' });
  assert.deepEqual(parseRoute('#/u/NO'), { name: 'home' });
});

test('invite links name the user on this origin', () => {
  assert.equal(inviteLink('https://k.example/', 'anna'), 'https://k.example/#/u/anna');
  assert.deepEqual(parseRoute('#/u/Anna'), { name: 'invite', username: 'anna' });
});

test('new chat accepts a username, @username or an invite link', () => {
  assert.equal(usernameFromInput('@Bob'), 'bob');
  assert.equal(usernameFromInput(' bob_1 '), 'bob_1');
  assert.equal(usernameFromInput('https://other.host/#/u/carol'), 'carol');
  assert.equal(usernameFromInput('no'), undefined);
  assert.equal(usernameFromInput('two words'), undefined);
});

test('link codes are found inside pasted text', () => {
  const code = 'AbCdEfGhIjKlMnOp.abcdefghijklmnopqrstuvwxyz0123456789_-ABCDEFG';
  assert.equal(linkCodeFromInput(`code: ${code}\n`), code);
  assert.equal(linkCodeFromInput('nothing here'), undefined);
});
