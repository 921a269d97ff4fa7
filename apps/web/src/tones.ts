/**
 * Call progress tones, synthesised with the Web Audio API: the app downloads no sound files, and
 * the cadence is exact whatever the device. The caller hears ringback while the callee's devices
 * ring; the callee hears a ring. CallController decides which one (or none) from the call state.
 */

export type ToneKind = 'ringback' | 'ring';

interface Cadence {
  /** Sine frequencies sounded together, Hz. */
  readonly hz: readonly number[];
  /** The bursts of one period, as [start, end) in seconds from the start of the period. */
  readonly bursts: readonly (readonly [number, number])[];
  readonly period: number;
}

const CADENCES: Record<ToneKind, Cadence> = {
  // The ringing tone of ITU-T E.180 as Europe and Russia (GOST) use it: 425 Hz, 1 s on, 4 s off.
  ringback: { hz: [425], bursts: [[0, 1]], period: 5 },
  // Unlike ringback on purpose (a two-note chord in double bursts), so that a person with the app
  // open in two tabs can tell an incoming call from their own outgoing one.
  ring: {
    hz: [523.25, 659.25],
    bursts: [
      [0, 0.4],
      [0.6, 1],
    ],
    period: 3,
  },
};

/** Peak gain of the whole tone: audible but well below the level of a voice in the call. */
const LEVEL = 0.2;
/** Fades in and out of every burst: a gain step from 0 to LEVEL clicks. */
const RAMP_S = 0.01;
/**
 * How far ahead the bursts are scheduled on the audio clock. Background tabs run timers late
 * (once a minute after a while), and the audio clock does not wait for them.
 */
const AHEAD_S = 60;

/** What sounds right now, read from the graph itself (for the call test hooks). */
export interface ToneProbe {
  kind: ToneKind | undefined;
  /** The AudioContext runs (a suspended one is silent whatever is scheduled). */
  running: boolean;
  /** RMS of the current output, 0 when silent. */
  level: number;
  /** The strongest frequency in the output, Hz; undefined when silent. */
  peakHz: number | undefined;
}

export class TonePlayer {
  #ctx: AudioContext | undefined;
  #analyser: AnalyserNode | undefined;
  #kind: ToneKind | undefined;
  #stop: (() => void) | undefined;

  get kind(): ToneKind | undefined {
    return this.#kind;
  }

  /** Plays `kind` from the start of its cadence, or silence for undefined; the same kind again is a no-op. */
  play(kind: ToneKind | undefined): void {
    if (kind === this.#kind) return;
    this.#stop?.();
    this.#stop = undefined;
    this.#kind = kind;
    if (kind === undefined) {
      // Suspending releases the audio output between calls.
      void this.#ctx?.suspend().catch(() => {});
      return;
    }
    const ctx = this.#context();
    if (ctx === undefined) return;
    this.#stop = start(ctx, this.#analyser ?? ctx.destination, CADENCES[kind]);
  }

  probe(): ToneProbe {
    const ctx = this.#ctx;
    const analyser = this.#analyser;
    const running = ctx?.state === 'running';
    if (analyser === undefined || !running) return { kind: this.#kind, running, level: 0, peakHz: undefined };
    const wave = new Float32Array(analyser.fftSize);
    analyser.getFloatTimeDomainData(wave);
    let sum = 0;
    for (const v of wave) sum += v * v;
    const level = Math.sqrt(sum / wave.length);
    const spectrum = new Float32Array(analyser.frequencyBinCount);
    analyser.getFloatFrequencyData(spectrum);
    let peak = 0;
    for (let i = 1; i < spectrum.length; i++)
      if ((spectrum[i] ?? -Infinity) > (spectrum[peak] ?? -Infinity)) peak = i;
    const silent = level < 1e-4;
    return {
      kind: this.#kind,
      running,
      level,
      peakHz: silent ? undefined : (peak * ctx.sampleRate) / analyser.fftSize,
    };
  }

  close(): void {
    this.play(undefined);
    void this.#ctx?.close().catch(() => {});
    this.#ctx = undefined;
    this.#analyser = undefined;
  }

  #context(): AudioContext | undefined {
    if (this.#ctx !== undefined) {
      void this.#ctx.resume().catch(() => {});
      return this.#ctx;
    }
    if (typeof AudioContext === 'undefined') return undefined;
    const ctx = new AudioContext();
    // The tones pass through an analyser so the test hooks can prove sound leaves the graph,
    // not merely that a flag was set; reading it costs nothing when nobody does.
    const analyser = new AnalyserNode(ctx, { fftSize: 8192, smoothingTimeConstant: 0 });
    analyser.connect(ctx.destination);
    this.#ctx = ctx;
    this.#analyser = analyser;
    if (ctx.state === 'suspended') {
      // Autoplay rules keep a context created without a user gesture suspended (an incoming call
      // in a tab nobody touched yet); the first touch lets it sound.
      const wake = () => void ctx.resume().catch(() => {});
      document.addEventListener('pointerdown', wake, { once: true });
      document.addEventListener('keydown', wake, { once: true });
    }
    return ctx;
  }
}

/** Starts the cadence on `out`; returns what stops it at once. */
function start(ctx: AudioContext, out: AudioNode, cadence: Cadence): () => void {
  const gain = new GainNode(ctx, { gain: 0 });
  gain.connect(out);
  const peak = LEVEL / cadence.hz.length;
  const oscillators = cadence.hz.map((frequency) => {
    const o = new OscillatorNode(ctx, { frequency });
    o.connect(gain);
    o.start();
    return o;
  });
  const g = gain.gain;
  let next = ctx.currentTime + 0.02;
  const schedule = () => {
    // A suspended context's clock stands still; start from now, not from a time already past.
    if (next < ctx.currentTime) next = ctx.currentTime + 0.02;
    while (next < ctx.currentTime + AHEAD_S) {
      for (const [on, off] of cadence.bursts) {
        g.setValueAtTime(0, next + on);
        g.linearRampToValueAtTime(peak, next + on + RAMP_S);
        g.setValueAtTime(peak, next + off - RAMP_S);
        g.linearRampToValueAtTime(0, next + off);
      }
      next += cadence.period;
    }
  };
  schedule();
  const timer = setInterval(schedule, (AHEAD_S / 2) * 1000);
  return () => {
    clearInterval(timer);
    g.cancelScheduledValues(0);
    g.setValueAtTime(0, ctx.currentTime);
    for (const o of oscillators) {
      o.stop();
      o.disconnect();
    }
    gain.disconnect();
  };
}
