import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { levelOf } from './classify.ts';
import {
  CALL_SCAM_TIPS,
  CONVERSATION_WINDOW,
  classify,
  classifyConversation,
  LEVEL_THRESHOLDS,
  MAX_INPUT_LENGTH,
  type ScamLevel,
  type ScamVerdict,
} from './index.ts';

const RANK: Record<ScamLevel, number> = { none: 0, possible: 1, likely: 2 };

/** Any UTF-16 string: whole code points, lone surrogates, and the pieces the rules look for. */
const anyText = fc
  .array(
    fc.oneof(
      fc.string({ unit: 'binary', maxLength: 30 }),
      fc.integer({ min: 0, max: 0xffff }).map((u) => String.fromCharCode(u)),
      fc.constantFrom(
        'назовите код из смс',
        'служба безопасности',
        'Сбербaнк',
        'безопасный счёт',
        ' ',
        '\u200b',
        'к о д',
        'https://bit.ly/x',
        'AnyDesk',
        'срочно переведите',
        'verification code',
        'this is the police',
        '0',
        '$5',
        '₽',
        '.',
        '\n',
      ),
    ),
    { maxLength: 40 },
  )
  .map((parts) => parts.join(''));

function checkVerdict(text: string, v: ScamVerdict): void {
  assert.ok(v.score >= 0 && v.score <= 1 && !Number.isNaN(v.score), `score ${v.score}`);
  assert.equal(v.level, levelOf(v.score));
  for (const s of v.signals) {
    assert.ok(s.spans.length > 0);
    for (const span of s.spans) {
      assert.ok(
        0 <= span.start && span.start < span.end && span.end <= Math.min(text.length, MAX_INPUT_LENGTH),
      );
    }
  }
}

describe('classify', () => {
  const scams = [
    'Здравствуйте, вас беспокоит служба безопасности Сбербанка. По вашей карте подозрительная операция, назовите код из СМС.',
    'Мама, это я, у меня новый номер. Срочно переведи 15 000 на эту карту, потом объясню',
    'Hi, this is the fraud department of Chase. Your card has been blocked. Please read me the verification code we just sent.',
    'Вас беспокоит следователь МВД. Против вас возбуждено уголовное дело. Никому не говорите об этом разговоре.',
  ];
  for (const text of scams)
    test(`flags as likely: ${text}`, () => assert.equal(classify(text).level, 'likely'));

  const harmless = [
    "I'm at the police station picking up my passport, will be late",
    'Hi, is the bike still available? Could I come and see it tomorrow at 6?',
    'Привет! Это Катя с керамики, скинешь фотки со вчерашнего занятия?',
    'Здравствуйте, подскажите код от домофона? Курьер не может попасть в подъезд.',
  ];
  for (const text of harmless)
    test(`leaves alone: ${text}`, () => assert.equal(classify(text).level, 'none'));

  test('never throws, scores in [0, 1] and explains with spans inside the text', () => {
    fc.assert(fc.property(anyText, (text) => checkVerdict(text, classify(text))));
  });

  test('is deterministic', () => {
    fc.assert(fc.property(anyText, (text) => assert.deepEqual(classify(text), classify(text))));
  });

  test('the level never falls as the score rises', () => {
    fc.assert(
      fc.property(anyText, anyText, (a, b) => {
        const [x, y] = [classify(a), classify(b)].sort((p, q) => p.score - q.score);
        assert.ok(x !== undefined && y !== undefined);
        assert.ok(RANK[x.level] <= RANK[y.level]);
      }),
    );
    fc.assert(
      fc.property(
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (a, b) => {
          const [lo, hi] = a <= b ? [a, b] : [b, a];
          assert.ok(RANK[levelOf(lo)] <= RANK[levelOf(hi)]);
        },
      ),
    );
    assert.equal(levelOf(LEVEL_THRESHOLDS.possible), 'possible');
    assert.equal(levelOf(LEVEL_THRESHOLDS.likely), 'likely');
  });

  test(`reads only the first ${MAX_INPUT_LENGTH} characters`, () => {
    const padding = 'Привет, как дела? '.repeat(400);
    assert.ok(padding.length > MAX_INPUT_LENGTH);
    const verdict = classify(`${padding}Назовите код из СМС и переведите деньги на безопасный счёт`);
    assert.deepEqual(verdict.signals, []);
    checkVerdict(padding, classify('x'.repeat(1_000_000)));
  });

  test('a lone surrogate in the middle of a scam does not hide it', () => {
    assert.equal(classify('Назовите \ud800код из СМС, служба безопасности Сбербанка').level, 'likely');
  });
});

describe('classifyConversation', () => {
  test('adds up signals spread over several messages and says which message holds each', () => {
    const messages = [
      'Здравствуйте!',
      'Вас беспокоит служба безопасности банка.',
      'По вашей карте подозрительная операция.',
      'Продиктуйте код из СМС, чтобы её отменить.',
    ];
    const verdict = classifyConversation(messages);
    assert.equal(verdict.level, 'likely');
    const where = (id: string): number[] =>
      verdict.signals.filter((s) => s.id === id).flatMap((s) => s.spans.map((p) => p.message));
    assert.deepEqual(where('impersonation-bank'), [1, 2]);
    assert.deepEqual(where('code-request'), [3]);
    for (const s of verdict.signals) {
      for (const p of s.spans) assert.ok(p.end <= (messages[p.message] ?? '').length);
    }
  });

  test('scores at least as high as its most suspicious message', () => {
    fc.assert(
      fc.property(fc.array(anyText, { maxLength: CONVERSATION_WINDOW + 2 }), (messages) => {
        const verdict = classifyConversation(messages);
        assert.ok(verdict.score >= 0 && verdict.score <= 1);
        assert.equal(verdict.level, levelOf(verdict.score));
        for (const m of messages.slice(0, CONVERSATION_WINDOW)) assert.ok(verdict.score >= classify(m).score);
      }),
      { numRuns: 50 },
    );
  });

  test(`reads only the first ${CONVERSATION_WINDOW} messages`, () => {
    const hello = Array.from({ length: CONVERSATION_WINDOW }, () => 'Привет!');
    const verdict = classifyConversation([...hello, 'Назовите код из СМС']);
    assert.deepEqual(verdict.signals, []);
    assert.equal(classifyConversation([]).level, 'none');
  });
});

test('call tips name the tactics the issue lists', () => {
  for (const tip of [
    'never-share-codes',
    'bank-never-calls',
    'hang-up-and-call-back',
    'no-safe-account',
    'no-remote-access',
  ]) {
    assert.ok((CALL_SCAM_TIPS as readonly string[]).includes(tip), tip);
  }
  assert.equal(new Set(CALL_SCAM_TIPS).size, CALL_SCAM_TIPS.length);
});
