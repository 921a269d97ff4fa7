import { setTimeout as sleep } from 'node:timers/promises';
import { TestkitError } from './errors.ts';

export { sleep };

/**
 * Polls `predicate` until it returns a truthy value and returns that value. On timeout the error
 * names what was awaited and, when `describe` is given, the state at the moment it gave up, so a
 * red test says what was missing instead of only "timed out".
 */
export async function waitFor<T>(
  predicate: () => T | Promise<T>,
  timeoutMs = 10_000,
  opts?: { what?: string; intervalMs?: number; describe?: () => string },
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  const interval = opts?.intervalMs ?? 20;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await predicate();
      if (value !== undefined && value !== null && value !== false) return value as NonNullable<T>;
    } catch (e) {
      lastError = e;
    }
    if (Date.now() >= deadline) {
      const what = opts?.what ?? 'condition';
      const state = opts?.describe ? ` (${opts.describe()})` : '';
      const last = lastError instanceof Error ? `; last error: ${lastError.message}` : '';
      throw new TestkitError(
        'TIMEOUT',
        `timed out after ${timeoutMs} ms waiting for ${what}${state}${last}`,
        {
          cause: lastError,
        },
      );
    }
    await sleep(interval);
  }
}

/** Rejects with a TIMEOUT error naming `what` if `promise` does not settle within `ms`. */
export async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TestkitError('TIMEOUT', `timed out after ${ms} ms: ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
