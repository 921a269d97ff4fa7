import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  connectionDetails,
  inboundBytes,
  type MediaProgress,
  mediaHealthy,
  mediaProgress,
  StallDetector,
} from './stats.ts';

/** The shape Chromium reports for a call relayed over TURN/TLS (abridged to the fields we read). */
function chromeRelayReport(t: number, bytes: number, sent: number) {
  return new Map<string, Record<string, unknown>>([
    ['T01', { id: 'T01', type: 'transport', timestamp: t, selectedCandidatePairId: 'CP1' }],
    [
      'CP1',
      {
        id: 'CP1',
        type: 'candidate-pair',
        timestamp: t,
        localCandidateId: 'L1',
        remoteCandidateId: 'R1',
        state: 'succeeded',
        nominated: true,
        currentRoundTripTime: 0.042,
        availableOutgoingBitrate: 1_200_000,
        bytesSent: sent,
        bytesReceived: bytes,
      },
    ],
    [
      'CP2',
      { id: 'CP2', type: 'candidate-pair', timestamp: t, localCandidateId: 'L2', remoteCandidateId: 'R1' },
    ],
    [
      'L1',
      {
        id: 'L1',
        type: 'local-candidate',
        candidateType: 'relay',
        protocol: 'udp',
        relayProtocol: 'tls',
        address: '203.0.113.9',
        port: 50000,
        url: 'turns:kolokol.example:443?transport=tcp',
      },
    ],
    [
      'L2',
      {
        id: 'L2',
        type: 'local-candidate',
        candidateType: 'host',
        protocol: 'udp',
        address: '10.0.0.2',
        port: 1,
      },
    ],
    [
      'R1',
      {
        id: 'R1',
        type: 'remote-candidate',
        candidateType: 'relay',
        protocol: 'udp',
        address: '203.0.113.10',
        port: 50001,
      },
    ],
    [
      'IA',
      {
        id: 'IA',
        type: 'inbound-rtp',
        kind: 'audio',
        timestamp: t,
        bytesReceived: bytes / 4,
        packetsReceived: 500,
        packetsLost: 2,
        jitter: 0.004,
        audioLevel: 0.31,
      },
    ],
    [
      'IV',
      {
        id: 'IV',
        type: 'inbound-rtp',
        kind: 'video',
        timestamp: t,
        bytesReceived: (bytes * 3) / 4,
        packetsReceived: 900,
        packetsLost: 0,
        framesDecoded: 240,
        frameWidth: 640,
        frameHeight: 480,
        framesPerSecond: 30,
      },
    ],
  ]);
}

describe('connectionDetails', () => {
  it('a relayed call over TURN/TLS: route, protocol from relayProtocol, RTT, media, rates', () => {
    const prev = chromeRelayReport(1000, 400_000, 100_000);
    const now = chromeRelayReport(3000, 900_000, 350_000);
    const d = connectionDetails(now, prev);
    assert.equal(d.route, 'relay');
    assert.equal(d.protocol, 'tls');
    assert.equal(d.localCandidateType, 'relay');
    assert.equal(d.remoteCandidateType, 'relay');
    assert.equal(d.localAddress, '203.0.113.9:50000');
    assert.equal(d.relayUrl, 'turns:kolokol.example:443?transport=tcp');
    assert.equal(d.rttMs, 42);
    assert.equal(d.bytesReceived, 900_000);
    assert.equal(d.outgoingBitrate, 1_000_000); // 250 kB in 2 s
    assert.equal(d.audio?.audioLevel, 0.31);
    assert.equal(d.audio?.packets, 500);
    assert.equal(d.audio?.jitterMs, 4);
    assert.equal(d.audio?.bitrate, 500_000); // 125 kB in 2 s
    assert.equal(d.video?.framesDecoded, 240);
    assert.equal(d.video?.frameWidth, 640);
    assert.equal(d.video?.bitrate, 1_500_000);
    assert.equal(inboundBytes(now), 900_000);
  });

  it('a direct call over UDP, from a plain list; Firefox-style selected pair; no previous report', () => {
    const d = connectionDetails([
      {
        id: 'p',
        type: 'candidate-pair',
        selected: true,
        localCandidateId: 'l',
        remoteCandidateId: 'r',
        bytesSent: 5,
      },
      {
        id: 'l',
        type: 'local-candidate',
        candidateType: 'host',
        protocol: 'udp',
        address: 'fe80::1',
        port: 9,
      },
      {
        id: 'r',
        type: 'remote-candidate',
        candidateType: 'srflx',
        protocol: 'udp',
        address: '198.51.100.2',
        port: 7,
      },
    ]);
    assert.equal(d.route, 'direct');
    assert.equal(d.protocol, 'udp');
    assert.equal(d.localAddress, '[fe80::1]:9');
    assert.equal(d.outgoingBitrate, undefined);
    assert.equal(d.audio, undefined);
    assert.equal(d.bytesSent, 5);
  });

  it('nothing selected yet: unknown route, zeros, no throw on junk entries', () => {
    const d = connectionDetails([null, 3, 'x', { type: 'candidate-pair', state: 'in-progress' }]);
    assert.equal(d.route, 'unknown');
    assert.equal(d.bytesReceived, 0);
    assert.equal(d.protocol, undefined);
  });
});

describe('mediaHealthy: the stall detector', () => {
  const rtp = (kind: string, packets: number, extra: Record<string, number> = {}) => ({
    id: `in-${kind}`,
    type: 'inbound-rtp',
    kind,
    packetsReceived: packets,
    bytesReceived: packets * 100,
    ...extra,
  });
  const sample = (audio: number, video?: { packets: number; frames: number }) =>
    mediaProgress([
      rtp('audio', audio),
      ...(video === undefined ? [] : [rtp('video', video.packets, { framesDecoded: video.frames })]),
    ]);

  it('audio at its usual 50 packets a second and decoded video are healthy', () => {
    assert.equal(
      mediaHealthy(
        sample(100, { packets: 300, frames: 60 }),
        sample(150, { packets: 400, frames: 90 }),
        1000,
      ),
      true,
    );
  });
  it('nothing arriving is a stall', () => {
    assert.equal(mediaHealthy(sample(100), sample(100), 1000), false);
  });
  it('a trickle of audio (a throttled UDP flow) is a stall although bytes grow', () => {
    assert.equal(mediaHealthy(sample(100), sample(103), 1000), false);
  });
  it('video packets that never make a frame (heavy loss) are a stall', () => {
    assert.equal(
      mediaHealthy(sample(100, { packets: 300, frames: 1 }), sample(150, { packets: 380, frames: 1 }), 1000),
      false,
    );
  });
  it('video that stopped (camera off, no packets) is not a stall while audio flows', () => {
    assert.equal(
      mediaHealthy(
        sample(100, { packets: 300, frames: 60 }),
        sample(150, { packets: 300, frames: 60 }),
        1000,
      ),
      true,
    );
  });
});

describe('StallDetector', () => {
  /** Media of a call at `rate` audio packets a second, sampled every `every` ms from `from`. */
  function feed(
    d: StallDetector,
    o: { from: number; to: number; every: number; rate: number; route: string; base?: number },
  ) {
    const out: { at: number; verdict: string }[] = [];
    let packets = o.base ?? 0;
    for (let at = o.from; at <= o.to; at += o.every) {
      packets += (o.rate * o.every) / 1000;
      const p: MediaProgress = {
        bytes: Math.floor(packets) * 100,
        audioPackets: Math.floor(packets),
        route: o.route,
      };
      const verdict = d.sample(p, at);
      if (verdict !== undefined) out.push({ at, verdict });
    }
    return out;
  }

  it('a healthy call is never reported', () => {
    const d = new StallDetector(0);
    assert.deepEqual(feed(d, { from: 250, to: 20_000, every: 250, rate: 50, route: 'A' }), []);
  });

  it('a young route that starves right after ICE chose it is a stall within starvedMs', () => {
    const d = new StallDetector(0);
    feed(d, { from: 250, to: 250, every: 250, rate: 50, route: 'A' });
    // The censor's trickle: 2 packets a second.
    const out = feed(d, { from: 500, to: 3000, every: 250, rate: 2, route: 'A', base: 12 });
    assert.equal(out[0]?.verdict, 'stalled');
    assert.ok((out[0]?.at ?? 0) <= 1250, `reported at ${out[0]?.at}`);
  });

  it('an older route gets the full stallMs before a starving trickle counts', () => {
    const d = new StallDetector(0);
    feed(d, { from: 250, to: 10_000, every: 250, rate: 50, route: 'A' });
    const out = feed(d, { from: 10_250, to: 20_000, every: 250, rate: 2, route: 'A', base: 500 });
    assert.equal(out[0]?.verdict, 'stalled');
    assert.ok((out[0]?.at ?? 0) >= 13_000, `reported at ${out[0]?.at}`);
  });

  it('after a restart nothing is judged until the new route is selected, then it recovers', () => {
    const d = new StallDetector(0);
    feed(d, { from: 250, to: 250, every: 250, rate: 50, route: 'A' });
    const first = feed(d, { from: 500, to: 1500, every: 250, rate: 0, route: 'A', base: 12 });
    assert.deepEqual(
      first.map((v) => v.verdict),
      ['stalled'],
    );
    d.restarted(1500);
    // The old route starves on while the new connection is checking: no second report.
    assert.deepEqual(feed(d, { from: 1750, to: 2500, every: 250, rate: 0, route: 'A', base: 12 }), []);
    // A new peer connection: its counters start from zero, which is not a stall.
    const back = feed(d, { from: 2750, to: 6000, every: 250, rate: 50, route: 'B' });
    assert.deepEqual(
      back.map((v) => v.verdict),
      ['recovered'],
    );
  });

  it('a stall that lasts is reported again every stallMs, so another restart follows', () => {
    const d = new StallDetector(0, { stallMs: 3000 });
    feed(d, { from: 250, to: 250, every: 250, rate: 50, route: 'A' });
    const out = feed(d, { from: 500, to: 9000, every: 250, rate: 0, route: 'A', base: 12 });
    assert.deepEqual(
      out.map((v) => v.verdict),
      ['stalled', 'stalled', 'stalled'],
    );
    assert.ok((out[1]?.at ?? 0) - (out[0]?.at ?? 0) >= 3000);
  });

  it('a new route that starves too is reported at once, not after the old report’s pause', () => {
    const d = new StallDetector(0);
    feed(d, { from: 250, to: 250, every: 250, rate: 50, route: 'A' });
    feed(d, { from: 500, to: 1500, every: 250, rate: 0, route: 'A', base: 12 });
    d.restarted(1500);
    const out = feed(d, { from: 1750, to: 3500, every: 250, rate: 0, route: 'B', base: 1 });
    assert.equal(out[0]?.verdict, 'stalled', 'never recovered on the strength of one sample');
    assert.ok((out[0]?.at ?? 0) <= 2750, `reported at ${out[0]?.at}`);
  });

  it('a route that starves from its first packets is reported 750 ms after ICE connected', () => {
    const d = new StallDetector(0);
    const out = feed(d, { from: 250, to: 3000, every: 250, rate: 8, route: 'A' });
    assert.deepEqual(out[0], { at: 750, verdict: 'stalled' });
  });

  it('audio that starts a little late on a working route is not a stall', () => {
    const d = new StallDetector(0);
    // Nothing in the first quarter second (DTLS just done), then Opus's 50 packets a second.
    assert.deepEqual(feed(d, { from: 250, to: 250, every: 250, rate: 0, route: 'A' }), []);
    assert.deepEqual(feed(d, { from: 500, to: 8000, every: 250, rate: 50, route: 'A' }), []);
  });
});
