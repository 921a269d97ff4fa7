import { ErrorCode } from '@kolokol/protocol';
import { ServerError } from './errors.ts';

/**
 * A fixed-window counter per key, in memory: enough to blunt a single abusive client. A second
 * server process has its own counters (documented; a shared limiter can come with NATS).
 */
export class RateLimiter {
  readonly #limit: number;
  readonly #windowMs: number;
  readonly #hits = new Map<string, { start: number; n: number }>();

  constructor(limit: number, windowMs: number) {
    this.#limit = limit;
    this.#windowMs = windowMs;
  }

  /** Counts one hit for `key`; throws RATE_LIMITED once the window's budget is spent. */
  hit(key: string, now = Date.now()): void {
    let h = this.#hits.get(key);
    if (h === undefined || now - h.start >= this.#windowMs) {
      if (this.#hits.size > 100_000) this.prune(now);
      h = { start: now, n: 0 };
      this.#hits.set(key, h);
    }
    h.n++;
    if (h.n > this.#limit) {
      const retryAfterMs = h.start + this.#windowMs - now;
      throw new ServerError(ErrorCode.RateLimited, 'too many requests, try again later', {
        details: { retryAfterMs },
      });
    }
  }

  prune(now = Date.now()): void {
    for (const [k, h] of this.#hits) if (now - h.start >= this.#windowMs) this.#hits.delete(k);
  }
}
