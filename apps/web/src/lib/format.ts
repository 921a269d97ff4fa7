/**
 * Formatting of times, sizes and numbers for the UI. Pure functions over Intl, so they run in Node
 * tests and in the browser alike; the locale is always passed in, never read from a global.
 */

const DAY = 24 * 60 * 60 * 1000;

function startOfDay(ts: number): number {
  const d = new Date(ts);
  d.setHours(0, 0, 0, 0);
  return d.getTime();
}

/** 14:05 (24 h in ru, the locale's own clock in en). */
export function formatTime(ts: number, locale: string): string {
  return new Intl.DateTimeFormat(locale, { hour: 'numeric', minute: '2-digit' }).format(ts);
}

export type DayLabel = { kind: 'today' } | { kind: 'yesterday' } | { kind: 'date'; text: string };

/** The divider above a day's messages: today, yesterday, a weekday this week, else a date. */
export function dayLabel(ts: number, now: number, locale: string): DayLabel {
  const diff = Math.round((startOfDay(now) - startOfDay(ts)) / DAY);
  if (diff === 0) return { kind: 'today' };
  if (diff === 1) return { kind: 'yesterday' };
  if (diff > 1 && diff < 7)
    return { kind: 'date', text: new Intl.DateTimeFormat(locale, { weekday: 'long' }).format(ts) };
  const sameYear = new Date(ts).getFullYear() === new Date(now).getFullYear();
  return {
    kind: 'date',
    text: new Intl.DateTimeFormat(locale, {
      day: 'numeric',
      month: 'long',
      ...(sameYear ? {} : { year: 'numeric' }),
    }).format(ts),
  };
}

/** The time in the chat list: the clock today, a short weekday this week, else a short date. */
export function listTime(ts: number, now: number, locale: string): string {
  const diff = Math.round((startOfDay(now) - startOfDay(ts)) / DAY);
  if (diff === 0) return formatTime(ts, locale);
  if (diff > 0 && diff < 7) return new Intl.DateTimeFormat(locale, { weekday: 'short' }).format(ts);
  return new Intl.DateTimeFormat(locale, { day: 'numeric', month: 'short' }).format(ts);
}

const UNITS = ['byte', 'kilobyte', 'megabyte', 'gigabyte'] as const;

/** 1.5 MB / 1,5 МБ: binary steps, one decimal above a kilobyte. */
export function formatBytes(n: number, locale: string): string {
  let v = Math.max(0, n);
  let i = 0;
  while (v >= 1024 && i < UNITS.length - 1) {
    v /= 1024;
    i++;
  }
  return new Intl.NumberFormat(locale, {
    style: 'unit',
    unit: UNITS[i] ?? 'byte',
    unitDisplay: 'short',
    maximumFractionDigits: i === 0 ? 0 : 1,
  }).format(v);
}

/** 0:07, 1:23, 1:02:03 for voice notes and recording timers. */
export function formatDuration(ms: number): string {
  const total = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const ss = String(s).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

/** 60 digits as 12 groups of 5, the layout people compare aloud (as Signal shows them). */
export function safetyGroups(digits: string): string[] {
  const clean = digits.replace(/\D/g, '');
  const out: string[] = [];
  for (let i = 0; i < clean.length; i += 5) out.push(clean.slice(i, i + 5));
  return out;
}

/** Up to two letters for an avatar placeholder. */
export function initials(name: string): string {
  const words = name
    .trim()
    .split(/[\s_.-]+/)
    .filter(Boolean);
  const first = words[0]?.[0] ?? '?';
  const second = words.length > 1 ? (words[1]?.[0] ?? '') : (words[0]?.[1] ?? '');
  return (first + second).toUpperCase();
}

/** A stable hue per user, so a person keeps one colour across chats and devices. */
export function hueOf(id: string): number {
  let h = 0;
  for (let i = 0; i < id.length; i++) h = (h * 31 + id.charCodeAt(i)) >>> 0;
  return h % 360;
}

/** Plural category for a count (one/few/many/other), for catalogue entries that need forms. */
export function pluralForm(n: number, locale: string): 'one' | 'few' | 'many' | 'other' {
  const c = new Intl.PluralRules(locale).select(n);
  return c === 'one' || c === 'few' || c === 'many' ? c : 'other';
}
