/**
 * Concepts: a FIFO of async tasks that run one at a time. The core uses one per parent for vendor online/offline/reset
 * calls and one for bus driver binding, so that two transitions of the same device never interleave inside a vendor hook.
 * A failed task does not block the ones behind it; its error goes to its own caller.
 */

/** A serial task queue. Owned by the `Core` that created it; lives as long as that core. */
export class SerialQueue {
  #tail: Promise<void> = Promise.resolve();
  #pending = 0;

  /** Number of tasks queued or running. */
  get pending(): number {
    return this.#pending;
  }

  /** Run `task` after every task queued before it has settled. */
  run<T>(task: () => T | Promise<T>): Promise<T> {
    this.#pending++;
    const result = this.#tail.then(task);
    this.#tail = result.then(
      () => {
        this.#pending--;
      },
      () => {
        this.#pending--;
      },
    );
    return result;
  }
}
