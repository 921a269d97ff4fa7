/**
 * A small typed event emitter (livekit-style: a const map of event names, an event->arguments map,
 * typed on/off/once and a promise-returning waitFor). Hand-written because the SDK runs in browsers
 * and Node and must not depend on either platform's emitter; it is 60 lines.
 */
export type Listener<A extends unknown[]> = (...args: A) => void;

export class TypedEmitter<M extends { [K in keyof M]: unknown[] }> {
  readonly #listeners = new Map<keyof M, Set<Listener<never[]>>>();

  on<K extends keyof M>(event: K, fn: Listener<M[K]>): this {
    let set = this.#listeners.get(event);
    if (set === undefined) {
      set = new Set();
      this.#listeners.set(event, set);
    }
    set.add(fn as unknown as Listener<never[]>);
    return this;
  }

  off<K extends keyof M>(event: K, fn: Listener<M[K]>): this {
    this.#listeners.get(event)?.delete(fn as unknown as Listener<never[]>);
    return this;
  }

  once<K extends keyof M>(event: K, fn: Listener<M[K]>): this {
    const wrapper: Listener<M[K]> = (...args) => {
      this.off(event, wrapper);
      fn(...args);
    };
    return this.on(event, wrapper);
  }

  /** Resolves with the arguments of the first event that passes `filter`; rejects after `timeoutMs`. */
  waitFor<K extends keyof M>(
    event: K,
    filter: (...args: M[K]) => boolean = () => true,
    timeoutMs = 30_000,
  ): Promise<M[K]> {
    return new Promise((resolve, reject) => {
      const fn: Listener<M[K]> = (...args) => {
        if (!filter(...args)) return;
        clearTimeout(timer);
        this.off(event, fn);
        resolve(args);
      };
      const timer = setTimeout(() => {
        this.off(event, fn);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${String(event)}`));
      }, timeoutMs);
      this.on(event, fn);
    });
  }

  listenerCount<K extends keyof M>(event: K): number {
    return this.#listeners.get(event)?.size ?? 0;
  }

  /** A throwing listener must not break the emitter's caller (the receive loop): report and go on. */
  protected emit<K extends keyof M>(event: K, ...args: M[K]): void {
    for (const fn of [...(this.#listeners.get(event) ?? [])]) {
      try {
        (fn as unknown as Listener<M[K]>)(...args);
      } catch (e) {
        console.error(`kolokol: listener for ${String(event)} threw`, e);
      }
    }
  }
}
