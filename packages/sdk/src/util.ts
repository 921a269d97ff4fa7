import { randomBytes } from '@kolokol/crypto';
import { toB64 } from '@kolokol/protocol';

/** 128 random bits, url-safe: message ids, group ids. */
export const newId = (): string => toB64(randomBytes(16));

export const sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    if (signal?.aborted === true) {
      resolve();
      return;
    }
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });

/**
 * One lock per key (a group id): everything that reads a group state, derives a new one and
 * stores it holds the lock, because MLS states are linear and two writers would fork them.
 */
export class KeyedMutex {
  readonly #tails = new Map<string, Promise<void>>();

  async lock(key: string): Promise<() => void> {
    const prev = this.#tails.get(key) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((r) => {
      release = r;
    });
    const tail = prev.then(() => mine);
    this.#tails.set(key, tail);
    await prev;
    return () => {
      release();
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    };
  }

  async with<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const release = await this.lock(key);
    try {
      return await fn();
    } finally {
      release();
    }
  }
}

/** Runs tasks one after another; `idle()` resolves once everything queued so far has run. */
export class SerialQueue {
  #tail: Promise<void> = Promise.resolve();

  push(task: () => Promise<void>, onError: (e: unknown) => void): void {
    this.#tail = this.#tail.then(task).catch(onError);
  }

  idle(): Promise<void> {
    return this.#tail;
  }
}
