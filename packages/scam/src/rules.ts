/**
 * Hand-written detectors for the tactics that scams from strangers share, in English and Russian.
 * They read the folded text (normalize.ts): patterns are written in lower case, with е for ё, and
 * see through look-alike letters and spaced-out words.
 *
 * A detector fires on a claim or a request, not on a word: "I'm at the police station" and
 * "на госуслугах записался к врачу" stay quiet, "вас беспокоит следователь" does not. Each signal
 * carries the spans it matched so the warning can say why.
 *
 * Speed: a pattern runs only when the message has the words it needs (`Part.groups`). The keys
 * must be necessary for a match, or the gate would hide one; rules.test.ts checks on the whole
 * corpus that the gate never changes a result.
 */
import { isSuspiciousUrl } from './links.ts';
import { originOf, type Span } from './normalize.ts';
import type { Reading } from './reading.ts';

export const SCAM_SIGNAL_IDS = [
  'code-request',
  'urgent-money',
  'impersonation-bank',
  'impersonation-police',
  'impersonation-official',
  'investment',
  'link',
  'suspicious-link',
  'secrecy',
  'remote-access',
  'prize',
] as const;
export type ScamSignalId = (typeof SCAM_SIGNAL_IDS)[number];

export type ScamSignal = { id: ScamSignalId; spans: Span[] };

/**
 * How much each signal moves the verdict, in log-odds added to the model's (see index.ts). A
 * one-time code or remote-access request from a stranger is close to proof on its own; a link is
 * common in harmless messages and only nudges.
 */
export const SIGNAL_WEIGHTS: Readonly<Record<ScamSignalId, number>> = {
  'code-request': 2.5,
  'urgent-money': 2,
  'impersonation-bank': 1.5,
  'impersonation-police': 2,
  'impersonation-official': 1.5,
  investment: 1.5,
  link: 0.3,
  'suspicious-link': 1.5,
  secrecy: 1.5,
  'remote-access': 2.5,
  prize: 1.5,
};

/** At most this many spans per signal: enough to explain, bounded on hostile input. */
const MAX_SPANS = 8;

// Word boundaries that know Cyrillic (`\b` only knows ASCII).
const B = '(?<![\\p{L}\\p{N}])';
const E = '(?![\\p{L}\\p{N}])';
/** Any run of characters within one sentence. */
const gap = (n: number): string => `[^.!?\\n]{0,${n}}?`;
/** A word starting with one of the stems: Russian inflects, so most Russian rules match stems. */
const stem = (...stems: string[]): string => `${B}(?:${stems.join('|')})\\p{L}*`;
/** Whole words or phrases. */
const words = (...ws: string[]): string => `${B}(?:${ws.join('|')})${E}`;
/** `a` then `b` in the same sentence, at most `n` characters apart. */
const then = (a: string, b: string, n: number): string => `(?:${a})${gap(n)}(?:${b})`;
/** `a` and `b` in the same sentence, in either order. */
const near = (a: string, b: string, n: number): string => `${then(a, b, n)}|${then(b, a, n)}`;

/**
 * One pattern (its alternatives joined) behind a gate: it runs only if, for every group of keys,
 * some word of the message starts with one of the group's keys.
 */
type Part = { groups: readonly (readonly string[])[]; re: RegExp };
const part = (groups: readonly (readonly string[])[], ...alternatives: string[]): Part => ({
  groups,
  re: new RegExp(alternatives.join('|'), 'gu'),
});
const DIGITS = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'];

// --- shared vocabulary ---------------------------------------------------------------------

const BANK_NAMES = [
  'сбер\\p{L}*',
  'втб',
  'тинькоф\\p{L}*',
  'тиньков\\p{L}*',
  'т-банк\\p{L}*',
  'альфа-?банк\\p{L}*',
  'газпромбанк\\p{L}*',
  'райффайзен\\p{L}*',
  'совкомбанк\\p{L}*',
  'почта банк\\p{L}*',
  'россельхозбанк\\p{L}*',
  'открыти[еяю]',
  'sber\\p{L}*',
  'vtb',
  'tinkoff',
  'chase',
  'hsbc',
  'barclays',
  'revolut',
  'monzo',
  'wells fargo',
  'bank of america',
  'citi(?:bank)?',
  'santander',
  'lloyds',
  'natwest',
  'paypal',
  'n26',
  'deutsche bank',
];
const BANK = `${B}(?:${BANK_NAMES.join('|')}|банк\\p{L}*|bank(?:'s)?)${E}`;
const BANK_KEYS = [
  'сбер',
  'втб',
  'тиньк',
  'альфа',
  'газпромбанк',
  'райф',
  'совком',
  'почта',
  'россельхоз',
  'открыти',
  'sber',
  'vtb',
  'tinkoff',
  'chase',
  'hsbc',
  'barclays',
  'revolut',
  'monzo',
  'wells',
  'bank',
  'citi',
  'santander',
  'lloyds',
  'natwest',
  'paypal',
  'n26',
  'deutsche',
  'банк',
];

/** "This is / I'm calling from / on behalf of" and the words that may sit between it and whom. */
const CLAIM_EN = `${B}(?:(?:this is|i am|i'm|we are|we're|my name is|it's)(?: [\\p{L}.,'-]+){0,3}? (?:from|with|of|calling from|writing from|representing)|this is|i am|i'm|we are|we're|it's|calling (?:you )?from|writing (?:to you )?from|contacting you from|speaking from|on behalf of|message from|notice from|alert from|here from|i work (?:for|at|in)|we work (?:for|at|in)|i represent|we represent) (?:(?:a|an|the|your|our|local|senior|chief|special|federal|lead|head|national|city|state|county|regional|official|main|central)\\s){0,3}`;
const CLAIM_EN_KEYS = [
  'this',
  'i',
  'we',
  'my',
  'it',
  'calling',
  'writing',
  'contacting',
  'speaking',
  'on',
  'message',
  'notice',
  'alert',
  'here',
];
/** Words that end a claim: "я из дома иду в полицию" is no claim to be the police. */
const NOT_FILLER_RU =
  '(?:в|во|на|у|к|за|про|о|об|около|возле|рядом|иду|ид\\p{L}*|был\\p{L}*|ход\\p{L}*|еду|поед\\p{L}*|пош\\p{L}*)';
const CLAIM_RU = `(?:${B}(?:(?:(?:вас|тебя) )?беспоко\\p{L}*|с вами говорит|говорит|звон\\p{L}* (?:вам |тебе )?(?:из|от|с)|пиш\\p{L}* (?:вам |тебе )?(?:из|от)|обраща\\p{L}* (?:к вам )?(?:из|от)|(?:я|мы) (?:из|от|являюсь|являемся|работаю в|работаем в)|от имени|(?:ваш\\p{L}* |персональн\\p{L}* |ведущ\\p{L}* |старш\\p{L}* |главн\\p{L}* )?(?:сотрудник|специалист|менеджер|представител|оператор|работник|консультант)\\p{L}*|(?:уведомлени|сообщени|оповещени)\\p{L}* от)(?: (?!${NOT_FILLER_RU} )[\\p{L}.,-]+){0,3}? |${B}это )`;
const CLAIM_RU_KEYS = [
  'вас',
  'тебя',
  'беспоко',
  'с',
  'говор',
  'звон',
  'пиш',
  'обраща',
  'я',
  'мы',
  'от',
  'ваш',
  'персональн',
  'ведущ',
  'старш',
  'главн',
  'сотрудник',
  'специалист',
  'менеджер',
  'представител',
  'оператор',
  'работник',
  'консультант',
  'уведомлени',
  'сообщени',
  'оповещени',
  'это',
];

// --- code-request --------------------------------------------------------------------------

const CODE_EN = `${B}(?:sms|text|verification|verify|confirmation|security|one[- ]?time|login|log-in|sign-in|access|auth(?:entication)?|2fa|\\d[- ]?digit|six[- ]digit|four[- ]digit|whatsapp|telegram|kolokol|bank) (?:code|pin|password|passcode)${E}`;
const ASK_EN_WORDS = [
  'send',
  'forward',
  'give',
  'tell',
  'read',
  'share',
  'dictate',
  'type',
  'enter',
  'screenshot',
  'provide',
  'confirm',
  'text',
  'reply with',
  'need',
  'verify',
  "what(?:'s| is| was)",
];
const ASK_EN = words(...ASK_EN_WORDS);
/** The gate keys: each alternative's first word, which every match of it starts with. */
const ASK_EN_KEYS = ASK_EN_WORDS.map((w) => /^\p{L}+/u.exec(w)?.[0] ?? w);
/** Codes that can only be a confirmation code, whatever verb asks for them. */
const CODE_RU_QUALIFIED = [
  `${B}код\\p{L}*,? (?:из|с|в) (?:смс|sms|сообщени\\p{L}*)`,
  `${B}(?:смс|sms)[- ]?(?:код|пароль)\\p{L}*`,
  `${B}код\\p{L}* (?:подтверждени|верификаци|доступа|авторизаци|безопасности)\\p{L}*`,
  `${B}одноразов\\p{L}* (?:код|пароль)\\p{L}*`,
  `${B}(?:цифр\\p{L}*|пароль) (?:из|с) (?:смс|sms|сообщени\\p{L}*)`,
  `${B}(?:код\\p{L}*|пароль) (?:от|для) (?:госуслуг|банк|входа|личного кабинета|кабинета|аккаунта|телеграм|вотсап|ватсап|whatsapp|telegram|kolokol|колокол|приложени)\\p{L}*`,
  `${B}данн\\p{L}* (?:вашей |твоей |своей )?(?:банковской )?карт\\p{L}*`,
];
const CODE_RU_KEYS = ['код', 'смс', 'sms', 'одноразов', 'цифр', 'пароль', 'данн'];
/** A code that reached the reader: only someone after it talks about the reader's code. */
const CODE_RU_YOURS = `${B}(?:код\\p{L}*|цифр\\p{L}*|пароль),? (?:котор\\p{L}*|что) (?:сейчас |только что )?(?:вам|тебе|к вам|к тебе|на ваш\\p{L}* (?:номер|телефон)|на твой (?:номер|телефон)) (?:сейчас |только что )?при(?:шел|шл|дет|ход)\\p{L}*`;
const CARD_RU = [
  `${B}(?:cvv|cvc|cvv2|свв)${E}`,
  `${stem('тр[иех]')} цифр\\p{L}* (?:на|с) (?:обороте|обратной)`,
  `${B}срок\\p{L}* действия (?:вашей |твоей )?карт\\p{L}*`,
];
const ASK_RU_STRONG_KEYS = [
  'назов',
  'назв',
  'продикт',
  'диктуй',
  'сообщ',
  'скаж',
  'озвуч',
  'зачита',
  'прочита',
  'прочт',
];
/** Stems are their own gate keys: a word that matches one starts with it. */
const ASK_RU_STRONG = stem(...ASK_RU_STRONG_KEYS);
const ASK_RU_KEYS = [
  ...ASK_RU_STRONG_KEYS,
  'скин',
  'перешл',
  'пересл',
  'отправ',
  'пришл',
  'напиш',
  'укаж',
  'введ',
  'вбей',
  'вбит',
  'дай',
  'подтверд',
  'сфотограф',
  'сфоткай',
  'продубл',
  'нуж',
  'необходим',
  'требу',
];
const ASK_RU = stem(...ASK_RU_KEYS);
const CODE_REQUEST: readonly Part[] = [
  part([ASK_EN_KEYS, ['code', 'pin', 'password', 'passcode']], then(ASK_EN, CODE_EN, 40)),
  part([ASK_EN_KEYS, ['otp', 'cvv', 'cvc', 'pin']], then(ASK_EN, `${B}(?:otp|cvv|cvc|cvv2|pin)${E}`, 40)),
  part(
    [ASK_EN_KEYS, ['password', 'pin', 'passcode']],
    then(
      ASK_EN,
      `${B}(?:(?:password|pin|passcode)s? (?:of|for|to) your|your (?:online banking|bank|banking|card|account|app)(?:'s)? (?:password|pin|passcode))${E}`,
      40,
    ),
  ),
  part(
    [
      ['dictate', 'read'],
      ['code', 'digits', 'numbers'],
    ],
    then(words('dictate', 'read out', 'read me', 'read back'), `${B}(?:code|digits|numbers)${E}`, 30),
  ),
  part(
    [['code']],
    `${B}(?:the )?code (?:that |which |we |i )?(?:just )?(?:you (?:just )?(?:got|received)|(?:was|were|we) (?:just )?sent (?:to )?you|sent to your (?:phone|number)|(?:will )?(?:come|arrive) to (?:you|your phone)|you(?:'ll| will) get)${E}`,
  ),
  part(
    [['card', 'expir', 'three', 'digits', 'cvv', 'cvc', 'security']],
    `${B}(?:card details|full card|expiry date|expiration date|three digits on the back|3 digits on the back|digits on the back|cvv|cvc|cvv2|security code on the back)${E}`,
  ),
  part(
    [ASK_RU_STRONG_KEYS, ['код', 'цифр', 'парол', 'пин']],
    then(ASK_RU_STRONG, `${B}(?:код\\p{L}*|цифр\\p{L}*|пароль|парол\\p{L}*|пин\\p{L}*)`, 40),
  ),
  part([ASK_RU_KEYS, CODE_RU_KEYS], near(ASK_RU, `(?:${CODE_RU_QUALIFIED.join('|')})`, 40)),
  part([['код', 'цифр', 'пароль'], ['вам', 'тебе', 'к', 'на'], ['при']], CODE_RU_YOURS),
  part(
    [['вам', 'тебе', 'к'], ['при'], ['код', 'смс', 'sms', 'цифр']],
    `${B}(?:вам|тебе|к вам|к тебе) (?:сейчас |только что |скоро )?при(?:шел|шл|дет|ход)\\p{L}*(?: \\p{L}+){0,2}? (?:код|смс|sms|цифр)\\p{L}*`,
  ),
  part([['cvv', 'cvc', 'свв', 'цифр', 'срок']], ...CARD_RU),
  part([ASK_RU_KEYS, ['смс', 'sms']], then(ASK_RU, `${B}(?:смс|sms)${E}`, 25)),
  part(
    [['код', 'смс', 'sms'], ['придет']],
    near(`${B}(?:код\\p{L}*|смс|sms)${E}`, words('сейчас придет', 'вам придет', 'тебе придет'), 25),
  ),
];

// --- urgent-money --------------------------------------------------------------------------

const URGENT_EN = words(
  'urgent',
  'urgently',
  'asap',
  'right now',
  'right away',
  'immediately',
  'emergency',
  'as soon as possible',
  'within (?:the next )?\\d+ (?:minutes|hours|mins)',
  "before it(?:'s| is) too late",
  'quickly',
  'hurry',
  'no time',
);
const URGENT_EN_KEYS = [
  'urgent',
  'asap',
  'right',
  'immediately',
  'emergency',
  'as',
  'within',
  'before',
  'quickly',
  'hurry',
  'no',
];
const MONEY_EN = words(
  'transfer',
  'wire',
  'send (?:me |us )?(?:the |some )?money',
  'send (?:me |us )?\\$?\\d[\\d,. ]*',
  'lend me',
  'loan me',
  'money',
  'funds',
  'payment',
  'pay',
  'gift cards?',
  'cash',
  'savings',
  'bail',
  '\\d[\\d,. ]* ?(?:usd|eur|gbp|dollars|euros|pounds|rubles|roubles|bucks|usdt)',
);
const MONEY_EN_KEYS = [
  'transfer',
  'wire',
  'send',
  'lend',
  'loan',
  'money',
  'funds',
  'payment',
  'pay',
  'gift',
  'cash',
  'savings',
  'bail',
  '$',
  ...DIGITS,
];
const URGENT_RU = stem(
  'срочн',
  'немедленн',
  'быстрее',
  'быстро',
  'скорее',
  'поскорее',
  'сейчас же',
  'прямо сейчас',
  'в течение (?:часа|\\d+ минут|\\d+ час)',
);
const URGENT_RU_KEYS = ['срочн', 'немедленн', 'быстр', 'скорее', 'поскорее', 'сейчас', 'прямо', 'в'];
const MONEY_RU = `${stem('переве', 'перечисл', 'скинь', 'скиньте', 'закин', 'одолж', 'займ', 'занят', 'выруч', 'деньг', 'денег', 'денеж', 'средств', 'налич', 'оплат', 'заплат')}|${B}\\d[\\d ]*(?:р|руб|рублей|тыс|т\\.р|к|₽|usdt)${E}|₽`;
const MONEY_RU_KEYS = [
  'переве',
  'перечисл',
  'скин',
  'закин',
  'одолж',
  'займ',
  'занят',
  'выруч',
  'деньг',
  'денег',
  'денеж',
  'средств',
  'налич',
  'оплат',
  'заплат',
  '₽',
  ...DIGITS,
];
const URGENT_MONEY: readonly Part[] = [
  part(
    [URGENT_EN_KEYS, MONEY_EN_KEYS],
    near(URGENT_EN, MONEY_EN, 60),
    `(?:${URGENT_EN})${gap(60)}\\$\\d|\\$\\d[\\d,.]*${gap(60)}(?:${URGENT_EN})`,
  ),
  part([URGENT_RU_KEYS, MONEY_RU_KEYS], near(URGENT_RU, MONEY_RU, 60)),
  part(
    [['safe', 'secure', 'protected', 'reserve', 'holding', 'special'], ['account']],
    `${B}(?:safe|secure|protected|reserve|secured|holding|special|safety) (?:bank )?account${E}`,
  ),
  part(
    [['безопасн', 'резервн', 'защищ', 'специальн', 'спец', 'един', 'страхов']],
    `${stem('безопасн', 'резервн', 'защищенн', 'защищен', 'специальн', 'спец', 'единый', 'единн', 'страхов')} (?:банковск\\p{L}* )?(?:сч[е]т|ячейк)\\p{L}*|${B}спецсчет\\p{L}*`,
  ),
  part(
    [
      ['сним', 'снять', 'обналич'],
      ['все', 'деньг', 'денег', 'налич', 'средств', 'сбережен'],
    ],
    then(stem('сним', 'снять', 'обналич'), stem('все', 'деньг', 'денег', 'налич', 'средств', 'сбережен'), 20),
  ),
  part(
    [
      ['withdraw', 'take'],
      ['all', 'your', 'cash', 'money'],
    ],
    then(words('withdraw', 'take out'), words('all', 'your savings', 'cash', 'money'), 25),
  ),
  part(
    [
      ['buy', 'purchase', 'get'],
      ['gift', 'steam', 'itunes', 'google', 'vouchers'],
    ],
    then(
      words('buy', 'purchase', 'get'),
      words('gift cards?', 'steam cards?', 'itunes cards?', 'google play cards?', 'vouchers'),
      30,
    ),
  ),
  part(
    [
      ['оформ', 'возьм', 'взять'],
      ['кредит', 'займ', 'заем'],
    ],
    then(
      stem('оформ', 'возьм', 'взять'),
      `${stem('кредит', 'займ', 'заем')}${gap(40)}(?:${stem('чтобы', 'для', 'аннулир', 'отмен', 'погас', 'перекры', 'зеркальн')})`,
      40,
    ),
  ),
  part([['зеркальн', 'встречн']], `${stem('зеркальн', 'встречн')} ${stem('кредит', 'заявк')}`),
];

// --- impersonation-bank --------------------------------------------------------------------

const BANK_STAFF_EN = `${B}(?:bank(?:'s)?|banking|card|fraud|security|anti-fraud|antifraud) (?:security|fraud|prevention|department|service|services|team|division|center|centre|officer|specialist|manager|unit)${E}`;
const BANK_STAFF_RU = `${stem('служб', 'отдел', 'департамент', 'управлени', 'центр')} (?:безопасности|финансового мониторинга|финансовой безопасности|по (?:борьбе с )?мошенничеств\\p{L}*|противодействия мошенничеств\\p{L}*|мониторинга)`;
const BANK_STAFF_EN_KEYS = ['bank', 'card', 'fraud', 'security', 'anti'];
const BANK_STAFF_EN_KEYS_2 = [
  'security',
  'fraud',
  'prevention',
  'department',
  'service',
  'team',
  'division',
  'center',
  'centre',
  'officer',
  'specialist',
  'manager',
  'unit',
];
const BANK_STAFF_RU_KEYS = [
  ['служб', 'отдел', 'департамент', 'управлени', 'центр'],
  ['безопасности', 'финансов', 'мошенничеств', 'противодейств', 'мониторинг'],
];
const IMPERSONATION_BANK: readonly Part[] = [
  part([CLAIM_EN_KEYS, BANK_STAFF_EN_KEYS, BANK_STAFF_EN_KEYS_2], then(CLAIM_EN, BANK_STAFF_EN, 40)),
  part([CLAIM_EN_KEYS, BANK_KEYS], `${CLAIM_EN}(?:\\p{L}+ )?(?:${BANK})`),
  part([BANK_KEYS, BANK_STAFF_EN_KEYS_2], then(BANK, BANK_STAFF_EN, 20)),
  part([...BANK_STAFF_RU_KEYS, BANK_KEYS], then(BANK_STAFF_RU, BANK, 25), then(BANK, BANK_STAFF_RU, 25)),
  part([...BANK_STAFF_RU_KEYS, CLAIM_RU_KEYS], then(CLAIM_RU, BANK_STAFF_RU, 20)),
  part([CLAIM_RU_KEYS, BANK_KEYS], `${CLAIM_RU}(?:${BANK})`),
  part(
    [
      ['your', 'the'],
      ['card', 'account', 'bank', 'debit', 'credit', 'online'],
      [
        'blocked',
        'frozen',
        'suspended',
        'compromised',
        'locked',
        'restricted',
        'hacked',
        'closed',
        'limited',
      ],
    ],
    `${B}(?:your|the) (?:card|account|bank account|debit card|credit card|online banking)${gap(20)}(?:has been|was|is|will be|got|have been)${gap(12)}(?:blocked|frozen|suspended|compromised|locked|restricted|hacked|closed|limited)${E}`,
  ),
  part(
    [
      ['ваш', 'тво'],
      ['карт', 'счет', 'личн', 'онлайн', 'банковск'],
      ['заблокир', 'блокир', 'взлома', 'скомпрометир', 'арестова', 'заморож', 'ограничен'],
    ],
    `${stem('ваш', 'твоя', 'твой', 'твою')} ${stem('карт', 'счет', 'личн', 'онлайн-банк', 'банковск')}${gap(30)}(?:${stem('заблокир', 'блокир', 'взлома', 'скомпрометир', 'арестова', 'заморож', 'ограничен')})`,
  ),
  part(
    [['suspicious', 'unusual', 'unauthori', 'fraudulent']],
    `${B}(?:suspicious|unusual|unauthori[sz]ed|fraudulent) (?:transaction|transfer|activity|operation|login|log-in|sign-in|payment|charge|withdrawal|attempt|purchase)s?${E}`,
  ),
  part(
    [['подозрительн', 'несанкционированн', 'мошенническ', 'неправомерн']],
    `${stem('подозрительн', 'несанкционированн', 'мошенническ', 'неправомерн')} (?:${stem('операц', 'перевод', 'списан', 'транзакц', 'вход', 'активност', 'попытк', 'заявк', 'действ', 'оформлен')})`,
  ),
  part(
    [['попытк', 'заявк']],
    `${stem('попытк', 'заявк')} (?:на )?(?:списани|перевод|оформлени\\p{L}* кредит|кредит|снятие|получение кредит)\\p{L}*`,
  ),
  part(
    [['на'], ['ваше', 'твое'], ['имя']],
    `${B}на (?:ваше|твое) имя${gap(15)}(?:${stem('оформ', 'пода', 'поступ', 'одобр', 'взят', 'зарегистр')})`,
  ),
];

// --- impersonation-police ------------------------------------------------------------------

const POLICE_EN = words(
  'police',
  'fbi',
  'interpol',
  'europol',
  'detective',
  'investigator',
  'officer',
  'federal agent',
  'special agent',
  'cyber ?crime (?:unit|department|division)',
  'national crime agency',
  "prosecutor(?:'s office)?",
  'department of justice',
  'law enforcement',
  'sheriff',
  'homeland security',
  'financial crimes? (?:unit|department|division)',
  'central bank',
  'financial regulator',
);
const POLICE_EN_KEYS = [
  'police',
  'fbi',
  'interpol',
  'europol',
  'detective',
  'investigator',
  'officer',
  'federal',
  'special',
  'cyber',
  'national',
  'prosecutor',
  'department',
  'law',
  'sheriff',
  'homeland',
  'financial',
  'central',
];
const POLICE_RU = `${stem('мвд', 'фсб', 'полици', 'следств', 'следовател', 'прокурат', 'прокурор', 'оперуполномоч', 'дознавател', 'росфинмониторинг', 'финмониторинг', 'центробанк', 'центрального банка', 'центральный банк', 'интерпол', 'росгвард', 'банк\\p{L}* росси')}|${words('цб', 'цб рф', 'ск', 'ск рф', 'уфсб', 'умвд', 'гувд', 'увд', 'овд', 'фсб россии')}`;
const POLICE_RU_KEYS = [
  'мвд',
  'фсб',
  'полици',
  'следств',
  'следовател',
  'прокур',
  'оперуполномоч',
  'дознавател',
  'росфинмониторинг',
  'финмониторинг',
  'центробанк',
  'центральн',
  'интерпол',
  'росгвард',
  'банк',
  'цб',
  'ск',
  'уфсб',
  'умвд',
  'гувд',
  'увд',
  'овд',
];
const RANK_RU = words(
  'майор',
  'лейтенант',
  'старший лейтенант',
  'капитан',
  'подполковник',
  'полковник',
  'следователь',
  'старший следователь',
  'оперуполномоченный',
  'дознаватель',
  'инспектор',
);
const RANK_RU_KEYS = [
  'майор',
  'лейтенант',
  'старш',
  'капитан',
  'подполковник',
  'полковник',
  'следовател',
  'оперуполномоч',
  'дознавател',
  'инспектор',
];
const IMPERSONATION_POLICE: readonly Part[] = [
  part([CLAIM_EN_KEYS, POLICE_EN_KEYS], `${CLAIM_EN}(?:${POLICE_EN})`),
  part(
    [
      ['police', 'detective', 'officer', 'agent', 'investigator', 'inspector', 'sergeant'],
      ['here', 'speaking'],
    ],
    `${B}(?:police|detective|officer|agent|investigator|inspector|sergeant)(?: [\\p{L}.]+){0,2} (?:here|speaking)${E}`,
  ),
  part(
    [
      ['your'],
      ['name', 'account', 'identity', 'card', 'passport', 'details', 'data', 'bank'],
      ['money', 'fraud', 'crime', 'criminal', 'terror', 'illegal'],
    ],
    near(
      `${B}your (?:name|account|identity|card|passport|details|data|bank account)${E}`,
      words('money laundering', 'fraud', 'crimes?', 'criminal', 'terror\\p{L}*', 'illegal'),
      40,
    ),
  ),
  part(
    [['warrant', 'suspect', 'witness', 'investigation', 'summons', 'criminal']],
    words(
      'warrant for your arrest',
      'arrest warrant',
      'you are (?:a )?(?:suspect|witness)',
      "you(?:'re| are) under investigation",
      'court summons',
      'criminal case (?:against you|in your name|has been opened)',
    ),
  ),
  part([CLAIM_RU_KEYS, POLICE_RU_KEYS], `${CLAIM_RU}(?:${POLICE_RU})`),
  part(
    [RANK_RU_KEYS, [...POLICE_RU_KEYS, 'юстиции']],
    then(RANK_RU, `(?:${POLICE_RU})|${stem('юстиции', 'полиции')}`, 30),
  ),
  part([['вас', 'тебя'], ['беспоко'], RANK_RU_KEYS], `${B}(?:вас|тебя) беспоко\\p{L}* (?:${RANK_RU})`),
  part(
    [['уголовн'], ['дел', 'преследован', 'ответственн', 'стать']],
    `${stem('уголовн')} (?:${stem('дел', 'преследован', 'ответственн', 'стать')})`,
  ),
  part([['возбужд', 'заведен'], ['дел']], `${stem('возбужд', 'заведен')} (?:уголовн\\p{L}* )?дел\\p{L}*`),
  part(
    [
      ['вы', 'ты'],
      ['проход', 'являет', 'являеш'],
      ['свидетел', 'подозрева', 'фигурант', 'соучаст', 'обвиня'],
    ],
    `${B}(?:вы|ты) (?:проходите|являетесь|являешься|проходишь) (?:как |в качестве )?${stem('свидетел', 'подозрева', 'фигурант', 'соучаст', 'обвиня')}`,
  ),
  part(
    [['госизмен', 'финансирован', 'пособничеств', 'соучастни', 'допрос', 'повестк']],
    stem(
      'госизмен',
      'финансирован\\p{L}* (?:терроризм|всу|экстремизм)',
      'пособничеств',
      'соучастни',
      'допрос',
      'повестк',
    ),
  ),
];

// --- impersonation-official ----------------------------------------------------------------

const OFFICIAL_EN = words(
  'irs',
  'hmrc',
  'tax (?:office|authority|authorities|department|service|agency)',
  'revenue service',
  'social security(?: administration)?',
  'immigration(?: office| service| department)?',
  'customs(?: office| service| department)?',
  'border agency',
  'dvla',
  'government',
  'ministry of \\p{L}+',
  'court',
  'pension (?:office|fund|service)',
  '(?:kolokol|telegram|whatsapp|signal|viber|instagram|facebook|apple|google|microsoft) (?:support|security|team|administration|moderation|safety)(?: team)?',
  'support team',
  'account security team',
  'security team',
  'trust (?:and|&) safety(?: team)?',
  'customer (?:support|service|care)',
  'technical support',
  'tech support',
  'help ?desk',
  'administration',
);
const OFFICIAL_EN_KEYS = [
  'irs',
  'hmrc',
  'tax',
  'revenue',
  'social',
  'immigration',
  'customs',
  'border',
  'dvla',
  'government',
  'ministry',
  'court',
  'pension',
  'kolokol',
  'telegram',
  'whatsapp',
  'signal',
  'viber',
  'instagram',
  'facebook',
  'apple',
  'google',
  'microsoft',
  'support',
  'account',
  'security',
  'trust',
  'customer',
  'technical',
  'tech',
  'help',
  'administration',
];
const OFFICIAL_RU_STEMS = [
  'госуслуг',
  'gosuslug',
  'налогов',
  'фнс',
  'фссп',
  'пфр',
  'сфр',
  'мфц',
  'пенсионн\\p{L}* фонд',
  'социальн\\p{L}* фонд',
  'соцфонд',
  'фонд\\p{L}* пенсионного',
  'военкомат',
  'роскомнадзор',
  'ркн',
  'росреестр',
  'пристав',
  'судебн\\p{L}* пристав',
  'служб\\p{L}* поддержк',
  'техническ\\p{L}* поддержк',
  'техподдержк',
  'поддержк\\p{L}* (?:kolokol|колокол|телеграм|telegram|вотсап|ватсап|whatsapp|госуслуг|пользовател)',
  'администраци\\p{L}* (?:kolokol|колокол|телеграм|telegram|вотсап|whatsapp|мессенджер|сайта|приложени)',
  'служб\\p{L}* безопасности',
  'оператор\\p{L}* (?:связи|мтс|билайн|мегафон|теле2|tele2)',
  'министерств',
  'минздрав',
  'минцифр',
  'госдум',
  'администраци\\p{L}* (?:города|района|президента)',
  'избирком',
  'электронн\\p{L}* (?:повестк|правительств)',
];
const OFFICIAL_RU = stem(...OFFICIAL_RU_STEMS);
const OFFICIAL_RU_KEYS = [
  'госуслуг',
  'gosuslug',
  'налогов',
  'фнс',
  'фссп',
  'пфр',
  'сфр',
  'мфц',
  'пенсионн',
  'социальн',
  'соцфонд',
  'фонд',
  'военкомат',
  'роскомнадзор',
  'ркн',
  'росреестр',
  'пристав',
  'судебн',
  'служб',
  'техническ',
  'техподдержк',
  'поддержк',
  'администраци',
  'оператор',
  'министерств',
  'минздрав',
  'минцифр',
  'госдум',
  'избирком',
  'электронн',
];
const IMPERSONATION_OFFICIAL: readonly Part[] = [
  part([CLAIM_EN_KEYS, OFFICIAL_EN_KEYS], `${CLAIM_EN}(?:${OFFICIAL_EN})`),
  part(
    [OFFICIAL_EN_KEYS, ['here', 'speaking', 'notice', 'alert', 'warning', 'notification']],
    then(OFFICIAL_EN, words('here', 'speaking', 'notice', 'alert', 'warning', 'notification'), 15),
  ),
  part(
    [
      ['your', 'the'],
      ['account', 'profile', 'number', 'sim', 'subscription', 'registration'],
      [
        'deleted',
        'suspended',
        'blocked',
        'deactivated',
        'terminated',
        'disabled',
        'closed',
        'removed',
        'frozen',
      ],
    ],
    `${B}(?:your|the) (?:account|profile|number|sim|sim card|subscription|registration)${gap(25)}(?:will be|has been|is being|was|is scheduled to be)${gap(10)}(?:deleted|suspended|blocked|deactivated|terminated|disabled|closed|removed|frozen)${E}`,
  ),
  part(
    [
      ['verify', 'confirm', 'validate'],
      ['account', 'identity'],
    ],
    words('(?:verify|confirm|validate) your (?:account|identity)'),
  ),
  part([CLAIM_RU_KEYS, OFFICIAL_RU_KEYS], `${CLAIM_RU}(?:${OFFICIAL_RU})`),
  part(
    [OFFICIAL_RU_KEYS, ['уведомля', 'сообща', 'информиру', 'предупрежда', 'напомина']],
    then(OFFICIAL_RU, stem('уведомля', 'сообща', 'информиру', 'предупрежда', 'напомина'), 20),
  ),
  part(
    [
      ['учетн', 'аккаунт', 'личн', 'ваш', 'сим'],
      ['взлом', 'заблок', 'удал', 'скомпром', 'деактив', 'приостанов', 'заморож', 'аннулир', 'истек'],
    ],
    `${stem('учетн', 'аккаунт', 'личн\\p{L}* кабинет', 'ваш\\p{L}* (?:профил|номер|страниц|сим)', 'сим-карт')}${gap(40)}(?:${stem('взлом', 'заблок', 'удал', 'скомпром', 'деактив', 'приостанов', 'заморож', 'аннулир', 'истека', 'истек')})`,
  ),
  part(
    [['продл'], ['договор', 'сим', 'номер', 'обслуживан']],
    then(stem('продл'), stem('договор', 'сим', 'номер', 'обслуживан'), 20),
  ),
  part(
    [
      ['на', 'в'],
      ['госуслуг'],
      ['зафиксир', 'обнаружен', 'подан', 'оформлен', 'поступил', 'замечен', 'выполнен', 'вход'],
    ],
    `${B}(?:на|в) госуслуг\\p{L}*${gap(20)}(?:${stem('зафиксир', 'обнаружен', 'подан', 'оформлен', 'поступил', 'замечен', 'выполнен вход', 'вход')})`,
  ),
];

// --- investment ----------------------------------------------------------------------------

const CRYPTO_EN = words(
  'crypto',
  'cryptocurrency',
  'bitcoin',
  'btc',
  'usdt',
  'eth',
  'ethereum',
  'binance',
  'bybit',
  'okx',
  'trading',
  'trader',
  'forex',
  'invest',
  'investing',
  'investment',
  'investments',
  'p2p',
  'arbitrage',
  'stocks?',
  'dividends?',
  'nft',
  'mining',
  'tokens?',
);
const CRYPTO_EN_KEYS = [
  'crypto',
  'bitcoin',
  'btc',
  'usdt',
  'eth',
  'binance',
  'bybit',
  'okx',
  'trad',
  'forex',
  'invest',
  'p2p',
  'arbitrage',
  'stock',
  'dividend',
  'nft',
  'mining',
  'token',
];
const PROFIT_EN_KEYS = [
  'profit',
  'return',
  'income',
  'earn',
  'gain',
  'x',
  '×',
  'double',
  'triple',
  'per',
  'a',
  'daily',
  'weekly',
  'passive',
  '%',
];
const PROFIT_EN = `${words('profit', 'profits', 'returns?', 'income', 'earn(?:ing|ings)?', 'gains?', '(?:x|×)\\d+', 'double', 'triple', 'per (?:day|week|month)', 'a (?:day|week)', 'daily', 'weekly', 'passive')}|\\d ?%`;
const CRYPTO_RU = `${stem('крипт', 'биткоин', 'битко', 'юсдт', 'трейд', 'инвест', 'акци', 'дивиденд', 'арбитраж', 'бирж', 'майнинг', 'токен', 'форекс')}|${words('usdt', 'btc', 'p2p', 'binance', 'bybit')}`;
const CRYPTO_RU_KEYS = [
  'крипт',
  'битко',
  'юсдт',
  'трейд',
  'инвест',
  'акци',
  'дивиденд',
  'арбитраж',
  'бирж',
  'майнинг',
  'токен',
  'форекс',
  'usdt',
  'btc',
  'p2p',
  'binance',
  'bybit',
];
const PROFIT_RU = `${stem('прибыл', 'доход', 'заработ', 'процент', 'удво', 'утро', 'пассивн', 'выплат', 'окупа')}|\\d ?%|${B}(?:x|х)\\d+${E}`;
const INVESTMENT: readonly Part[] = [
  part(
    [
      ['guaranteed', 'fixed', 'stable', 'passive', 'risk', 'easy', 'steady'],
      ['return', 'income', 'profit', 'earnings', 'money'],
    ],
    `${B}(?:guaranteed|fixed|stable|passive|risk[- ]free|easy|steady) (?:returns?|income|profits?|earnings|money)${E}`,
  ),
  part([CRYPTO_EN_KEYS, PROFIT_EN_KEYS], near(CRYPTO_EN, PROFIT_EN, 50)),
  part(
    [
      ['earn', 'make', 'making'],
      ['per', 'a', 'every', 'each'],
      ['day', 'hour', 'week'],
    ],
    `${B}(?:earn|make|making|earning)${gap(10)}\\$?\\d[\\d,.]*k?\\$? ?(?:usd|dollars|\\$)?${gap(10)}(?:per|a|every|each) (?:day|hour|week)${E}`,
  ),
  part(
    [
      ['work', 'remote', 'part', 'simple', 'online'],
      ['home', 'job', 'tasks'],
    ],
    `${B}(?:work from home|remote job|part[- ]time job|simple tasks|online tasks)${gap(40)}(?:\\$?\\d|per day|a day|daily)`,
  ),
  part(
    [
      ['гарантирован', 'стабильн', 'пассивн', 'высок', 'легк', 'быстр'],
      ['доход', 'прибыл', 'заработ', 'деньг'],
    ],
    `${stem('гарантирован', 'стабильн', 'пассивн', 'высок', 'легк', 'быстр')} (?:${stem('доход', 'прибыл', 'заработ', 'деньг')})`,
  ),
  part(
    [
      CRYPTO_RU_KEYS,
      ['прибыл', 'доход', 'заработ', 'процент', 'удво', 'утро', 'пассивн', 'выплат', 'окупа', '%', 'x', 'х'],
    ],
    near(CRYPTO_RU, PROFIT_RU, 50),
  ),
  part(
    [['заработ', 'доход', 'оплат', 'платим', 'получа'], ['от'], ['день', 'сутки', 'час', 'неделю']],
    `${stem('заработ', 'доход', 'оплат', 'платим', 'получа')}${gap(8)} от \\d[\\d ]*(?:р|руб|рублей|тыс|к|₽|\\$)?${gap(15)}(?:в|за) (?:день|сутки|час|неделю)`,
  ),
  part(
    [
      ['подработк', 'удаленн', 'работ', 'простые', 'задани'],
      ['день', 'сутки', 'час', ...DIGITS],
    ],
    near(
      stem('подработк', 'удаленн\\p{L}* работ', 'работ\\p{L}* на дому', 'простые задания', 'задани'),
      `${stem('день', 'сутки', 'час')}|${B}\\d`,
      40,
    ),
  ),
];

// --- secrecy -------------------------------------------------------------------------------

const SECRECY: readonly Part[] = [
  part(
    [
      ['don', 'do', 'never', 'must', 'should', 'can', 'are'],
      ['tell', 'inform', 'share', 'mention', 'discuss', 'talk', 'say', 'disclose', 'call', 'contact', 'show'],
      [
        'anyone',
        'anybody',
        'no',
        'nobody',
        'family',
        'relatives',
        'bank',
        'staff',
        'employees',
        'police',
        'wife',
        'husband',
        'parents',
        'children',
        'kids',
        'friends',
        'others',
      ],
    ],
    `${B}(?:don't|dont|do not|never|must not|mustn't|shouldn't|should not|can't|cannot|are not allowed to|aren't allowed to)${gap(8)}(?:tell|inform|share|mention|discuss|talk|say|disclose|call|contact|show)${gap(30)}(?:anyone|anybody|no one|nobody|family|relatives|bank|staff|employees|police|wife|husband|parents|children|kids|friends|others)${E}`,
  ),
  part(
    [['keep', 'strictly', 'confidential', 'non', 'between']],
    `${B}(?:keep (?:this|it|our conversation|the call)${gap(12)}(?:secret|confidential|private|between us|to yourself)|strictly confidential|confidential (?:investigation|operation|case|matter)|non-disclosure|between (?:you and me|us only))${E}`,
  ),
  part(
    [
      ['bank', 'employees', 'people'],
      ['involved', 'in', 'complicit', 'accomplices'],
    ],
    `${B}(?:bank (?:staff|employees)|employees of the bank|people at the bank)${gap(25)}(?:involved|in on it|complicit|accomplices)`,
  ),
  part(
    [['никому']],
    `${B}никому${gap(12)}(?:${stem('не говор', 'не сообщ', 'не рассказ', 'не показ', 'не пересыл', 'не называ', 'не звон', 'не пиш', 'ни слова')})`,
  ),
  part(
    [
      ['не', 'нельзя'],
      ['говор', 'сообща', 'сообщ', 'рассказ', 'разглаш', 'обсужд', 'посвящ'],
      [
        'никому',
        'родствен',
        'близк',
        'родн',
        'сотрудник',
        'банк',
        'семь',
        'муж',
        'жен',
        'дет',
        'знаком',
        'друз',
        'полиц',
        'третьим',
        'посторонн',
      ],
    ],
    `${B}(?:не|нельзя)${gap(6)}(?:${stem('говор', 'сообща', 'сообщ', 'рассказ', 'разглаш', 'обсужд', 'посвящ')})${gap(30)}(?:${stem('никому', 'родствен', 'близк', 'родн', 'сотрудник', 'банк', 'семь', 'муж', 'жен', 'дет', 'знаком', 'друз', 'полиц', 'третьим лиц', 'посторонн')})`,
  ),
  part(
    [
      ['конфиденциальн', 'секретн', 'неразглашен', 'тайн', 'подлежит'],
      ['информац', 'разговор', 'операц', 'расследован', 'дел', 'мероприят', 'подписк', 'сохран', 'держ'],
    ],
    `${stem('конфиденциальн', 'секретн', 'неразглашен', 'тайн')}${gap(20)}(?:${stem('информац', 'разговор', 'операц', 'расследован', 'дел', 'мероприят', 'подписк', 'сохран', 'держ')})|${stem('информац', 'разговор', 'операц', 'расследован')}${gap(15)}(?:${stem('конфиденциальн', 'секретн', 'не подлежит разглашен', 'составляет тайну')})`,
  ),
  part(
    [
      ['держ', 'сохран', 'храни'],
      ['тайне', 'секрете'],
    ],
    `${stem('держ', 'сохран', 'храни')}${gap(15)}(?:в тайне|в секрете)`,
  ),
  part(
    [
      ['сотрудник', 'работник'],
      ['банка'],
      ['причаст', 'замешан', 'сговоре', 'соучаст', 'сообщник', 'мошенник'],
    ],
    `${stem('сотрудник', 'работник')} банка${gap(25)}(?:${stem('причаст', 'замешан', 'в сговоре', 'соучаст', 'сообщник', 'работают на мошенник')})`,
  ),
];

// --- remote-access -------------------------------------------------------------------------

const REMOTE_ACCESS: readonly Part[] = [
  part(
    [
      [
        'any',
        'team',
        'rust',
        'ammyy',
        'supremo',
        'aero',
        'ultra',
        'quick',
        'chrome',
        'splashtop',
        'logmein',
        'rms',
        'анидеск',
        'тимвьювер',
        'эни',
      ],
    ],
    words(
      'any ?desk',
      'team ?viewer',
      'rust ?desk',
      'ammyy(?: admin)?',
      'supremo',
      'aero ?admin',
      'ultra ?viewer',
      'quick ?support',
      'chrome remote desktop',
      'splashtop',
      'logmein',
      'rms',
      'анидеск',
      'тимвьювер',
      'эни ?деск',
    ),
  ),
  part([['remote']], words('remote (?:access|control|desktop|assistance|support app)')),
  part([['screen', 'share']], words('screen ?shar(?:e|ing)', 'share (?:your|the) screen')),
  part([['apk']], `${B}[\\p{L}\\p{N}_-]+\\.apk${E}`, words('apk')),
  part(
    [['удаленн', 'демонстрац', 'трансляц', 'показ', 'поделит']],
    stem(
      'удаленн\\p{L}* (?:доступ|управлен|помощ|подключ|рабоч)',
      'демонстрац\\p{L}* экран',
      'трансляц\\p{L}* экран',
      'показ\\p{L}* экран',
      'поделит\\p{L}* экран',
    ),
  ),
  part(
    [
      ['установ', 'скача', 'загруз', 'поставь'],
      ['приложени', 'программ', 'прилож', 'апк'],
      [
        'защит',
        'безопасн',
        'банк',
        'поддержк',
        'провер',
        'антивирус',
        'госуслуг',
        'цб',
        'центробанк',
        'декларир',
        'страхов',
      ],
    ],
    then(
      stem('установ', 'скача', 'загруз', 'поставь'),
      `${stem('приложени', 'программ', 'прилож', 'апк')}${gap(30)}(?:${stem('защит', 'безопасн', 'банк', 'поддержк', 'провер', 'антивирус', 'госуслуг', 'цб', 'центробанк', 'декларир', 'страхов')})`,
      30,
    ),
  ),
  part(
    [
      ['install', 'download', 'get'],
      ['app', 'application', 'program', 'software'],
      [
        'security',
        'protection',
        'protect',
        'bank',
        'support',
        'verify',
        'verification',
        'antivirus',
        'check',
      ],
    ],
    then(
      words('install', 'download', 'get'),
      `${words('app', 'application', 'program', 'software')}${gap(30)}(?:${words('security', 'protection', 'protect', 'bank', 'support', 'verify', 'verification', 'antivirus', 'check')})`,
      30,
    ),
  ),
];

// --- prize ---------------------------------------------------------------------------------

const PRIZE: readonly Part[] = [
  part(
    [
      ['you', 'congratulations'],
      ['won', 'been', 'winner', 'eligible', 'entitled', 'you'],
    ],
    `${B}(?:you(?:'ve| have)? (?:just )?(?:won|been selected|been chosen)|you are (?:the |our )?(?:lucky )?winner|you(?:'re| are) (?:eligible|entitled) (?:for|to)|congratulations,? you)${E}`,
  ),
  part(
    [
      ['claim', 'collect', 'receive', 'get'],
      ['prize', 'reward', 'gift', 'winnings', 'bonus', 'compensation', 'payout', 'refund', 'cash'],
    ],
    `${B}(?:claim|collect|receive|get) (?:your |the )?(?:prize|reward|gift|winnings|bonus|compensation|payout|refund|cash ?back)${E}`,
  ),
  part(
    [['lottery', 'giveaway', 'sweepstake', 'raffle', 'jackpot', 'lucky', 'prize', 'free']],
    words(
      'lottery',
      'giveaway',
      'sweepstakes?',
      'raffle',
      'jackpot',
      'lucky draw',
      'prize draw',
      'free iphone',
    ),
  ),
  part(
    [
      ['вы', 'ты'],
      ['выиграл', 'стал', 'получил'],
    ],
    `${B}(?:вы|ты) (?:${stem('выиграл', 'стал\\p{L}* (?:победител|обладател|участник)', 'получил\\p{L}* (?:приз|подар|выигр)')})`,
  ),
  part(
    [['розыгрыш', 'лотере', 'выигрыш', 'джекпот', 'приз']],
    stem('розыгрыш', 'лотере', 'выигрыш', 'джекпот', 'приз'),
  ),
  part(
    [['поздравля'], ['выигр', 'приз', 'победит', 'подар', 'бонус', 'обладател']],
    `${stem('поздравля')}${gap(40)}(?:${stem('выигр', 'приз', 'победит', 'подар', 'бонус', 'обладател')})`,
  ),
  part(
    [
      ['положен', 'начислен', 'одобрен', 'полага', 'причита'],
      ['выплат', 'компенсац', 'пособи', 'бонус', 'возврат', 'кешбэк', 'кэшбек', 'приз'],
    ],
    `${stem('положен', 'начислен', 'одобрен', 'полагается', 'причитается')}${gap(15)}(?:${stem('выплат', 'компенсац', 'пособи', 'бонус', 'возврат', 'кешбэк', 'кэшбек', 'приз')})|${stem('выплат', 'компенсац', 'возврат')}${gap(20)}(?:${stem('положен', 'начислен', 'одобрен', 'полагается', 'причитается')})`,
  ),
  part(
    [
      ['получ', 'забер', 'забрать'],
      ['выигрыш', 'приз', 'компенсац', 'выплат', 'подарок'],
    ],
    `${stem('получ', 'забер', 'забрать')}${gap(15)}(?:${stem('выигрыш', 'приз', 'компенсац', 'выплат', 'подарок')})`,
  ),
];

// --- running them --------------------------------------------------------------------------

type Detector = { id: ScamSignalId; parts: readonly Part[] };

const DETECTORS: readonly Detector[] = [
  { id: 'code-request', parts: CODE_REQUEST },
  { id: 'urgent-money', parts: URGENT_MONEY },
  { id: 'impersonation-bank', parts: IMPERSONATION_BANK },
  { id: 'impersonation-police', parts: IMPERSONATION_POLICE },
  { id: 'impersonation-official', parts: IMPERSONATION_OFFICIAL },
  { id: 'investment', parts: INVESTMENT },
  { id: 'secrecy', parts: SECRECY },
  { id: 'remote-access', parts: REMOTE_ACCESS },
  { id: 'prize', parts: PRIZE },
];

type GateEntry = { key: string; part: Part; group: number };
/**
 * Keys filed under their first one or two characters, so a word costs two map lookups. A word
 * opens a key when it starts with it.
 */
const GATE = new Map<string, GateEntry[]>();
for (const { parts } of DETECTORS) {
  for (const p of parts) {
    p.groups.forEach((keys, group) => {
      for (const key of keys) {
        const bucketKey = key.slice(0, 2);
        const bucket = GATE.get(bucketKey) ?? [];
        bucket.push({ key, part: p, group });
        GATE.set(bucketKey, bucket);
      }
    });
  }
}

function openParts(words: readonly string[]): Set<Part> {
  const hits = new Map<Part, number>();
  const visit = (word: string, bucket: GateEntry[] | undefined): void => {
    if (bucket === undefined) return;
    for (const { key, part, group } of bucket) {
      if (word.startsWith(key)) hits.set(part, (hits.get(part) ?? 0) | (1 << group));
    }
  };
  for (const w of words) {
    visit(w, GATE.get(w.slice(0, 1)));
    if (w.length > 1) visit(w, GATE.get(w.slice(0, 2)));
  }
  const open = new Set<Part>();
  for (const [p, mask] of hits) if (mask === (1 << p.groups.length) - 1) open.add(p);
  return open;
}

function collect(re: RegExp, text: string, into: Span[]): void {
  re.lastIndex = 0;
  let m = re.exec(text);
  while (m !== null && into.length < MAX_SPANS) {
    if (m[0].length === 0) re.lastIndex++;
    else into.push({ start: m.index, end: m.index + m[0].length });
    m = re.exec(text);
  }
}

/**
 * Every signal in a message, in `SCAM_SIGNAL_IDS` order, with spans in `reading.input`'s UTF-16
 * units. `gate: false` runs every pattern whatever the words; only the tests need it.
 */
export function detectSignals(reading: Reading, options: { gate?: boolean } = {}): ScamSignal[] {
  const open = options.gate === false ? undefined : openParts(reading.words);
  const found = new Map<ScamSignalId, Span[]>();
  for (const { id, parts } of DETECTORS) {
    const spans: Span[] = [];
    for (const p of parts) if (open === undefined || open.has(p)) collect(p.re, reading.plain, spans);
    if (spans.length > 0) found.set(id, spans);
  }
  if (reading.urls.length > 0) {
    found.set('link', reading.urls.slice(0, MAX_SPANS));
    const suspicious = reading.urls.filter((u) => {
      const o = originOf(reading.folded, u.start, u.end);
      return isSuspiciousUrl(reading.input.slice(o.start, o.end));
    });
    if (suspicious.length > 0) found.set('suspicious-link', suspicious.slice(0, MAX_SPANS));
  }
  const signals: ScamSignal[] = [];
  for (const id of SCAM_SIGNAL_IDS) {
    const spans = found.get(id);
    if (spans !== undefined) {
      signals.push({ id, spans: mergeSpans(spans.map((s) => originOf(reading.folded, s.start, s.end))) });
    }
  }
  return signals;
}

function mergeSpans(spans: Span[]): Span[] {
  const sorted = [...spans].sort((a, b) => a.start - b.start || a.end - b.end);
  const merged: Span[] = [];
  for (const s of sorted) {
    const last = merged[merged.length - 1];
    if (last !== undefined && s.start <= last.end) last.end = Math.max(last.end, s.end);
    else merged.push({ ...s });
  }
  return merged;
}
