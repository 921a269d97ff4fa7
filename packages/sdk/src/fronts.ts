/**
 * The addresses ("fronts") one server answers under: its own origin, other hosts or addresses,
 * community proxies. A censor that freezes or drops one of them (brief, profile P5: TLS replies
 * frozen after 16 KB to one address) leaves the others, so the HTTP API, the WebSocket and, through
 * `/v1/turn` (which names the host it was asked on), TURN over TLS all use the current front and
 * move on to the next one when it fails. The server publishes the list in `GET /v1/info`; the
 * client keeps it (the store) so that it still knows the others when the first one is blocked.
 *
 * There is no health probing here: a transport reports a failure (an error, a timeout, a stall)
 * and the list rotates; the next request or connection tries the next front, and a front that
 * failed is tried again only after the others did.
 */

/** More than this many fronts is a misconfiguration (or a hostile server): ignore the rest. */
export const MAX_FRONTS = 16;

/** `https://host[:port]` without a path, or undefined for anything else. */
export function frontOrigin(url: string): string | undefined {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return undefined;
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') return undefined;
  return u.origin;
}

export class Fronts {
  #list: string[];
  #index = 0;
  readonly #listeners = new Set<(current: string) => void>();

  /** `primary`: the URL the account was made on (or the page's origin); it stays first. */
  constructor(primary: string, known: readonly string[] = []) {
    const first = frontOrigin(primary) ?? primary.replace(/\/+$/, '');
    this.#list = [first];
    this.learn(known);
  }

  get current(): string {
    return this.#list[this.#index] ?? this.#list[0] ?? '';
  }

  /** The front after the current one: where a second connection goes (the current one if it is alone). */
  next(): string {
    return this.#list[(this.#index + 1) % this.#list.length] ?? this.current;
  }

  /** Every known front, the primary first. */
  all(): readonly string[] {
    return this.#list;
  }

  /** Adds the fronts a server published (unknown or malformed ones are skipped); true if any was new. */
  learn(urls: readonly string[]): boolean {
    let added = false;
    for (const url of urls) {
      const origin = frontOrigin(url);
      if (origin === undefined || this.#list.includes(origin) || this.#list.length >= MAX_FRONTS) continue;
      this.#list.push(origin);
      added = true;
    }
    if (added) for (const fn of this.#listeners) fn(this.current);
    return added;
  }

  /**
   * `base` (a front, or a URL under one) failed: if it is still the current front, move to the
   * next. Reports from requests that started before an earlier move change nothing, so that two
   * requests failing on the same front move the list once, not twice.
   */
  failed(base: string): void {
    if (this.#list.length < 2) return;
    const origin = frontOrigin(base) ?? base;
    if (origin !== this.current) return;
    this.#index = (this.#index + 1) % this.#list.length;
    for (const fn of this.#listeners) fn(this.current);
  }

  /** Called with the current front whenever the list moves on or grows. */
  onChange(fn: (current: string) => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }
}

/** A community proxy as shared in a link: `kolokol://proxy?host=HOST&port=PORT` (port 443 if left out). */
export interface ProxyLink {
  host: string;
  port: number;
}

const PROXY_LINK_RE = /kolokol:\/\/proxy\?[^\s<>"']+/i;
const HOSTNAME_RE =
  /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/i;
const IPV6_RE = /^[0-9a-f:.]{2,45}$/i;

/**
 * The first proxy link in `text` (a pasted link, a QR code, a chat message), or undefined. Parsed
 * by hand: `kolokol:` is not a scheme the WHATWG URL parser gives a query object for everywhere.
 */
export function parseProxyLink(text: string): ProxyLink | undefined {
  const link = PROXY_LINK_RE.exec(text)?.[0];
  if (link === undefined) return undefined;
  const query = link.slice(link.indexOf('?') + 1);
  const params = new Map<string, string>();
  for (const part of query.split('&')) {
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    try {
      params.set(part.slice(0, eq).toLowerCase(), decodeURIComponent(part.slice(eq + 1)));
    } catch {
      return undefined;
    }
  }
  let host = (params.get('host') ?? '').trim();
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  const ipv6 = host.includes(':');
  if (ipv6 ? !IPV6_RE.test(host) : !HOSTNAME_RE.test(host)) return undefined;
  const portText = params.get('port') ?? '443';
  if (!/^\d{1,5}$/.test(portText)) return undefined;
  const port = Number(portText);
  if (port < 1 || port > 65535) return undefined;
  return { host: host.toLowerCase(), port };
}

/** The front a proxy link stands for: the server's own TLS port, reached through the proxy. */
export function proxyFront(p: ProxyLink): string {
  const host = p.host.includes(':') ? `[${p.host}]` : p.host;
  return p.port === 443 ? `https://${host}` : `https://${host}:${p.port}`;
}

/** The link to share for a proxy (the CLI prints it; the web app shows and parses it). */
export function proxyLink(p: ProxyLink): string {
  return `kolokol://proxy?host=${encodeURIComponent(p.host)}&port=${p.port}`;
}
