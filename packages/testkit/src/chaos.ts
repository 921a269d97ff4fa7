/**
 * A WebSocket class for the SDK's Transport injection point that misbehaves like a bad network
 * path or a server retrying after a lost ack: it duplicates incoming `deliver` frames and swaps
 * neighbouring ones. Undici's WebSocket fires every event through `dispatchEvent`, so overriding it
 * catches `onmessage` and `addEventListener` listeners alike.
 */
import type { Transport, WebSocketCtor } from '@kolokol/sdk';

export interface ChaosOptions {
  /** Probability that an incoming deliver frame is dispatched twice. */
  duplicate?: number;
  /** Probability that an incoming deliver frame is held back and dispatched after the next frame. */
  reorder?: number;
  /** Probability that an outgoing frame is sent twice (a retry whose first copy was not lost). */
  duplicateOutgoing?: number;
  /** Deterministic randomness for reproducible runs; Math.random when omitted. */
  random?: () => number;
}

/** What a test can do with the sockets a chaos class opened. */
export interface ChaosControl {
  stats: ChaosStats;
  /** Every text frame received from the server, in arrival order, before any mangling. */
  received: string[];
  /** Dispatches `frame` to the newest open socket as if the server had sent it. */
  inject(frame: string): void;
}

export interface ChaosStats {
  duplicated: number;
  reordered: number;
  duplicatedOutgoing: number;
  delivered: number;
}

/** A seeded PRNG (mulberry32): small and good enough to make a chaos run replayable. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const frameTag = (data: unknown): string | undefined => {
  if (typeof data !== 'string') return undefined;
  const m = /"t"\s*:\s*"([a-z]+)"/.exec(data.slice(0, 64));
  return m?.[1];
};

/** Returns a WebSocket subclass and the counters of what it did. */
export function chaosWebSocket(opts: ChaosOptions = {}): { WebSocket: typeof WebSocket } & ChaosControl {
  const rnd = opts.random ?? Math.random;
  const stats: ChaosStats = { duplicated: 0, reordered: 0, duplicatedOutgoing: 0, delivered: 0 };
  const received: string[] = [];
  const open: ChaosWebSocket[] = [];

  class ChaosWebSocket extends WebSocket {
    private held: MessageEvent | undefined;

    constructor(url: string | URL, protocols?: ConstructorParameters<typeof WebSocket>[1]) {
      super(url, protocols);
      open.push(this);
    }

    /** Bypasses the chaos: a frame the test makes up. */
    injectFrame(data: string): void {
      super.dispatchEvent(new MessageEvent('message', { data }));
    }

    override dispatchEvent(ev: Event): boolean {
      if (ev.type === 'close' || ev.type === 'error') {
        const i = open.indexOf(this);
        if (ev.type === 'close' && i >= 0) open.splice(i, 1);
        // Never swallow a frame because the socket went away before its turn came.
        this.releaseHeld();
        return super.dispatchEvent(ev);
      }
      if (ev.type !== 'message' || !(ev instanceof MessageEvent)) return super.dispatchEvent(ev);
      const data: unknown = ev.data;
      if (typeof data === 'string') received.push(data);
      if (frameTag(data) !== 'deliver') {
        // Only deliver frames are shuffled: `synced` must not overtake a held deliver, so release first.
        this.releaseHeld();
        return super.dispatchEvent(ev);
      }
      stats.delivered++;
      if (this.held === undefined && rnd() < (opts.reorder ?? 0)) {
        this.held = new MessageEvent('message', { data });
        stats.reordered++;
        // If nothing follows soon, let it go: a reorder must not become a loss.
        setTimeout(() => this.releaseHeld(), 100);
        return true;
      }
      const result = super.dispatchEvent(new MessageEvent('message', { data }));
      if (rnd() < (opts.duplicate ?? 0)) {
        stats.duplicated++;
        super.dispatchEvent(new MessageEvent('message', { data }));
      }
      this.releaseHeld();
      return result;
    }

    private releaseHeld(): void {
      const held = this.held;
      if (held === undefined) return;
      this.held = undefined;
      super.dispatchEvent(held);
    }

    override send(data: string | ArrayBufferLike | Blob | ArrayBufferView): void {
      super.send(data);
      if (typeof data === 'string' && frameTag(data) === 'send' && rnd() < (opts.duplicateOutgoing ?? 0)) {
        stats.duplicatedOutgoing++;
        super.send(data);
      }
    }
  }

  return {
    WebSocket: ChaosWebSocket,
    stats,
    received,
    inject(frame: string) {
      const ws = open.at(-1);
      if (ws === undefined) throw new Error('chaosWebSocket: no open socket to inject into');
      ws.injectFrame(frame);
    },
  };
}

/**
 * An SDK Transport whose WebSocket is a chaos one. Node's WebSocket types its handlers with DOM
 * `Event`s where the SDK's structural type says `unknown`, hence the one cast.
 */
export function chaosTransport(opts: ChaosOptions = {}): { transport: Transport } & ChaosControl {
  const { WebSocket: Ws, ...control } = chaosWebSocket(opts);
  return { transport: { fetch: globalThis.fetch, WebSocket: Ws as unknown as WebSocketCtor }, ...control };
}
