import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { generateCorpus } from '../scripts/generate.ts';
import { loadHoldout } from '../scripts/train.ts';
import { read } from './reading.ts';
import { detectSignals, SCAM_SIGNAL_IDS, type ScamSignalId, SIGNAL_WEIGHTS } from './rules.ts';

function ids(text: string): ScamSignalId[] {
  return detectSignals(read(text)).map((s) => s.id);
}

/** Each signal, with messages in English and Russian that must raise it. */
const EXAMPLES: Record<ScamSignalId, string[]> = {
  'code-request': [
    'Please read me the verification code we just sent you.',
    'Reply with the 6-digit code to confirm your identity',
    'tell me the code you just got, it is for the contest',
    'Confirm your card: the expiry date and the three digits on the back',
    'We need to verify the password of your online banking. What is it?',
    'Назовите код из СМС, пожалуйста',
    'Продиктуйте код, который вам сейчас придёт',
    'скинь код с смс, мне на твой номер отправили по ошибке',
    'Привет, тебе пришёл код, перешли пожалуйста',
    'Для записи к врачу нужен код подтверждения с Госуслуг',
    'Сообщите цифры из сообщения оператору',
    'Назовите К О Д из С М С',
    'Сбербанк: нaзoвите кoд',
  ],
  'urgent-money': [
    'Mom I lost my phone, I need $500 urgently, can you send it?',
    'Move all your money to a safe account before midnight',
    'Buy five Apple gift cards for a client, it is urgent',
    'Мама, срочно переведи 15 000 на эту карту',
    'Переведите средства на безопасный счёт',
    'Снимите все деньги и передайте курьеру',
    'Оформите кредит, чтобы аннулировать заявку мошенников',
  ],
  'impersonation-bank': [
    'This is the fraud department of Chase.',
    "I'm calling from the Barclays security team",
    'Your card has been blocked due to unusual activity',
    'We detected a suspicious transaction on your account',
    'Вас беспокоит служба безопасности Сбербанка',
    'Специалист Т-Банка на связи',
    'Зафиксирована подозрительная операция по вашей карте',
    'На ваше имя оформляется кредит',
  ],
  'impersonation-police': [
    'This is Detective Miller from the FBI.',
    "I'm an investigator with the National Crime Agency",
    'There is a warrant for your arrest',
    'Your name was used in money laundering',
    'Вас беспокоит следователь МВД майор Петров',
    'Я из ФСБ, у нас к вам вопросы',
    'Против вас возбуждено уголовное дело',
    'Вы проходите свидетелем по делу о мошенничестве',
    'Я сотрудник Центробанка',
  ],
  'impersonation-official': [
    'This is the IRS. You owe back taxes.',
    'Kolokol Support Team: your account will be deleted in 24 hours',
    'Verify your account now',
    'Уведомление от портала Госуслуг: ваша учётная запись взломана',
    'На Госуслугах зафиксирован вход с нового устройства',
    'Вас беспокоит служба поддержки Kolokol',
    'Срок действия вашей сим-карты истекает, продлите договор',
  ],
  investment: [
    'Guaranteed returns of 30% per month',
    'I made 300% in a month with crypto, want to learn?',
    'Earn $300 a day from home',
    'Пассивный доход от 5000 в день',
    'Инвестиции в криптовалюту с доходностью 10% в день',
    'Удалённая работа, оплата от 3000 ₽ в день',
  ],
  link: ['see https://example.org/page', 'photos at www.example.com', 'фото тут disk.yandex.ru/d/abc'],
  'suspicious-link': [
    'verify at bit.ly/3xK9pQ',
    'log in at http://185.22.63.10/login',
    'https://sberbank-bezopasnost.online/lk',
    'вход: gosuslugi-verify.ru',
    'https://sberbаnk.ru/login',
    'https://gosuslugi.ru@evil.example/',
  ],
  secrecy: [
    "Don't tell anyone about this call",
    'This is strictly confidential',
    'The bank employees may be involved',
    'Никому не говорите об этом разговоре',
    'Не сообщайте родственникам и сотрудникам банка',
    'Информация конфиденциальна',
    'Сотрудники банка причастны к хищению',
  ],
  'remote-access': [
    'Install AnyDesk and tell me the number',
    'Please start screen sharing in this chat',
    'Download the security app to protect your bank account',
    'Установите RustDesk',
    'Включите демонстрацию экрана',
    'Скачайте приложение для защиты счёта',
    'Установите sber_zashita.apk',
  ],
  prize: [
    'Congratulations! You have won an iPhone',
    'Claim your prize now',
    'You are our lucky winner',
    'Поздравляем! Вы выиграли автомобиль',
    'Вам положена компенсация 48 000 рублей',
    'Заберите выигрыш по ссылке',
  ],
};

describe('each signal catches its examples, in English and Russian', () => {
  for (const id of SCAM_SIGNAL_IDS) {
    for (const text of EXAMPLES[id]) {
      test(`${id}: ${text}`, () => assert.ok(ids(text).includes(id), `got ${JSON.stringify(ids(text))}`));
    }
  }
});

describe('ordinary messages that mention the same things raise no claim or request', () => {
  const quiet = [
    "I'm at the police station picking up my passport",
    'the code review is done',
    "what's the wifi code?",
    'Can you send me the source code for the demo?',
    'Hi, the key lockbox code is 2580',
    'I work on the code of the bank app, small world',
    'На госуслугах записался к врачу, всё ок',
    'Я в полиции, паспорт получаю',
    'Мне не приходит смс с кодом от банка, у вас тоже?',
    'Код от домофона 1234, если курьер спросит',
    'Скинь код демки, хочу посмотреть',
    'Пришли номер карты, переведу за билеты',
    'Перевела тебе 700 р за такси, дошло?',
    'Сегодня в МФЦ сдавала документы',
    'Сбербанк онлайн снова лёг, ни у кого не работает?',
    'Congrats on winning the chess tournament!',
    'Brother works as a detective, he said to report it online',
  ];
  for (const text of quiet) {
    test(text, () => assert.deepEqual(ids(text), []));
  }

  test('a link alone is only a link', () => {
    assert.deepEqual(ids('The photos are here: https://photos.google.com/share/AF1QipN'), ['link']);
    assert.deepEqual(ids('Объявление на Авито: https://www.avito.ru/moskva/velosipedy/1234567'), ['link']);
  });
});

describe('signals explain themselves', () => {
  test('spans point at the words that raised the signal, in the text as given', () => {
    const text = 'Здравствуйте! Нaзoвите к\u200bод из СМС, пожалуйста.';
    const signal = detectSignals(read(text)).find((s) => s.id === 'code-request');
    assert.ok(signal !== undefined);
    assert.deepEqual(
      signal.spans.map((s) => text.slice(s.start, s.end)),
      ['Нaзoвите к\u200bод из СМС'],
    );
  });

  test('signals come in the order of SCAM_SIGNAL_IDS and each has a weight', () => {
    const signals = detectSignals(
      read('Вас беспокоит служба безопасности Сбербанка, назовите код из смс: bit.ly/x1'),
    );
    const order = signals.map((s) => SCAM_SIGNAL_IDS.indexOf(s.id));
    assert.deepEqual(
      order,
      [...order].sort((a, b) => a - b),
    );
    for (const id of SCAM_SIGNAL_IDS) assert.ok(SIGNAL_WEIGHTS[id] > 0);
  });
});

describe('the word gate only saves time', () => {
  test('on the whole corpus and holdout, gated and ungated detection agree', () => {
    const texts = [...generateCorpus().map((e) => e.text), ...loadHoldout().map((h) => h.text)];
    for (const list of Object.values(EXAMPLES)) texts.push(...list);
    for (const text of texts) {
      const reading = read(text);
      assert.deepEqual(detectSignals(reading), detectSignals(reading, { gate: false }), text);
    }
  });
});
