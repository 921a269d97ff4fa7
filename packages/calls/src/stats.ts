/**
 * What the web UI's "Connection details" panel shows, computed from RTCPeerConnection.getStats()
 * (W3C webrtc-stats). Pure: it takes the report (or any list of stats dictionaries, as Node tests
 * and e2e assertions have them) and, for rates, the previous report.
 */

/** One stats dictionary: `{ id, type, timestamp, ...}`; fields are read defensively. */
export type StatsEntry = Readonly<Record<string, unknown>>;
/** An RTCStatsReport (Map-like, has values()) or a plain list of entries. */
export type StatsInput = { values(): Iterable<unknown> } | Iterable<unknown>;

export interface InboundDetails {
  bytes: number;
  packets: number;
  packetsLost: number;
  /** bits per second since the previous report, when one was given. */
  bitrate?: number;
  jitterMs?: number;
  /** audio: 0..1 */
  audioLevel?: number;
  /** video */
  framesDecoded?: number;
  frameWidth?: number;
  frameHeight?: number;
  framesPerSecond?: number;
}

export interface ConnectionDetails {
  /** 'relay' when either end of the selected pair is a TURN relay. */
  route: 'direct' | 'relay' | 'unknown';
  /** Transport to the TURN server for relayed routes (relayProtocol), else the pair's protocol. */
  protocol?: 'udp' | 'tcp' | 'tls';
  localCandidateType?: string;
  remoteCandidateType?: string;
  localAddress?: string;
  remoteAddress?: string;
  /** TURN server URL of a relayed local candidate. */
  relayUrl?: string;
  rttMs?: number;
  availableOutgoingBitrate?: number;
  /** Outgoing bits per second since the previous report. */
  outgoingBitrate?: number;
  bytesSent: number;
  bytesReceived: number;
  audio?: InboundDetails;
  video?: InboundDetails;
}

function entries(input: StatsInput | undefined): StatsEntry[] {
  if (input === undefined) return [];
  const list =
    'values' in input && typeof input.values === 'function' ? input.values() : (input as Iterable<unknown>);
  const out: StatsEntry[] = [];
  for (const v of list) if (typeof v === 'object' && v !== null) out.push(v as StatsEntry);
  return out;
}

const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

function selectedPair(all: StatsEntry[]): StatsEntry | undefined {
  const byId = new Map(all.map((e) => [str(e.id), e]));
  for (const t of all) {
    if (t.type !== 'transport') continue;
    const id = str(t.selectedCandidatePairId);
    const pair = id === undefined ? undefined : byId.get(id);
    if (pair !== undefined) return pair;
  }
  // Firefox marks the pair itself; others: the nominated pair that succeeded.
  return (
    all.find((e) => e.type === 'candidate-pair' && e.selected === true) ??
    all.find((e) => e.type === 'candidate-pair' && e.nominated === true && e.state === 'succeeded')
  );
}

function protocolOf(local: StatsEntry | undefined): ConnectionDetails['protocol'] {
  if (local === undefined) return undefined;
  const p = local.candidateType === 'relay' ? str(local.relayProtocol) : str(local.protocol);
  return p === 'udp' || p === 'tcp' || p === 'tls' ? p : undefined;
}

function rate(bytes: number, prevBytes: number | undefined, ms: number | undefined): number | undefined {
  if (prevBytes === undefined || ms === undefined || ms <= 0 || bytes < prevBytes) return undefined;
  return Math.round(((bytes - prevBytes) * 8 * 1000) / ms);
}

function inbound(kind: 'audio' | 'video', all: StatsEntry[], prev: StatsEntry[]): InboundDetails | undefined {
  const rtp = all.filter((e) => e.type === 'inbound-rtp' && e.kind === kind);
  if (rtp.length === 0) return undefined;
  const sum = (list: StatsEntry[], f: string) => list.reduce((a, e) => a + (num(e[f]) ?? 0), 0);
  const bytes = sum(rtp, 'bytesReceived');
  const prevRtp = prev.filter((e) => e.type === 'inbound-rtp' && e.kind === kind);
  const ts = num(rtp[0]?.timestamp);
  const prevTs = num(prevRtp[0]?.timestamp);
  const first = rtp[0] ?? {};
  const out: InboundDetails = {
    bytes,
    packets: sum(rtp, 'packetsReceived'),
    packetsLost: sum(rtp, 'packetsLost'),
  };
  const bitrate = rate(
    bytes,
    prevRtp.length > 0 ? sum(prevRtp, 'bytesReceived') : undefined,
    ts !== undefined && prevTs !== undefined ? ts - prevTs : undefined,
  );
  if (bitrate !== undefined) out.bitrate = bitrate;
  const jitter = num(first.jitter);
  if (jitter !== undefined) out.jitterMs = Math.round(jitter * 1000);
  if (kind === 'audio') {
    // Newer browsers put audioLevel on inbound-rtp; older ones on the track/media-source entry.
    const level =
      num(first.audioLevel) ??
      num(all.find((e) => e.kind === 'audio' && num(e.audioLevel) !== undefined)?.audioLevel);
    if (level !== undefined) out.audioLevel = level;
  } else {
    const decoded = num(first.framesDecoded);
    if (decoded !== undefined) out.framesDecoded = sum(rtp, 'framesDecoded');
    for (const f of ['frameWidth', 'frameHeight', 'framesPerSecond'] as const) {
      const v = num(first[f]);
      if (v !== undefined) out[f] = v;
    }
  }
  return out;
}

/** The "Connection details" of one peer connection; `previous` (an earlier report) gives rates. */
export function connectionDetails(stats: StatsInput, previous?: StatsInput): ConnectionDetails {
  const all = entries(stats);
  const prev = entries(previous);
  const byId = new Map(all.map((e) => [str(e.id), e]));
  const pair = selectedPair(all);
  const local = pair === undefined ? undefined : byId.get(str(pair.localCandidateId));
  const remote = pair === undefined ? undefined : byId.get(str(pair.remoteCandidateId));
  const out: ConnectionDetails = {
    route:
      local === undefined || remote === undefined
        ? 'unknown'
        : local.candidateType === 'relay' || remote.candidateType === 'relay'
          ? 'relay'
          : 'direct',
    bytesSent: num(pair?.bytesSent) ?? 0,
    bytesReceived: num(pair?.bytesReceived) ?? 0,
  };
  const protocol = protocolOf(local);
  if (protocol !== undefined) out.protocol = protocol;
  const set = <K extends keyof ConnectionDetails>(k: K, v: ConnectionDetails[K] | undefined) => {
    if (v !== undefined) out[k] = v;
  };
  set('localCandidateType', str(local?.candidateType));
  set('remoteCandidateType', str(remote?.candidateType));
  const addr = (c: StatsEntry | undefined) => {
    const a = str(c?.address) ?? str(c?.ip);
    const p = num(c?.port);
    return a === undefined ? undefined : p === undefined ? a : `${a.includes(':') ? `[${a}]` : a}:${p}`;
  };
  set('localAddress', addr(local));
  set('remoteAddress', addr(remote));
  set('relayUrl', str(local?.url));
  const rtt = num(pair?.currentRoundTripTime);
  if (rtt !== undefined) out.rttMs = Math.round(rtt * 1000);
  set('availableOutgoingBitrate', num(pair?.availableOutgoingBitrate));
  const prevPair = prev.find((e) => e.id === pair?.id);
  const ms = (num(pair?.timestamp) ?? 0) - (num(prevPair?.timestamp) ?? Number.NaN);
  set('outgoingBitrate', rate(out.bytesSent, num(prevPair?.bytesSent), Number.isNaN(ms) ? undefined : ms));
  set('audio', inbound('audio', all, prev));
  set('video', inbound('video', all, prev));
  return out;
}

/** Inbound RTP bytes of a report: the stall detector watches this grow. */
export function inboundBytes(stats: StatsInput): number {
  return entries(stats)
    .filter((e) => e.type === 'inbound-rtp')
    .reduce((a, e) => a + (num(e.bytesReceived) ?? 0), 0);
}

/** What the stall detector reads from one getStats report (see `mediaHealthy`). */
export interface MediaProgress {
  bytes: number;
  audioPackets?: number;
  videoPackets?: number;
  videoFrames?: number;
  /** The selected candidate pair: a new one is a new route (an ICE restart took effect). */
  route?: string;
}

export function mediaProgress(stats: StatsInput): MediaProgress {
  const all = entries(stats);
  const rtp = (kind: string) => all.find((e) => e.type === 'inbound-rtp' && e.kind === kind);
  const audio = rtp('audio');
  const video = rtp('video');
  const out: MediaProgress = { bytes: inboundBytes(stats) };
  const audioPackets = num(audio?.packetsReceived);
  if (audioPackets !== undefined) out.audioPackets = audioPackets;
  const videoPackets = num(video?.packetsReceived);
  if (videoPackets !== undefined) out.videoPackets = videoPackets;
  const videoFrames = num(video?.framesDecoded);
  if (videoFrames !== undefined) out.videoFrames = videoFrames;
  const route = str(selectedPair(all)?.id);
  if (route !== undefined) out.route = route;
  return out;
}

/**
 * Opus sends 50 packets a second, silence and a muted microphone included (no DTX): far fewer
 * than this many arriving means the route is starving, not that the peer went quiet.
 */
export const MIN_AUDIO_PACKETS_PER_SECOND = 15;

/**
 * Whether media made real progress between two samples `ms` apart. Bytes growing is not enough:
 * a censor that throttles UDP after the first packets lets a trickle through, so bytes grow while
 * audio arrives at a few packets a second and video packets arrive without a frame ever being
 * whole. Video that simply stopped (camera off) sends no packets and is not a stall.
 */
export function mediaHealthy(prev: MediaProgress, cur: MediaProgress, ms: number): boolean {
  if (!mediaFed(prev, cur, ms)) return false;
  const videoArrives = (cur.videoPackets ?? 0) > (prev.videoPackets ?? 0);
  const framesDecoded = (cur.videoFrames ?? 0) > (prev.videoFrames ?? 0);
  return !(videoArrives && !framesDecoded);
}

/**
 * The route carries media at all: bytes grow and audio arrives at a rate no live call falls below.
 * Unlike `mediaHealthy` it asks nothing of video, whose first frame may take a while to decode.
 */
export function mediaFed(prev: MediaProgress, cur: MediaProgress, ms: number): boolean {
  if (cur.bytes <= prev.bytes) return false;
  if (ms <= 0 || cur.audioPackets === undefined || prev.audioPackets === undefined) return true;
  return ((cur.audioPackets - prev.audioPackets) * 1000) / ms >= MIN_AUDIO_PACKETS_PER_SECOND;
}

export interface StallOptions {
  /** Media not healthy this long counts as a stall (3000). */
  stallMs?: number;
  /** How long a route counts as young after ICE chose it (4000). */
  youngMs?: number;
  /** A young route that carries no media (`mediaFed`) this long counts as a stall (750). */
  starvedMs?: number;
}

export type StallVerdict = 'stalled' | 'recovered' | undefined;

/** What had arrived when ICE connected: the baseline of a detector's first sample. */
const NOTHING_YET: MediaProgress = { bytes: 0, audioPackets: 0 };

/**
 * Decides from successive samples whether a connected call's media stalled or came back.
 *
 * Two clocks: media not healthy for `stallMs` (a network that broke, or a trickle that never
 * makes a whole video frame) is a stall at any age; a route that starves right after ICE chose it
 * is one within `starvedMs`. The second is the censor of the brief's P4, which lets a flow's first
 * packets through (ICE's checks, enough to pick UDP) and then throttles it: waiting the full
 * `stallMs` there is what kept calls from connecting in under 3 s. On a working route audio flows
 * from the first moment (Opus never stops, see MIN_AUDIO_PACKETS_PER_SECOND), so a young route
 * without it is broken, not slow.
 *
 * After an ICE restart (`restarted`) nothing is judged until the new route is selected or
 * `stallMs` passed: the old route starves on while the new one comes up. A stall that lasts is
 * reported again every `stallMs`, so that a restart that did not help is followed by another.
 */
export class StallDetector {
  readonly #stallMs: number;
  readonly #youngMs: number;
  readonly #starvedMs: number;
  #last: { progress: MediaProgress; at: number } | undefined;
  #route: string | undefined;
  #routeAt: number;
  #healthyAt: number;
  #fedAt: number;
  #quietUntil = 0;
  #stalled = false;
  #nextReportAt = 0;

  constructor(now: number, o: StallOptions = {}) {
    this.#stallMs = o.stallMs ?? 3000;
    this.#youngMs = o.youngMs ?? 4000;
    this.#starvedMs = o.starvedMs ?? 750;
    this.#routeAt = now;
    this.#healthyAt = now;
    this.#fedAt = now;
  }

  /** Whether the route is young at `now`: the engine samples more often then. */
  young(now: number): boolean {
    return now - this.#routeAt < this.#youngMs;
  }

  /** An ICE restart began (ours or the peer's). */
  restarted(now: number): void {
    this.#quietUntil = now + this.#stallMs;
  }

  /** ICE reports connected again: the clocks start over. */
  reconnected(now: number): void {
    this.#stalled = false;
    this.#nextReportAt = 0;
    this.#healthyAt = Math.max(this.#healthyAt, now);
    this.#fedAt = Math.max(this.#fedAt, now);
  }

  sample(progress: MediaProgress, now: number): StallVerdict {
    // The first sample is judged against nothing at the moment ICE connected: a route that
    // starves from its first packets (P4) is then seen 750 ms after connecting, not 750 ms after
    // a first sample that only saw that some bytes came.
    let last: { progress: MediaProgress; at: number } | undefined = this.#last ?? {
      progress: NOTHING_YET,
      at: this.#routeAt,
    };
    this.#last = { progress, at: now };
    // A report without a selected pair (a new connection still checking) changes nothing.
    if (progress.route !== undefined && progress.route !== this.#route) {
      // The first sample names the first route; only a later change is a restart taking effect.
      if (this.#route !== undefined) {
        this.#routeAt = now;
        // A new peer connection counts from zero: no comparing with the old one's totals, and
        // nothing to judge until its second sample.
        last = undefined;
      }
      this.#route = progress.route;
      this.#quietUntil = 0;
      this.#nextReportAt = 0;
      this.#healthyAt = Math.max(this.#healthyAt, this.#routeAt);
      this.#fedAt = Math.max(this.#fedAt, this.#routeAt);
    }
    const healthy = last !== undefined && mediaHealthy(last.progress, progress, now - last.at);
    const fed = last !== undefined && mediaFed(last.progress, progress, now - last.at);
    if (healthy) this.#healthyAt = now;
    if (fed) this.#fedAt = now;
    if (this.#stalled && healthy) {
      this.#stalled = false;
      return 'recovered';
    }
    if (now < this.#quietUntil || now < this.#nextReportAt) return undefined;
    const starved = this.young(now) && now - this.#fedAt >= this.#starvedMs;
    if (!starved && now - this.#healthyAt < this.#stallMs) return undefined;
    this.#stalled = true;
    this.#nextReportAt = now + this.#stallMs;
    return 'stalled';
  }
}
