/**
 * Concepts: shared memory behind a region's mmap areas. A memfd is created through the native addon and mapped
 * once for the device's own view (`bytes`); the same fd goes to the client with GET_REGION_INFO so it can map the
 * pages too. Both mappings and the region table's pread/pwrite on the fd see the same page cache, so a byte the
 * client stores through its mapping is what the device reads, and the other way round.
 */
import { err } from '../errors.js';
import { native } from '../native/index.js';

/** A memfd and the device's mapping of it. Owned by the device that created it; `close()` releases both. */
export class MemfdBacking {
  readonly fd: number;
  readonly size: number;
  #buffer: ArrayBuffer | undefined;
  #bytes: Uint8Array;

  /** `size` must be a positive multiple of the page size, as every mmap area must be. */
  constructor(name: string, size: number) {
    const page = native.pageSize();
    if (!Number.isInteger(size) || size <= 0 || size % page !== 0) throw err('EINVAL', `memfd size ${size} is not a positive multiple of ${page}`);
    this.size = size;
    this.fd = native.memfdCreate(name, size);
    try {
      this.#buffer = native.mmap(this.fd, 0, size, true);
    } catch (e) {
      native.close(this.fd);
      throw e;
    }
    this.#bytes = new Uint8Array(this.#buffer);
  }

  /** The device's view of the shared pages; empty after `close()`. */
  get bytes(): Uint8Array {
    return this.#bytes;
  }

  /** Unmap and close the fd. Idempotent. Clients that mapped it keep their pages until they unmap. */
  close(): void {
    if (this.#buffer === undefined) return;
    native.munmap(this.#buffer);
    this.#buffer = undefined;
    this.#bytes = new Uint8Array(0);
    native.close(this.fd);
  }
}
