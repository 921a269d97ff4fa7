/** Per-allocation bandwidth cap: a token bucket of bytes, refilled continuously. */
export class TokenBucket {
  private tokens: number;
  private last: number;
  private readonly rate: number;
  private readonly burst: number;

  /** `rate` bytes per second, holding at most `burst` bytes; starts full. */
  constructor(rate: number, burst: number, nowMs: number) {
    this.rate = rate;
    this.burst = burst;
    this.tokens = burst;
    this.last = nowMs;
  }

  /** Takes `bytes` if there are enough; false means drop the packet. */
  take(bytes: number, nowMs: number): boolean {
    if (nowMs > this.last) {
      this.tokens = Math.min(this.burst, this.tokens + ((nowMs - this.last) * this.rate) / 1000);
      this.last = nowMs;
    }
    if (this.tokens < bytes) return false;
    this.tokens -= bytes;
    return true;
  }
}
