/**
 * Finding URLs in a folded message, and telling which look like the ones scams send: shorteners
 * that hide the target, raw IP addresses, punycode or mixed-script hosts ("sberbаnk.ru" with a
 * Cyrillic "а"), a user-info part that sends "https://gosuslugi.ru@evil.example" elsewhere, and
 * hosts that borrow a brand without being its domain ("sberbank-online.xyz").
 */
import type { Span } from './normalize.ts';

const B = '(?<![\\p{L}\\p{N}])';
const E = '(?![\\p{L}\\p{N}])';
const TLDS =
  'com|ru|рф|su|net|org|info|biz|io|me|ly|xyz|top|site|online|store|shop|club|app|link|live|click|icu|pro|co|uk|de|us|cc|tk|ml|ga|cf|gq|gl|to|gg|sh|at|vip|win|bond|cyou|sbs|rest|buzz|fun|space|tech|website|page|team|support|help|services?|finance|bank|money|cash|world|today|ws|kz|by|ua|uz|am|ge|eu|tv|in|gd|gy|do|li|be|ai|im|nu|tw|su|cx|st|la|sk|cz|pl|fr|es|it|nl|tr|kg|md|az|tj';
/** The rest of a URL, without the punctuation that usually ends the sentence around it. */
const URL_TAIL = `[^\\s<>"'«»]*[^\\s<>"'«».,;:!?)\\]]`;
/** With a scheme or "www.", anything; without, a host ending in a TLD that people actually type. */
const URL_RE = new RegExp(
  `(?:https?:\\/\\/|hxxps?:\\/\\/|www\\.)${URL_TAIL}|${B}(?:[\\p{L}\\p{N}][\\p{L}\\p{N}-]{0,62}\\.)+(?:${TLDS})${E}(?:[/?#](?:${URL_TAIL})?)?`,
  'gu',
);

const SHORTENERS = new Set([
  'bit.ly',
  'tinyurl.com',
  'goo.gl',
  'goo.su',
  'clck.ru',
  't.ly',
  'cutt.ly',
  'is.gd',
  'ow.ly',
  'rebrand.ly',
  'shorturl.at',
  'vk.cc',
  'u.to',
  'qps.ru',
  'tiny.cc',
  'rb.gy',
  'bit.do',
  'v.gd',
  'surl.li',
  'inlnk.ru',
  'shorturl.ru',
]);
/** Domains whose brands scammers borrow and that are the brands' own. */
const OFFICIAL_DOMAINS = [
  'sberbank.ru',
  'sberbank.com',
  'sber.ru',
  'tinkoff.ru',
  'tbank.ru',
  'vtb.ru',
  'alfabank.ru',
  'gosuslugi.ru',
  'gov.ru',
  'cbr.ru',
  'avito.ru',
  'ozon.ru',
  'wildberries.ru',
  'wb.ru',
  'cdek.ru',
  'pochta.ru',
  'paypal.com',
  'chase.com',
  'revolut.com',
  'hsbc.com',
  'barclays.co.uk',
  'telegram.org',
  't.me',
  'whatsapp.com',
  'binance.com',
  'dhl.com',
  'usps.com',
  'royalmail.com',
  'irs.gov',
  'gov.uk',
  'apple.com',
  'google.com',
  'microsoft.com',
];
const BRAND_IN_HOST =
  /sber|tinkof|tbank|vtb|alfa|gosuslug|nalog|avito|ozon|wildberr|cdek|pochta|paypal|chase|revolut|hsbc|barclays|telegram|whatsapp|binance|bybit|dhl|usps|royalmail|irs|hmrc|apple|icloud|google|microsoft|kolokol|bank|secure|verif|login|account|support|госуслуг|сбер/u;
const RISKY_TLD =
  /\.(?:xyz|top|click|icu|live|buzz|tk|ml|ga|cf|gq|cyou|sbs|rest|bond|win|vip|fun|space|website|support|help|online|site)$/u;

/** Cheap test that lets most messages skip URL_RE: a URL has a scheme or a dot inside a word. */
const MAYBE_URL = /:\/\/|[\p{L}\p{N}-]\.[\p{L}\p{N}]/u;

/** The URLs of a folded text. */
export function findUrls(text: string): Span[] {
  const spans: Span[] = [];
  if (!MAYBE_URL.test(text)) return spans;
  for (const m of text.matchAll(URL_RE)) spans.push({ start: m.index, end: m.index + m[0].length });
  return spans;
}

/** `url` as the user sees it (not folded: folding would hide a mixed-script host). */
export function isSuspiciousUrl(url: string): boolean {
  const lower = url.toLowerCase();
  // "hxxp" is how scam kits write links that filters do not recognise.
  if (lower.startsWith('hxxp')) return true;
  const authority = lower.replace(/^https?:\/\//u, '').split(/[/?#]/u)[0] ?? '';
  if (authority.includes('@')) return true;
  const host = authority
    .replace(/:\d+$/u, '')
    .replace(/^www\./u, '')
    .replace(/\.$/u, '');
  if (SHORTENERS.has(host)) return true;
  if (/^\d{1,3}(?:\.\d{1,3}){3}$/u.test(host)) return true;
  if (host.includes('xn--')) return true;
  for (const label of host.split('.')) {
    if (/\p{Script=Cyrillic}/u.test(label) && /[a-z]/u.test(label)) return true;
  }
  if (OFFICIAL_DOMAINS.some((d) => host === d || host.endsWith(`.${d}`))) return false;
  return RISKY_TLD.test(host) || BRAND_IN_HOST.test(host) || (host.match(/-/gu)?.length ?? 0) >= 2;
}
