/**
 * Messages that switch between Russian and English, as bilingual users and scam kits that reuse
 * English brand and app names both do.
 */
import { family, type Template } from './types.ts';

export const MIXED: readonly Template[] = [
  ...family('scam', 'code-request', 'mixed', [
    'Привет! Sorry, мне нужен verification code, он придёт тебе по SMS, скинь пж',
    'Hi! Это support Kolokol. Please send код из смс to unlock your account',
    '[Hello|Hi], вам пришёл code от WhatsApp? Продиктуйте его, это для security check',
  ]),
  ...family('scam', 'urgent-money', 'mixed', [
    'Mom, это я, new number. Срочно нужно {amount_ru}, переведи please, потом explain',
    'Hi, срочно нужны деньги, urgent, send {amount_en} на карту {bank_ru_g}, тут emergency',
  ]),
  ...family('scam', 'impersonation-bank', 'mixed', [
    'Security department {bank_ru_g}: suspicious operation на сумму {amount_ru}. Подтвердите в chat',
    '{bank_en} fraud team here. Ваша карта заблокирована, нужно verify данные {phishlink_en}',
  ]),
  ...family('scam', 'investment', 'mixed', [
    'Привет! Earn {returns_en} on crypto, гарантированный доход, no risk, пиши',
    'Trading bot даёт {returns_ru}, пассивный доход, join VIP group {shortlink}',
  ]),
  ...family('scam', 'remote-access', 'mixed', [
    'Please установите AnyDesk, наш specialist проверит ваш телефон',
    'Для refund включите screen sharing в этом чате please',
  ]),
  ...family('benign', 'work', 'mixed', [
    'Привет, can you send me the deck к завтрашнему созвону?',
    'Hi! Я посмотрел твой PR, looks good, пара nitpicks в комментариях',
    'Коллеги, the build is green again, спасибо {name_en}!',
    'Hey, у нас retro {time_en}, join if you can',
  ]),
  ...family('benign', 'meetup', 'mixed', [
    'Hi! Мы собираемся на board games {time_ru}, join us!',
    'Привет, see you {time_en} {place_ru}, я буду в синей куртке',
    'Ok, давай {time_ru}, I will bring the cake',
  ]),
  ...family('benign', 'marketplace', 'mixed', [
    'Hi, {item_ru} ещё available? Могу забрать {time_ru}',
    'Hello! Отдам {item_en} за {price_ru}, pickup only',
  ]),
  ...family('benign', 'question', 'mixed', [
    'Привет, what is the wifi password в коворкинге?',
    'Hi, подскажите door code, курьер не может войти',
  ]),
];
