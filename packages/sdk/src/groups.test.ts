import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { effectiveAdmins, forbiddenMembershipChange, isAdmin, withAdmin } from './groups.ts';

const members = (...ids: string[]) => ids.map((userId) => ({ userId, username: userId }));
const group = (admins: string[], ...ids: string[]) => ({
  kind: 'group' as const,
  admins,
  members: members(...ids),
});
const dev = (userId: string) => ({ userId, deviceId: `${userId}-d` });

describe('group admin policy', () => {
  it('counts only admins that are members; with none, every member', () => {
    assert.deepEqual(effectiveAdmins(group(['a', 'gone'], 'a', 'b')), ['a']);
    assert.deepEqual(effectiveAdmins(group(['gone'], 'a', 'b')), ['a', 'b']);
    assert.deepEqual(effectiveAdmins(group([], 'a', 'b')), ['a', 'b']);
    assert.equal(isAdmin({ kind: 'direct', admins: [], members: members('a', 'b') }, 'b'), true);
  });

  it('promotes and demotes; a legacy group gets the actor as first admin', () => {
    assert.deepEqual(withAdmin(group(['a'], 'a', 'b'), 'a', 'b', true), ['a', 'b']);
    assert.equal(withAdmin(group(['a', 'b'], 'a', 'b'), 'a', 'b', true), undefined);
    assert.deepEqual(withAdmin(group(['a', 'b'], 'a', 'b'), 'a', 'a', false), ['b']);
    assert.deepEqual(withAdmin(group(['a'], 'a', 'b'), 'a', 'a', false), []);
    assert.deepEqual(withAdmin(group([], 'a', 'b'), 'a', 'b', true), ['a', 'b']);
  });

  it("flags a non-admin's changes of who is in the group, not of devices or leavers", () => {
    const conv = group(['a'], 'a', 'b', 'c', 'd');
    const all = ['a', 'b', 'c', 'd'];
    const flag = (by: string, added: string[], removed: string[], leaving: string[], after: string[]) =>
      forbiddenMembershipChange(
        conv,
        by,
        { added: added.map(dev), removed: removed.map(dev) },
        leaving,
        after,
      );
    assert.deepEqual(flag('a', ['x'], ['b'], [], ['a', 'c', 'd', 'x']), [], 'an admin may');
    assert.deepEqual(flag('b', ['b'], ['b'], [], all), [], 'its own devices');
    assert.deepEqual(flag('b', ['c'], [], [], all), [], 'a new device of a member');
    assert.deepEqual(flag('b', [], ['c'], [], all), [], 'a device of a member who stays');
    assert.deepEqual(flag('b', [], ['c'], ['c'], ['a', 'b', 'd']), [], 'a leaver');
    assert.deepEqual(flag('b', ['x'], ['c', 'd'], ['d'], ['a', 'b', 'x']), ['x', 'c']);
  });
});
