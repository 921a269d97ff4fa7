/**
 * ICE servers from the server's GET /v1/turn (`{ iceServers, ttl }`, TURN REST credentials), cached
 * until shortly before they expire. The caller supplies the fetch (the app's authenticated HTTP),
 * so this package needs no knowledge of sessions.
 */
import { z } from 'zod';

const IceServer = z.object({
  urls: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]),
  username: z.string().optional(),
  credential: z.string().optional(),
});
export const TurnResponse = z.object({
  iceServers: z.array(IceServer),
  /** Seconds the credentials stay valid. */
  ttl: z.number().int().positive(),
});
export type TurnResponse = z.infer<typeof TurnResponse>;
export type IceServerConfig = z.infer<typeof IceServer>;

/** Credentials are refreshed when less than this part of their lifetime is left. */
const REFRESH_FRACTION = 0.2;

/**
 * Wraps a fetch of GET /v1/turn: parses the untrusted body and caches it for 80% of its ttl.
 * Concurrent calls share one request.
 */
export function iceServerSource(
  fetchTurn: () => Promise<unknown>,
  now: () => number = Date.now,
): () => Promise<IceServerConfig[]> {
  let cached: { servers: IceServerConfig[]; until: number } | undefined;
  let inflight: Promise<IceServerConfig[]> | undefined;
  return () => {
    if (cached !== undefined && now() < cached.until) return Promise.resolve(cached.servers);
    inflight ??= (async () => {
      try {
        const r = TurnResponse.parse(await fetchTurn());
        cached = { servers: r.iceServers, until: now() + r.ttl * 1000 * (1 - REFRESH_FRACTION) };
        return r.iceServers;
      } finally {
        inflight = undefined;
      }
    })();
    return inflight;
  };
}

/**
 * What an ICE server URL asks for (RFC 7064/7065): `turns:` is TURN over TLS, `turn:` is TURN over
 * UDP unless `?transport=tcp`, `stun:`/`stuns:` are STUN only.
 */
export type IceUrlKind = 'turns' | 'turn-udp' | 'turn-tcp' | 'stun';

export function iceUrlKind(url: string): IceUrlKind | undefined {
  const m = /^(turns|turn|stuns|stun):[^?]*(?:\?(.*))?$/i.exec(url.trim());
  const scheme = m?.[1]?.toLowerCase();
  if (scheme === undefined) return undefined;
  if (scheme === 'turns') return 'turns';
  if (scheme === 'stun' || scheme === 'stuns') return 'stun';
  return /(?:^|&)transport=tcp(?:&|$)/i.test(m?.[2] ?? '') ? 'turn-tcp' : 'turn-udp';
}

/**
 * The servers with only the URLs of the given kinds; servers left with none are dropped. Tests use
 * it to force one route (e.g. only `turns:` on the app's port) through a real browser's ICE agent.
 */
export function restrictIceServers(
  servers: readonly IceServerConfig[],
  kinds: readonly IceUrlKind[],
): IceServerConfig[] {
  const out: IceServerConfig[] = [];
  for (const s of servers) {
    const urls = urlsOf(s).filter((u) => {
      const kind = iceUrlKind(u);
      return kind !== undefined && kinds.includes(kind);
    });
    if (urls.length > 0) out.push({ ...s, urls });
  }
  return out;
}

/** More fronts than this add no relay to a restart: each is one more TLS connection to open. */
const MAX_FRONT_RELAYS = 3;

/**
 * The servers of GET /v1/turn (asked on the front in use) plus TURN over TLS on each other known
 * front (`https://host[:port]` origins). A call that stalls restarts with these: TURN over TLS
 * shares the app's port on every front, and the relay's credentials (TURN REST, per device) are
 * the server's, not a front's, so the same username and credential work on all of them. ICE then
 * keeps whichever front still answers, as the HTTP API and the WebSocket do.
 */
export function withFrontRelays(
  servers: readonly IceServerConfig[],
  fronts: readonly string[],
): IceServerConfig[] {
  const creds = servers.find((s) => urlsOf(s).some((u) => iceUrlKind(u) === 'turns'));
  if (creds === undefined) return [...servers];
  const known = new Set(servers.flatMap(urlsOf).map((u) => u.toLowerCase()));
  const urls: string[] = [];
  for (const front of fronts) {
    let u: URL;
    try {
      u = new URL(front);
    } catch {
      continue;
    }
    if (u.protocol !== 'https:') continue;
    const url = `turns:${u.hostname}:${u.port === '' ? '443' : u.port}?transport=tcp`;
    if (known.has(url.toLowerCase()) || urls.includes(url)) continue;
    urls.push(url);
    if (urls.length === MAX_FRONT_RELAYS) break;
  }
  if (urls.length === 0) return [...servers];
  return [
    ...servers,
    {
      urls,
      ...(creds.username === undefined ? {} : { username: creds.username }),
      ...(creds.credential === undefined ? {} : { credential: creds.credential }),
    },
  ];
}

/** A server's URLs as a list (`urls` may be one string). */
export function urlsOf(s: IceServerConfig): string[] {
  return typeof s.urls === 'string' ? [s.urls] : s.urls;
}
