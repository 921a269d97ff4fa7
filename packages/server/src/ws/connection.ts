import { Socket } from 'node:net';
import {
  ClientFrame,
  CloseCode,
  type EphemeralItem,
  ErrorCode,
  Limits,
  type MailboxItem,
  PROTOCOL_VERSION,
  parseUnknown,
  type ServerFrame,
} from '@kolokol/protocol';
import WebSocket, { type RawData } from 'ws';
import { type Auth, authenticateToken } from '../auth.ts';
import type { BusMessage } from '../bus.ts';
import type { Context } from '../context.ts';
import { sha256Hex } from '../crypto.ts';
import { ServerError } from '../errors.ts';
import { toWire } from '../http/errors.ts';
import { suspendedError } from '../moderation/service.ts';
import type { SendResult } from '../storage/store.ts';

/** Where a socket keeps its Connection, for the listeners shared by all connections. */
const CONNECTION = Symbol('kolokol.connection');

/** The socket listeners shared by all connections; set by Connection's static block. */
let wsClose: (this: unknown) => void;
let wsError: (this: unknown, err: Error) => void;
let wsPong: (this: unknown) => void;
let wsMessage: (this: unknown, data: RawData, isBinary: boolean) => void;

/** A client sending this many malformed frames is broken or hostile: close it. */
export const MAX_BAD_FRAMES = 20;
/** Leave room for the frame's own JSON around the items. */
const DELIVER_FRAME_BUDGET = Limits.maxFrameBytes - 16 * 1024;
/** After asking a socket to close, wait this long for the peer before cutting it. */
const CLOSE_GRACE_MS = 2000;
/** Room for an item's JSON besides its body (ids, sender, base64 growth is added separately). */
const ITEM_OVERHEAD = 512;
const encodedSize = (bodyBytes: number) => Math.ceil((bodyBytes * 4) / 3) + ITEM_OVERHEAD;
/** A pump that failed (database unreachable, e.g. restarting) tries again after this long. */
const PUMP_RETRY_MS = 1000;
/** RFC 6455 "internal error": the server could not check the session; the client retries. */
const CLOSE_INTERNAL_ERROR = 1011;

type State = 'hello' | 'ready' | 'closing';

/**
 * One WebSocket connection of one device.
 *
 * Frames are handled one at a time in arrival order (a promise chain), so a client's sends are
 * stored in the order it sent them and shutdown can wait for the frame in progress.
 *
 * Delivery: the connection keeps the mailbox ids it pushed and that are not acknowledged yet (at
 * most Limits.maxInFlight items and tuning.maxInFlightBytes of bodies). Each pump reads the ids
 * and sizes of the first Limits.maxInFlight rows of the device's mailbox in id order, picks those
 * it has not pushed that fit the window, and only then loads their bodies, one frame at a time,
 * stopping as soon as the socket's buffer passes tuning.sendBufferSoftBytes. So what a device
 * that does not read costs us is bounded by the window and the buffer, not by its mailbox. It never keeps a cursor: on
 * PostgreSQL a lower mailbox id can commit after a higher one (two groups' sends racing), and a
 * cursor would skip it. Re-reading from the start finds such late rows; the rows it finds also tell
 * which in-flight ids are gone (acknowledged through another connection of the same device), which
 * keeps the window from leaking. A group's items are never reordered: its sends hold the group
 * row's lock until they commit, so their mailbox ids commit in seq order.
 */
export class Connection {
  readonly #ctx: Context;
  readonly #ws: WebSocket;
  #state: State = 'hello';
  #auth: Auth | undefined;
  #queue: Promise<void> = Promise.resolve();
  /** Frames in #queue that did not start at arrival (see #onMessage). */
  #serialQueued = 0;
  #badFrames = 0;
  /** Mailbox id -> body bytes, for the items pushed and not acknowledged. */
  readonly #inflight = new Map<number, number>();
  #inflightBytes = 0;
  /** Incoming frames received and not handled yet, and their bytes: reading pauses above a bound. */
  #pendingFrames = 0;
  #pendingBytes = 0;
  #readPaused = false;
  /** The client IP while the socket has not authenticated (counted in ctx.connections). */
  #unauthenticatedIp: string | undefined;
  /** Counted in ctx.connections under this device. */
  #registered = false;
  #pumping: Promise<void> | undefined;
  /** `synced` was sent and nothing new has been pushed since. */
  #syncedSent = false;
  #pumpAgain = false;
  /**
   * The last pump pass left rows unpushed for lack of window (items, bytes, or more rows than it
   * reads at once): an ack that frees window must pump again. Otherwise there is nothing an ack
   * could unblock, and new rows come with their own nudge.
   */
  #windowLimited = false;
  /** The pump stopped because the socket's buffer was full; the next write callback restarts it. */
  #pausedForBuffer = false;
  #alive = true;
  #corked = false;
  #unsubscribe: (() => void) | undefined;
  #helloTimer: NodeJS.Timeout | undefined;
  #slowTimer: NodeJS.Timeout | undefined;
  #retryTimer: NodeJS.Timeout | undefined;
  #expiryTimer: NodeJS.Timeout | undefined;
  /** Bus messages that arrived while `hello` was authenticating (a revocation racing it). */
  #early: BusMessage[] = [];
  /** Counted in ctx.presence (from `ready` until close). */
  #present = false;
  readonly closed: Promise<void>;
  readonly #resolveClosed: () => void;

  constructor(ctx: Context, ws: WebSocket, ip = '') {
    this.#ctx = ctx;
    this.#ws = ws;
    this.#unauthenticatedIp = ip;
    ctx.connections.addUnauthenticated(ip);
    ctx.metrics.sockets.inc();
    let closed: () => void = () => {};
    this.closed = new Promise((resolve) => {
      closed = resolve;
    });
    this.#resolveClosed = closed;
    // The socket's listeners are functions shared by all connections, which find theirs on the
    // socket: a closure (and its context) per listener and connection cost about half a KB of
    // every idle connection's memory.
    Reflect.set(ws, CONNECTION, this);
    ws.once('close', wsClose);
    ws.on('error', wsError);
    ws.on('pong', wsPong);
    ws.on('message', wsMessage);
    this.#helloTimer = setTimeout(Connection.#helloTimeout, ctx.config.tuning.helloTimeoutMs, this);
  }

  static {
    // Functions of this class's body, so that they may reach its private members.
    const of = (ws: unknown): Connection | undefined => {
      const c: unknown = typeof ws === 'object' && ws !== null ? Reflect.get(ws, CONNECTION) : undefined;
      return c instanceof Connection ? c : undefined;
    };
    wsClose = function (this: unknown): void {
      const c = of(this);
      if (c === undefined) return;
      c.#cleanup();
      c.#resolveClosed();
    };
    wsError = function (this: unknown, err: Error): void {
      const c = of(this);
      if (c !== undefined) c.#ctx.log.debug({ err: err.message }, 'websocket error');
    };
    wsPong = function (this: unknown): void {
      const c = of(this);
      if (c !== undefined) c.#alive = true;
    };
    wsMessage = function (this: unknown, data: RawData, isBinary: boolean): void {
      const c = of(this);
      if (c !== undefined) c.#onMessage(data, isBinary);
    };
  }

  static #rearmExpiry(c: Connection, expiresAt: number): void {
    c.#armExpiry(expiresAt);
  }

  static #helloTimeout(c: Connection): void {
    c.#helloTimer = undefined;
    if (c.#state === 'hello') c.close(CloseCode.HelloTimeout, 'hello timeout', 'hello-timeout');
  }

  get deviceId(): string | undefined {
    return this.#auth?.deviceId;
  }

  /** Called by the server's keepalive timer: a peer that missed the last ping is cut off. */
  keepalive(): void {
    if (!this.#alive) {
      this.#ctx.metrics.closes.inc({ reason: 'dead' });
      this.#ws.terminate();
      return;
    }
    this.#alive = false;
    if (this.#ws.readyState === WebSocket.OPEN) this.#ws.ping();
  }

  /** Graceful shutdown: take no more frames, finish the one in progress, then close. */
  async shutdown(): Promise<void> {
    if (this.#state === 'closing') return this.closed;
    this.#state = 'closing';
    await this.#queue;
    this.close(CloseCode.ServerShutdown, 'server shutting down', 'shutdown');
    return this.closed;
  }

  close(code: number, reason: string, metric: string): void {
    this.#state = 'closing';
    if (this.#ws.readyState === WebSocket.CLOSED) return;
    this.#ctx.metrics.closes.inc({ reason: metric });
    this.#ws.close(code, reason);
    // A peer that does not read would never see our close frame behind its unread data.
    setTimeout(() => this.#ws.terminate(), CLOSE_GRACE_MS).unref();
  }

  #cleanup(): void {
    this.#state = 'closing';
    this.#ctx.metrics.sockets.dec();
    this.#authenticated();
    if (this.#registered && this.#auth !== undefined)
      this.#ctx.connections.removeDevice(this.#auth.deviceId, this);
    this.#registered = false;
    this.#unsubscribe?.();
    if (this.#present && this.#auth !== undefined) this.#ctx.presence.remove(this.#auth.deviceId);
    this.#present = false;
    clearTimeout(this.#helloTimer);
    clearTimeout(this.#slowTimer);
    clearTimeout(this.#retryTimer);
    clearTimeout(this.#expiryTimer);
  }

  /** The socket left the unauthenticated count (hello finished, either way, or it closed). */
  #authenticated(): void {
    if (this.#unauthenticatedIp === undefined) return;
    this.#ctx.connections.removeUnauthenticated(this.#unauthenticatedIp);
    this.#unauthenticatedIp = undefined;
  }

  #onMessage(data: RawData, isBinary: boolean): void {
    if (this.#state === 'closing') return;
    const text = isBinary ? undefined : rawText(data);
    const size = text?.length ?? 0;
    this.#pendingFrames++;
    this.#pendingBytes += size;
    const { maxPendingFrames, maxPendingBytes } = this.#ctx.config.tuning;
    // `ws` keeps reading as fast as the peer writes; a client that sends faster than we store must
    // wait in its own buffers (TCP backpressure), not in our memory.
    if (
      !this.#readPaused &&
      (this.#pendingFrames >= maxPendingFrames || this.#pendingBytes >= maxPendingBytes)
    ) {
      this.#readPaused = true;
      this.#ctx.metrics.readPauses.inc();
      this.#ws.pause();
    }
    const settled = () => {
      this.#pendingFrames--;
      this.#pendingBytes -= size;
      if (
        this.#readPaused &&
        this.#pendingFrames <= maxPendingFrames / 2 &&
        this.#pendingBytes <= maxPendingBytes / 2
      ) {
        this.#readPaused = false;
        this.#ws.resume();
      }
    };
    const parsed = parseFrame(text);
    const started = this.#startNow(parsed);
    if (started !== undefined) {
      // Its store write is queued now, behind those of the frames before it, so it shares their
      // group commit instead of waiting for it; its answer still goes out after theirs.
      const outcome = started.then(
        (finish) => ({ finish, err: undefined }),
        (err: unknown) => ({ finish: undefined, err }),
      );
      this.#queue = this.#queue
        .then(() => outcome)
        .then((o) => {
          if (o.finish !== undefined) o.finish();
          else this.#fail(parsed.rid, o.err);
        })
        .catch((err: unknown) => this.#fail(undefined, err))
        .finally(settled);
      return;
    }
    this.#serialQueued++;
    this.#queue = this.#queue
      .then(() => this.#handle(parsed))
      .catch((err: unknown) => this.#fail(undefined, err))
      .finally(() => {
        this.#serialQueued--;
        settled();
      });
  }

  /**
   * Frames are handled in arrival order, one after the other, except sends (not commits, not
   * ephemeral) and acks on a store that keeps the order of writes queued together (SQLite's group
   * commit, Store.pipelined): those start at once when nothing else is waiting before them, and the
   * returned function, which answers, runs in arrival order once they are committed. A client that
   * sends many messages then has them all in one transaction rather than one per transaction
   * round, and its messages are still stored in the order it sent them.
   */
  #startNow(parsed: ParsedFrame): Promise<() => void> | undefined {
    const auth = this.#auth;
    if (
      parsed.frame === undefined ||
      this.#serialQueued > 0 ||
      this.#state !== 'ready' ||
      auth === undefined ||
      !this.#ctx.store.pipelined
    ) {
      return undefined;
    }
    const frame = parsed.frame;
    if (frame.t === 'ack') {
      return this.#ctx.store.ack(auth.deviceId, frame.ids).then((n) => () => this.#acked(frame.ids, n));
    }
    if (frame.t === 'send' && frame.msg.ephemeral !== true && frame.msg.kind !== 'commit') {
      try {
        const now = Date.now();
        const tag = this.#ctx.moderation.tagFor(auth.userId, frame.msg, now);
        return this.#ctx.store.send(auth, frame.msg, now, tag).then((r) => () => this.#sent(frame, auth, r));
      } catch (err) {
        return Promise.reject(err);
      }
    }
    return undefined;
  }

  /** After an ack has been committed. */
  #acked(ids: readonly number[], n: number): void {
    for (const id of ids) this.#forget(id);
    this.#ctx.metrics.acked.inc(n);
    // A pass that is running decides on its window after this (the forget above is seen), or
    // has decided already and then set #windowLimited.
    if (this.#windowLimited) this.pump();
  }

  /** After a send has been committed (or found stored already). */
  #sent(frame: Extract<ClientFrame, { t: 'send' }>, auth: Auth, r: SendResult): void {
    // A retry of a stored send: the node that stored it may have died before it nudged the
    // recipients (a cluster node killed mid-send), so nudge them again; no second push.
    if (r.duplicate) this.#nudgeMembers(frame.msg.groupId, auth.deviceId);
    else {
      this.#ctx.metrics.accepted.inc({ kind: frame.msg.kind });
      for (const d of new Set(r.recipients)) {
        this.#ctx.bus.publish(d, { type: 'mailbox' });
        // A device with no live socket here gets a content-free wake-up (coalesced), or a
        // ring / missed-call push when the sender hinted one.
        this.#ctx.push?.notify(d, frame.msg.kind === 'application' ? (frame.msg.push ?? 'wake') : 'wake');
      }
    }
    this.#send({ t: 'ok', rid: frame.rid, msgId: r.msgId, seq: r.seq, epoch: r.epoch });
  }

  async #handle(parsed: ParsedFrame): Promise<void> {
    if (this.#state === 'closing') return;
    const rid = parsed.rid;
    try {
      if (parsed.frame === undefined) throw parsed.error;
      const frame = parsed.frame;
      if (this.#state === 'hello') {
        if (frame.t !== 'hello') {
          this.#sendError(rid, new ServerError(ErrorCode.BadRequest, 'the first frame must be hello'));
          this.close(CloseCode.ProtocolError, 'expected hello', 'protocol');
          return;
        }
        await this.#hello(frame.v, frame.token);
        return;
      }
      const auth = this.#auth;
      if (auth === undefined) return;
      switch (frame.t) {
        case 'hello':
          throw new ServerError(ErrorCode.BadRequest, 'already said hello');
        case 'ping':
          // A pong follows a full pump pass, so every row committed before the ping was pushed
          // (window permitting) before it: clients use ping + `synced` to know they caught up.
          await this.#pumpSettled();
          this.#send({ t: 'pong', rid: frame.rid });
          return;
        case 'ack': {
          this.#acked(frame.ids, await this.#ctx.store.ack(auth.deviceId, frame.ids));
          return;
        }
        case 'send': {
          if (frame.msg.ephemeral === true) {
            const epoch = await this.#ephemeral(auth, frame.msg);
            this.#send({ t: 'ok', rid: frame.rid, msgId: frame.msg.msgId, seq: 0, epoch });
            return;
          }
          const now = Date.now();
          const r = await this.#ctx.store.send(
            auth,
            frame.msg,
            now,
            this.#ctx.moderation.tagFor(auth.userId, frame.msg, now),
          );
          this.#sent(frame, auth, r);
          return;
        }
      }
    } catch (err) {
      this.#fail(rid, err);
    }
  }

  /** Best effort: the bus may repeat nudges, and connections re-read their mailbox anyway. */
  #nudgeMembers(groupId: string, self: string): void {
    this.#ctx.store
      .group(groupId)
      .then((g) => {
        for (const m of g?.members ?? []) {
          if (m.deviceId !== self) this.#ctx.bus.publish(m.deviceId, { type: 'mailbox' });
        }
      })
      .catch((err: unknown) => this.#ctx.log.warn({ err }, 'nudge after a repeated send failed'));
  }

  /**
   * Ephemeral application messages (typing): checked like a send, then handed to the bus for the
   * member devices' live sockets. No transaction, no mailbox row, no seq; returns the group epoch.
   */
  async #ephemeral(auth: Auth, msg: Extract<ClientFrame, { t: 'send' }>['msg']): Promise<number> {
    if (
      msg.kind !== 'application' ||
      msg.adds !== undefined ||
      msg.removes !== undefined ||
      msg.welcome !== undefined
    ) {
      throw new ServerError(ErrorCode.BadRequest, 'only application messages can be ephemeral');
    }
    const g = await this.#ctx.store.group(msg.groupId);
    if (g === undefined) throw new ServerError(ErrorCode.NotFound, 'unknown group');
    if (!g.members.some((m) => m.deviceId === auth.deviceId)) {
      throw new ServerError(ErrorCode.NotGroupMember, 'this device is not a member of the group');
    }
    if (msg.epoch > g.epoch) {
      throw new ServerError(ErrorCode.BadRequest, `the group is at epoch ${g.epoch}, not ${msg.epoch}`, {
        details: { epoch: g.epoch },
      });
    }
    const item: EphemeralItem = {
      msgId: msg.msgId,
      groupId: msg.groupId,
      epoch: msg.epoch,
      body: msg.body,
      sender: { userId: auth.userId, deviceId: auth.deviceId },
      sentAt: Date.now(),
    };
    for (const m of g.members) {
      if (m.deviceId !== auth.deviceId) this.#ctx.bus.publish(m.deviceId, { type: 'ephemeral', item });
    }
    this.#ctx.metrics.accepted.inc({ kind: 'ephemeral' });
    return g.epoch;
  }

  #fail(rid: number | undefined, err: unknown): void {
    const wire = toWire(err);
    if (wire.internal) this.#ctx.log.error({ err }, 'websocket frame failed');
    this.#sendError(rid, err);
    if (wire.body.error.code === ErrorCode.BadRequest && ++this.#badFrames >= MAX_BAD_FRAMES) {
      this.close(CloseCode.ProtocolError, 'too many bad frames', 'protocol');
    }
  }

  #sendError(rid: number | undefined, err: unknown): void {
    const { body } = toWire(err);
    const frame: ServerFrame = { t: 'error', code: body.error.code, message: body.error.message };
    if (rid !== undefined) frame.rid = rid;
    if (body.error.details !== undefined) frame.details = body.error.details;
    this.#send(frame);
  }

  async #hello(v: number, token: string): Promise<void> {
    clearTimeout(this.#helloTimer);
    // A cleared timer still holds its memory while referenced.
    this.#helloTimer = undefined;
    if (v !== PROTOCOL_VERSION) {
      this.#sendError(
        undefined,
        new ServerError(ErrorCode.UnsupportedVersion, `this server speaks protocol ${PROTOCOL_VERSION}`, {
          details: { supported: [PROTOCOL_VERSION] },
        }),
      );
      this.close(CloseCode.ProtocolError, 'unsupported version', 'version');
      return;
    }
    // Subscribe before checking the session: a revocation published while we check is then
    // buffered and seen below, instead of falling into the gap between check and subscribe.
    const session = await this.#ctx.store.sessionByTokenHash(sha256Hex(token)).catch(() => undefined);
    if (session !== undefined && this.#state === 'hello') {
      this.#unsubscribe = this.#ctx.bus.subscribe(session.deviceId, (m) => {
        if (this.#state === 'hello') this.#early.push(m);
        else this.#onBus(m);
      });
    }
    let auth: Auth;
    try {
      auth = await authenticateToken(this.#ctx, token);
    } catch (err) {
      this.#sendError(undefined, err);
      const code = err instanceof ServerError ? err.code : undefined;
      const revoked = code === ErrorCode.SessionRevoked || code === ErrorCode.DeviceRevoked;
      if (revoked || code === ErrorCode.Unauthorized) {
        this.close(
          revoked ? CloseCode.SessionRevoked : CloseCode.Unauthorized,
          'unauthorized',
          'unauthorized',
        );
      } else {
        // Not a verdict on the token (the database did not answer): the client must come back.
        this.close(CLOSE_INTERNAL_ERROR, 'try again', 'internal');
      }
      return;
    }
    if (this.#state !== 'hello') return;
    this.#authenticated();
    const revoked = this.#early.some(
      (m) => m.type === 'device-revoked' || (m.type === 'session-revoked' && m.sessionId === auth.sessionId),
    );
    this.#early = [];
    if (revoked || session?.deviceId !== auth.deviceId) {
      this.#sendError(undefined, new ServerError(ErrorCode.SessionRevoked, 'this session has been revoked'));
      this.close(CloseCode.SessionRevoked, 'revoked', 'revoked');
      return;
    }
    this.#auth = auth;
    this.#state = 'ready';
    this.#registered = true;
    const { maxConnectionsPerDevice } = this.#ctx.config.tuning;
    for (const old of this.#ctx.connections.addDevice(auth.deviceId, this, maxConnectionsPerDevice)) {
      old.close(
        CloseCode.TooManyConnections,
        `too many connections for this device (at most ${maxConnectionsPerDevice})`,
        'too-many-connections',
      );
    }
    this.#armExpiry(auth.expiresAt);
    this.#ctx.presence.add(auth.deviceId);
    this.#present = true;
    this.#send({
      t: 'ready',
      v: PROTOCOL_VERSION,
      userId: auth.userId,
      deviceId: auth.deviceId,
      sessionId: auth.sessionId,
      serverTime: Date.now(),
    });
    const count = await this.#ctx.store.keyPackageCount(auth.deviceId);
    if (count.oneTime < this.#ctx.config.keyPackageLowWatermark) {
      this.#send({ t: 'event', event: { type: 'keypackages-low', remaining: count.oneTime } });
    }
    this.pump();
  }

  /** The session ends at `expiresAt` for this socket too (setTimeout cannot wait more than ~24 days). */
  #armExpiry(expiresAt: number): void {
    const left = expiresAt - Date.now();
    if (left <= 0) {
      this.close(CloseCode.Unauthorized, 'session expired', 'expired');
      return;
    }
    this.#expiryTimer = setTimeout(Connection.#rearmExpiry, Math.min(left, 2 ** 31 - 1), this, expiresAt);
    this.#expiryTimer.unref();
  }

  #onBus(m: BusMessage): void {
    if (this.#state !== 'ready') return;
    switch (m.type) {
      case 'mailbox':
        this.pump();
        return;
      case 'event':
        this.#send({ t: 'event', event: m.event });
        return;
      case 'session-revoked':
        if (m.sessionId === this.#auth?.sessionId)
          this.close(CloseCode.SessionRevoked, 'session revoked', 'revoked');
        return;
      case 'device-revoked':
        this.close(CloseCode.SessionRevoked, 'device revoked', 'revoked');
        return;
      case 'suspended':
        if (m.sessionId === this.#auth?.sessionId) {
          this.#sendError(undefined, suspendedError(m.reason, m.at));
          this.close(CloseCode.SessionRevoked, 'suspended', 'revoked');
        }
        return;
      case 'ephemeral':
        this.#send({ t: 'ephemeral', item: m.item });
        return;
    }
  }

  /** Pushes what the window allows; concurrent calls fold into one more round. */
  pump(): void {
    void this.#pumpSettled();
  }

  /** Resolves when a pump pass that started after this call has finished. */
  #pumpSettled(): Promise<void> {
    if (this.#pumping !== undefined) {
      this.#pumpAgain = true;
      // The running loop takes the request if it has not finished its last round yet; if it has,
      // the flag is still set when it settles and a new pass starts.
      return this.#pumping.then(() => (this.#pumpAgain ? this.#pumpSettled() : undefined));
    }
    const run = this.#pumpLoop()
      .catch((err: unknown) => {
        this.#ctx.log.error({ err }, 'mailbox pump failed');
        // Nothing else may nudge this device for a while (the periodic rescan is a safety net).
        clearTimeout(this.#retryTimer);
        this.#retryTimer = setTimeout(() => this.pump(), PUMP_RETRY_MS);
        this.#retryTimer.unref();
      })
      .finally(() => {
        this.#pumping = undefined;
      });
    this.#pumping = run;
    return run;
  }

  #forget(id: number): void {
    const size = this.#inflight.get(id);
    if (size === undefined) return;
    this.#inflight.delete(id);
    this.#inflightBytes -= size;
  }

  #overBuffer(): boolean {
    return this.#ws.bufferedAmount > this.#ctx.config.tuning.sendBufferSoftBytes;
  }

  async #pumpLoop(): Promise<void> {
    const { maxInFlightBytes } = this.#ctx.config.tuning;
    do {
      this.#pumpAgain = false;
      const auth = this.#auth;
      if (this.#state !== 'ready' || auth === undefined) return;
      if (this.#overBuffer()) {
        this.#pausedForBuffer = true;
        return;
      }
      // In-flight ids plus the free window is never more than the window itself.
      const limit = Limits.maxInFlight;
      const index = await this.#ctx.store.mailboxIndex(auth.deviceId, limit);
      if (this.#state !== 'ready') return;
      const present = new Set(index.map((r) => r.id));
      const complete = index.length < limit;
      const lastId = index.at(-1)?.id ?? 0;
      for (const id of [...this.#inflight.keys()]) {
        if (!present.has(id) && (complete || id < lastId)) this.#forget(id);
      }
      const fresh: { id: number; size: number }[] = [];
      let items = this.#inflight.size;
      let bytes = this.#inflightBytes;
      let limited = !complete;
      for (const r of index) {
        if (this.#inflight.has(r.id)) continue;
        // One item larger than the byte window still goes out alone, or it would never go.
        if (items >= Limits.maxInFlight || (items > 0 && bytes + r.size > maxInFlightBytes)) {
          limited = true;
          break;
        }
        fresh.push(r);
        items++;
        bytes += r.size;
      }
      this.#windowLimited = limited;
      if (fresh.length === 0) {
        this.#maybeSynced(complete, index);
        continue;
      }
      this.#syncedSent = false;
      let sent = 0;
      let next = 0;
      while (next < fresh.length) {
        // One frame's worth of bodies at a time.
        const ids: number[] = [];
        let frameBytes = 0;
        for (; next < fresh.length; next++) {
          const r = fresh[next];
          if (r === undefined) break;
          const size = encodedSize(r.size);
          if (ids.length > 0 && frameBytes + size > DELIVER_FRAME_BUDGET) break;
          ids.push(r.id);
          frameBytes += size;
        }
        // Rows acknowledged meanwhile through another connection of the device are simply gone.
        const rows = await this.#ctx.store.mailboxItems(auth.deviceId, ids);
        if (this.#state !== 'ready') return;
        const batch: MailboxItem[] = [];
        for (const r of rows) {
          if (this.#inflight.has(r.id)) continue;
          this.#inflight.set(r.id, r.body.length);
          this.#inflightBytes += r.body.length;
          batch.push({ ...r, body: base64url(r.body) });
        }
        if (batch.length > 0) this.#send({ t: 'deliver', items: batch });
        sent += batch.length;
        if (this.#overBuffer()) {
          // The write callbacks restart the pump once the peer has read enough.
          this.#pausedForBuffer = true;
          break;
        }
      }
      this.#ctx.metrics.delivered.inc(sent);
      if (this.#pausedForBuffer) return;
      this.#maybeSynced(complete, index);
    } while (this.#pumpAgain);
  }

  /**
   * Says `synced` once each time the device has been sent everything its mailbox holds, so a client
   * knows it is caught up (the CLI syncs before it acts) without guessing from silence.
   */
  #maybeSynced(complete: boolean, rows: readonly { id: number }[]): void {
    if (this.#syncedSent || !complete) return;
    if (!rows.every((r) => this.#inflight.has(r.id))) return;
    this.#syncedSent = true;
    this.#send({ t: 'synced' });
  }

  #send(frame: ServerFrame): void {
    if (this.#ws.readyState !== WebSocket.OPEN) return;
    this.#cork();
    this.#ws.send(JSON.stringify(frame), () => this.#onWritten());
    this.#watchBuffer();
  }

  /**
   * Holds this socket's writes until the current callbacks and promise continuations have run, so
   * that the frames they send it (an `ok` and a `deliver`, a `deliver` and `synced`) leave in one
   * write system call instead of one each; `ws` corks only around a single frame. `_socket` is
   * not public API of `ws`: where it is not a net.Socket, frames go out one by one as before.
   */
  #cork(): void {
    if (this.#corked) return;
    const socket: unknown = Reflect.get(this.#ws, '_socket');
    if (!(socket instanceof Socket)) return;
    this.#corked = true;
    socket.cork();
    process.nextTick(() => {
      this.#corked = false;
      socket.uncork();
    });
  }

  /** A client that stops reading keeps our buffer full; give it slowClientMs, then let it go. */
  #watchBuffer(): void {
    const { sendBufferSoftBytes, slowClientMs } = this.#ctx.config.tuning;
    if (this.#ws.bufferedAmount <= sendBufferSoftBytes || this.#slowTimer !== undefined) return;
    this.#slowTimer = setTimeout(() => {
      this.#slowTimer = undefined;
      if (this.#ws.bufferedAmount > sendBufferSoftBytes)
        this.close(CloseCode.TooSlow, 'too slow', 'too-slow');
    }, slowClientMs);
  }

  #onWritten(): void {
    if (this.#ws.bufferedAmount > this.#ctx.config.tuning.sendBufferSoftBytes) return;
    if (this.#slowTimer !== undefined) {
      clearTimeout(this.#slowTimer);
      this.#slowTimer = undefined;
    }
    if (this.#pausedForBuffer) {
      this.#pausedForBuffer = false;
      this.pump();
    }
  }
}

/**
 * toB64 of @kolokol/protocol, by Node's native encoder: the same unpadded base64url, several times
 * faster on every body the server delivers (the protocol package cannot use Buffer).
 */
function base64url(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64url');
}

function rawText(data: RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  if (data instanceof ArrayBuffer) return Buffer.from(data).toString('utf8');
  return data.toString('utf8');
}

interface ParsedFrame {
  frame: ClientFrame | undefined;
  /** Why `frame` is undefined. */
  error: unknown;
  rid: number | undefined;
}

function parseFrame(text: string | undefined): ParsedFrame {
  if (text === undefined) {
    return {
      frame: undefined,
      error: new ServerError(ErrorCode.BadRequest, 'frames are JSON text'),
      rid: undefined,
    };
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (cause) {
    return {
      frame: undefined,
      error: new ServerError(ErrorCode.BadRequest, 'invalid frame: not JSON', { cause }),
      rid: undefined,
    };
  }
  const rid = peekRid(value);
  try {
    return { frame: parseUnknown(ClientFrame, value, 'frame'), error: undefined, rid };
  } catch (error) {
    return { frame: undefined, error, rid };
  }
}

/** Best effort: the rid of a frame that fails to parse, so that the error can still be matched. */
function peekRid(v: unknown): number | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const rid: unknown = Reflect.get(v, 'rid');
  return typeof rid === 'number' && Number.isSafeInteger(rid) && rid >= 0 ? rid : undefined;
}
