/**
 * The WebSocket half of the wire contract: hello/ready handshake, request/answer by rid,
 * keep-alive pings, reconnect with backoff. It knows nothing about MLS; frames other than answers
 * go to `onFrame` in arrival order.
 */
import { type ClientFrame, type OutgoingMessage, PROTOCOL_VERSION, ServerFrame } from '@kolokol/protocol';
import { Backoff, type BackoffOptions } from './backoff.ts';
import { SdkError } from './errors.ts';
import { Fronts } from './fronts.ts';
import type { Transport, WebSocketLike } from './transport.ts';
import { sleep } from './util.ts';

export type ConnectionState = { state: 'connecting' | 'online' | 'offline'; attempt?: number };
export type OkFrame = Extract<ServerFrame, { t: 'ok' }>;
export type ReadyFrame = Extract<ServerFrame, { t: 'ready' }>;
/** Frames that are not answers to our requests. */
export type PushFrame = Extract<ServerFrame, { t: 'deliver' | 'synced' | 'event' | 'ephemeral' }>;

export interface ConnectionHooks {
  token(refresh: boolean): Promise<string>;
  onFrame(frame: PushFrame): void;
  onState(state: ConnectionState): void;
  onReady(ready: ReadyFrame): void;
  /** The connection stopped for good (revoked): the client must not reconnect. */
  onFatal(error: SdkError): void;
  onProtocolError(error: SdkError): void;
}

export interface ConnectionOptions {
  backoff?: BackoffOptions;
  /** How long to wait for an answer to a request before treating the socket as dead. */
  requestTimeoutMs?: number;
  /** Keep-alive pings: how often, and how long a pong may take before the socket counts as dead. */
  pingIntervalMs?: number;
  pongTimeoutMs?: number;
  /**
   * A request unanswered this long while not one frame arrived since it was sent: the socket is
   * treated as frozen at once, without waiting for its own timeout or the next ping.
   */
  stallMs?: number;
}

// SUSPENDED too: reconnecting cannot help until the operator lifts it (the app reconnects then).
const FATAL = new Set(['SESSION_REVOKED', 'DEVICE_REVOKED', 'UNSUPPORTED_VERSION', 'SUSPENDED']);
/**
 * While a call is being set up (`urgent`): a ping every half second, and a socket that leaves one
 * unanswered for 2.5 s counts as frozen. A censor that freezes a connection instead of cutting it
 * would otherwise hold the call's signalling for a whole ping cycle (15 s + 10 s).
 */
const URGENT_PING_MS = 500;
const URGENT_PONG_MS = 2500;
/**
 * The standby socket (see #openStandby) is pinged with the main one. When the standby has answered
 * (or brought an ephemeral) and the main socket has not this much later, the main one is frozen:
 * both reach the same server, and a slow network slows both alike. It is left at once for the
 * standby's front, without waiting out URGENT_PONG_MS.
 */
const STANDBY_LEAD_MS = 750;
/** Ephemerals the main socket delivered, remembered to tell whether the standby is ahead. */
const MAIN_SEEN_MAX = 256;
const CLOSE_UNAUTHORIZED = 4401;
const CLOSE_SESSION_REVOKED = 4403;

interface Pending {
  resolve(frame: ServerFrame): void;
  reject(e: SdkError): void;
  timer: ReturnType<typeof setTimeout>;
  sentAt: number;
}

/** How often the stall watchdog looks at the pending requests. */
const WATCHDOG_MS = 1000;

export class Connection {
  readonly #fronts: Fronts;
  readonly #transport: Transport;
  readonly #hooks: ConnectionHooks;
  readonly #backoff: Backoff;
  readonly #requestTimeout: number;
  readonly #pingInterval: number;
  readonly #pongTimeout: number;
  readonly #stallMs: number;
  /** When the current socket last delivered a frame (any frame). */
  #lastFrameAt = 0;
  readonly #stop = new AbortController();
  /**
   * Drops the current socket at once, without waiting for its closing handshake: as stalled (a
   * censor may freeze a socket rather than close it), or because the client stops.
   */
  #abandon: ((stalled: boolean) => void) | undefined;
  #ws: WebSocketLike | undefined;
  #online = false;
  #rid = 0;
  readonly #pending = new Map<number, Pending>();
  #onlineWaiters: { resolve(): void; reject(e: SdkError): void }[] = [];
  #fatal: SdkError | undefined;
  #running: Promise<void> | undefined;
  #urgentUntil = 0;
  #urgentTimer: ReturnType<typeof setInterval> | undefined;
  #urgentPinging = false;
  #standby: WebSocketLike | undefined;
  #standbyReady = false;
  /** The rid of the standby's ping in flight. */
  #standbyPing: number | undefined;
  /** When the main socket's urgent ping in flight went out. */
  #mainPingAt: number | undefined;
  /** Ephemerals the standby brought first, until the main socket brings them too. */
  readonly #standbyAhead = new Set<string>();
  readonly #mainSeen = new Set<string>();
  /** The token the last socket said hello with: the standby reuses it. */
  #token: string | undefined;

  constructor(
    server: string | Fronts,
    transport: Transport,
    hooks: ConnectionHooks,
    o: ConnectionOptions = {},
  ) {
    this.#fronts = typeof server === 'string' ? new Fronts(server) : server;
    this.#transport = transport;
    this.#hooks = hooks;
    this.#backoff = new Backoff(o.backoff);
    this.#requestTimeout = o.requestTimeoutMs ?? 30_000;
    // A frozen socket (no error, no close, nothing) is noticed within interval + timeout.
    this.#pingInterval = o.pingIntervalMs ?? 15_000;
    this.#pongTimeout = Math.min(o.pongTimeoutMs ?? 10_000, this.#requestTimeout);
    this.#stallMs = Math.min(o.stallMs ?? 6_000, this.#requestTimeout);
  }

  /** True when the oldest request outlived `stallMs` and the socket has been silent since it went out. */
  #stalled(now: number): boolean {
    for (const p of this.#pending.values())
      if (now - p.sentAt >= this.#stallMs && this.#lastFrameAt < p.sentAt) return true;
    return false;
  }

  get online(): boolean {
    return this.#online;
  }

  get stopped(): boolean {
    return this.#stop.signal.aborted || this.#fatal !== undefined;
  }

  /** Starts the reconnect loop (once); resolves at the first `ready`. */
  start(): Promise<void> {
    if (this.#running === undefined) {
      this.#running = this.#loop();
    }
    return this.whenOnline();
  }

  /**
   * Starts again after SUSPENDED (the operator lifted it). The other fatal errors stay fatal: a
   * revoked session or device, or a protocol the server does not speak, cannot come back.
   */
  resume(): Promise<void> {
    if (this.#fatal?.code === 'SUSPENDED') {
      this.#fatal = undefined;
      this.#backoff.reset();
      this.#running = undefined;
    }
    return this.start();
  }

  /**
   * For the next `ms`, checks the socket twice a second (URGENT_PING_MS): the call manager asks for
   * it while a call rings or connects, when seconds matter and a frozen socket must be left for
   * the next front at once.
   */
  urgent(ms: number): void {
    this.#urgentUntil = Math.max(this.#urgentUntil, Date.now() + ms);
    this.#openStandby();
    if (this.#urgentTimer !== undefined) return;
    const tick = () => {
      if (Date.now() >= this.#urgentUntil || this.stopped) {
        clearInterval(this.#urgentTimer);
        this.#urgentTimer = undefined;
        this.#closeStandby();
        return;
      }
      if (!this.#online) return;
      if (!this.#urgentPinging) {
        this.#urgentPinging = true;
        const at = Date.now();
        this.#mainPingAt = at;
        this.#request((rid) => ({ t: 'ping', rid }), URGENT_PONG_MS)
          .catch(() => {})
          .finally(() => {
            this.#urgentPinging = false;
            if (this.#mainPingAt === at) this.#mainPingAt = undefined;
          });
      }
      this.#pingStandby();
    };
    this.#urgentTimer = setInterval(tick, URGENT_PING_MS);
    (this.#urgentTimer as { unref?: () => void }).unref?.();
    tick();
  }

  /**
   * While urgent, a second socket listens on another front (or, with only one, on a fresh connection
   * to the same): the server pushes a device's items and ephemerals to each of its live sockets, so a
   * call's answer or candidates that went into a socket a censor froze a moment ago arrive through
   * the standby at once, instead of after the freeze is noticed (URGENT_PING_MS + URGENT_PONG_MS)
   * and a reconnect. Receive-only: requests and acks stay on the main socket. The duplicates it makes
   * cost nothing: stored items are skipped by their seen key, and a repeated ephemeral no longer
   * decrypts (its MLS key is used up) and is dropped.
   * Best effort: a standby that fails is not retried until the next urgent().
   */
  #openStandby(): void {
    const token = this.#token;
    if (this.#standby !== undefined || token === undefined || this.stopped) return;
    const front = this.#fronts.next();
    let ws: WebSocketLike;
    try {
      ws = new this.#transport.WebSocket(socketUrl(front));
    } catch {
      return;
    }
    this.#standby = ws;
    // A front that does not even say ready in time is of no help to a call being set up.
    const readyTimer = setTimeout(() => {
      if (this.#standby === ws) this.#closeStandby();
    }, URGENT_PONG_MS);
    (readyTimer as { unref?: () => void }).unref?.();
    ws.onopen = () => {
      try {
        ws.send(JSON.stringify({ t: 'hello', v: PROTOCOL_VERSION, token } satisfies ClientFrame));
      } catch {
        // onclose follows.
      }
    };
    ws.onerror = () => {};
    ws.onmessage = (ev) => {
      if (this.#standby !== ws) return;
      const frame = this.#parse(ev.data);
      if (frame === undefined) return;
      if (frame.t === 'ready') {
        clearTimeout(readyTimer);
        this.#standbyReady = true;
        this.#pingStandby();
      } else if (frame.t === 'pong') {
        if (frame.rid !== this.#standbyPing) return;
        this.#standbyPing = undefined;
        // The main socket's ping went out no later than this one: it has had as long, and more.
        const at = this.#mainPingAt;
        if (at !== undefined) this.#leadCheck(() => this.#mainPingAt === at);
      } else if (frame.t === 'deliver' || frame.t === 'ephemeral' || frame.t === 'synced') {
        this.#standbyPushed(frame);
        this.#hooks.onFrame(frame);
      }
    };
    ws.onclose = () => {
      clearTimeout(readyTimer);
      if (this.#standby === ws) this.#closeStandby();
    };
  }

  #pingStandby(): void {
    const ws = this.#standby;
    if (ws === undefined || !this.#standbyReady || this.#standbyPing !== undefined) return;
    const rid = ++this.#rid;
    this.#standbyPing = rid;
    try {
      ws.send(JSON.stringify({ t: 'ping', rid } satisfies ClientFrame));
    } catch {
      // onclose follows.
    }
  }

  /** Leaves the main socket if `behind()` still holds STANDBY_LEAD_MS from now. */
  #leadCheck(behind: () => boolean): void {
    if (!this.#online) return;
    const main = this.#ws;
    const timer = setTimeout(() => {
      if (this.#ws !== main || !behind()) return;
      this.#standbyAhead.clear();
      this.#abandon?.(true);
    }, STANDBY_LEAD_MS);
    (timer as { unref?: () => void }).unref?.();
  }

  /** See STANDBY_LEAD_MS. */
  #standbyPushed(frame: PushFrame): void {
    if (!this.#online) return;
    const key = pushKey(frame);
    if (key === undefined || this.#mainSeen.has(key) || this.#standbyAhead.has(key)) return;
    this.#standbyAhead.add(key);
    this.#leadCheck(() => this.#standbyAhead.has(key));
  }

  /** The main socket brought `frame`. */
  #mainPushed(frame: PushFrame): void {
    const key = pushKey(frame);
    if (key === undefined) return;
    this.#standbyAhead.delete(key);
    this.#mainSeen.add(key);
    // Insertion order: the oldest keys go first.
    for (const old of this.#mainSeen) {
      if (this.#mainSeen.size <= MAIN_SEEN_MAX) break;
      this.#mainSeen.delete(old);
    }
  }

  #closeStandby(): void {
    const ws = this.#standby;
    this.#standby = undefined;
    this.#standbyReady = false;
    this.#standbyPing = undefined;
    this.#standbyAhead.clear();
    try {
      ws?.close(1000, 'standby done');
    } catch {
      // Closing a socket that never opened can throw; it is dropped either way.
    }
  }

  stop(): void {
    clearInterval(this.#urgentTimer);
    this.#urgentTimer = undefined;
    this.#closeStandby();
    if (this.#stop.signal.aborted) return;
    this.#stop.abort();
    this.#ws?.close(1000, 'client closed');
    this.#abandon?.(false);
    this.#failAll(new SdkError('CLOSED', 'client closed'));
  }

  whenOnline(): Promise<void> {
    if (this.#fatal !== undefined) return Promise.reject(this.#fatal);
    if (this.#stop.signal.aborted) return Promise.reject(new SdkError('CLOSED', 'client closed'));
    if (this.#online) return Promise.resolve();
    return new Promise((resolve, reject) => this.#onlineWaiters.push({ resolve, reject }));
  }

  /** Sends one message; resolves with `ok`, rejects with the wire error (or NETWORK/TIMEOUT). */
  async send(msg: OutgoingMessage): Promise<OkFrame> {
    const frame = await this.#request((rid) => ({ t: 'send', rid, msg }));
    if (frame.t !== 'ok') throw new SdkError('BAD_RESPONSE', `expected ok, got ${frame.t}`);
    return frame;
  }

  /** A round trip: every frame the server sent before the pong has arrived once this resolves. */
  async ping(): Promise<void> {
    await this.#request((rid) => ({ t: 'ping', rid }), this.#pongTimeout);
  }

  ack(ids: number[]): void {
    if (ids.length === 0 || !this.#online) return; // unacknowledged items come again: harmless
    for (let i = 0; i < ids.length; i += 1000) this.#sendFrame({ t: 'ack', ids: ids.slice(i, i + 1000) });
  }

  async #request(make: (rid: number) => ClientFrame, timeoutMs = this.#requestTimeout): Promise<ServerFrame> {
    await this.whenOnline();
    const rid = ++this.#rid;
    return new Promise<ServerFrame>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(rid);
        reject(new SdkError('TIMEOUT', 'no answer from the server'));
        // A socket that stops answering is dead even if TCP has not noticed yet; its closing
        // handshake may never finish either, so it is dropped now rather than on its onclose.
        this.#abandon?.(true);
      }, timeoutMs);
      this.#pending.set(rid, { resolve, reject, timer, sentAt: Date.now() });
      this.#sendFrame(make(rid));
    });
  }

  #sendFrame(frame: ClientFrame): void {
    try {
      this.#ws?.send(JSON.stringify(frame));
    } catch {
      // The close handler fails the pending requests.
    }
  }

  #failAll(e: SdkError): void {
    for (const [rid, p] of this.#pending) {
      clearTimeout(p.timer);
      p.reject(e);
      this.#pending.delete(rid);
    }
    if (this.#fatal !== undefined || this.#stop.signal.aborted) {
      for (const w of this.#onlineWaiters) w.reject(e);
      this.#onlineWaiters = [];
    }
  }

  async #loop(): Promise<void> {
    let refresh = false;
    while (!this.stopped) {
      this.#hooks.onState({ state: 'connecting', attempt: this.#backoff.attempt });
      let front = this.#fronts.current;
      try {
        const token = await this.#hooks.token(refresh);
        refresh = false;
        // Logging in may itself have moved the fronts on.
        front = this.#fronts.current;
        // A socket that stalled after `ready` sends the next attempt to another front.
        if (await this.#session(front, token)) this.#fronts.failed(front);
      } catch (e) {
        const err = SdkError.from(e, 'NETWORK');
        if (err.code === 'NETWORK' || err.code === 'TIMEOUT') this.#fronts.failed(front);
        if (FATAL.has(err.code)) {
          this.#fatal = err;
          this.#online = false;
          this.#failAll(err);
          this.#hooks.onState({ state: 'offline' });
          this.#hooks.onFatal(err);
          return;
        }
        if (err.code === 'UNAUTHORIZED' || err.code === 'CHALLENGE_FAILED') refresh = true;
      }
      if (this.stopped) break;
      this.#hooks.onState({ state: 'offline', attempt: this.#backoff.attempt });
      await sleep(this.#backoff.next(), this.#stop.signal);
    }
    this.#hooks.onState({ state: 'offline' });
  }

  /**
   * One socket's life on `front`: resolves when it closes after `ready` (true: it was dropped as
   * stalled), throws when it fails before.
   */
  #session(front: string, token: string): Promise<boolean> {
    const url = socketUrl(front);
    return new Promise<boolean>((resolve, reject) => {
      let ws: WebSocketLike;
      try {
        ws = new this.#transport.WebSocket(url);
      } catch (cause) {
        reject(new SdkError('NETWORK', 'cannot open WebSocket', { cause }));
        return;
      }
      this.#ws = ws;
      let ready = false;
      let errorCode: SdkError | undefined;
      let pinger: ReturnType<typeof setInterval> | undefined;
      let watchdog: ReturnType<typeof setInterval> | undefined;

      // A server that accepts the socket but never says `ready` must not hang the loop; a front
      // that never even completes the upgrade (frozen by a censor) is given up on sooner.
      let opened = false;
      const openTimer = setTimeout(() => {
        if (!opened) finish(4000, true);
      }, this.#pongTimeout);
      const helloTimer = setTimeout(() => {
        if (!ready) finish(4000, true);
      }, this.#requestTimeout);
      ws.onopen = () => {
        opened = true;
        clearTimeout(openTimer);
        this.#token = token;
        this.#sendFrame({ t: 'hello', v: PROTOCOL_VERSION, token });
      };
      ws.onerror = () => {
        // onclose follows and carries the outcome.
      };
      ws.onmessage = (ev) => {
        if (this.#ws !== ws) return;
        this.#lastFrameAt = Date.now();
        const frame = this.#parse(ev.data);
        if (frame === undefined) return;
        switch (frame.t) {
          case 'ready':
            ready = true;
            clearTimeout(helloTimer);
            this.#online = true;
            this.#backoff.reset();
            this.#hooks.onState({ state: 'online' });
            this.#hooks.onReady(frame);
            for (const w of this.#onlineWaiters) w.resolve();
            this.#onlineWaiters = [];
            pinger = setInterval(() => {
              this.ping().catch(() => {});
            }, this.#pingInterval);
            watchdog = setInterval(
              () => {
                if (this.#stalled(Date.now())) finish(4000, true);
              },
              Math.min(WATCHDOG_MS, this.#stallMs),
            );
            return;
          case 'ok':
          case 'pong':
            this.#answer(frame.rid, frame);
            return;
          case 'error': {
            const err = new SdkError(
              frame.code,
              frame.message,
              frame.details ? { details: frame.details } : undefined,
            );
            if (frame.rid !== undefined && this.#pending.has(frame.rid)) {
              this.#answerError(frame.rid, err);
            } else if (!ready || FATAL.has(err.code) || err.code === 'UNAUTHORIZED') {
              errorCode = err;
            } else {
              this.#hooks.onProtocolError(err);
            }
            return;
          }
          default:
            this.#mainPushed(frame);
            this.#hooks.onFrame(frame);
        }
      };
      const finish = (code: number, stalled: boolean) => {
        if (this.#ws !== ws) return;
        if (stalled) {
          try {
            ws.close(4000, 'stalled');
          } catch {
            // Closing a socket that never opened can throw; it is dropped either way.
          }
        }
        this.#ws = undefined;
        this.#abandon = undefined;
        this.#online = false;
        this.#standbyAhead.clear();
        this.#mainSeen.clear();
        clearInterval(pinger);
        clearInterval(watchdog);
        clearTimeout(helloTimer);
        clearTimeout(openTimer);
        this.#failAll(new SdkError('NETWORK', `connection closed (${stalled ? 'stalled' : code})`));
        if (errorCode !== undefined) reject(errorCode);
        else if (code === CLOSE_SESSION_REVOKED) reject(new SdkError('SESSION_REVOKED', 'session revoked'));
        else if (code === CLOSE_UNAUTHORIZED) reject(new SdkError('UNAUTHORIZED', 'token refused'));
        else if (!ready) reject(new SdkError('NETWORK', `connection closed before ready (${code})`));
        else resolve(stalled);
      };
      this.#abandon = (stalled) => finish(stalled ? 4000 : 1000, stalled);
      ws.onclose = (ev) => finish(ev.code, false);
    });
  }

  #parse(data: unknown): ServerFrame | undefined {
    if (typeof data !== 'string') {
      this.#hooks.onProtocolError(new SdkError('BAD_RESPONSE', 'non-text WebSocket frame'));
      return undefined;
    }
    let value: unknown;
    try {
      value = JSON.parse(data);
    } catch {
      this.#hooks.onProtocolError(new SdkError('BAD_RESPONSE', 'WebSocket frame is not JSON'));
      return undefined;
    }
    const r = ServerFrame.safeParse(value);
    if (!r.success) {
      this.#hooks.onProtocolError(new SdkError('BAD_RESPONSE', `bad frame: ${r.error.message}`));
      return undefined;
    }
    return r.data;
  }

  #answer(rid: number, frame: ServerFrame): void {
    const p = this.#pending.get(rid);
    if (p === undefined) return;
    this.#pending.delete(rid);
    clearTimeout(p.timer);
    p.resolve(frame);
  }

  #answerError(rid: number, e: SdkError): void {
    const p = this.#pending.get(rid);
    if (p === undefined) return;
    this.#pending.delete(rid);
    clearTimeout(p.timer);
    p.reject(e);
  }
}

/**
 * What identifies a push on either socket. Only ephemerals: the server hands each one to every
 * live socket of the device at the same moment, while stored items go out under each socket's own
 * flow-control window (a fresh standby may well be ahead of a busy main socket in a backlog).
 */
function pushKey(frame: PushFrame): string | undefined {
  return frame.t === 'ephemeral' ? `${frame.item.sender.deviceId}/${frame.item.msgId}` : undefined;
}

/** The WebSocket endpoint of a front (`https://host` -> `wss://host/v1/ws`). */
function socketUrl(front: string): string {
  return `${front.replace(/^http/, 'ws').replace(/\/+$/, '')}/v1/ws`;
}
