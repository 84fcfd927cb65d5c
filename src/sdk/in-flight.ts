/**
 * Concepts: the requests a DMA device has under way, and the guest memory each one uses: the bookkeeping behind
 * the three promises a device that moves data must keep.
 *
 * - **Unmap**: when the client takes memory away (`PciDeviceSpec.dmaUnmap`), every request that uses it ends
 *   first (`settle(iova, length)`), as a kernel driver unpins before `dma_unmap` returns. Its DMA into the range
 *   already fails (the transport closed it), so a request that still needs it fails and ends quickly.
 * - **Reset and stop**: a reset, a client leaving, or a migration stopping the device waits for every request
 *   (`drain()`), so no request touches guest memory or raises an interrupt afterwards.
 * - **Busy**: while any request is under way, `busy` is true (`PciDeviceSpec.busy`), so the transport lets the
 *   event loop run the request instead of busy-polling the socket.
 *
 * A request declares the ranges it uses as it learns them (`use`): a virtqueue request knows its ring first, then
 * its descriptors, then its buffers. Owned by the device; one per device.
 */

/** One request under way: the memory it uses so far. */
export interface Request {
  /** The request also uses `[iova, iova + length)` from now on. */
  use(iova: bigint, length: bigint | number): void;
}

interface Entry extends Request {
  readonly ranges: { readonly iova: bigint; readonly end: bigint }[];
  readonly done: Promise<void>;
}

/** The requests of one device. */
export class InFlight {
  readonly #entries = new Set<Entry>();

  /** Requests under way now. */
  get size(): number {
    return this.#entries.size;
  }

  /**
   * Run `work` as a request: it is counted until it settles, and `use` tells which memory it touches. The result
   * (or the failure) is `work`'s.
   */
  run<T>(work: (request: Request) => Promise<T>): Promise<T> {
    const ranges: { iova: bigint; end: bigint }[] = [];
    let finish!: () => void;
    const entry: Entry = {
      ranges,
      done: new Promise<void>((resolve) => (finish = resolve)),
      use: (iova, length) => {
        const n = BigInt(length);
        if (n > 0n) ranges.push({ iova, end: iova + n });
      },
    };
    this.#entries.add(entry);
    let result: Promise<T>;
    try {
      result = work(entry);
    } catch (e) {
      result = Promise.reject(e);
    }
    return result.finally(() => {
      this.#entries.delete(entry);
      finish();
    });
  }

  /** Resolves once every request that uses any of `[iova, iova + length)` (now) has ended. */
  async settle(iova: bigint, length: bigint): Promise<void> {
    const end = iova + length;
    const waiting = [...this.#entries].filter((e) => e.ranges.some((r) => r.iova < end && iova < r.end)).map((e) => e.done);
    await Promise.all(waiting);
  }

  /** Resolves once every request under way now has ended, and any they started meanwhile too. */
  async drain(): Promise<void> {
    while (this.#entries.size > 0) await Promise.all([...this.#entries].map((e) => e.done));
  }
}
