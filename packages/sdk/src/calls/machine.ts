/**
 * The call signalling state machine of one device, without I/O: `step` takes an input (a local
 * action, a timer, the media engine's state, or a signal that arrived in the conversation) and
 * returns what to do. CallManager performs the actions (MLS sends, media engine calls, history);
 * the property test drives many devices through random interleavings of the same function.
 *
 * Rules (see ARCHITECTURE, "Life of a call"):
 * - The caller's offer rings every device of the callee. The first answer the caller processes
 *   wins: the caller names that device in a durable `selected`; every other callee device stops.
 *   Durable signals reach every device in the group's one server order, so all devices see the
 *   same "first".
 * - A callee device also stops ringing as soon as it sees a sibling device answer, decline or
 *   report busy (signals reach all member devices, our own included).
 * - A callee device that answered waits in `connecting` for `selected`; if the caller had already
 *   given up, the caller answers a late answer with `cancel`, so nobody waits forever.
 */
import type { CallSignal, Envelope } from '../envelope.ts';
import type { CallEndReason } from '../store/records.ts';

export type CallState = 'ringing-out' | 'ringing-in' | 'connecting' | 'connected' | 'ended';
export type CallRole = 'caller' | 'callee';
export interface Party {
  userId: string;
  deviceId: string;
}

export interface CallCore {
  readonly callId: string;
  readonly role: CallRole;
  readonly self: Party;
  readonly peerUserId: string;
  /** The device that placed the call: the only one whose signals a callee follows. */
  readonly callerDeviceId: string;
  readonly video: boolean;
  readonly startedAt: number;
  state: CallState;
  /** The callee's latest offer (the first one, or an ICE restart). */
  offerSdp?: string;
  /** The callee device whose answer the caller took. */
  winner?: string;
  /** This (callee) device accepted. */
  acceptedHere: boolean;
  /** A callee device said it is ringing. */
  remoteRinging: boolean;
  answeredAt?: number;
  endedAt?: number;
  endReason?: CallEndReason;
  missed: boolean;
}

export type CallInput =
  | { t: 'accept' }
  | { t: 'decline' }
  | { t: 'hangup' }
  | { t: 'timeout' }
  /** An offer arrived while this device is in another call. */
  | { t: 'busy' }
  | { t: 'media'; state: 'connected' | 'failed' }
  | { t: 'signal'; from: Party; signal: CallSignal };

export type CallAction =
  /** Send a signal to the conversation (CallManager picks durable or ephemeral by kind). */
  | { t: 'send'; signal: CallSignal }
  /** Callee: apply `offer` to the media engine, create an answer and send it. */
  | { t: 'answer'; offer: string }
  /** Caller: apply the chosen device's answer. */
  | { t: 'apply-answer'; sdp: string; from: string }
  /** Caller: the answering device asked for an ICE restart (its media stalled). */
  | { t: 'restart-ice' }
  /** The call ended: close the media engine, write history. */
  | { t: 'end' };

export function outgoingCall(o: {
  callId: string;
  self: Party;
  peerUserId: string;
  video: boolean;
  now: number;
}): CallCore {
  return {
    callId: o.callId,
    role: 'caller',
    self: o.self,
    peerUserId: o.peerUserId,
    callerDeviceId: o.self.deviceId,
    video: o.video,
    startedAt: o.now,
    state: 'ringing-out',
    acceptedHere: false,
    remoteRinging: false,
    missed: false,
  };
}

export function incomingCall(o: {
  callId: string;
  self: Party;
  from: Party;
  video: boolean;
  offerSdp: string;
  now: number;
}): CallCore {
  return {
    callId: o.callId,
    role: 'callee',
    self: o.self,
    peerUserId: o.from.userId,
    callerDeviceId: o.from.deviceId,
    video: o.video,
    startedAt: o.now,
    state: 'ringing-in',
    offerSdp: o.offerSdp,
    acceptedHere: false,
    remoteRinging: false,
    missed: false,
  };
}

/** Reasons for which an incoming call that nobody of ours took counts as missed. */
const MISSED: ReadonlySet<CallEndReason> = new Set<CallEndReason>(['timeout', 'cancelled', 'busy']);

function end(core: CallCore, reason: CallEndReason, now: number, out: CallAction[]): CallAction[] {
  core.state = 'ended';
  core.endReason = reason;
  core.endedAt = now;
  core.missed = core.role === 'callee' && !core.acceptedHere && MISSED.has(reason);
  out.push({ t: 'end' });
  return out;
}

/** Advances `core` (mutated in place) and returns the actions to perform, in order. */
export function step(core: CallCore, input: CallInput, now: number): CallAction[] {
  const out: CallAction[] = [];
  const s = core.state;
  if (s === 'ended') {
    // A callee device that answered after we gave up would wait for `selected` forever.
    if (
      core.role === 'caller' &&
      input.t === 'signal' &&
      input.signal.kind === 'answer' &&
      input.from.userId === core.peerUserId &&
      input.from.deviceId !== core.winner
    )
      out.push({ t: 'send', signal: { kind: 'cancel', reason: 'cancelled' } });
    return out;
  }
  switch (input.t) {
    case 'accept':
      if (core.role !== 'callee' || s !== 'ringing-in' || core.offerSdp === undefined) return out;
      core.state = 'connecting';
      core.acceptedHere = true;
      core.answeredAt = now;
      out.push({ t: 'answer', offer: core.offerSdp });
      return out;
    case 'decline':
    case 'hangup':
      if (s === 'ringing-in') {
        out.push({ t: 'send', signal: { kind: 'decline' } });
        return end(core, 'declined', now, out);
      }
      if (s === 'ringing-out') {
        out.push({ t: 'send', signal: { kind: 'cancel', reason: 'cancelled' } });
        return end(core, 'cancelled', now, out);
      }
      out.push({ t: 'send', signal: { kind: 'hangup' } });
      return end(core, 'hangup', now, out);
    case 'busy':
      if (s !== 'ringing-in') return out;
      out.push({ t: 'send', signal: { kind: 'busy' } });
      return end(core, 'busy', now, out);
    case 'timeout':
      if (s === 'ringing-out') {
        out.push({ t: 'send', signal: { kind: 'cancel', reason: 'timeout' } });
        return end(core, 'timeout', now, out);
      }
      if (s === 'ringing-in') return end(core, 'timeout', now, out);
      return out;
    case 'media':
      if (input.state === 'connected') {
        if (s === 'connecting') core.state = 'connected';
        return out;
      }
      if (s === 'connecting' || s === 'connected') {
        out.push({ t: 'send', signal: { kind: 'hangup' } });
        return end(core, 'failed', now, out);
      }
      return out;
    case 'signal':
      return core.role === 'caller'
        ? callerSignal(core, input.from, input.signal, now, out)
        : calleeSignal(core, input.from, input.signal, now, out);
  }
}

function callerSignal(core: CallCore, from: Party, sig: CallSignal, now: number, out: CallAction[]) {
  if (from.userId !== core.peerUserId) return out;
  const s = core.state;
  switch (sig.kind) {
    case 'ringing':
      if (s === 'ringing-out') core.remoteRinging = true;
      return out;
    case 'restart':
      if ((s === 'connecting' || s === 'connected') && from.deviceId === core.winner)
        out.push({ t: 'restart-ice' });
      return out;
    case 'answer':
      if (s === 'ringing-out') {
        core.winner = from.deviceId;
        core.state = 'connecting';
        core.answeredAt = now;
        out.push({ t: 'send', signal: { kind: 'selected', deviceId: from.deviceId } });
        out.push({ t: 'apply-answer', sdp: sig.sdp, from: from.deviceId });
      } else if (from.deviceId === core.winner) {
        // The answer to an ICE-restart offer.
        out.push({ t: 'apply-answer', sdp: sig.sdp, from: from.deviceId });
      }
      return out;
    case 'decline':
      return s === 'ringing-out' ? end(core, 'declined', now, out) : out;
    case 'busy':
      return s === 'ringing-out' ? end(core, 'busy', now, out) : out;
    case 'hangup':
      return from.deviceId === core.winner ? end(core, 'hangup', now, out) : out;
    default:
      return out;
  }
}

function calleeSignal(core: CallCore, from: Party, sig: CallSignal, now: number, out: CallAction[]) {
  const s = core.state;
  if (from.userId === core.peerUserId) {
    if (from.deviceId !== core.callerDeviceId) return out;
    switch (sig.kind) {
      case 'offer':
        if (sig.restart === true && core.winner === core.self.deviceId) {
          core.offerSdp = sig.sdp;
          out.push({ t: 'answer', offer: sig.sdp });
        }
        return out;
      case 'selected':
        if (sig.deviceId === core.self.deviceId) {
          // Media may connect before `selected` arrives (it is the caller applying our answer).
          if (core.acceptedHere) core.winner = sig.deviceId;
          return out;
        }
        return end(core, 'answered-elsewhere', now, out);
      case 'cancel':
        return end(core, s === 'ringing-in' ? sig.reason : 'cancelled', now, out);
      case 'hangup':
        return end(core, s === 'ringing-in' ? 'cancelled' : 'hangup', now, out);
      default:
        return out;
    }
  }
  if (from.userId !== core.self.userId || from.deviceId === core.self.deviceId) return out;
  // A sibling device of ours. While we wait for `selected`, only the caller's word counts.
  if (s !== 'ringing-in') return out;
  switch (sig.kind) {
    case 'answer':
      return end(core, 'answered-elsewhere', now, out);
    case 'decline':
      return end(core, 'declined', now, out);
    case 'busy':
      return end(core, 'busy', now, out);
    default:
      return out;
  }
}

/**
 * What offline devices' Web Push should say for a call envelope (OutgoingMessage.push): the first
 * offer rings a closed app, the caller's cancel (given up or timed out) turns that ring into a
 * missed call. Everything else is an ordinary wake (undefined).
 */
export function pushHintOf(envelope: Envelope): 'call' | 'missed-call' | undefined {
  if (envelope.type !== 'call') return undefined;
  const sig = envelope.signal;
  if (sig.kind === 'offer' && sig.restart !== true) return 'call';
  if (sig.kind === 'cancel') return 'missed-call';
  return undefined;
}

/** Durable signals go through the outbox; the rest are ephemeral (online devices only). */
export function isDurable(sig: CallSignal): boolean {
  return sig.kind !== 'candidate' && sig.kind !== 'ringing' && sig.kind !== 'restart';
}
