/**
 * What this browser remembers beside the SDK's store: interface preferences and, until the SDK
 * keeps them itself, read cursors, drafts, contacts, blocks and verification marks. Parsed on
 * every read: localStorage is shared with anything on the origin and may hold anything.
 */

export interface Prefs {
  theme: 'system' | 'light' | 'dark';
  language: 'auto' | 'en' | 'ru';
  readReceipts: boolean;
  typingIndicators: boolean;
  inAppNotifications: boolean;
}

export const defaultPrefs: Prefs = {
  theme: 'system',
  language: 'auto',
  readReceipts: true,
  typingIndicators: true,
  inAppNotifications: true,
};

export interface Notice {
  id: string;
  at: number;
  kind: 'safetyChanged';
  name: string;
}

export interface UserRef {
  userId: string;
  username: string;
}

export interface LocalData {
  lastRead: Record<string, number>;
  drafts: Record<string, string>;
  contacts: UserRef[];
  blocked: UserRef[];
  verified: Record<string, boolean>;
  notices: Record<string, Notice[]>;
  avatar?: string;
  displayName?: string;
}

export const emptyLocal = (): LocalData => ({
  lastRead: {},
  drafts: {},
  contacts: [],
  blocked: [],
  verified: {},
  notices: {},
});

const isObj = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);
const users = (v: unknown): UserRef[] =>
  Array.isArray(v)
    ? v.filter(
        (x): x is UserRef => isObj(x) && typeof x.userId === 'string' && typeof x.username === 'string',
      )
    : [];
function record<T>(v: unknown, ok: (x: unknown) => x is T): Record<string, T> {
  const out: Record<string, T> = {};
  if (isObj(v)) for (const [k, x] of Object.entries(v)) if (ok(x)) out[k] = x;
  return out;
}
const isNum = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x);
const isStr = (x: unknown): x is string => typeof x === 'string';
const isBool = (x: unknown): x is boolean => typeof x === 'boolean';
const isNotices = (x: unknown): x is Notice[] =>
  Array.isArray(x) &&
  x.every((n) => isObj(n) && isStr(n.id) && isNum(n.at) && n.kind === 'safetyChanged' && isStr(n.name));

export function parsePrefs(v: unknown): Prefs {
  if (!isObj(v)) return { ...defaultPrefs };
  const theme =
    v.theme === 'light' || v.theme === 'dark' || v.theme === 'system' ? v.theme : defaultPrefs.theme;
  const language = v.language === 'en' || v.language === 'ru' || v.language === 'auto' ? v.language : 'auto';
  const bool = (k: keyof Prefs, d: boolean) => (typeof v[k] === 'boolean' ? (v[k] as boolean) : d);
  return {
    theme,
    language,
    readReceipts: bool('readReceipts', true),
    typingIndicators: bool('typingIndicators', true),
    inAppNotifications: bool('inAppNotifications', true),
  };
}

export function parseLocal(v: unknown): LocalData {
  if (!isObj(v)) return emptyLocal();
  return {
    lastRead: record(v.lastRead, isNum),
    drafts: record(v.drafts, isStr),
    contacts: users(v.contacts),
    blocked: users(v.blocked),
    verified: record(v.verified, isBool),
    notices: record(v.notices, isNotices),
    ...(isStr(v.avatar) && v.avatar.startsWith('data:image/') ? { avatar: v.avatar } : {}),
    ...(isStr(v.displayName) ? { displayName: v.displayName } : {}),
  };
}

/** Unread incoming messages after the read cursor. */
export function countUnread(
  messages: readonly { seq: number; outgoing: boolean }[],
  lastReadSeq: number | undefined,
): number {
  const cursor = lastReadSeq ?? 0;
  let n = 0;
  for (const m of messages) if (!m.outgoing && m.seq > cursor) n++;
  return n;
}
