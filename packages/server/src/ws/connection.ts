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
  toB64,
} from '@kolokol/protocol';
import WebSocket, { type RawData } from 'ws';
import { type Auth, authenticateToken } from '../auth.ts';
import type { BusMessage } from '../bus.ts';
import type { Context } from '../context.ts';
import { sha256Hex } from '../crypto.ts';
import { ServerError } from '../errors.ts';
import { toWire } from '../http/errors.ts';

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
  /** The pump stopped because the socket's buffer was full; the next write callback restarts it. */
  #pausedForBuffer = false;
  #alive = true;
  #unsubscribe: (() => void) | undefined;
  #helloTimer: NodeJS.Timeout | undefined;
  #slowTimer: NodeJS.Timeout | undefined;
  #rescanTimer: NodeJS.Timeout | undefined;
  #retryTimer: NodeJS.Timeout | undefined;
  #expiryTimer: NodeJS.Timeout | undefined;
  /** Bus messages that arrived while `hello` was authenticating (a revocation racing it). */
  #early: BusMessage[] = [];
  /** Counted in ctx.presence (from `ready` until close). */
  #present = false;
  readonly closed: Promise<void>;

  constructor(ctx: Context, ws: WebSocket, ip = '') {
    this.#ctx = ctx;
    this.#ws = ws;
    this.#unauthenticatedIp = ip;
    ctx.connections.addUnauthenticated(ip);
    ctx.metrics.sockets.inc();
    this.closed = new Promise((resolve) => {
      ws.once('close', () => {
        this.#cleanup();
        resolve();
      });
    });
    ws.on('error', (err) => ctx.log.debug({ err: err.message }, 'websocket error'));
    ws.on('pong', () => {
      this.#alive = true;
    });
    ws.on('message', (data, isBinary) => this.#onMessage(data, isBinary));
    this.#helloTimer = setTimeout(() => {
      if (this.#state === 'hello') this.close(CloseCode.HelloTimeout, 'hello timeout', 'hello-timeout');
    }, ctx.config.tuning.helloTimeoutMs);
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
    clearInterval(this.#rescanTimer);
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
    this.#queue = this.#queue
      .then(() => this.#handle(text))
      .catch((err: unknown) => this.#fail(undefined, err))
      .finally(() => {
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
      });
  }

  async #handle(text: string | undefined): Promise<void> {
    if (this.#state === 'closing') return;
    let rid: number | undefined;
    try {
      if (text === undefined) throw new ServerError(ErrorCode.BadRequest, 'frames are JSON text');
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch (cause) {
        throw new ServerError(ErrorCode.BadRequest, 'invalid frame: not JSON', { cause });
      }
      rid = peekRid(value);
      const frame = parseUnknown(ClientFrame, value, 'frame');
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
          const n = await this.#ctx.store.ack(auth.deviceId, frame.ids);
          for (const id of frame.ids) this.#forget(id);
          this.#ctx.metrics.acked.inc(n);
          this.pump();
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
          // A retry of a stored send: the node that stored it may have died before it nudged the
          // recipients (a cluster node killed mid-send), so nudge them again; no second push.
          if (r.duplicate) this.#nudgeMembers(frame.msg.groupId, auth.deviceId);
          else {
            this.#ctx.metrics.accepted.inc({ kind: frame.msg.kind });
            for (const d of new Set(r.recipients)) {
              this.#ctx.bus.publish(d, { type: 'mailbox' });
              // A device with no live socket here gets a content-free wake-up (coalesced), or a
              // ring / missed-call push when the sender hinted one.
              this.#ctx.push?.notify(
                d,
                frame.msg.kind === 'application' ? (frame.msg.push ?? 'wake') : 'wake',
              );
            }
          }
          this.#send({ t: 'ok', rid: frame.rid, msgId: r.msgId, seq: r.seq, epoch: r.epoch });
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
    this.#rescanTimer = setInterval(() => this.pump(), this.#ctx.config.tuning.rescanMs);
    this.#rescanTimer.unref();
    this.pump();
  }

  /** The session ends at `expiresAt` for this socket too (setTimeout cannot wait more than ~24 days). */
  #armExpiry(expiresAt: number): void {
    const left = expiresAt - Date.now();
    if (left <= 0) {
      this.close(CloseCode.Unauthorized, 'session expired', 'expired');
      return;
    }
    this.#expiryTimer = setTimeout(() => this.#armExpiry(expiresAt), Math.min(left, 2 ** 31 - 1));
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
      for (const r of index) {
        if (this.#inflight.has(r.id)) continue;
        if (items >= Limits.maxInFlight) break;
        // One item larger than the byte window still goes out alone, or it would never go.
        if (items > 0 && bytes + r.size > maxInFlightBytes) break;
        fresh.push(r);
        items++;
        bytes += r.size;
      }
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
          batch.push({ ...r, body: toB64(r.body) });
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
    this.#ws.send(JSON.stringify(frame), () => this.#onWritten());
    this.#watchBuffer();
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

function rawText(data: RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  if (data instanceof ArrayBuffer) return Buffer.from(data).toString('utf8');
  return data.toString('utf8');
}

/** Best effort: the rid of a frame that fails to parse, so that the error can still be matched. */
function peekRid(v: unknown): number | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const rid: unknown = Reflect.get(v, 'rid');
  return typeof rid === 'number' && Number.isSafeInteger(rid) && rid >= 0 ? rid : undefined;
}
