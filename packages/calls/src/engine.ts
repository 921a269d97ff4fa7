/**
 * The browser MediaEngine: one RTCPeerConnection per call, driven by the SDK's CallManager
 * (`client.calls.configure({ media: browserMediaFactory(...) })`). It
 * - takes ICE servers from GET /v1/turn (through `iceServers`) and `iceTransportPolicy` from the
 *   SDK, which decides 'relay' for anyone outside the user's contacts;
 * - encrypts every sent frame and decrypts every received frame with SFrame in a worker
 *   (RTCRtpScriptTransform), keyed from the conversation's MLS epoch, re-keyed on every epoch;
 *   without RTCRtpScriptTransform it refuses to start rather than send media without end-to-end
 *   encryption;
 * - watches getStats (StallDetector): when inbound media stops making progress for `stallMs` (3 s),
 *   or a route that ICE has just chosen starves (750 ms), it reports 'disconnected', and the SDK
 *   has the caller restart ICE. Both sides of a restart leave out TURN over UDP from then on (see
 *   `#avoidUdp`).
 * Candidates travel as bare candidate lines; with max-bundle every candidate belongs to the first
 * m-line, so the receiver adds them with sdpMLineIndex 0.
 */
import type { MlsSFrameEpoch } from '@kolokol/crypto';
import type { MediaEngine, MediaEngineFactory, MediaEngineOptions, MediaState } from '@kolokol/sdk';
import { type IceServerConfig, type IceUrlKind, restrictIceServers, urlsOf } from './ice.ts';
import type { WorkerMessage } from './sframe.ts';
import { mediaProgress, StallDetector, type StallOptions } from './stats.ts';

export interface BrowserMediaOptions {
  /**
   * ICE servers, e.g. `iceServerSource(() => api.get('/v1/turn'))`. Asked again for each restart
   * (`restart: true`), when TURN over TLS on the server's other fronts is worth adding
   * (`withFrontRelays`): the front the call started on may be the one that froze.
   */
  iceServers: (o: { restart: boolean }) => Promise<IceServerConfig[]>;
  /** Local microphone (and camera when the call has video). */
  getLocalStream: (o: { video: boolean; callId: string }) => Promise<MediaStream>;
  /** A new SFrame worker (src/sframe-worker.ts), one per call. */
  createWorker: () => Worker;
  /** Remote tracks, as they arrive. */
  onRemoteTrack?: (o: { callId: string; track: MediaStreamTrack; streams: readonly MediaStream[] }) => void;
  /** When media counts as stalled: see StallDetector. */
  stall?: StallOptions;
  /** How often getStats is polled (1000; 250 while the route is young). */
  statsIntervalMs?: number;
}

/** A young route is sampled this often: its starvation must be seen within StallOptions.starvedMs. */
const YOUNG_STATS_MS = 250;

/** `turns:` and `turn:…?transport=tcp`: the relay routes a UDP-starving censor leaves alone. */
const STREAM_RELAYS: readonly IceUrlKind[] = ['turn-tcp', 'turns'];

/** How long a restart waits for ICE servers before it goes ahead with the ones it has. */
const RESTART_SERVERS_MS = 1000;

/** Remote candidates kept for a description not applied yet (they travel faster than offers). */
const MAX_STASHED_CANDIDATES = 64;

export class BrowserMediaEngine implements MediaEngine {
  readonly localStream: MediaStream;
  readonly #worker: Worker;
  readonly #o: BrowserMediaOptions;
  readonly #callId: string;
  #config: RTCConfiguration;
  #pc: RTCPeerConnection;
  /** The transport a restart replaces: it carries what media it can until its successor connects. */
  #retiring: RTCPeerConnection | undefined;
  /** Remote candidates whose ICE ufrag belongs to a description not applied yet, by ufrag. */
  readonly #stash = new Map<string, string[]>();
  #onCandidate: (c: string) => void = () => {};
  #onState: (s: MediaState) => void = () => {};
  #timer: ReturnType<typeof setTimeout> | undefined;
  #detector: StallDetector | undefined;
  #closed = false;

  private constructor(
    o: BrowserMediaOptions,
    opts: MediaEngineOptions,
    config: RTCConfiguration,
    stream: MediaStream,
    worker: Worker,
  ) {
    this.#o = o;
    this.#callId = opts.callId;
    this.#config = config;
    this.localStream = stream;
    this.#worker = worker;
    this.#pc = this.#transport(stream.getTracks());
  }

  static async create(o: BrowserMediaOptions, opts: MediaEngineOptions): Promise<BrowserMediaEngine> {
    if (typeof RTCRtpScriptTransform === 'undefined')
      throw new Error('this browser cannot encrypt call media end to end (no RTCRtpScriptTransform)');
    const config: RTCConfiguration = {
      iceServers: rtcServers(await o.iceServers({ restart: false })),
      iceTransportPolicy: opts.iceTransportPolicy,
      bundlePolicy: 'max-bundle',
      rtcpMuxPolicy: 'require',
    };
    const stream = await o.getLocalStream({ video: opts.video, callId: opts.callId });
    const worker = o.createWorker();
    try {
      return new BrowserMediaEngine(o, opts, config, stream, worker);
    } catch (e) {
      // A configuration the browser refuses (a malformed server URL): nothing may stay open.
      for (const t of stream.getTracks()) t.stop();
      worker.terminate();
      throw e;
    }
  }

  /** The peer connection that carries the call now (a restart replaces it, see `restartIce`). */
  get pc(): RTCPeerConnection {
    return this.#pc;
  }

  /** A peer connection sending `tracks`, every sender and receiver behind the SFrame worker. */
  #transport(tracks: readonly MediaStreamTrack[]): RTCPeerConnection {
    const pc = new RTCPeerConnection(this.#config);
    pc.onicecandidate = (ev) => {
      if (pc !== this.#pc) return;
      if (ev.candidate !== null && ev.candidate.candidate !== '') this.#onCandidate(ev.candidate.candidate);
    };
    pc.onconnectionstatechange = () => this.#connectionState(pc);
    pc.ontrack = (ev) => {
      if (ev.receiver.transform === null) this.#protect(ev.receiver, 'receive', ev.track.kind);
      if (pc === this.#pc)
        this.#o.onRemoteTrack?.({ callId: this.#callId, track: ev.track, streams: ev.streams });
    };
    // The receiver of a transceiver that addTrack created gets its transform here, with the
    // sender's: Chromium (156) never feeds frames to a receive transform set later, in ontrack,
    // on such a transceiver (the callee's offer m-lines and the caller's answer reuse them), so
    // the peer's media reached the decoder still sealed.
    for (const track of tracks) {
      const sender = pc.addTrack(track, this.localStream);
      this.#protect(sender, 'send', track.kind);
      const receiver = pc.getTransceivers().find((t) => t.sender === sender)?.receiver;
      if (receiver !== undefined) this.#protect(receiver, 'receive', track.kind);
    }
    return pc;
  }

  #protect(target: RTCRtpSender | RTCRtpReceiver, direction: 'send' | 'receive', kind: string): void {
    target.transform = new RTCRtpScriptTransform(this.#worker, { direction, kind });
  }

  async createOffer(): Promise<string> {
    const pc = this.#pc;
    await pc.setLocalDescription(await pc.createOffer());
    return pc.localDescription?.sdp ?? '';
  }
  async createAnswer(): Promise<string> {
    const pc = this.#pc;
    await pc.setLocalDescription(await pc.createAnswer());
    return pc.localDescription?.sdp ?? '';
  }
  async applyRemote(sdp: string, type: 'offer' | 'answer'): Promise<void> {
    const current = this.#pc.remoteDescription?.sdp;
    if (type === 'offer' && current !== undefined) {
      // A second offer is the peer's restart. A new DTLS fingerprint means it built a new
      // transport (see restartIce): this side must too, a DTLS session cannot change its peer.
      this.#detector?.restarted(Date.now());
      await this.#restartServers();
      if (fingerprint(current) !== fingerprint(sdp)) this.#replace();
      else this.#pc.setConfiguration(this.#config);
    }
    const pc = this.#pc;
    await pc.setRemoteDescription({ type, sdp });
    const ufrag = iceUfrag(sdp);
    const early = ufrag === undefined ? undefined : this.#stash.get(ufrag);
    if (ufrag !== undefined) this.#stash.delete(ufrag);
    for (const c of early ?? []) await pc.addIceCandidate({ candidate: c, sdpMLineIndex: 0 }).catch(() => {});
  }
  async addCandidate(candidate: string): Promise<void> {
    const ufrag = candidateUfrag(candidate);
    const remote = this.#pc.remoteDescription?.sdp;
    if (ufrag !== undefined && (remote === undefined || iceUfrag(remote) !== ufrag)) {
      // For a description still on its way (or an old one: then it is never used). Few ufrags
      // are ever live at once; the oldest go first.
      const list = this.#stash.get(ufrag) ?? [];
      if (list.length < MAX_STASHED_CANDIDATES) list.push(candidate);
      this.#stash.delete(ufrag);
      this.#stash.set(ufrag, list);
      for (const key of this.#stash.keys()) {
        if (this.#stash.size <= 4) break;
        this.#stash.delete(key);
      }
      return;
    }
    await this.#pc.addIceCandidate({ candidate, sdpMLineIndex: 0 });
  }
  /**
   * A restart builds a new peer connection instead of restarting ICE on the old one: while the old
   * route still lets a trickle through (the brief's P4 throttles UDP rather than dropping it),
   * Chromium counts it as working and prunes every new candidate pair of a plain ICE restart
   * ("Connection pruned"), checking them only seconds later. A fresh connection has no working
   * route to compare with and checks at full pace. The price is one DTLS handshake; SFrame needs
   * nothing new (the same worker, keys and counters serve both connections).
   */
  async restartIce(): Promise<string> {
    this.#detector?.restarted(Date.now());
    await this.#restartServers();
    const pc = this.#replace();
    await pc.setLocalDescription(await pc.createOffer());
    return pc.localDescription?.sdp ?? '';
  }
  onLocalCandidate(fn: (c: string) => void): void {
    this.#onCandidate = fn;
  }
  onStateChange(fn: (s: MediaState) => void): void {
    this.#onState = fn;
  }
  setKeys(keys: MlsSFrameEpoch): void {
    const msg: WorkerMessage = { type: 'keys', keys };
    this.#worker.postMessage(msg);
  }
  /** The raw report, for connectionDetails(). */
  getStats(): Promise<RTCStatsReport> {
    return this.#pc.getStats();
  }
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    for (const t of this.localStream.getTracks()) t.stop();
    this.#retiring?.close();
    this.#pc.close();
    this.#worker.terminate();
  }

  /** The current connection makes way for a new one with the same tracks (see restartIce). */
  #replace(): RTCPeerConnection {
    const old = this.#pc;
    // The tracks it sends now: a switched camera or a shared screen stays switched.
    const tracks = old.getSenders().flatMap((s) => (s.track === null ? [] : [s.track]));
    // Of two restarts in a row the one in between never carried media: the first connection is
    // the one to keep until the newest connects.
    if (this.#retiring === undefined) this.#retiring = old;
    else old.close();
    this.#pc = this.#transport(tracks);
    return this.#pc;
  }

  #connectionState(pc: RTCPeerConnection): void {
    if (pc !== this.#pc) return;
    switch (pc.connectionState) {
      case 'connected':
        this.#retiring?.close();
        this.#retiring = undefined;
        this.#detector?.reconnected(Date.now());
        this.#onState('connected');
        this.#watch();
        return;
      case 'disconnected':
        this.#onState('disconnected');
        return;
      case 'failed':
        this.#onState('failed');
        return;
      default:
        return;
    }
  }

  /**
   * An ICE restart (ours or the peer's) happens only when media stalled or the route broke. The
   * censors of the brief starve UDP once a call is up (P4: a trickle after the first packets), and
   * a restart that offers the same UDP relay again reconnects over the same starved flow (ICE's
   * checks fit through the trickle). So from the first restart on, this call gathers only TURN over
   * TCP and TLS, which such a censor leaves alone; a call that loses UDP for a network blip pays
   * with a little latency, never with the call.
   */
  async #restartServers(): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    // Credentials are cached, so this is normally at once; a fetch that hangs on a frozen front
    // must not hold the restart, which then goes ahead with what it has.
    const fresh = await Promise.race([
      this.#o.iceServers({ restart: true }).catch(() => undefined),
      new Promise<undefined>((resolve) => {
        timer = setTimeout(() => resolve(undefined), RESTART_SERVERS_MS);
      }),
    ]);
    clearTimeout(timer);
    if (fresh !== undefined && fresh.length > 0)
      this.#config = { ...this.#config, iceServers: rtcServers(fresh) };
    this.#avoidUdp();
  }

  #avoidUdp(): void {
    const servers = this.#config.iceServers ?? [];
    const kept = restrictIceServers(servers, STREAM_RELAYS);
    const count = (list: readonly IceServerConfig[]) => list.flatMap(urlsOf).length;
    // Nothing but UDP configured (a deployment without TCP/TLS relays): keep what there is.
    if (kept.length === 0 || count(kept) === count(servers)) return;
    // Relay only, too: host and server-reflexive candidates are UDP as well.
    this.#config = { ...this.#config, iceServers: rtcServers(kept), iceTransportPolicy: 'relay' };
  }

  /**
   * Media can stop, or starve to a trickle, while ICE still says connected (a censor throttling
   * UDP): watch what arrives, not just ICE's state.
   */
  #watch(): void {
    if (this.#detector !== undefined) return;
    const detector = new StallDetector(Date.now(), this.#o.stall);
    this.#detector = detector;
    const next = () => {
      if (this.#closed) return;
      const ms = detector.young(Date.now()) ? YOUNG_STATS_MS : (this.#o.statsIntervalMs ?? 1000);
      this.#timer = setTimeout(() => {
        this.#pc
          .getStats()
          .then((report) => {
            const verdict = detector.sample(mediaProgress(report), Date.now());
            if (verdict === 'stalled') this.#onState('disconnected');
            else if (verdict === 'recovered') this.#onState('connected');
          })
          .catch(() => {})
          .finally(next);
      }, ms);
    };
    next();
  }
}

function rtcServers(servers: readonly IceServerConfig[]): RTCIceServer[] {
  return servers.map((s) => ({
    urls: s.urls,
    ...(s.username === undefined ? {} : { username: s.username }),
    ...(s.credential === undefined ? {} : { credential: s.credential }),
  }));
}

/** The session's ICE username fragment. */
function iceUfrag(sdp: string): string | undefined {
  return /^a=ice-ufrag:(\S+)/m.exec(sdp)?.[1];
}

/** The ICE username fragment a candidate line names (Chromium and Firefox add it), if any. */
function candidateUfrag(candidate: string): string | undefined {
  return /\sufrag\s+(\S+)/.exec(candidate)?.[1];
}

/** The DTLS certificate fingerprint of a description: a new one is a new peer connection. */
function fingerprint(sdp: string): string | undefined {
  return /^a=fingerprint:(.+)$/m.exec(sdp)?.[1]?.trim();
}

/** The factory to hand to `client.calls.configure({ media })`. */
export function browserMediaFactory(o: BrowserMediaOptions): MediaEngineFactory {
  return (opts) => BrowserMediaEngine.create(o, opts);
}
