/**
 * The cluster bus: nodes tell each other through NATS which devices have new mailbox items (and
 * the other bus messages). Subject per device, `<prefix>.dev.<deviceId>`; each node subscribes to
 * the subjects of the devices that have a socket on it, so NATS sends a nudge only to the nodes
 * that hold the device. Mailboxes stay in PostgreSQL: the bus carries no delivery state, and a lost
 * nudge costs latency, never a message (connections also re-read their mailbox periodically).
 *
 * Sockets of this node are told directly (a LocalBus inside), and the NATS connection is opened
 * with `noEcho`, so a node never gets its own publications back: local delivery neither waits for
 * nor depends on NATS, and nothing arrives twice.
 *
 * Presence for Web Push rides on the same subjects: "is this device connected anywhere?" is a NATS
 * request to its subject. A node holding a socket of the device answers; when none does, the NATS
 * server says "no responders" at once. So presence costs nothing while nobody asks (no heartbeats,
 * no TTL keys), is exactly as fresh as the subscriptions, and vanishes with a dead node's
 * connection (NATS drops its subscriptions when the TCP connection or its pings fail).
 *
 * NATS outages: nats.js reconnects forever, re-subscribes, and drops what was published while
 * disconnected. So a node remembers what it published while disconnected (and in the last few
 * seconds before it noticed), publishes it again after reconnecting, and re-reads the mailbox of
 * every device connected to it (nudges to it may have been lost the same way).
 */
import { connect, type Msg, ErrorCode as NatsCode, type NatsConnection, type Subscription } from 'nats';
import type { Logger } from 'pino';
import { z } from 'zod';
import { type Bus, BusMessage, LocalBus } from './bus.ts';
import { ServerError } from './errors.ts';

export interface NatsBusOptions {
  /** `nats://[user:password@]host:port` (or `tls://`, which requires TLS); several for a NATS cluster. */
  servers: readonly string[];
  /** Subjects are `<prefix>.dev.<deviceId>`: deployments (or test runs) sharing one NATS keep apart. */
  subjectPrefix: string;
  log: Logger;
  /** Shown in NATS monitoring. */
  name?: string;
  /** How long a presence question waits for an answer before it counts as unknown. */
  presenceTimeoutMs?: number;
  /** Told when the connection to NATS is lost and when it is back (metrics). */
  onStatus?: (connected: boolean) => void;
}

/** What travels on a device subject: a bus message, or the presence question. */
const Wire = z.union([BusMessage, z.object({ type: z.literal('presence') })]);

/** Publications this recent are published again after a reconnect (the socket may have been dead). */
const RECENT_MS = 2_000;
/** Publications remembered across an outage; past that, every node is asked to re-read everything. */
const MAX_MISSED = 50_000;
const PRESENCE_TIMEOUT_MS = 1_000;
/** A graceful stop waits this long at most for NATS to take the last publications. */
const DRAIN_MS = 2_000;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Splits credentials off the URLs: nats.js takes them as options, one set for every server. */
export function natsConnectOptions(servers: readonly string[]): {
  servers: string[];
  user?: string;
  pass?: string;
  token?: string;
  tls?: Record<string, never>;
} {
  const out: ReturnType<typeof natsConnectOptions> = { servers: [] };
  for (const s of servers) {
    const u = new URL(s);
    if (u.protocol === 'tls:') out.tls = {};
    if (u.username !== '' && out.user === undefined && out.token === undefined) {
      const user = decodeURIComponent(u.username);
      if (u.password === '') out.token = user;
      else {
        out.user = user;
        out.pass = decodeURIComponent(u.password);
      }
    }
    // hostname keeps the brackets of an IPv6 address, as nats.js wants them.
    out.servers.push(`${u.hostname}:${u.port || '4222'}`);
  }
  return out;
}

export class NatsBus implements Bus {
  readonly #nc: NatsConnection;
  readonly #log: Logger;
  readonly #prefix: string;
  readonly #presenceTimeoutMs: number;
  readonly #onStatus: ((connected: boolean) => void) | undefined;
  /** This node's sockets. */
  readonly #local = new LocalBus();
  /** One NATS subscription per device with sockets here, and how many sockets want it. */
  readonly #subs = new Map<string, { sub: Subscription; count: number }>();
  #connected = true;
  /** Publications of the last RECENT_MS, in two generations (subject + data -> data). */
  #recent = new Map<string, { subject: string; data: Uint8Array }>();
  #older = new Map<string, { subject: string; data: Uint8Array }>();
  readonly #rotate: ReturnType<typeof setInterval>;
  /** Published while disconnected (or just before): sent again after the reconnect. */
  readonly #missed = new Map<string, { subject: string; data: Uint8Array }>();
  #overflow = false;
  readonly #rescanSub: Subscription;
  #closed = false;

  private constructor(nc: NatsConnection, o: NatsBusOptions) {
    this.#nc = nc;
    this.#log = o.log;
    this.#prefix = o.subjectPrefix;
    this.#presenceTimeoutMs = o.presenceTimeoutMs ?? PRESENCE_TIMEOUT_MS;
    this.#onStatus = o.onStatus;
    this.#rotate = setInterval(() => {
      this.#older = this.#recent;
      this.#recent = new Map();
    }, RECENT_MS);
    this.#rotate.unref();
    // After an outage too long to remember, a node asks every node to re-read every mailbox.
    this.#rescanSub = nc.subscribe(`${this.#prefix}.rescan`, { callback: () => this.#rescanLocal() });
    void this.#watch();
  }

  /** Connects (failing fast when no server answers: a node without its bus should not start). */
  static async connect(o: NatsBusOptions): Promise<NatsBus> {
    let nc: NatsConnection;
    try {
      nc = await connect({
        ...natsConnectOptions(o.servers),
        name: o.name ?? 'kolokol-server',
        noEcho: true,
        // A node outlives any NATS outage; each attempt waits reconnectTimeWait (plus jitter).
        maxReconnectAttempts: -1,
        reconnectTimeWait: 500,
        reconnectJitter: 250,
        timeout: 5_000,
        // A half-open connection is noticed within about 20 s even without a TCP reset.
        pingInterval: 10_000,
        maxPingOut: 2,
      });
    } catch (cause) {
      throw new ServerError('UNAVAILABLE', `NATS is not reachable (--nats-url)`, { cause });
    }
    return new NatsBus(nc, o);
  }

  get connected(): boolean {
    return this.#connected;
  }

  #subject(deviceId: string): string {
    return `${this.#prefix}.dev.${deviceId}`;
  }

  publish(deviceId: string, message: BusMessage): void {
    this.#local.publish(deviceId, message);
    if (this.#closed) return;
    const subject = this.#subject(deviceId);
    const json = JSON.stringify(message);
    const data = encoder.encode(json);
    // Typing indicators are best effort by design: not worth remembering.
    if (message.type !== 'ephemeral') {
      const key = `${subject} ${json}`;
      if (this.#connected) this.#recent.set(key, { subject, data });
      else this.#remember(key, subject, data);
    }
    try {
      this.#nc.publish(subject, data);
    } catch (err) {
      // Too large (an ephemeral body past max_payload) or the connection is closing: nothing to do.
      this.#log.warn({ err, type: message.type }, 'bus: NATS refused a publication');
    }
  }

  subscribe(deviceId: string, fn: (message: BusMessage) => void): () => void {
    const off = this.#local.subscribe(deviceId, fn);
    const entry = this.#subs.get(deviceId);
    if (entry !== undefined) entry.count++;
    else if (!this.#closed) {
      const sub = this.#nc.subscribe(this.#subject(deviceId), {
        callback: (err, msg) => {
          if (err === null) this.#receive(deviceId, msg);
        },
      });
      this.#subs.set(deviceId, { sub, count: 1 });
    }
    let done = false;
    return () => {
      if (done) return;
      done = true;
      off();
      const e = this.#subs.get(deviceId);
      if (e === undefined) return;
      if (--e.count > 0) return;
      this.#subs.delete(deviceId);
      e.sub.unsubscribe();
    };
  }

  #receive(deviceId: string, msg: Msg): void {
    let value: unknown;
    try {
      value = JSON.parse(decoder.decode(msg.data));
    } catch {
      value = undefined;
    }
    const r = Wire.safeParse(value);
    if (!r.success) {
      this.#log.warn({ subject: msg.subject }, 'bus: malformed message from NATS dropped');
      return;
    }
    if (r.data.type === 'presence') {
      // Answering at all is the answer: this node holds a socket of the device.
      if (msg.reply !== undefined && msg.reply !== '') msg.respond();
      return;
    }
    this.#local.publish(deviceId, r.data);
  }

  /**
   * Whether some other node holds a socket of the device: true or false, or undefined when NATS
   * cannot tell now (disconnected, or no answer in time).
   */
  async connectedElsewhere(deviceId: string): Promise<boolean | undefined> {
    if (this.#closed || !this.#connected) return undefined;
    try {
      await this.#nc.request(this.#subject(deviceId), encoder.encode('{"type":"presence"}'), {
        timeout: this.#presenceTimeoutMs,
      });
      return true;
    } catch (err) {
      if (err instanceof Error && Reflect.get(err, 'code') === NatsCode.NoResponders) return false;
      return undefined;
    }
  }

  #remember(key: string, subject: string, data: Uint8Array): void {
    if (this.#missed.size >= MAX_MISSED) {
      this.#overflow = true;
      return;
    }
    this.#missed.set(key, { subject, data });
  }

  /** Every socket of this node re-reads its mailbox: nudges to it may have been lost. */
  #rescanLocal(): void {
    for (const d of this.#local.devices()) this.#local.publish(d, { type: 'mailbox' });
  }

  async #watch(): Promise<void> {
    for await (const s of this.#nc.status()) {
      if (s.type === 'disconnect') {
        this.#connected = false;
        // What went out shortly before the drop may have died in a socket that was already gone.
        for (const m of [this.#older, this.#recent])
          for (const [k, v] of m) this.#remember(k, v.subject, v.data);
        this.#older = new Map();
        this.#recent = new Map();
        this.#log.warn({ server: s.data }, 'bus: disconnected from NATS, reconnecting');
        this.#onStatus?.(false);
      } else if (s.type === 'reconnect') {
        this.#connected = true;
        const missed = [...this.#missed.values()];
        this.#missed.clear();
        const overflow = this.#overflow;
        this.#overflow = false;
        try {
          for (const m of missed) this.#nc.publish(m.subject, m.data);
          if (overflow) this.#nc.publish(`${this.#prefix}.rescan`);
        } catch (err) {
          this.#log.warn({ err }, 'bus: could not publish again after reconnecting');
        }
        this.#rescanLocal();
        this.#log.info({ server: s.data, republished: missed.length, overflow }, 'bus: reconnected to NATS');
        this.#onStatus?.(true);
      }
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#rotate);
    this.#rescanSub.unsubscribe();
    this.#subs.clear();
    await this.#local.close();
    // drain() flushes what is still buffered (last nudges of a graceful shutdown); it would wait
    // for a reconnect that may never come during an outage, hence the bound.
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      this.#nc.drain().catch(() => undefined),
      new Promise((r) => {
        timer = setTimeout(r, DRAIN_MS);
      }),
    ]);
    clearTimeout(timer);
    await this.#nc.close().catch(() => undefined);
  }
}
