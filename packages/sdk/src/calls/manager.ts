/**
 * CallManager: 1:1 calls over a direct conversation. Signalling is MLS application messages of
 * type `call` in that conversation (durable or ephemeral, see machine.ts `isDurable`); the state
 * of each call is the pure machine of machine.ts, and this class performs its actions: sends,
 * media engine calls, timers, SFrame keys and call history. KolokolClient owns one and feeds it
 * every decrypted `call` envelope and every group change through the `CallHost` it passes in.
 */
import { type Group, type MlsSFrameEpoch, sframeKeyFromMls } from '@kolokol/crypto';
import type { CallEnvelope, CallSignal } from '../envelope.ts';
import { SdkError } from '../errors.ts';
import type { CallRecord, MessageRecord } from '../store/records.ts';
import type { Store } from '../store/store.ts';
import { newId, SerialQueue } from '../util.ts';
import {
  type CallAction,
  type CallCore,
  type CallInput,
  type CallState,
  incomingCall,
  isDurable,
  outgoingCall,
  type Party,
  step,
} from './machine.ts';
import type { MediaEngine, MediaEngineFactory } from './media.ts';
import { type IceTransportPolicy, mayShareCandidate, sanitizeSdp } from './policy.ts';

export const CallEvent = {
  /** A call rings this device (CallIncoming) */
  CallIncoming: 'callIncoming',
  /** State or details of a call changed (not for the end: see CallEnded). */
  CallUpdated: 'callUpdated',
  /** A call ended; its history record is stored. */
  CallEnded: 'callEnded',
} as const;

export interface CallEvents {
  callIncoming: [Call];
  callUpdated: [Call];
  callEnded: [Call, CallRecord];
}

/** What the client gives the manager: its store, its sends, its groups and its events. */
export interface CallHost {
  readonly userId: string;
  readonly deviceId: string;
  readonly store: Store;
  /** Through the outbox: resolves after the server stored it. */
  sendDurable(conversationId: string, envelope: CallEnvelope): Promise<void>;
  /** Online member devices only; silently dropped when offline. */
  sendEphemeral(conversationId: string, envelope: CallEnvelope): Promise<void>;
  group(conversationId: string): Promise<Group | undefined>;
  usernameOf(userId: string): Promise<string>;
  emitCall<K extends keyof CallEvents>(event: K, ...args: CallEvents[K]): void;
  emitMessage(m: MessageRecord): void;
  reportError(e: SdkError): void;
  /**
   * The consent rules on an incoming offer (consent/manager.ts): anything but 'ring' means no call
   * here at all (recorded as a call request by the host).
   */
  admitCall(o: {
    callId: string;
    conversationId: string;
    from: string;
    video: boolean;
    at: number;
  }): Promise<'ring' | 'request' | 'silence' | 'refuse'>;
  /** ICE policy with this peer: 'all' only where the user's peer-to-peer rule allows it. */
  icePolicy(peerUserId: string): Promise<IceTransportPolicy>;
  /** Watch the signalling socket closely for `ms` (Connection.urgent): a call is being set up. */
  urgent?(ms: number): void;
}

export interface CallOptions {
  /** Makes the media side of each call; without one, calls can ring but not be placed or taken. */
  media?: MediaEngineFactory;
  /** How long an outgoing call rings before it counts as unanswered (45 s). */
  ringTimeoutMs?: number;
  /** How long `connecting` may last before the call fails (30 s). */
  connectTimeoutMs?: number;
}

/** RFC 9605 suite 4 (AES_128_GCM_SHA256_128), 8 epoch bits in the KID. */
export const CALL_SFRAME = { suite: 4, epochBits: 8 } as const;
const RING_TIMEOUT_MS = 45_000;
/** How long each step of a call's setup keeps the signalling socket under close watch. */
const URGENT_MS = 10_000;
const CONNECT_TIMEOUT_MS = 30_000;
/** A callee device gives up a little after the caller would have, so the caller's cancel wins. */
const CALLEE_GRACE_MS = 5_000;
/** Ended calls kept in memory to answer late signals (a late answer gets a cancel). */
const ENDED_KEEP_MS = 120_000;
const MAX_BUFFERED_CANDIDATES = 64;
/**
 * A call still connecting after this long is nudged: the caller restarts ICE, the callee sends
 * its candidates again. Candidates travel on the ephemeral path, which drops what is sent while
 * a socket is frozen or reconnecting (a censor's doing, or a network change); an ICE agent that
 * never got the other side's candidates waits forever rather than failing.
 */
const KICK_MS = 6_000;
/**
 * Before that, both sides send their candidates again every RESEND_MS: harmless duplicates when
 * nothing was lost, and the whole repair when a candidate went into a socket that froze (no ICE
 * restart, which would throw away checks that may be about to succeed on a slow path).
 */
const RESEND_MS = 1_000;
/** A callee's request for an ICE restart this soon after one of ours is already answered by it. */
const RESTART_REQUEST_GAP_MS = 2_000;
/** ICE restarts one call may make on its own before it is left to its timeouts. */
const MAX_RESTARTS = 6;
const MAX_UNKNOWN_CALLS = 32;
/** Calls the consent rules kept from ringing, remembered so that their later signals are dropped. */
const MAX_HELD_BACK = 256;

/** One call as the app sees it. Fields are live; `accept`, `decline` and `hangup` are idempotent. */
export class Call {
  readonly #core: CallCore;
  readonly #manager: CallManager;
  readonly conversationId: string;
  readonly iceTransportPolicy: IceTransportPolicy;
  /** @internal */
  media: MediaEngine | undefined;

  /** @internal */
  constructor(manager: CallManager, core: CallCore, conversationId: string, policy: IceTransportPolicy) {
    this.#manager = manager;
    this.#core = core;
    this.conversationId = conversationId;
    this.iceTransportPolicy = policy;
  }
  get id(): string {
    return this.#core.callId;
  }
  get direction(): 'outgoing' | 'incoming' {
    return this.#core.role === 'caller' ? 'outgoing' : 'incoming';
  }
  get peerUserId(): string {
    return this.#core.peerUserId;
  }
  get video(): boolean {
    return this.#core.video;
  }
  get state(): CallState {
    return this.#core.state;
  }
  /** A callee device said it is ringing (outgoing calls). */
  get remoteRinging(): boolean {
    return this.#core.remoteRinging;
  }
  /** The callee device in the call, once the caller chose it. */
  get answeredBy(): string | undefined {
    return this.#core.winner;
  }
  get startedAt(): number {
    return this.#core.startedAt;
  }
  get answeredAt(): number | undefined {
    return this.#core.answeredAt;
  }
  get endReason(): CallRecord['reason'] | undefined {
    return this.#core.endReason;
  }
  /** Resolves once the answer is on its way (the media engine made it). */
  accept(): Promise<void> {
    return this.#manager._input(this, { t: 'accept' });
  }
  decline(): Promise<void> {
    return this.#manager._input(this, { t: 'decline' });
  }
  hangup(): Promise<void> {
    return this.#manager._input(this, { t: 'hangup' });
  }
  /** @internal */
  get _core(): CallCore {
    return this.#core;
  }
}

interface Live {
  call: Call;
  timer?: ReturnType<typeof setTimeout> | undefined;
  /** Remote candidates not yet applied, with the device that sent them. */
  candidates: { from: string; candidate: string }[];
  /** Our own candidates of the current ICE generation, sent again after a reconnect. */
  local: string[];
  /** While the call is connecting: nudges it along (see #kick). */
  kick?: ReturnType<typeof setInterval> | undefined;
  /** Armed while media is down in a connected call: ends it if media does not come back. */
  recovery?: ReturnType<typeof setTimeout> | undefined;
  restarts: number;
  /** When the last ICE restart went out (caller). */
  restartedAt?: number;
  /** Epoch whose SFrame keys the engine has. */
  keyEpoch?: bigint;
  endedAt?: number;
}

export class CallManager {
  readonly #host: CallHost;
  readonly #queue = new SerialQueue();
  readonly #calls = new Map<string, Live>();
  /** Candidates for calls we have not heard of yet (the ephemeral path can overtake the offer). */
  readonly #early = new Map<string, { from: Party; candidate: string }[]>();
  /** Offers the consent rules kept from ringing: nothing of these calls is processed or answered. */
  readonly #heldBack = new Set<string>();
  #media: MediaEngineFactory | undefined;
  #ringTimeoutMs = RING_TIMEOUT_MS;
  #connectTimeoutMs = CONNECT_TIMEOUT_MS;
  #closed = false;

  constructor(host: CallHost) {
    this.#host = host;
  }

  configure(o: CallOptions): void {
    if (o.media !== undefined) this.#media = o.media;
    if (o.ringTimeoutMs !== undefined) this.#ringTimeoutMs = o.ringTimeoutMs;
    if (o.connectTimeoutMs !== undefined) this.#connectTimeoutMs = o.connectTimeoutMs;
  }

  /** Calls that have not ended. */
  active(): Call[] {
    return [...this.#calls.values()].filter((l) => l.call.state !== 'ended').map((l) => l.call);
  }

  get(callId: string): Call | undefined {
    return this.#calls.get(callId)?.call;
  }

  /** Call history of this device, newest first. */
  history(opts?: { limit?: number }): Promise<CallRecord[]> {
    return this.#host.store.listCalls(opts);
  }

  /** SFrame keys of a conversation's current epoch (what `setKeys` gets). */
  async mediaKeys(conversationId: string): Promise<MlsSFrameEpoch> {
    const group = await this.#host.group(conversationId);
    if (group === undefined) throw new SdkError('NOT_FOUND_LOCAL', 'no group state for this conversation');
    return sframeKeyFromMls(group, CALL_SFRAME);
  }

  /** Rings every device of the peer of a direct conversation. */
  async start(conversationId: string, opts: { video: boolean }): Promise<Call> {
    const factory = this.#media;
    if (factory === undefined)
      throw new SdkError('INVALID_ARGUMENT', 'no media engine: call calls.configure({ media }) first');
    const peer = await this.#peerOf(conversationId);
    if (this.active().length > 0) throw new SdkError('INVALID_ARGUMENT', 'already in a call');
    const policy = await this.#policyFor(peer);
    const core = outgoingCall({
      callId: newId(),
      self: { userId: this.#host.userId, deviceId: this.#host.deviceId },
      peerUserId: peer,
      video: opts.video,
      now: Date.now(),
    });
    const call = new Call(this, core, conversationId, policy);
    const live: Live = { call, candidates: [], local: [], restarts: 0 };
    this.#calls.set(core.callId, live);
    try {
      const engine = await this.#engine(live, factory);
      const sdp = sanitizeSdp(await engine.createOffer(), policy);
      this.#send(call, { kind: 'offer', sdp, video: opts.video }, true);
    } catch (e) {
      this.#calls.delete(core.callId);
      call.media?.close();
      throw SdkError.from(e);
    }
    this.#arm(live, this.#ringTimeoutMs, { t: 'timeout' });
    this.#host.urgent?.(URGENT_MS);
    return call;
  }

  /** @internal The client calls this for every `call` envelope it decrypted (not from blocked users). */
  onSignal(conversationId: string, from: Party, envelope: CallEnvelope, sentAt: number): void {
    if (this.#closed) return;
    this.#queue.push(
      () => this.#onSignal(conversationId, from, envelope, sentAt),
      (e) => this.#host.reportError(SdkError.from(e)),
    );
  }

  /** @internal After every group state change: new epoch, new SFrame keys for its calls. */
  onGroupChanged(groupId: string, epoch: number): void {
    for (const live of this.#calls.values()) {
      const c = live.call;
      if (c.conversationId !== groupId || c.state === 'ended' || c.media === undefined) continue;
      if (live.keyEpoch === BigInt(epoch)) continue;
      this.#queue.push(
        () => this.#installKeys(live),
        (e) => this.#host.reportError(SdkError.from(e)),
      );
    }
  }

  /** @internal Client close: hang up what is running (queued durably in the outbox). */
  async close(): Promise<void> {
    for (const c of this.active()) await c.hangup().catch(() => {});
    this.#closed = true;
    await this.#queue.idle();
    for (const l of this.#calls.values()) if (l.timer !== undefined) clearTimeout(l.timer);
  }

  /** @internal Used by Call. */
  _input(call: Call, input: CallInput): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#queue.push(
        async () => {
          const live = this.#calls.get(call.id);
          if (live !== undefined) await this.#step(live, input);
          resolve();
        },
        (e) => reject(SdkError.from(e)),
      );
    });
  }

  // ---------------------------------------------------------------------------------------------

  async #onSignal(conversationId: string, from: Party, env: CallEnvelope, sentAt: number): Promise<void> {
    const sig = env.signal;
    if (this.#heldBack.has(env.callId)) return;
    const live = this.#calls.get(env.callId);
    if (live !== undefined && live.call.conversationId !== conversationId) return;
    if (sig.kind === 'candidate') {
      if (live === undefined) {
        this.#holdEarly(env.callId, from, sig.candidate);
        // Candidates travel faster than the offer (ephemeral, not stored): a call is on its way,
        // and the socket that is to bring its offer must be watched closely from now on.
        if (from.userId !== this.#host.userId) this.#host.urgent?.(URGENT_MS);
      } else await this.#remoteCandidate(live, from, sig.candidate);
      return;
    }
    if (live !== undefined) {
      await this.#step(live, { t: 'signal', from, signal: sig });
      return;
    }
    if (sig.kind !== 'offer' || sig.restart === true) return;
    // Our own other device placed it: it does not ring here.
    if (from.userId === this.#host.userId) return;
    const conv = await this.#host.store.getConversation(conversationId);
    if (conv === undefined || conv.kind !== 'direct' || conv.left) return;
    if (!conv.members.some((m) => m.userId === from.userId)) return;
    if ((await this.#host.store.getCall(env.callId)) !== undefined) return;
    // Before anything that answers (ringing, busy) or makes media: a call the rules keep from
    // ringing gets no reply at all, so the caller never sees our SDP, candidates or presence.
    const admission = await this.#host.admitCall({
      callId: env.callId,
      conversationId,
      from: from.userId,
      video: sig.video,
      at: sentAt,
    });
    if (admission !== 'ring') {
      this.#early.delete(env.callId);
      this.#heldBack.add(env.callId);
      if (this.#heldBack.size > MAX_HELD_BACK) {
        const oldest = this.#heldBack.values().next().value;
        if (oldest !== undefined) this.#heldBack.delete(oldest);
      }
      return;
    }
    const now = Date.now();
    const core = incomingCall({
      callId: env.callId,
      self: { userId: this.#host.userId, deviceId: this.#host.deviceId },
      from,
      video: sig.video,
      offerSdp: sig.sdp,
      now,
    });
    const policy = await this.#policyFor(from.userId);
    const next: Live = {
      call: new Call(this, core, conversationId, policy),
      candidates: [],
      local: [],
      restarts: 0,
    };
    for (const c of this.#early.get(env.callId) ?? []) this.#buffer(next, c.from.deviceId, c.candidate);
    this.#early.delete(env.callId);
    this.#calls.set(env.callId, next);
    const age = Math.max(0, now - sentAt);
    if (age >= this.#ringTimeoutMs) {
      // Delivered after the caller gave up (we were offline): a missed call, nothing rings.
      await this.#step(next, { t: 'timeout' });
      return;
    }
    const others = this.active().filter((c) => c !== next.call);
    const mine = others.length === 1 ? others[0] : undefined;
    // Glare: both pressed call at once and each offer reached the other still ringing out. Both
    // sides decide alike: the call with the smaller id survives. The side whose own call lost
    // cancels it and takes the other one at once (its person already asked to talk); the side
    // that won answers the losing offer busy, as for any second call, and keeps ringing.
    const glare =
      mine !== undefined &&
      mine.state === 'ringing-out' &&
      mine.conversationId === conversationId &&
      mine.peerUserId === from.userId;
    if (glare && env.callId < mine.id) {
      const ours = this.#calls.get(mine.id);
      if (ours !== undefined) await this.#step(ours, { t: 'hangup' });
      this.#host.emitCall(CallEvent.CallIncoming, next.call);
      await this.#step(next, { t: 'accept' });
      return;
    }
    if (others.length > 0) {
      await this.#step(next, { t: 'busy' });
      return;
    }
    this.#arm(next, this.#ringTimeoutMs - age + CALLEE_GRACE_MS, { t: 'timeout' });
    this.#host.emitCall(CallEvent.CallIncoming, next.call);
    this.#host.urgent?.(URGENT_MS);
    this.#send(next.call, { kind: 'ringing' }, false);
  }

  async #step(live: Live, input: CallInput): Promise<void> {
    const core = live.call._core;
    const before = snapshot(core);
    const actions = step(core, input, Date.now());
    // Until it is connected, every step of the call's setup waits on signalling: a frozen socket
    // must be found in seconds (Connection.urgent), not in a ping cycle.
    if (core.state !== 'connected' && core.state !== 'ended') this.#host.urgent?.(URGENT_MS);
    for (const a of actions) await this.#perform(live, a);
    if (core.state !== 'ended' && snapshot(core) !== before) {
      if (core.state === 'connecting' && before.startsWith('ringing')) {
        this.#arm(live, this.#connectTimeoutMs, { t: 'media', state: 'failed' });
        this.#startKick(live);
      }
      if (core.state === 'connected') {
        this.#disarm(live);
        this.#stopKick(live);
      }
      this.#host.emitCall(CallEvent.CallUpdated, live.call);
    }
  }

  async #perform(live: Live, a: CallAction): Promise<void> {
    const call = live.call;
    switch (a.t) {
      case 'send':
        this.#send(call, a.signal, isDurable(a.signal));
        return;
      case 'answer': {
        const factory = this.#media;
        if (factory === undefined) {
          this.#host.reportError(new SdkError('INVALID_ARGUMENT', 'no media engine to answer with'));
          await this.#step(live, { t: 'media', state: 'failed' });
          return;
        }
        try {
          const engine = call.media ?? (await this.#engine(live, factory));
          // An offer on a live engine is an ICE restart: a new generation of candidates.
          if (call.media !== undefined) live.local = [];
          await engine.applyRemote(a.offer, 'offer');
          const sdp = sanitizeSdp(await engine.createAnswer(), call.iceTransportPolicy);
          this.#send(call, { kind: 'answer', sdp }, true);
          await this.#flushCandidates(live, call._core.callerDeviceId);
        } catch (e) {
          this.#host.reportError(SdkError.from(e));
          await this.#step(live, { t: 'media', state: 'failed' });
        }
        return;
      }
      case 'apply-answer':
        try {
          await call.media?.applyRemote(a.sdp, 'answer');
          await this.#flushCandidates(live, a.from);
        } catch (e) {
          this.#host.reportError(SdkError.from(e));
          await this.#step(live, { t: 'media', state: 'failed' });
        }
        return;
      case 'restart-ice':
        // Both sides usually see the same stall: the callee's request then arrives right after
        // our own restart, which already answers it.
        if (Date.now() - (live.restartedAt ?? 0) >= RESTART_REQUEST_GAP_MS) this.#restartIce(live);
        return;
      case 'end':
        await this.#finish(live);
        return;
    }
  }

  async #finish(live: Live): Promise<void> {
    const call = live.call;
    const core = call._core;
    this.#disarm(live);
    this.#stopKick(live);
    clearTimeout(live.recovery);
    live.recovery = undefined;
    live.candidates = [];
    try {
      call.media?.close();
    } catch (e) {
      this.#host.reportError(SdkError.from(e));
    }
    live.endedAt = Date.now();
    // Kept a while so that late signals (an answer after we gave up) still find the call.
    const timer = setTimeout(() => {
      if (this.#calls.get(core.callId) === live) this.#calls.delete(core.callId);
    }, ENDED_KEEP_MS);
    (timer as { unref?: () => void }).unref?.();
    const record: CallRecord = {
      callId: core.callId,
      conversationId: call.conversationId,
      direction: call.direction,
      peer: { userId: core.peerUserId, username: await this.#host.usernameOf(core.peerUserId) },
      video: core.video,
      startedAt: core.startedAt,
      endedAt: core.endedAt ?? Date.now(),
      reason: core.endReason ?? 'hangup',
      missed: core.missed,
      ...(core.answeredAt === undefined ? {} : { answeredAt: core.answeredAt }),
      ...(core.winner === undefined ? {} : { answeredBy: core.winner }),
    };
    const notice = core.missed ? await this.#missedNotice(record) : undefined;
    await this.#host.store.atomic((w) => {
      w.putCall(record);
      if (notice !== undefined) w.putMessage(notice);
    });
    if (notice !== undefined) this.#host.emitMessage(notice);
    this.#host.emitCall(CallEvent.CallEnded, call, record);
  }

  /** A local system message "missed call from <peer>", after the conversation's latest message. */
  async #missedNotice(r: CallRecord): Promise<MessageRecord | undefined> {
    const conv = await this.#host.store.getConversation(r.conversationId);
    if (conv === undefined) return undefined;
    const now = Date.now();
    return {
      id: `call-${r.callId}`,
      conversationId: r.conversationId,
      seq: conv.lastSeq,
      local: now * 1000 + Math.floor(Math.random() * 1000),
      from: { userId: r.peer.userId, username: r.peer.username, deviceId: '' },
      sentAt: r.startedAt,
      receivedAt: now,
      body: { type: 'system', event: 'missed-call', userId: r.peer.userId, callId: r.callId },
      outgoing: false,
      reactions: {},
    };
  }

  async #engine(live: Live, factory: MediaEngineFactory): Promise<MediaEngine> {
    const call = live.call;
    const engine = await factory({
      callId: call.id,
      conversationId: call.conversationId,
      peerUserId: call.peerUserId,
      role: call._core.role,
      video: call.video,
      iceTransportPolicy: call.iceTransportPolicy,
    });
    call.media = engine;
    engine.onLocalCandidate((candidate) => {
      if (call.state === 'ended') return;
      // Never a host or srflx address to someone who is not a contact, whatever the engine does.
      if (!mayShareCandidate(candidate, call.iceTransportPolicy)) return;
      if (live.local.length < MAX_BUFFERED_CANDIDATES) live.local.push(candidate);
      this.#send(call, { kind: 'candidate', candidate }, false);
    });
    engine.onStateChange((state) => {
      if (state === 'connected') {
        clearTimeout(live.recovery);
        live.recovery = undefined;
        this.#enqueueInput(live, { t: 'media', state });
        return;
      }
      // A failed or stalled route is not the end of the call: the caller restarts ICE (over
      // another route, see the engine), and the call ends only if media does not come back in
      // time (the connect timeout while connecting, `recovery` once connected).
      if (call._core.role === 'caller') this.#restartIce(live);
      else if (call._core.acceptedHere) this.#send(call, { kind: 'restart' }, false);
      if (live.recovery === undefined && call._core.state === 'connected') {
        live.recovery = setTimeout(() => {
          live.recovery = undefined;
          this.#enqueueInput(live, { t: 'media', state: 'failed' });
        }, this.#connectTimeoutMs);
        (live.recovery as { unref?: () => void }).unref?.();
      }
    });
    await this.#installKeys(live);
    return engine;
  }

  #restartIce(live: Live): void {
    this.#queue.push(
      async () => {
        const call = live.call;
        if (call.media === undefined || call.state === 'ended' || call.answeredBy === undefined) return;
        if (live.restarts >= MAX_RESTARTS) return;
        live.restarts++;
        live.restartedAt = Date.now();
        live.local = [];
        const sdp = sanitizeSdp(await call.media.restartIce(), call.iceTransportPolicy);
        this.#send(call, { kind: 'offer', sdp, video: call.video, restart: true }, true);
      },
      (e) => this.#host.reportError(SdkError.from(e)),
    );
  }

  async #installKeys(live: Live): Promise<void> {
    const engine = live.call.media;
    if (engine?.setKeys === undefined) return;
    const group = await this.#host.group(live.call.conversationId);
    if (group === undefined) return;
    const keys = await sframeKeyFromMls(group, CALL_SFRAME);
    if (live.keyEpoch === keys.epoch) return;
    live.keyEpoch = keys.epoch;
    engine.setKeys(keys);
  }

  async #remoteCandidate(live: Live, from: Party, candidate: string): Promise<void> {
    const call = live.call;
    const core = call._core;
    if (call.state === 'ended' || from.userId !== core.peerUserId) return;
    // Only the two devices in the call exchange candidates; until the caller has chosen a callee
    // device (or this callee has answered) they wait.
    const peerDevice = core.role === 'caller' ? core.winner : core.callerDeviceId;
    const ready = core.role === 'caller' ? core.winner !== undefined : core.acceptedHere;
    if (ready && from.deviceId !== peerDevice) return;
    if (!ready || call.media === undefined) {
      this.#buffer(live, from.deviceId, candidate);
      return;
    }
    await call.media.addCandidate(candidate);
  }

  async #flushCandidates(live: Live, fromDevice: string): Promise<void> {
    const take = live.candidates.filter((c) => c.from === fromDevice);
    live.candidates = [];
    for (const c of take) await live.call.media?.addCandidate(c.candidate);
  }

  #buffer(live: Live, from: string, candidate: string): void {
    if (live.candidates.length < MAX_BUFFERED_CANDIDATES) live.candidates.push({ from, candidate });
  }

  #holdEarly(callId: string, from: Party, candidate: string): void {
    let list = this.#early.get(callId);
    if (list === undefined) {
      if (this.#early.size >= MAX_UNKNOWN_CALLS) {
        const oldest = this.#early.keys().next().value;
        if (oldest !== undefined) this.#early.delete(oldest);
      }
      list = [];
      this.#early.set(callId, list);
    }
    if (list.length < MAX_BUFFERED_CANDIDATES) list.push({ from, candidate });
  }

  #send(call: Call, signal: CallSignal, durable: boolean): void {
    const env: CallEnvelope = { v: 1, type: 'call', callId: call.id, signal };
    const p = durable
      ? this.#host.sendDurable(call.conversationId, env)
      : this.#host.sendEphemeral(call.conversationId, env);
    p.catch((e) => {
      const err = SdkError.from(e);
      this.#host.reportError(err);
      // Without a durable offer nothing rings anywhere: end rather than ring into the void.
      if (signal.kind === 'offer' && signal.restart !== true) {
        const live = this.#calls.get(call.id);
        if (live !== undefined) this.#enqueueInput(live, { t: 'hangup' });
      }
    });
  }

  #enqueueInput(live: Live, input: CallInput): void {
    this.#queue.push(
      () => this.#step(live, input),
      (e) => this.#host.reportError(SdkError.from(e)),
    );
  }

  #arm(live: Live, ms: number, input: CallInput): void {
    this.#disarm(live);
    live.timer = setTimeout(() => {
      live.timer = undefined;
      this.#enqueueInput(live, input);
    }, ms);
  }

  #disarm(live: Live): void {
    if (live.timer !== undefined) clearTimeout(live.timer);
    live.timer = undefined;
  }

  #startKick(live: Live): void {
    this.#stopKick(live);
    let ticks = 0;
    live.kick = setInterval(() => {
      const call = live.call;
      if (call._core.state !== 'connecting') {
        this.#stopKick(live);
        return;
      }
      ticks++;
      if ((ticks * RESEND_MS) % KICK_MS === 0) this.#nudge(live);
      else if (call.media !== undefined)
        for (const c of live.local) this.#send(call, { kind: 'candidate', candidate: c }, false);
    }, RESEND_MS);
    (live.kick as { unref?: () => void }).unref?.();
  }

  #stopKick(live: Live): void {
    if (live.kick !== undefined) clearInterval(live.kick);
    live.kick = undefined;
  }

  /** Gets a call that is not connected moving again: see KICK_MS. */
  #nudge(live: Live): void {
    const call = live.call;
    if (call.media === undefined || call.state === 'ended') return;
    if (call._core.role === 'caller') this.#restartIce(live);
    else for (const c of live.local) this.#send(call, { kind: 'candidate', candidate: c }, false);
  }

  /**
   * @internal The signalling socket is back after a break: candidates sent during it may be lost,
   * so every call that is not connected is nudged at once, and connected ones get our candidates
   * again (harmless duplicates if nothing was lost).
   */
  onReconnected(): void {
    for (const live of this.#calls.values()) {
      const call = live.call;
      if (call.state === 'ended' || call.media === undefined) continue;
      if (call._core.state === 'connecting') this.#nudge(live);
      else for (const c of live.local) this.#send(call, { kind: 'candidate', candidate: c }, false);
    }
  }

  async #peerOf(conversationId: string): Promise<string> {
    const conv = await this.#host.store.getConversation(conversationId);
    if (conv === undefined || conv.left) throw new SdkError('NOT_FOUND_LOCAL', 'no such conversation');
    if (conv.kind !== 'direct') throw new SdkError('INVALID_ARGUMENT', 'calls are 1:1 for now');
    if (conv.forked !== undefined) throw new SdkError('FORKED', 'this conversation cannot carry a call now');
    const peer = conv.peer?.userId ?? conv.members.find((m) => m.userId !== this.#host.userId)?.userId;
    if (peer === undefined) throw new SdkError('INVALID_ARGUMENT', 'nobody to call in this conversation');
    if (await this.#host.store.isBlocked(peer))
      throw new SdkError('INVALID_ARGUMENT', 'this user is blocked');
    return peer;
  }

  /** IP protection: direct routes only where the user's peer-to-peer rule allows (contacts by default). */
  #policyFor(peerUserId: string): Promise<IceTransportPolicy> {
    return this.#host.icePolicy(peerUserId);
  }
}

function snapshot(c: CallCore): string {
  return `${c.state}|${c.remoteRinging}|${c.winner ?? ''}|${c.acceptedHere}`;
}
