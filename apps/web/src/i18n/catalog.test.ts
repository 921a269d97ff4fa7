import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { catalogs, interpolate, pickLanguage, placeholders, translate, translatePlural } from './catalog.ts';

const { en, ru } = catalogs;

test('English and Russian have exactly the same keys', () => {
  assert.deepEqual(Object.keys(ru).sort(), Object.keys(en).sort());
});

test('no catalogue entry is empty', () => {
  for (const [lang, cat] of Object.entries(catalogs))
    for (const [key, value] of Object.entries(cat))
      assert.ok(value.trim() !== '', `${lang}: ${key} is empty`);
});

test('every translation keeps the placeholders of the English text', () => {
  for (const key of Object.keys(en) as (keyof typeof en)[])
    assert.deepEqual(placeholders(ru[key]), placeholders(en[key]), `placeholders of ${key}`);
});

test('plural keys come with all four forms', () => {
  const bases = new Set(
    Object.keys(en)
      .filter((k) => /\.(one|few|many|other)$/.test(k))
      .map((k) => k.replace(/\.\w+$/, '')),
  );
  for (const b of bases)
    for (const form of ['one', 'few', 'many', 'other'])
      assert.ok(`${b}.${form}` in en, `${b}.${form} is missing`);
});

test('plurals follow each language’s rules', () => {
  assert.equal(translatePlural('en', 'list.unread', 1), '1 unread message');
  assert.equal(translatePlural('en', 'list.unread', 5), '5 unread messages');
  assert.equal(translatePlural('ru', 'list.unread', 1), '1 непрочитанное сообщение');
  assert.equal(translatePlural('ru', 'list.unread', 3), '3 непрочитанных сообщения');
  assert.equal(translatePlural('ru', 'list.unread', 5), '5 непрочитанных сообщений');
  assert.equal(translatePlural('ru', 'list.unread', 21), '21 непрочитанное сообщение');
});

test('interpolation fills known names and leaves unknown ones visible', () => {
  assert.equal(interpolate('Hi {{name}} {{x}}', { name: 'Ann' }), 'Hi Ann {{x}}');
  assert.equal(translate('en', 'chat.typing', { name: 'Bob' }), 'Bob is typing…');
});

test('the language comes from the browser list, English by default', () => {
  assert.equal(pickLanguage(['ru-RU', 'en-US']), 'ru');
  assert.equal(pickLanguage(['de-DE', 'ru']), 'ru');
  assert.equal(pickLanguage(['de-DE']), 'en');
  assert.equal(pickLanguage([]), 'en');
});

test('the accessible names the acceptance tests use stay stable in English', () => {
  const names = [
    'Username',
    'Display name',
    'Message',
    'Search',
    'Create account',
    'Send',
    'New chat',
    'New group',
    'Start chat',
    'Attach',
    'Settings',
    'Devices',
    'Link a device',
    'Chats',
    'Messages',
  ];
  const values = new Set<string>(Object.values(en));
  for (const n of names) assert.ok(values.has(n), `"${n}" is not in the English catalogue`);
});

/**
 * No user-visible text outside the catalogue: JSX text between tags and the text-bearing
 * attributes (aria-label, title, placeholder, alt) must come from t(). Symbols, emoji and
 * product-neutral marks (·, @) are allowed.
 */
test('components hold no hard-coded user-visible text', () => {
  const uiDir = join(dirname(fileURLToPath(import.meta.url)), '../ui');
  // Language names are written in their own language on purpose (a person must find theirs).
  const allowed = new Set(['English', 'Русский']);
  // `=> Promise<void>` looks like `>text<` to a regex.
  const TYPE_NAMES = /^(Promise|Record|Set|Map|Array|Partial|Pick|Omit)$/;
  const problems: string[] = [];
  for (const file of readdirSync(uiDir).filter((f) => f.endsWith('.tsx'))) {
    const src = readFileSync(join(uiDir, file), 'utf8');
    for (const m of src.matchAll(/(?:aria-label|title|placeholder|alt)="([^"]*)"/g))
      if (/\p{L}/u.test(m[1] ?? '')) problems.push(`${file}: attribute "${m[1]}"`);
    for (const m of src.matchAll(/>\s*([^<>{}]*\p{L}[^<>{}]*?)\s*</gu)) {
      const text = (m[1] ?? '').trim();
      // TypeScript generics and arrow functions also produce `>…<`; real JSX text has no code marks.
      if (text === '' || /[=;()&|?:]|=>/.test(text) || allowed.has(text) || TYPE_NAMES.test(text)) continue;
      problems.push(`${file}: text "${text}"`);
    }
  }
  assert.deepEqual(problems, []);
});
