/**
 * The call machine under random interleavings: one caller device A, callee devices B1 and B2.
 * The model of the network is the delivery service's: durable signals get one order (the group's
 * sequence) and every device reads that log in order, each at its own pace. (Ephemeral signals
 * may overtake, but the machine only uses `ringing` from them, which changes no outcome.)
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { CallSignal } from '../envelope.ts';
import { type CallCore, type CallInput, incomingCall, outgoingCall, type Party, step } from './machine.ts';

type Dev = 'A' | 'B1' | 'B2';
const party: Record<Dev, Party> = {
  A: { userId: 'alice', deviceId: 'A' },
  B1: { userId: 'bob', deviceId: 'B1' },
  B2: { userId: 'bob', deviceId: 'B2' },
};
const callees = ['B1', 'B2'] as const;

type Cmd =
  | { t: 'deliver'; dev: Dev }
  | { t: 'local'; dev: Dev; action: 'accept' | 'decline' | 'hangup' }
  | { t: 'callerTimeout' }
  | { t: 'connect' }
  | { t: 'fail'; dev: Dev };

const dev = fc.constantFrom<Dev>('A', 'B1', 'B2');
const cmd: fc.Arbitrary<Cmd> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ t: fc.constant('deliver' as const), dev }) },
  {
    weight: 3,
    arbitrary: fc.record({
      t: fc.constant('local' as const),
      dev,
      action: fc.constantFrom('accept' as const, 'decline' as const, 'hangup' as const),
    }),
  },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('callerTimeout' as const) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('connect' as const) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('fail' as const), dev }) },
);

class World {
  readonly log: { from: Dev; signal: CallSignal }[] = [];
  readonly cursor: Record<Dev, number> = { A: 0, B1: 0, B2: 0 };
  readonly core: Partial<Record<Dev, CallCore>> = {};
  readonly ends: Record<Dev, number> = { A: 0, B1: 0, B2: 0 };
  readonly everWon = new Set<Dev>();
  readonly everConnected = new Set<Dev>();
  /** Callee devices whose user accepted or declined there. */
  readonly acted = new Set<Dev>();
  now = 1000;

  constructor() {
    this.core.A = outgoingCall({ callId: 'call-1', self: party.A, peerUserId: 'bob', video: false, now: 0 });
    this.log.push({ from: 'A', signal: { kind: 'offer', sdp: 'offer-sdp', video: false } });
  }

  input(d: Dev, input: CallInput): void {
    const c = this.core[d];
    if (c === undefined) return;
    for (const a of step(c, input, ++this.now)) {
      if (a.t === 'send') this.log.push({ from: d, signal: a.signal });
      else if (a.t === 'answer') this.log.push({ from: d, signal: { kind: 'answer', sdp: `answer-${d}` } });
      else if (a.t === 'end') this.ends[d]++;
    }
    if (c.role === 'callee' && c.winner === c.self.deviceId) this.everWon.add(d);
    if (c.state === 'connected') this.everConnected.add(d);
  }

  /** Delivers the next log entry to `d`; false when it has read everything. */
  deliver(d: Dev): boolean {
    while (this.cursor[d] < this.log.length) {
      const m = this.log[this.cursor[d]++];
      if (m === undefined || m.from === d) continue;
      if (this.core[d] === undefined) {
        if (m.signal.kind !== 'offer' || d === 'A') continue;
        this.core[d] = incomingCall({
          callId: 'call-1',
          self: party[d],
          from: party[m.from],
          video: m.signal.video,
          offerSdp: m.signal.sdp,
          now: ++this.now,
        });
        return true;
      }
      this.input(d, { t: 'signal', from: party[m.from], signal: m.signal });
      return true;
    }
    return false;
  }

  drain(): void {
    for (let more = true; more; ) {
      more = false;
      for (const d of ['A', 'B1', 'B2'] as const) if (this.deliver(d)) more = true;
    }
  }

  run(c: Cmd): void {
    switch (c.t) {
      case 'deliver':
        this.deliver(c.dev);
        return;
      case 'local': {
        const core = this.core[c.dev];
        if (core?.state === 'ringing-in') this.acted.add(c.dev);
        this.input(c.dev, { t: c.action });
        return;
      }
      case 'callerTimeout':
        this.input('A', { t: 'timeout' });
        return;
      case 'connect': {
        const w = this.core.A?.winner as Dev | undefined;
        if (w === undefined || this.core[w]?.winner !== w) return;
        this.input('A', { t: 'media', state: 'connected' });
        this.input(w, { t: 'media', state: 'connected' });
        return;
      }
      case 'fail':
        this.input(c.dev, { t: 'media', state: 'failed' });
        return;
    }
  }

  /** What happens eventually: everything delivered, timers fire, whoever is still in hangs up. */
  settle(): void {
    this.drain();
    this.input('A', { t: 'timeout' });
    this.drain();
    for (const d of callees) this.input(d, { t: 'timeout' });
    this.drain();
    for (const d of ['A', 'B1', 'B2'] as const) this.input(d, { t: 'hangup' });
    this.drain();
  }
}

function check(w: World): void {
  const a = w.core.A;
  assert.ok(a);
  // Everyone who heard of the call ended it, exactly once.
  for (const d of ['A', 'B1', 'B2'] as const) {
    const c = w.core[d];
    if (c === undefined) continue;
    assert.equal(c.state, 'ended', `${d} ended`);
    assert.equal(w.ends[d], 1, `${d} ended once`);
  }
  // Exactly one winner, or none; only the winner ever believed it won or connected.
  for (const d of w.everWon)
    assert.equal(d, a.winner, `${d} believed it won but the caller chose ${a.winner}`);
  for (const d of w.everConnected) if (d !== 'A') assert.equal(d, a.winner);
  if (a.winner !== undefined) {
    const win = w.core[a.winner as Dev];
    assert.ok(win?.acceptedHere, 'the chosen device accepted');
    assert.ok(a.answeredAt !== undefined);
    for (const d of callees) assert.equal(w.core[d]?.missed ?? false, false, `${d} missed an answered call`);
    assert.ok(a.endReason === 'hangup' || a.endReason === 'failed');
  } else {
    assert.equal(a.answeredAt, undefined);
    assert.ok(['declined', 'busy', 'timeout', 'cancelled'].includes(a.endReason ?? ''), a.endReason);
  }
  for (const d of callees) {
    const c = w.core[d];
    if (c === undefined) continue;
    if (c.missed) assert.ok(!c.acceptedHere && ['timeout', 'cancelled', 'busy'].includes(c.endReason ?? ''));
    if (c.endReason === 'answered-elsewhere')
      assert.ok(
        callees.some((o) => o !== d && w.core[o]?.acceptedHere),
        'answered elsewhere means a sibling accepted',
      );
    // A device nobody touched, for a call nobody took or refused, shows it as missed.
    if (!w.acted.has(d) && !callees.some((o) => w.acted.has(o)) && a.winner === undefined)
      assert.ok(c.missed, `${d} should show a missed call (${c.endReason})`);
  }
  if (a.endReason === 'declined') assert.ok(callees.some((d) => w.core[d]?.endReason === 'declined'));
}

describe('call machine: random interleavings of two callee devices', () => {
  it('exactly one device wins, all others end, history is consistent', () => {
    fc.assert(
      fc.property(fc.array(cmd, { maxLength: 40 }), (cmds) => {
        const w = new World();
        for (const c of cmds) w.run(c);
        w.settle();
        check(w);
      }),
      { numRuns: 3000 },
    );
  });

  it('both devices accept: the first answer in the log wins, the other ends answered-elsewhere', () => {
    const w = new World();
    w.deliver('B1');
    w.deliver('B2');
    w.run({ t: 'local', dev: 'B2', action: 'accept' });
    w.run({ t: 'local', dev: 'B1', action: 'accept' });
    w.drain();
    assert.equal(w.core.A?.winner, 'B2');
    assert.equal(w.core.B1?.endReason, 'answered-elsewhere');
    assert.equal(w.core.B2?.state, 'connecting');
    w.run({ t: 'connect' });
    assert.equal(w.core.B2?.state, 'connected');
    assert.equal(w.core.A?.state, 'connected');
    w.run({ t: 'local', dev: 'B2', action: 'hangup' });
    w.drain();
    assert.equal(w.core.A?.endReason, 'hangup');
  });

  it('an answer after the caller gave up is told to stop', () => {
    const w = new World();
    w.deliver('B1');
    w.run({ t: 'callerTimeout' });
    w.run({ t: 'local', dev: 'B1', action: 'accept' });
    assert.equal(w.core.B1?.state, 'connecting');
    w.drain();
    assert.equal(w.core.A?.endReason, 'timeout');
    assert.equal(w.core.B1?.state, 'ended');
    assert.equal(w.core.B1?.missed, false);
  });

  it('a restart request moves the caller only when it comes from the device that answered', () => {
    const w = new World();
    w.deliver('B1');
    w.run({ t: 'local', dev: 'B1', action: 'accept' });
    w.drain();
    const caller = w.core.A;
    assert.ok(caller !== undefined);
    assert.equal(caller.winner, 'B1');
    const restart: CallSignal = { kind: 'restart' };
    const fromWinner = step(caller, { t: 'signal', from: party.B1, signal: restart }, w.now);
    assert.deepEqual(fromWinner, [{ t: 'restart-ice' }]);
    const fromOther = step(caller, { t: 'signal', from: party.B2, signal: restart }, w.now);
    assert.deepEqual(fromOther, []);
    assert.equal(caller.state, 'connecting', 'asking for a restart changes no state');
  });
});
