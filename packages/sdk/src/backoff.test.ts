import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Backoff } from './backoff.ts';

describe('Backoff', () => {
  it('doubles from 250 ms to a 15 s cap, jittered within [half, full]', () => {
    const lo = new Backoff({ random: () => 0 });
    const hi = new Backoff({ random: () => 0.999999 });
    const nominal = [250, 500, 1000, 2000, 4000, 8000, 15000, 15000, 15000];
    for (const n of nominal) {
      assert.equal(lo.next(), n / 2);
      assert.equal(hi.next(), Math.round(n / 2 + 0.999999 * (n / 2)));
    }
  });

  it('starts over after reset', () => {
    const b = new Backoff({ random: () => 0 });
    b.next();
    b.next();
    assert.equal(b.attempt, 2);
    b.reset();
    assert.equal(b.next(), 125);
  });

  it('spreads clients apart', () => {
    const delays = new Set(Array.from({ length: 50 }, () => new Backoff().next()));
    assert.ok(delays.size > 10);
  });
});
