import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { findUrls, isSuspiciousUrl } from './links.ts';

describe('suspicious links', () => {
  const suspicious = [
    'bit.ly/3xK9pQ',
    'https://clck.ru/3Aq9Xz',
    'http://185.22.63.10/login',
    'https://xn--80ahbca0ddjg.xn--p1ai/',
    'https://sberbаnk.ru/login',
    'https://www.gosuslugi.ru@evil.example/',
    'https://sberbank-bezopasnost.online',
    'gosuslugi-verify.ru',
    'https://paypal-resolution-center.com',
    'hxxps://secure-login.example',
    'https://account-verification-center.top',
  ];
  for (const url of suspicious) test(`flags ${url}`, () => assert.ok(isSuspiciousUrl(url)));

  const ordinary = [
    'https://www.sberbank.ru/ru/person',
    'https://online.sberbank.ru/',
    'https://www.gosuslugi.ru/help',
    'https://t.me/kolokol_news',
    'https://www.youtube.com/watch?v=dQw4w9WgXcQ',
    'https://github.com/acme/toolkit',
    'disk.yandex.ru/d/aB3kL9',
    'https://www.avito.ru/moskva/velosipedy/1234567',
  ];
  for (const url of ordinary) test(`leaves ${url}`, () => assert.ok(!isSuspiciousUrl(url)));
});

describe('finding links', () => {
  test('with or without a scheme, without the punctuation that ends the sentence', () => {
    const text = 'see https://example.org/a?b=1. or www.example.com, or bit.ly/x! or т.е. nothing';
    assert.deepEqual(
      findUrls(text).map((s) => text.slice(s.start, s.end)),
      ['https://example.org/a?b=1', 'www.example.com', 'bit.ly/x'],
    );
  });

  test('Cyrillic domains count', () => {
    const text = 'выплаты на госуслуги-выплаты.рф';
    assert.deepEqual(
      findUrls(text).map((s) => text.slice(s.start, s.end)),
      ['госуслуги-выплаты.рф'],
    );
  });
});
