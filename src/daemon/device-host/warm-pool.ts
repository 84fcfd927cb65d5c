/**
 * Concepts: the hosts that are ready before a device needs one. Starting a host (a Node process that loads umdev
 * and the driver catalog) costs a few hundred ms of CPU; handing a booted one its device (INIT: confine, build the
 * model) costs about a millisecond. So the pool keeps `size` hosts booted ahead of need, and a device's first need
 * takes one of them.
 *
 * - **What a warm host is.** A host that answered BOOT: it has loaded Node, umdev and the catalog, closed every fd
 *   it was not meant to have, and waits for INIT. It runs as umdevd's user and is not confined yet, which is safe
 *   because it holds nothing and reads nothing but umdevd's own calls: no device, no client, no id, no tenant byte.
 *   It takes the device's uid (from `HostIds`, at hand-over) and confines itself before it reads anything else, so
 *   every isolation rule holds from the first byte a tenant can send.
 * - **Who hands them out.** Only this pool, to `DeviceHosts` of the same daemon, once each: a host taken is the
 *   device's for good (it never returns to the pool), and a host that dies while warm is replaced.
 * - **When the pool is empty.** The device waits for the next host to finish booting; waiting devices are served
 *   first come, first served, before the pool is refilled.
 * - **What bounds it.** At most `size` warm hosts (each under the heap limit of any host, and pinged by the watchdog
 *   as any host is), at most `concurrency` booting at once (spare refills and waiting devices alike), so a burst of
 *   new devices never has umdevd compete with a hundred Node start-ups; boots run at the hosts' nice value. A boot
 *   that fails fails the device waiting longest, and refills pause (100 ms, doubling to 5 s) until one succeeds, so
 *   a broken catalog does not spin.
 */
import { UmdevError, err, toUmdevError } from '../../errors.js';
import type { Logger } from '../../log.js';
import type { HostProcess } from './host-process.js';

export interface WarmPoolOptions {
  /** Boot one host (`HostProcess.boot`). */
  readonly boot: () => Promise<HostProcess>;
  /** Hosts kept booted ahead of need (0: every device waits for a boot of its own). */
  readonly size: number;
  /** Hosts booting at once, at most (≥ 1). */
  readonly concurrency: number;
  readonly log: Logger;
}

const BACKOFF_MIN_MS = 100;
const BACKOFF_MAX_MS = 5000;

interface Waiter {
  readonly resolve: (h: HostProcess) => void;
  readonly reject: (e: UmdevError) => void;
}

/** Booted, idle hosts for one daemon's devices. Owned by `DeviceHosts`; `close` stops every host it still has. */
export class WarmPool {
  readonly #o: WarmPoolOptions;
  readonly #warm: HostProcess[] = [];
  readonly #waiters: Waiter[] = [];
  readonly #boots = new Set<Promise<void>>();
  #backoffMs = 0;
  #backoff: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(o: WarmPoolOptions) {
    if (!Number.isInteger(o.size) || o.size < 0) throw err('EINVAL', `warm pool size ${o.size}`);
    if (!Number.isInteger(o.concurrency) || o.concurrency < 1) throw err('EINVAL', `boot concurrency ${o.concurrency}`);
    this.#o = o;
    this.#fill();
  }

  /** Warm hosts now. */
  get warm(): number {
    return this.#warm.length;
  }

  /** Hosts booting now. */
  get booting(): number {
    return this.#boots.size;
  }

  /** Resolves once no boot is running and the pool is full or cannot fill (for benches and tests). */
  async settled(): Promise<void> {
    while (this.#boots.size > 0) await Promise.all(this.#boots);
  }

  /**
   * A booted host for a device: a warm one at once, else the next to finish booting. The caller owns it from here
   * (hands it its device with `hold`, or kills it). ENODEV once the pool is closed.
   */
  take(): Promise<HostProcess> {
    if (this.#closed) return Promise.reject(err('ENODEV', 'the device hosts are shutting down'));
    let host: HostProcess | undefined;
    while ((host = this.#warm.shift()) !== undefined && !host.alive);
    const got = host;
    if (got !== undefined) {
      // The refill (an id to find, a fork to ask for) waits until the device has sent its host what it needs.
      setImmediate(() => this.#fill());
      return Promise.resolve(got);
    }
    return new Promise<HostProcess>((resolve, reject) => {
      this.#waiters.push({ resolve, reject });
      this.#fill();
    });
  }

  /** Start boots while fewer run than allowed and than there are hosts wanted (waiting devices, then spares). */
  #fill(): void {
    if (this.#closed || this.#backoff !== undefined) return;
    const o = this.#o;
    const wanted = (): number => this.#waiters.length + Math.max(0, o.size - this.#warm.length);
    while (this.#boots.size < o.concurrency && this.#boots.size < wanted()) {
      const boot: Promise<void> = o.boot().then(
        (h) => this.#booted(h),
        (e: unknown) => this.#failed(toUmdevError(e)),
      ).finally(() => {
        this.#boots.delete(boot);
        this.#fill();
      });
      this.#boots.add(boot);
    }
  }

  /** Give a booted host to the device waiting longest, else keep it warm; a surplus one is stopped (and awaited). */
  #booted(host: HostProcess): Promise<void> | undefined {
    this.#backoffMs = 0;
    if (this.#closed || (this.#waiters.length === 0 && this.#warm.length >= this.#o.size)) return host.shutdown();
    const waiter = this.#waiters.shift();
    if (waiter !== undefined) {
      waiter.resolve(host);
      return undefined;
    }
    this.#warm.push(host);
    // A warm host that dies (killed by the watchdog, or by hand) leaves the pool, and the pool boots another.
    void host.exited.then(() => {
      const at = this.#warm.indexOf(host);
      if (at < 0) return;
      this.#warm.splice(at, 1);
      this.#fill();
    });
    return undefined;
  }

  #failed(e: UmdevError): void {
    this.#o.log.warn(`a device host did not boot: ${e.message}`);
    // The device waiting longest learns why; the others wait for the next boot.
    this.#waiters.shift()?.reject(e);
    if (this.#closed) return;
    this.#backoffMs = Math.min(BACKOFF_MAX_MS, this.#backoffMs === 0 ? BACKOFF_MIN_MS : this.#backoffMs * 2);
    this.#backoff = setTimeout(() => {
      this.#backoff = undefined;
      this.#fill();
    }, this.#backoffMs);
    this.#backoff.unref();
  }

  /** Stop every warm host and every boot; devices still waiting get ENODEV. Idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#backoff !== undefined) clearTimeout(this.#backoff);
    this.#backoff = undefined;
    const gone = err('ENODEV', 'the device hosts are shutting down');
    for (const w of this.#waiters.splice(0)) w.reject(gone);
    const warm = this.#warm.splice(0);
    await Promise.all([...warm.map((h) => h.shutdown()), ...this.#boots]);
  }
}
