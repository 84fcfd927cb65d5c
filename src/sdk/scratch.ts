/**
 * Concepts: reusable staging buffers for a device's data path. Allocating a fresh 1 MiB `Buffer` per request costs
 * milliseconds (a new backing store, its page faults, and the garbage collector counting it), against a fraction
 * of one for the copy itself, so a device that moves data between guest memory and a file stages it in buffers it
 * reuses. Requests that overlap (each awaits guest memory) take different buffers; at most `keep` are kept between
 * requests, and a request that wants more than `size` bytes gets a buffer of its own.
 *
 * Owned by one device. A buffer taken must be given back (`give`) once nothing refers to it any more.
 */
export class Scratch {
  readonly size: number;
  readonly #keep: number;
  readonly #free: Buffer[] = [];

  constructor(size: number, keep = 8) {
    this.size = size;
    this.#keep = keep;
  }

  /** A buffer of exactly `length` bytes (uninitialised): a view of a kept buffer when it fits. */
  take(length: number): Buffer {
    if (length > this.size) return Buffer.allocUnsafeSlow(length);
    const b = this.#free.pop() ?? Buffer.allocUnsafeSlow(this.size);
    return b.subarray(0, length);
  }

  /** Give back a buffer from `take`. */
  give(b: Buffer): void {
    if (b.buffer.byteLength !== this.size || this.#free.length >= this.#keep) return;
    this.#free.push(Buffer.from(b.buffer, 0, this.size));
  }
}
