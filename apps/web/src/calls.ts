/**
 * The app's side of calls. The SDK (`client.calls`) runs signalling, ringing and history; the
 * engine of @kolokol/calls runs the RTCPeerConnection with SFrame. This holds what the call screen
 * shows: the one live call, its streams, mute/camera/screen-share state, the connection details
 * from getStats once a second, and the call history. Nothing here renders.
 */
import {
  type BrowserMediaEngine,
  browserMediaFactory,
  type ConnectionDetails,
  connectionDetails,
  type IceUrlKind,
  iceServerSource,
  restrictIceServers,
  withFrontRelays,
} from '@kolokol/calls';
import SFrameWorker from '@kolokol/calls/sframe-worker?worker';
import { type Call, type CallRecord, ClientEvent, type KolokolClient } from '@kolokol/sdk';
import { type ToneKind, TonePlayer, type ToneProbe } from './tones.ts';

const STATS_MS = 1000;
const HISTORY_LIMIT = 50;

export interface CallHost {
  readonly client: KolokolClient;
  changed(): void;
  onCallEnded(call: Call, record: CallRecord): void;
}

/** What the test suite may reach in the page, only when localStorage `kolokol:test-hooks` is '1'. */
export interface CallTestHooks {
  stats(): Promise<Record<string, unknown>[]>;
  /**
   * `iceOnly` keeps only the ICE server URLs of these kinds (from the next call on; null: all of
   * them again), so an end-to-end test or benchmark can force one route, e.g. 'turns' for TURN over
   * TLS on the app's own port, through the browser's real ICE agent. No user setting does this.
   */
  configure(o: {
    ringTimeoutMs?: number;
    connectTimeoutMs?: number;
    iceOnly?: IceUrlKind | IceUrlKind[] | null;
  }): void;
  state(): string | undefined;
  /** The call tone this device plays (ringback, ring or none), measured from the audio graph. */
  tone(): ToneProbe;
  /** The tracks the peer connection sends now (after device switches and screen sharing). */
  senders(): { kind: string; id: string; label: string; enabled: boolean; readyState: string }[];
}

export class CallController {
  readonly #host: CallHost;
  /** The live call of this device (the SDK allows one at a time). */
  call: Call | undefined;
  localStream: MediaStream | undefined;
  remoteStream: MediaStream | undefined;
  muted = false;
  cameraOff = false;
  sharing = false;
  volume = 1;
  details: ConnectionDetails | undefined;
  history: CallRecord[] = [];
  /** Selected input devices (deviceId); undefined: the browser's default. */
  micId: string | undefined;
  camId: string | undefined;
  readonly #tones = new TonePlayer();
  #previous: RTCStatsReport | undefined;
  #timer: ReturnType<typeof setInterval> | undefined;
  #screen: MediaStreamTrack | undefined;
  /** Set only through the test hooks. */
  #iceOnly: readonly IceUrlKind[] | undefined;
  readonly #off: (() => void)[] = [];

  constructor(host: CallHost) {
    this.#host = host;
  }

  get #client(): KolokolClient {
    return this.#host.client;
  }

  /** The tone that plays now; the call panel and the incoming-call dialog expose it as `data-tone`. */
  get tone(): ToneKind | undefined {
    return this.#tones.kind;
  }

  get engine(): BrowserMediaEngine | undefined {
    return this.call?.media as BrowserMediaEngine | undefined;
  }

  start(): void {
    const c = this.#client;
    const iceServers = iceServerSource(() => c.turnServers());
    c.calls.configure({
      media: browserMediaFactory({
        iceServers: async ({ restart }) => {
          const fetched = await iceServers();
          // A restart may also go through the server's other fronts (the first may have frozen).
          const all = restart ? withFrontRelays(fetched, c.fronts.all()) : fetched;
          return this.#iceOnly === undefined ? all : restrictIceServers(all, this.#iceOnly);
        },
        getLocalStream: ({ video }) => this.#openLocal(video),
        createWorker: () => new SFrameWorker(),
        onRemoteTrack: ({ callId, track, streams }) => {
          if (this.call?.id !== callId) return;
          const stream = streams[0] ?? this.remoteStream ?? new MediaStream();
          if (!stream.getTracks().includes(track)) stream.addTrack(track);
          this.remoteStream = stream;
          this.#changed();
        },
      }),
    });
    const onIncoming = (call: Call) => {
      // The SDK already answers `busy` when we are in another call; show only the one we have.
      if (this.call === undefined || this.call.state === 'ended') this.#take(call);
      this.#changed();
    };
    const onUpdated = (call: Call) => {
      if (call.id === this.call?.id) {
        if (call.state === 'connected') this.#watchStats();
        this.#changed();
      }
    };
    const onEnded = (call: Call, record: CallRecord) => {
      if (call.id === this.call?.id) this.#reset();
      this.history = [record, ...this.history.filter((r) => r.callId !== record.callId)].slice(
        0,
        HISTORY_LIMIT,
      );
      this.#host.onCallEnded(call, record);
      this.#changed();
    };
    c.on(ClientEvent.CallIncoming, onIncoming);
    c.on(ClientEvent.CallUpdated, onUpdated);
    c.on(ClientEvent.CallEnded, onEnded);
    this.#off.push(
      () => c.off(ClientEvent.CallIncoming, onIncoming),
      () => c.off(ClientEvent.CallUpdated, onUpdated),
      () => c.off(ClientEvent.CallEnded, onEnded),
    );
    void this.reloadHistory();
    if (localStorage.getItem('kolokol:test-hooks') === '1') {
      const hooks: CallTestHooks = {
        stats: async () => {
          const report = await this.engine?.getStats();
          const out: Record<string, unknown>[] = [];
          report?.forEach((s: Record<string, unknown>) => {
            out.push({ ...s });
          });
          return out;
        },
        configure: ({ iceOnly, ...calls }) => {
          if (iceOnly !== undefined)
            this.#iceOnly = iceOnly === null ? undefined : Array.isArray(iceOnly) ? iceOnly : [iceOnly];
          c.calls.configure(calls);
        },
        state: () => this.call?.state,
        tone: () => this.#tones.probe(),
        senders: () =>
          (this.engine?.pc.getSenders() ?? []).flatMap((s) =>
            s.track === null
              ? []
              : [
                  {
                    kind: s.track.kind,
                    id: s.track.id,
                    label: s.track.label,
                    enabled: s.track.enabled,
                    readyState: s.track.readyState,
                  },
                ],
          ),
      };
      (globalThis as { __kolokolCalls?: CallTestHooks }).__kolokolCalls = hooks;
    }
  }

  stop(): void {
    for (const off of this.#off) off();
    this.#reset();
    this.#tones.close();
  }

  async reloadHistory(): Promise<void> {
    try {
      this.history = await this.#client.calls.history({ limit: HISTORY_LIMIT });
      this.#changed();
    } catch (e) {
      console.warn('kolokol: call history', e);
    }
  }

  async startCall(conversationId: string, video: boolean): Promise<void> {
    let call: Call;
    try {
      call = await this.#client.calls.start(conversationId, { video });
    } catch (e) {
      this.#reset();
      throw e;
    }
    this.#take(call);
    this.#changed();
  }

  async accept(): Promise<void> {
    await this.call?.accept();
  }

  async decline(): Promise<void> {
    await this.call?.decline();
  }

  async hangup(): Promise<void> {
    await this.call?.hangup();
  }

  toggleMute(): void {
    this.muted = !this.muted;
    for (const t of this.localStream?.getAudioTracks() ?? []) t.enabled = !this.muted;
    this.#changed();
  }

  toggleCamera(): void {
    this.cameraOff = !this.cameraOff;
    for (const t of this.localStream?.getVideoTracks() ?? []) t.enabled = !this.cameraOff;
    this.#changed();
  }

  setVolume(v: number): void {
    this.volume = Math.min(1, Math.max(0, v));
    this.#changed();
  }

  /** Swaps the microphone or camera without renegotiating: the sender (and its SFrame transform) stays. */
  async switchDevice(kind: 'audio' | 'video', deviceId: string): Promise<void> {
    const stream = await navigator.mediaDevices.getUserMedia(
      kind === 'audio'
        ? { audio: { deviceId: { exact: deviceId } } }
        : { video: { deviceId: { exact: deviceId } } },
    );
    const track = kind === 'audio' ? stream.getAudioTracks()[0] : stream.getVideoTracks()[0];
    if (track === undefined) return;
    if (kind === 'audio') this.micId = deviceId;
    else this.camId = deviceId;
    track.enabled = kind === 'audio' ? !this.muted : !this.cameraOff;
    const local = this.localStream;
    const old = kind === 'audio' ? local?.getAudioTracks()[0] : local?.getVideoTracks()[0];
    if (!(kind === 'video' && this.sharing)) await this.#replace(kind, track);
    if (local !== undefined) {
      if (old !== undefined) {
        local.removeTrack(old);
        old.stop();
      }
      local.addTrack(track);
    }
    this.#changed();
  }

  /** Screen sharing replaces the camera track of a video call; stopping it puts the camera back. */
  async toggleScreen(): Promise<void> {
    if (this.sharing) {
      this.#stopScreen();
      return;
    }
    const display = await navigator.mediaDevices.getDisplayMedia({ video: true, audio: false });
    const track = display.getVideoTracks()[0];
    if (track === undefined) return;
    this.#screen = track;
    track.addEventListener('ended', () => this.#stopScreen());
    await this.#replace('video', track);
    this.sharing = true;
    this.#changed();
  }

  #stopScreen(): void {
    const screen = this.#screen;
    this.#screen = undefined;
    this.sharing = false;
    screen?.stop();
    const cam = this.localStream?.getVideoTracks()[0];
    if (cam !== undefined) void this.#replace('video', cam).catch(() => {});
    this.#changed();
  }

  async #replace(kind: 'audio' | 'video', track: MediaStreamTrack): Promise<void> {
    const sender = this.engine?.pc.getSenders().find((s) => s.track?.kind === kind);
    await sender?.replaceTrack(track);
  }

  async #openLocal(video: boolean): Promise<MediaStream> {
    const stream = await navigator.mediaDevices.getUserMedia({
      audio: this.micId === undefined ? true : { deviceId: this.micId },
      video: video ? (this.camId === undefined ? true : { deviceId: this.camId }) : false,
    });
    this.localStream = stream;
    this.muted = false;
    this.cameraOff = false;
    this.#changed();
    return stream;
  }

  /**
   * Every change of the call passes here, so the tone follows the call state and nothing else:
   * ringback only once a callee device reported that it rings (the caller hears ringing exactly
   * while the callee's phone rings), a ring while ours does, and silence on answer, decline,
   * busy, timeout, cancel or hang-up.
   */
  #changed(): void {
    const call = this.call;
    const tone: ToneKind | undefined =
      call?.state === 'ringing-out' && call.remoteRinging
        ? 'ringback'
        : call?.state === 'ringing-in'
          ? 'ring'
          : undefined;
    this.#tones.play(tone);
    this.#host.changed();
  }

  #take(call: Call): void {
    if (this.call !== undefined && this.call.id !== call.id) this.#reset();
    this.call = call;
  }

  #watchStats(): void {
    if (this.#timer !== undefined) return;
    const tick = async () => {
      const engine = this.engine;
      if (engine === undefined) return;
      try {
        const report = await engine.getStats();
        this.details = connectionDetails(report, this.#previous);
        this.#previous = report;
        this.#changed();
      } catch {
        // The connection closed between two ticks.
      }
    };
    void tick();
    this.#timer = setInterval(() => void tick(), STATS_MS);
  }

  #reset(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#previous = undefined;
    this.#screen?.stop();
    this.#screen = undefined;
    for (const t of this.localStream?.getTracks() ?? []) t.stop();
    this.call = undefined;
    this.localStream = undefined;
    this.remoteStream = undefined;
    this.details = undefined;
    this.muted = false;
    this.cameraOff = false;
    this.sharing = false;
    this.#tones.play(undefined);
  }
}
