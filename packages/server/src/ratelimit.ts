import { ErrorCode } from '@kolokol/protocol';
import { ServerError } from './errors.ts';

/**
 * A fixed-window counter per key, in memory: enough to blunt a single abusive client. A second
 * server process has its own counters (documented; a shared limiter can come with NATS).
 */
export class RateLimiter {
  readonly #limit: number;
  readonly #windowMs: number;
  readonly #maxKeys: number;
  /** In insertion order, which is window-start order: a (re)started window moves to the end. */
  readonly #hits = new Map<string, { start: number; n: number }>();

  /**
   * `maxKeys` bounds memory whatever keys clients choose (review M5): past it, expired windows are
   * dropped and then the oldest live ones. Forgetting a key only forgets its count, so an attacker
   * with that many keys can at worst reset someone's window early; the map cannot grow.
   */
  constructor(limit: number, windowMs: number, maxKeys = 100_000) {
    this.#limit = limit;
    this.#windowMs = windowMs;
    this.#maxKeys = Math.max(1, maxKeys);
  }

  get size(): number {
    return this.#hits.size;
  }

  /** Counts one hit for `key`; throws RATE_LIMITED once the window's budget is spent. */
  hit(key: string, now = Date.now()): void {
    let h = this.#hits.get(key);
    if (h === undefined || now - h.start >= this.#windowMs) {
      this.#hits.delete(key);
      if (this.#hits.size >= this.#maxKeys) this.prune(now);
      for (const k of this.#hits.keys()) {
        if (this.#hits.size < this.#maxKeys) break;
        this.#hits.delete(k);
      }
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
    // Oldest first: stop at the first window still running.
    for (const [k, h] of this.#hits) {
      if (now - h.start < this.#windowMs) break;
      this.#hits.delete(k);
    }
  }
}
