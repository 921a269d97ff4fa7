/**
 * Hash routes (the server answers every path with the app, but hash routes keep invite links
 * working on any static host too): `#/`, `#/c/ID`, `#/c/ID/info`, `#/c/ID/safety/USERNAME`,
 * `#/settings`, `#/devices`, `#/contacts`, `#/u/USERNAME` (an invite), `#/requests` (message,
 * group and call requests) and `#/requests/ID` (one request with its context card).
 */
import { USERNAME_RE } from '@kolokol/protocol';

export type Route =
  | { name: 'home' }
  | { name: 'chat'; id: string }
  | { name: 'chatInfo'; id: string }
  | { name: 'safety'; id: string; username: string }
  | { name: 'settings' }
  | { name: 'devices' }
  | { name: 'contacts' }
  | { name: 'requests' }
  | { name: 'request'; id: string }
  | { name: 'invite'; username: string };

export function normalizeUsername(s: string): string {
  return s.trim().replace(/^@/, '').toLowerCase();
}

export function parseRoute(hash: string): Route {
  const parts = hash
    .replace(/^#\/?/, '')
    .split('/')
    .filter(Boolean)
    .map((p) => {
      try {
        return decodeURIComponent(p);
      } catch {
        return p;
      }
    });
  const [a, b, c, d] = parts;
  if (a === 'c' && b !== undefined) {
    if (c === 'info') return { name: 'chatInfo', id: b };
    if (c === 'safety' && d !== undefined) return { name: 'safety', id: b, username: d };
    return { name: 'chat', id: b };
  }
  if (a === 'u' && b !== undefined && USERNAME_RE.test(normalizeUsername(b)))
    return { name: 'invite', username: normalizeUsername(b) };
  if (a === 'settings') return { name: 'settings' };
  if (a === 'devices') return { name: 'devices' };
  if (a === 'contacts') return { name: 'contacts' };
  if (a === 'requests') return b === undefined ? { name: 'requests' } : { name: 'request', id: b };
  return { name: 'home' };
}

export function routeHash(r: Route): string {
  switch (r.name) {
    case 'home':
      return '#/';
    case 'chat':
      return `#/c/${encodeURIComponent(r.id)}`;
    case 'chatInfo':
      return `#/c/${encodeURIComponent(r.id)}/info`;
    case 'safety':
      return `#/c/${encodeURIComponent(r.id)}/safety/${encodeURIComponent(r.username)}`;
    case 'invite':
      return `#/u/${encodeURIComponent(r.username)}`;
    case 'request':
      return `#/requests/${encodeURIComponent(r.id)}`;
    default:
      return `#/${r.name}`;
  }
}

/** The link that opens a chat with `username` on this server: `https://host/#/u/USERNAME`. */
export function inviteLink(origin: string, username: string): string {
  return `${origin.replace(/\/$/, '')}/#/u/${encodeURIComponent(username)}`;
}

/**
 * What a person typed or scanned in "new chat": a username (with or without @) or an invite link
 * of any host. Returns the username, or undefined when it is neither.
 */
export function usernameFromInput(input: string): string | undefined {
  const s = input.trim();
  const m = /#\/u\/([^/?#\s]+)/.exec(s);
  const candidate = normalizeUsername(m?.[1] !== undefined ? decodeURIComponent(m[1]) : s);
  return USERNAME_RE.test(candidate) ? candidate : undefined;
}

/** Device link codes are `linkId.secret` (base64url parts); accepts them inside any text. */
export function linkCodeFromInput(input: string): string | undefined {
  const m = /([A-Za-z0-9_-]{8,})\.([A-Za-z0-9_-]{20,})/.exec(input.trim());
  return m === null ? undefined : `${m[1]}.${m[2]}`;
}
