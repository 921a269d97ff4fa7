/**
 * Stateless nonces: expiry time plus an HMAC over it and the client's address, so the relay keeps no
 * per-client state before a client authenticates, and a nonce seen from another address is stale.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export class NonceMint {
  private readonly key = randomBytes(32);
  private readonly lifetimeMs: number;

  constructor(lifetimeMs: number) {
    this.lifetimeMs = lifetimeMs;
  }

  issue(clientAddress: string, nowMs: number): string {
    const expiry = Math.floor((nowMs + this.lifetimeMs) / 1000)
      .toString(16)
      .padStart(10, '0');
    return `${expiry}${this.mac(expiry, clientAddress)}`;
  }

  /** True when the nonce came from this mint, for this address, and has not expired. */
  check(nonce: string, clientAddress: string, nowMs: number): boolean {
    if (nonce.length !== 10 + 22 || !/^[0-9a-f]{10}/.test(nonce)) return false;
    const expiry = nonce.slice(0, 10);
    const expected = Buffer.from(this.mac(expiry, clientAddress));
    const actual = Buffer.from(nonce.slice(10));
    if (expected.length !== actual.length || !timingSafeEqual(expected, actual)) return false;
    return Number.parseInt(expiry, 16) * 1000 > nowMs;
  }

  private mac(expiry: string, clientAddress: string): string {
    return createHmac('sha256', this.key)
      .update(`${expiry}|${clientAddress}`)
      .digest()
      .subarray(0, 16)
      .toString('base64url');
  }
}
