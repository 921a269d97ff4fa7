/**
 * Reconnect delays: exponential from `baseMs` doubling to `maxMs`, with "equal jitter" (half fixed,
 * half random) so that many clients cut off together do not come back in lock-step while each
 * still waits at least half the nominal delay.
 */
export interface BackoffOptions {
  baseMs?: number;
  maxMs?: number;
  factor?: number;
  random?: () => number;
}

export class Backoff {
  readonly #base: number;
  readonly #max: number;
  readonly #factor: number;
  readonly #random: () => number;
  #attempt = 0;

  constructor(o: BackoffOptions = {}) {
    this.#base = o.baseMs ?? 250;
    this.#max = o.maxMs ?? 15_000;
    this.#factor = o.factor ?? 2;
    this.#random = o.random ?? Math.random;
  }

  get attempt(): number {
    return this.#attempt;
  }

  /** The delay before the next attempt; advances the attempt counter. */
  next(): number {
    const nominal = Math.min(this.#max, this.#base * this.#factor ** this.#attempt);
    this.#attempt++;
    const half = nominal / 2;
    return Math.round(half + this.#random() * half);
  }

  reset(): void {
    this.#attempt = 0;
  }
}
