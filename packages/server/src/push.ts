/**
 * Web Push (RFC 8030 delivery, RFC 8291 aes128gcm payload encryption, RFC 8292 VAPID) through the
 * `web-push` library, which builds the encrypted body and the VAPID JWT. We send the request it
 * describes with fetch ourselves (web-push's own sender speaks only https, and we want a plain
 * timeout and no proxy logic).
 *
 * A push never carries message content: the payload is `{"t":"wake"}`, which tells the service
 * worker to connect and fetch its mailbox, or, when the sender hinted so (OutgoingMessage.push),
 * `{"t":"call"}` / `{"t":"missed-call"}`. Wakes are coalesced per device; call pushes go out at
 * once (a ring that waits 10 s is a missed call), at most one per CALL_GAP_MS per device.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { PushKind } from '@kolokol/protocol';
import type { Logger } from 'pino';
import webpush from 'web-push';
import { z } from 'zod';
import { ServerError } from './errors.ts';
import type { Store } from './storage/store.ts';

export interface PushConfig {
  /** Default true. */
  enabled?: boolean;
  /** Both or neither; when absent they are generated once and kept in `<dataDir>/vapid.json`. */
  vapidPublicKey?: string;
  vapidPrivateKey?: string;
  /** `mailto:` or `https:` contact for push services (RFC 8292 `sub`). */
  subject?: string;
  /** Tests only: accept http:// endpoints (a real push service is always https). */
  allowHttpEndpoints?: boolean;
  /** At most one push per device per this many ms (default 10 s). */
  coalesceMs?: number;
}

export const WAKE_PAYLOAD = '{"t":"wake"}';
/** How long a push service keeps trying each kind: a ring is useless once the caller gave up. */
const TTL_SECONDS: Record<PushKind, number> = { wake: 60 * 60, call: 45, 'missed-call': 24 * 60 * 60 };
const DEFAULT_COALESCE_MS = 10_000;
/** Call pushes to one device at most this often (a caller cannot make a phone buzz non-stop). */
const CALL_GAP_MS = 2_000;
const SEND_TIMEOUT_MS = 15_000;

const VapidFile = z.object({ publicKey: z.string().min(1), privateKey: z.string().min(1) });

/** The VAPID key pair: from config, else from `<dataDir>/vapid.json`, else newly generated there. */
export function loadVapidKeys(
  dataDir: string,
  config: PushConfig,
): { publicKey: string; privateKey: string } {
  if (config.vapidPublicKey !== undefined || config.vapidPrivateKey !== undefined) {
    if (config.vapidPublicKey === undefined || config.vapidPrivateKey === undefined) {
      throw new ServerError('CONFIG', 'invalid setting --vapid-public-key/--vapid-private-key: give both');
    }
    return { publicKey: config.vapidPublicKey, privateKey: config.vapidPrivateKey };
  }
  const file = join(dataDir, 'vapid.json');
  if (existsSync(file)) {
    let value: unknown;
    try {
      value = JSON.parse(readFileSync(file, 'utf8'));
    } catch (cause) {
      throw new ServerError('CONFIG', `${file} is not JSON`, { cause });
    }
    const r = VapidFile.safeParse(value);
    if (!r.success) throw new ServerError('CONFIG', `${file} does not hold publicKey and privateKey`);
    return r.data;
  }
  const keys = webpush.generateVAPIDKeys();
  // The private key signs our VAPID JWTs: readable by the server's user only.
  writeFileSync(file, `${JSON.stringify(keys)}\n`, { mode: 0o600, flag: 'wx' });
  return keys;
}

export class PushSender {
  readonly publicKey: string;
  readonly #privateKey: string;
  readonly #subject: string;
  readonly #store: Store;
  readonly #log: Logger;
  readonly #coalesceMs: number;
  readonly #allowHttp: boolean;
  readonly #lastSent = new Map<string, number>();
  /** The push waiting for its window, per device: when it fires and what it will say. */
  readonly #timers = new Map<string, { timer: ReturnType<typeof setTimeout>; at: number }>();
  readonly #pending = new Map<string, PushKind>();
  /** When the last call kind went to each device: the gap applies to those only. */
  readonly #lastCall = new Map<string, number>();
  readonly #inflight = new Set<Promise<void>>();
  /** Tells whether a device has a live socket on this node right now (then it needs no push). */
  readonly #isConnected: (deviceId: string) => boolean;
  /** Cluster mode: whether another node holds a socket of the device (undefined: cannot tell). */
  readonly #connectedElsewhere: ((deviceId: string) => Promise<boolean | undefined>) | undefined;
  #closed = false;

  constructor(o: {
    keys: { publicKey: string; privateKey: string };
    subject: string;
    store: Store;
    log: Logger;
    isConnected: (deviceId: string) => boolean;
    connectedElsewhere?: (deviceId: string) => Promise<boolean | undefined>;
    coalesceMs?: number;
    allowHttpEndpoints?: boolean;
  }) {
    this.publicKey = o.keys.publicKey;
    this.#privateKey = o.keys.privateKey;
    this.#subject = o.subject;
    this.#store = o.store;
    this.#log = o.log;
    this.#isConnected = o.isConnected;
    this.#connectedElsewhere = o.connectedElsewhere;
    this.#coalesceMs = o.coalesceMs ?? DEFAULT_COALESCE_MS;
    this.#allowHttp = o.allowHttpEndpoints === true;
  }

  /** Whether an endpoint may be stored: https only (http in tests). */
  endpointAllowed(endpoint: string): boolean {
    return endpoint.startsWith('https://') || (this.#allowHttp && endpoint.startsWith('http://'));
  }

  /**
   * A durable item landed in `deviceId`'s mailbox: wake it if it is offline. Wakes within
   * coalesceMs of the last push share one; a call kind replaces a waiting wake (it says more) and
   * goes out as soon as CALL_GAP_MS allows.
   */
  notify(deviceId: string, kind: PushKind = 'wake'): void {
    if (this.#closed || this.#isConnected(deviceId)) return;
    const waiting = this.#pending.get(deviceId);
    // A later call kind wins over a wake, and over the earlier call kind (missed replaces ringing).
    const next: PushKind = waiting === undefined || kind !== 'wake' ? kind : waiting;
    this.#pending.set(deviceId, next);
    const now = Date.now();
    const at =
      next === 'wake'
        ? (this.#lastSent.get(deviceId) ?? 0) + this.#coalesceMs
        : (this.#lastCall.get(deviceId) ?? 0) + CALL_GAP_MS;
    const scheduled = this.#timers.get(deviceId);
    if (scheduled !== undefined) {
      if (scheduled.at <= at) return;
      clearTimeout(scheduled.timer);
      this.#timers.delete(deviceId);
    }
    if (at > now) {
      // Within the window: one push at its end covers everything that arrived meanwhile.
      const timer = setTimeout(() => {
        this.#timers.delete(deviceId);
        this.#fire(deviceId);
      }, at - now);
      timer.unref();
      this.#timers.set(deviceId, { timer, at });
      return;
    }
    this.#fire(deviceId);
  }

  #fire(deviceId: string): void {
    const kind = this.#pending.get(deviceId);
    this.#pending.delete(deviceId);
    if (kind === undefined || this.#closed || this.#isConnected(deviceId)) return;
    this.#lastSent.set(deviceId, Date.now());
    if (kind !== 'wake') this.#lastCall.set(deviceId, Date.now());
    const p = this.#send(deviceId, kind)
      .catch((err: unknown) => this.#log.warn({ err, deviceId }, 'push failed'))
      .finally(() => this.#inflight.delete(p));
    this.#inflight.add(p);
  }

  async #send(deviceId: string, kind: PushKind): Promise<void> {
    const sub = await this.#store.pushSubscription(deviceId);
    if (sub === undefined || !this.endpointAllowed(sub.endpoint)) return;
    // Asked only now, after coalescing and only for devices that can get a push at all, so the
    // cluster sees at most one question per device per window. When the bus cannot tell (NATS
    // down), the push goes: a redundant wake costs less than a missed message or ring.
    if ((await this.#connectedElsewhere?.(deviceId)) === true || this.#isConnected(deviceId)) return;
    const payload = JSON.stringify({ t: kind });
    const details = webpush.generateRequestDetails({ endpoint: sub.endpoint, keys: sub.keys }, payload, {
      TTL: TTL_SECONDS[kind],
      urgency: 'high',
      contentEncoding: 'aes128gcm',
      vapidDetails: { subject: this.#subject, publicKey: this.publicKey, privateKey: this.#privateKey },
    });
    const res = await fetch(details.endpoint, {
      method: details.method,
      headers: details.headers,
      ...(details.body === null ? {} : { body: new Uint8Array(details.body) }),
      signal: AbortSignal.timeout(SEND_TIMEOUT_MS),
      redirect: 'error',
    });
    await res.arrayBuffer().catch(() => undefined);
    if (res.status === 404 || res.status === 410) {
      // RFC 8030 §6.2/7.3: the subscription is gone for good.
      await this.#store.deletePushSubscription(deviceId, sub.endpoint);
      return;
    }
    if (!res.ok) this.#log.warn({ status: res.status, deviceId }, 'push service refused a push');
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const t of this.#timers.values()) clearTimeout(t.timer);
    this.#timers.clear();
    this.#pending.clear();
    await Promise.allSettled([...this.#inflight]);
  }
}

/**
 * Which devices have a live socket on this process. Other nodes of a cluster are asked through
 * the NATS bus instead (NatsBus.connectedElsewhere), so this map never needs to be shared.
 */
export class Presence {
  readonly #count = new Map<string, number>();
  add(deviceId: string): void {
    this.#count.set(deviceId, (this.#count.get(deviceId) ?? 0) + 1);
  }
  remove(deviceId: string): void {
    const n = (this.#count.get(deviceId) ?? 0) - 1;
    if (n <= 0) this.#count.delete(deviceId);
    else this.#count.set(deviceId, n);
  }
  has(deviceId: string): boolean {
    return this.#count.has(deviceId);
  }
}
