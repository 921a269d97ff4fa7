/**
 * The browser MediaEngine: one RTCPeerConnection per call, driven by the SDK's CallManager
 * (`client.calls.configure({ media: browserMediaFactory(...) })`). It
 * - takes ICE servers from GET /v1/turn (through `iceServers`) and `iceTransportPolicy` from the
 *   SDK, which decides 'relay' for anyone outside the user's contacts;
 * - encrypts every sent frame and decrypts every received frame with SFrame in a worker
 *   (RTCRtpScriptTransform), keyed from the conversation's MLS epoch, re-keyed on every epoch;
 *   without RTCRtpScriptTransform it refuses to start rather than send media without end-to-end
 *   encryption;
 * - watches getStats: when inbound media stops making progress for `stallMs` (3 s) it reports
 *   'disconnected', and the caller's SDK answers with an ICE restart. Both sides of a restart
 *   leave out TURN over UDP from then on (see `#avoidUdp`).
 * Candidates travel as bare candidate lines; with max-bundle every candidate belongs to the first
 * m-line, so the receiver adds them with sdpMLineIndex 0.
 */
import type { MlsSFrameEpoch } from '@kolokol/crypto';
import type { MediaEngine, MediaEngineFactory, MediaEngineOptions, MediaState } from '@kolokol/sdk';
import type { IceServerConfig } from './ice.ts';
import type { WorkerMessage } from './sframe.ts';
import { type MediaProgress, mediaHealthy, mediaProgress } from './stats.ts';

export interface BrowserMediaOptions {
  /** ICE servers, e.g. `iceServerSource(() => api.get('/v1/turn'))`. */
  iceServers: () => Promise<IceServerConfig[]>;
  /** Local microphone (and camera when the call has video). */
  getLocalStream: (o: { video: boolean; callId: string }) => Promise<MediaStream>;
  /** A new SFrame worker (src/sframe-worker.ts), one per call. */
  createWorker: () => Worker;
  /** Remote tracks, as they arrive. */
  onRemoteTrack?: (o: { callId: string; track: MediaStreamTrack; streams: readonly MediaStream[] }) => void;
  /** Inbound media silent this long while connected counts as a stall (3000). */
  stallMs?: number;
  /** How often getStats is polled (1000). */
  statsIntervalMs?: number;
}

export class BrowserMediaEngine implements MediaEngine {
  readonly pc: RTCPeerConnection;
  readonly localStream: MediaStream;
  readonly #worker: Worker;
  readonly #o: BrowserMediaOptions;
  readonly #callId: string;
  #onCandidate: (c: string) => void = () => {};
  #onState: (s: MediaState) => void = () => {};
  #timer: ReturnType<typeof setInterval> | undefined;
  #last: MediaProgress | undefined;
  #lastAt = 0;
  #lastGrowth = 0;
  #stalled = false;
  #closed = false;

  private constructor(
    o: BrowserMediaOptions,
    opts: MediaEngineOptions,
    pc: RTCPeerConnection,
    stream: MediaStream,
    worker: Worker,
  ) {
    this.#o = o;
    this.#callId = opts.callId;
    this.pc = pc;
    this.localStream = stream;
    this.#worker = worker;
    pc.onicecandidate = (ev) => {
      if (ev.candidate !== null && ev.candidate.candidate !== '') this.#onCandidate(ev.candidate.candidate);
    };
    pc.onconnectionstatechange = () => this.#connectionState();
    pc.ontrack = (ev) => {
      if (ev.receiver.transform === null) this.#protect(ev.receiver, 'receive', ev.track.kind);
      o.onRemoteTrack?.({ callId: this.#callId, track: ev.track, streams: ev.streams });
    };
    // The receiver of a transceiver that addTrack created gets its transform here, with the
    // sender's: Chromium (156) never feeds frames to a receive transform set later, in ontrack,
    // on such a transceiver (the callee's offer m-lines and the caller's answer reuse them), so
    // the peer's media reached the decoder still sealed.
    for (const track of stream.getTracks()) {
      const sender = pc.addTrack(track, stream);
      this.#protect(sender, 'send', track.kind);
      const receiver = pc.getTransceivers().find((t) => t.sender === sender)?.receiver;
      if (receiver !== undefined) this.#protect(receiver, 'receive', track.kind);
    }
  }

  static async create(o: BrowserMediaOptions, opts: MediaEngineOptions): Promise<BrowserMediaEngine> {
    if (typeof RTCRtpScriptTransform === 'undefined')
      throw new Error('this browser cannot encrypt call media end to end (no RTCRtpScriptTransform)');
    const iceServers = await o.iceServers();
    const pc = new RTCPeerConnection({
      iceServers: iceServers.map((s) => ({
        urls: s.urls,
        ...(s.username === undefined ? {} : { username: s.username }),
        ...(s.credential === undefined ? {} : { credential: s.credential }),
      })),
      iceTransportPolicy: opts.iceTransportPolicy,
      bundlePolicy: 'max-bundle',
      rtcpMuxPolicy: 'require',
    });
    let stream: MediaStream;
    try {
      stream = await o.getLocalStream({ video: opts.video, callId: opts.callId });
    } catch (e) {
      pc.close();
      throw e;
    }
    return new BrowserMediaEngine(o, opts, pc, stream, o.createWorker());
  }

  #protect(target: RTCRtpSender | RTCRtpReceiver, direction: 'send' | 'receive', kind: string): void {
    target.transform = new RTCRtpScriptTransform(this.#worker, { direction, kind });
  }

  async createOffer(): Promise<string> {
    await this.pc.setLocalDescription(await this.pc.createOffer());
    return this.pc.localDescription?.sdp ?? '';
  }
  async createAnswer(): Promise<string> {
    await this.pc.setLocalDescription(await this.pc.createAnswer());
    return this.pc.localDescription?.sdp ?? '';
  }
  async applyRemote(sdp: string, type: 'offer' | 'answer'): Promise<void> {
    const current = this.pc.remoteDescription?.sdp;
    if (type === 'offer' && current !== undefined && iceUfrag(current) !== iceUfrag(sdp)) this.#avoidUdp();
    await this.pc.setRemoteDescription({ type, sdp });
  }
  async addCandidate(candidate: string): Promise<void> {
    await this.pc.addIceCandidate({ candidate, sdpMLineIndex: 0 });
  }
  async restartIce(): Promise<string> {
    this.#avoidUdp();
    this.pc.restartIce();
    await this.pc.setLocalDescription(await this.pc.createOffer({ iceRestart: true }));
    return this.pc.localDescription?.sdp ?? '';
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
    return this.pc.getStats();
  }
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer !== undefined) clearInterval(this.#timer);
    for (const t of this.localStream.getTracks()) t.stop();
    this.pc.close();
    this.#worker.terminate();
  }

  #connectionState(): void {
    switch (this.pc.connectionState) {
      case 'connected':
        this.#stalled = false;
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
  #avoidUdp(): void {
    const config = this.pc.getConfiguration();
    const servers = config.iceServers ?? [];
    const kept = servers
      .map((s) => ({ ...s, urls: (Array.isArray(s.urls) ? s.urls : [s.urls]).filter(streamTransport) }))
      .filter((s) => s.urls.length > 0);
    const count = (list: RTCIceServer[]) => list.reduce((n, s) => n + urlCount(s), 0);
    // Nothing but UDP configured (a deployment without TCP/TLS relays): keep what there is.
    if (kept.length === 0 || count(kept) === count(servers)) return;
    this.pc.setConfiguration({ ...config, iceServers: kept });
  }

  /**
   * Media can stop, or starve to a trickle, while ICE still says connected (a censor throttling
   * UDP): watch what arrives (`mediaHealthy`), not just ICE's state.
   */
  #watch(): void {
    if (this.#timer !== undefined) return;
    const stallMs = this.#o.stallMs ?? 3000;
    this.#lastGrowth = Date.now();
    this.#timer = setInterval(() => {
      void this.pc.getStats().then((report) => {
        const progress = mediaProgress(report);
        const now = Date.now();
        const healthy =
          this.#last === undefined
            ? progress.bytes > 0
            : mediaHealthy(this.#last, progress, now - this.#lastAt);
        this.#last = progress;
        this.#lastAt = now;
        if (healthy) {
          this.#lastGrowth = now;
          if (this.#stalled) {
            this.#stalled = false;
            this.#onState('connected');
          }
        } else if (!this.#stalled && now - this.#lastGrowth >= stallMs) {
          this.#stalled = true;
          this.#onState('disconnected');
        }
      });
    }, this.#o.statsIntervalMs ?? 1000);
  }
}

/** `turns:` and `turn:…?transport=tcp`: the relay routes a UDP-starving censor leaves alone. */
function streamTransport(url: string): boolean {
  return url.startsWith('turns:') || (url.startsWith('turn:') && /[?&]transport=tcp\b/i.test(url));
}

function urlCount(s: RTCIceServer): number {
  return Array.isArray(s.urls) ? s.urls.length : 1;
}

/** The session's ICE username fragment: a new one in an offer means the peer restarted ICE. */
function iceUfrag(sdp: string): string | undefined {
  return /^a=ice-ufrag:(\S+)/m.exec(sdp)?.[1];
}

/** The factory to hand to `client.calls.configure({ media })`. */
export function browserMediaFactory(o: BrowserMediaOptions): MediaEngineFactory {
  return (opts) => BrowserMediaEngine.create(o, opts);
}
