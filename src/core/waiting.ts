/**
 * Concepts: small waiting helpers for the core. `isThenable` lets hot paths skip an `await` (and its microtask
 * turns) when a vendor hook answered synchronously. `Waiters` is a reusable "tell me when this count reaches zero".
 */

/** True when `v` looks like a promise; only then is it worth awaiting. */
export function isThenable(v: unknown): v is PromiseLike<unknown> {
  return v !== null && (typeof v === 'object' || typeof v === 'function') && typeof (v as { then?: unknown }).then === 'function';
}

/** Resolvers waiting for some owner-defined condition; the owner calls `wake()` when it holds. */
export class Waiters {
  #list: (() => void)[] | undefined;

  /** A promise resolved by the next `wake()`. */
  wait(): Promise<void> {
    return new Promise((resolve) => {
      (this.#list ??= []).push(resolve);
    });
  }

  wake(): void {
    const list = this.#list;
    if (list === undefined) return;
    this.#list = undefined;
    for (const w of list) w();
  }
}

/**
 * Await `done` and, every `intervalMs` until it settles, call `warn` (the seed's unregister loop warned every 10 s that
 * it was "blocked until all are released"). The timer is always cleared.
 */
export async function waitWithWarnings(done: Promise<void>, intervalMs: number, warn: () => void): Promise<void> {
  const timer = setInterval(warn, intervalMs);
  try {
    await done;
  } finally {
    clearInterval(timer);
  }
}
