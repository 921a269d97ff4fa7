/**
 * Counter-based anti-replay for one receive key, after RFC 3711 §3.3.2 (which RFC 9605 §9.3
 * points to): the highest CTR accepted so far, and a bitmap of which of the `size` counters at
 * and below it have been seen. Anything at or below `highest - size` is refused as too old.
 *
 * Callers check before decrypting and record only after the tag verified: recording first would
 * let anyone who can inject bytes slide the window forward with garbage and make us drop real
 * frames.
 */
export type ReplayVerdict = 'fresh' | 'replay' | 'too-old';

export class ReplayWindow {
  readonly size: number;
  readonly #bits: Uint32Array;
  readonly #sizeBig: bigint;
  #highest: bigint | undefined;

  constructor(size: number) {
    if (!Number.isInteger(size) || size < 1 || size > 1 << 16)
      throw new RangeError('sframe: replay window must be an integer in 1..65536');
    this.size = size;
    this.#sizeBig = BigInt(size);
    this.#bits = new Uint32Array(Math.ceil(size / 32));
  }

  #slot(ctr: bigint): number {
    return Number(ctr % this.#sizeBig);
  }

  #get(slot: number): boolean {
    return (((this.#bits[slot >>> 5] ?? 0) >>> (slot & 31)) & 1) === 1;
  }

  #set(slot: number, on: boolean): void {
    const i = slot >>> 5;
    const m = 1 << (slot & 31);
    const w = this.#bits[i] ?? 0;
    this.#bits[i] = on ? w | m : w & ~m;
  }

  check(ctr: bigint): ReplayVerdict {
    const h = this.#highest;
    if (h === undefined || ctr > h) return 'fresh';
    if (h - ctr >= this.#sizeBig) return 'too-old';
    return this.#get(this.#slot(ctr)) ? 'replay' : 'fresh';
  }

  /** Records an authenticated counter; `check(ctr)` must have said 'fresh'. */
  accept(ctr: bigint): void {
    const h = this.#highest;
    if (h === undefined || ctr - h >= this.#sizeBig) {
      this.#bits.fill(0);
    } else if (ctr > h) {
      // Slots of the counters we skipped now stand for new, unseen counters.
      for (let c = h + 1n; c < ctr; c++) this.#set(this.#slot(c), false);
    }
    this.#set(this.#slot(ctr), true);
    if (h === undefined || ctr > h) this.#highest = ctr;
  }

  get highest(): bigint | undefined {
    return this.#highest;
  }
}
