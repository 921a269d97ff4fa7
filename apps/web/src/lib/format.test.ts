import assert from 'node:assert/strict';
import { test } from 'node:test';
import { dayLabel, formatBytes, formatDuration, hueOf, initials, listTime, safetyGroups } from './format.ts';

const noon = new Date(2026, 10, 20, 12, 0).getTime();
const H = 60 * 60 * 1000;

test('day labels: today, yesterday, weekday, date, other year', () => {
  assert.deepEqual(dayLabel(noon - H, noon, 'en'), { kind: 'today' });
  assert.deepEqual(dayLabel(noon - 24 * H, noon, 'en'), { kind: 'yesterday' });
  assert.deepEqual(dayLabel(noon - 3 * 24 * H, noon, 'en'), { kind: 'date', text: 'Tuesday' });
  assert.deepEqual(dayLabel(noon - 30 * 24 * H, noon, 'en'), { kind: 'date', text: 'October 21' });
  assert.deepEqual(dayLabel(new Date(2025, 0, 5).getTime(), noon, 'ru'), {
    kind: 'date',
    text: '5 января 2025 г.',
  });
});

test('chat list times: clock today, weekday this week, date before', () => {
  assert.match(listTime(noon - H, noon, 'ru'), /^11:00$/);
  assert.equal(listTime(noon - 2 * 24 * H, noon, 'en'), 'Wed');
  assert.equal(listTime(noon - 20 * 24 * H, noon, 'en'), 'Oct 31');
});

test('sizes in binary steps, localized', () => {
  assert.equal(formatBytes(512, 'en'), '512 byte');
  assert.equal(formatBytes(1536, 'en'), '1.5 kB');
  assert.equal(formatBytes(3 * 1024 * 1024, 'en'), '3 MB');
  assert.equal(formatBytes(1.5 * 1024 * 1024, 'ru'), '1,5 МБ');
});

test('durations for voice notes', () => {
  assert.equal(formatDuration(7_400), '0:07');
  assert.equal(formatDuration(83_000), '1:23');
  assert.equal(formatDuration(3_723_000), '1:02:03');
  assert.equal(formatDuration(-5), '0:00');
});

test('safety numbers read in twelve groups of five', () => {
  const digits = '123456789012345678901234567890123456789012345678901234567890';
  const groups = safetyGroups(digits);
  assert.equal(groups.length, 12);
  assert.ok(groups.every((g) => g.length === 5));
  assert.equal(groups.join(''), digits);
});

test('initials and a stable hue per id', () => {
  assert.equal(initials('Alice Liddell'), 'AL');
  assert.equal(initials('bob'), 'BO');
  assert.equal(initials('Фёдор'), 'ФЁ');
  assert.equal(initials(''), '?');
  assert.equal(hueOf('abc'), hueOf('abc'));
  assert.ok(hueOf('abc') >= 0 && hueOf('abc') < 360);
});
