/**
 * Long-term credentials (RFC 8489 §9.2) in the "TURN REST API" form that coturn calls
 * `use-auth-secret` (draft-uberti-behave-turn-rest-00): the app server and the relay share a secret,
 * the server hands out username = "<expiry unix seconds>:<id>" and password =
 * base64(HMAC-SHA1(secret, username)), and the relay recomputes the password, so it needs no user
 * database and a leaked credential dies at its expiry.
 */
import { createHash, createHmac } from 'node:crypto';

export interface TurnCredentials {
  username: string;
  password: string;
  /** Seconds the credential stays valid, for the ICE server list the client receives. */
  ttl: number;
}

/** Credentials for `id` valid for `ttlSeconds` from `nowMs` (milliseconds, default Date.now()). */
export function turnCredentials(
  secret: string,
  id: string,
  ttlSeconds: number,
  nowMs = Date.now(),
): TurnCredentials {
  const expiry = Math.floor(nowMs / 1000) + Math.floor(ttlSeconds);
  const username = `${expiry}:${id}`;
  return { username, password: restPassword(secret, username), ttl: Math.floor(ttlSeconds) };
}

export function restPassword(secret: string, username: string): string {
  return createHmac('sha1', secret).update(username, 'utf8').digest('base64');
}

export interface RestUsername {
  /** Unix seconds after which the credential is refused. */
  expiry: number;
  /** What follows the first colon (coturn's user id); the whole username when there is none. */
  id: string;
}

/** Reads "<expiry>:<id>" (or a bare "<expiry>", which coturn also accepts); undefined otherwise. */
export function parseRestUsername(username: string): RestUsername | undefined {
  const match = /^(\d{1,12})(?::(.*))?$/s.exec(username);
  if (match === null) return undefined;
  const expiry = Number(match[1]);
  if (!Number.isSafeInteger(expiry)) return undefined;
  return { expiry, id: match[2] ?? username };
}

/** The long-term key: MD5(username ":" realm ":" password), the strings already SASLprep'd. */
export function longTermKey(username: string, realm: string, password: string): Buffer {
  return createHash('md5').update(`${username}:${realm}:${password}`, 'utf8').digest();
}
