import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { fold, originOf } from './normalize.ts';

describe('folding undoes the disguises scammers use against keyword filters', () => {
  const cases: [string, string, string][] = [
    ['case and ё', 'ПЕРЕВЕДИТЕ на Безопасный Счёт', 'переведите на безопасный счет'],
    ['Latin look-alikes in a Russian word', 'Сбербaнк: кoд подтверждения', 'сбербанк: код подтверждения'],
    ['Cyrillic look-alikes in an English word', 'sеcurity соdе', 'security code'],
    ['a zero for the letter o', 'к0д c0de', 'код code'],
    ['zero-width and soft hyphen inside words', 'ко\u200bд из с\u00adмс', 'код из смс'],
    ['letters spaced out one by one', 'назовите К О Д из С-М-С', 'назовите код из смс'],
    ['dotted letters', 'your s.m.s code', 'your sms code'],
    ['mathematical and fullwidth letters', '𝐬𝐞𝐧𝐝 ｃｏｄｅ', 'send code'],
    ['accents', 'Crédit Agricole', 'credit agricole'],
    ['a decomposed й', 'и\u0306ошкар-ола', 'йошкар-ола'],
    ['typographic apostrophes and dashes', 'Don’t call Т‑Банк', "don't call т-банк"],
    ['runs of white space', '  a \t\t b \n\n c ', 'a b\nc '],
  ];
  for (const [name, input, expected] of cases) {
    test(name, () => assert.equal(fold(input).text, expected));
  }

  test('keeps amounts and real single-script words as they are', () => {
    assert.equal(fold('100р 0рублей cmc 2fa').text, '100р 0рублей cmc 2fa');
  });

  test('does not join short runs or mixed separators ("т.е.", "и т.д.")', () => {
    assert.equal(fold('т.е. и т.д. a b').text, 'т.е. и т.д. a b');
  });
});

describe('every folded character knows where it came from', () => {
  test('a span of the folded text maps back onto the disguised input', () => {
    const input = 'Назовите к\u200bо\u200bд: К О Д';
    const folded = fold(input);
    const at = folded.text.indexOf('код: код');
    const span = originOf(folded, at, at + 'код: код'.length);
    assert.equal(input.slice(span.start, span.end), 'к\u200bо\u200bд: К О Д');
  });

  test('a surrogate pair maps to both of its units', () => {
    const input = 'x 𝐜𝐨𝐝𝐞 y';
    const folded = fold(input);
    const span = originOf(folded, 2, 6);
    assert.equal(input.slice(span.start, span.end), '𝐜𝐨𝐝𝐞');
  });

  test('on any input, origins are ordered and inside the input', () => {
    const unit = fc.oneof(
      fc.string({ unit: 'binary', maxLength: 40 }),
      fc.integer({ min: 0, max: 0xffff }).map((u) => String.fromCharCode(u)),
      fc.constantFrom('к о д', 'Сбербaнк', '\u200b', 'ё', '0', ' ', '\n', 'е\u0301', '𝐬'),
    );
    fc.assert(
      fc.property(fc.array(unit, { maxLength: 30 }), (parts) => {
        const input = parts.join('');
        const folded = fold(input);
        assert.equal(folded.originStart.length, folded.text.length);
        assert.equal(folded.originEnd.length, folded.text.length);
        let previous = 0;
        for (let i = 0; i < folded.text.length; i++) {
          const start = folded.originStart[i] ?? -1;
          const end = folded.originEnd[i] ?? -1;
          assert.ok(start >= previous && start < end && end <= input.length);
          previous = start;
        }
      }),
    );
  });
});
