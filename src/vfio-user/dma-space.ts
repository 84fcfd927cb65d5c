/**
 * Concepts: the client's DMA address space as one connection sees it (libvfio-user's `dma.h` "DMA controller").
 * DMA_MAP adds a window [iova, iova+size). A window that came with an fd is mmap'ed here, and device DMA copies to
 * and from the mapping. A window without an fd is reached by sending DMA_READ/DMA_WRITE to the client and awaiting
 * the reply. Windows never overlap (the spec answers EEXIST). Everything is dropped when the client goes away.
 */
import { err } from '../core/errors.js';
import type { DmaAccess } from '../vfio/device.js';
import { Command, DmaMapFlags } from './constants.js';
import type { Native } from '../native/index.js';

/** The memory calls a DMA space needs from the native addon. */
export type MemIo = Pick<Native, 'mmap' | 'munmap' | 'close' | 'pageSize'>;

/** Sends one DMA_READ (count bytes) or DMA_WRITE (data) to the client; resolves with the reply's data. */
export type RemoteDma = (cmd: typeof Command.DMA_READ | typeof Command.DMA_WRITE, iova: bigint, count: number, data?: Buffer) => Promise<Buffer>;

/** One DMA window. `mem` is a view of the whole window when it is fd-backed. */
export interface DmaWindow {
  readonly iova: bigint;
  readonly size: bigint;
  readonly flags: number;
  readonly mapping: ArrayBuffer | undefined;
  readonly mem: Buffer | undefined;
}

const U64_MAX = (1n << 64n) - 1n;

/** Owned by one connection; `close()` unmaps everything and makes later device DMA fail with ENOTCONN. */
export class DmaSpace {
  readonly #io: MemIo;
  readonly #remote: RemoteDma;
  readonly #maxXfer: () => number;
  /** Sorted by iova, non-overlapping. */
  #windows: DmaWindow[] = [];
  #closed = false;
  maxWindows: number;

  constructor(io: MemIo, remote: RemoteDma, maxXfer: () => number, maxWindows: number) {
    this.#io = io;
    this.#remote = remote;
    this.#maxXfer = maxXfer;
    this.maxWindows = maxWindows;
  }

  get count(): number {
    return this.#windows.length;
  }

  windows(): readonly DmaWindow[] {
    return this.#windows;
  }

  /** Add a window. Takes ownership of `fd` (closed once mapped, or on failure). */
  add(iova: bigint, size: bigint, flags: number, fd: number | undefined, offset: bigint): DmaWindow {
    try {
      if (size === 0n || iova + size - 1n > U64_MAX) throw err('EINVAL', `bad DMA window ${hex(iova)}+${hex(size)}`);
      const at = this.#insertionPoint(iova);
      const prev = this.#windows[at - 1];
      const next = this.#windows[at];
      if ((prev && prev.iova + prev.size > iova) || (next && iova + size > next.iova)) {
        throw err('EEXIST', `DMA window ${hex(iova)}+${hex(size)} overlaps an existing one`);
      }
      if (this.#windows.length >= this.maxWindows) throw err('ENOSPC', `already ${this.maxWindows} DMA windows`);
      let mapping: ArrayBuffer | undefined;
      let mem: Buffer | undefined;
      if (fd !== undefined) {
        const page = BigInt(this.#io.pageSize());
        const base = offset - (offset % page);
        const delta = Number(offset - base);
        const length = Number(((BigInt(delta) + size + page - 1n) / page) * page);
        mapping = this.#io.mmap(fd, Number(base), length, (flags & DmaMapFlags.WRITE) !== 0);
        mem = Buffer.from(mapping, delta, Number(size));
      }
      const w: DmaWindow = { iova, size, flags, mapping, mem };
      this.#windows.splice(at, 0, w);
      return w;
    } finally {
      if (fd !== undefined) this.#io.close(fd);
    }
  }

  /** Remove the window that matches exactly (spec: "must match exactly a previous mapping"); ENOENT otherwise. */
  remove(iova: bigint, size: bigint): void {
    const i = this.#windows.findIndex((w) => w.iova === iova && w.size === size);
    if (i < 0) throw err('ENOENT', `no DMA window ${hex(iova)}+${hex(size)}`);
    const [w] = this.#windows.splice(i, 1);
    this.#unmap(w!);
  }

  removeAll(): number {
    const all = this.#windows;
    this.#windows = [];
    for (const w of all) this.#unmap(w);
    return all.length;
  }

  close(): void {
    this.#closed = true;
    this.removeAll();
  }

  /** The device's view: reads and writes split across windows, fd-backed parts copied, the rest sent as messages. */
  readonly access: DmaAccess = {
    read: async (iova, length) => {
      const out = Buffer.allocUnsafe(length);
      await this.#walk(iova, length, DmaMapFlags.READ, async (w, at, done, n) => {
        if (w.mem) {
          w.mem.copy(out, done, at, at + n);
          return;
        }
        const data = await this.#remote(Command.DMA_READ, w.iova + BigInt(at), n);
        if (data.length !== n) throw err('EIO', `DMA_READ reply carried ${data.length} bytes, wanted ${n}`);
        data.copy(out, done);
      });
      return out;
    },
    write: async (iova, data) => {
      await this.#walk(iova, data.length, DmaMapFlags.WRITE, async (w, at, done, n) => {
        if (w.mem) {
          data.copy(w.mem, at, done, done + n);
          return;
        }
        await this.#remote(Command.DMA_WRITE, w.iova + BigInt(at), n, data.subarray(done, done + n));
      });
    },
  };

  async #walk(
    iova: bigint,
    length: number,
    need: number,
    step: (w: DmaWindow, at: number, done: number, n: number) => Promise<void>,
  ): Promise<void> {
    let done = 0;
    while (done < length) {
      if (this.#closed) throw err('ENOTCONN', 'the vfio-user client is gone');
      const cur = iova + BigInt(done);
      const w = this.#find(cur);
      if (!w) throw err('EFAULT', `DMA to unmapped address ${hex(cur)}`);
      if (!(w.flags & need)) throw err('EPERM', `DMA window ${hex(w.iova)} does not allow ${need === DmaMapFlags.READ ? 'reads' : 'writes'}`);
      const at = Number(cur - w.iova);
      // Messages are bounded by the client's max_data_xfer_size; mapped memory is not.
      const cap = w.mem ? Number.MAX_SAFE_INTEGER : this.#maxXfer();
      const n = Math.min(length - done, Number(w.size) - at, cap);
      await step(w, at, done, n);
      done += n;
    }
  }

  #find(addr: bigint): DmaWindow | undefined {
    const i = this.#insertionPoint(addr + 1n) - 1;
    const w = this.#windows[i];
    return w && addr >= w.iova && addr < w.iova + w.size ? w : undefined;
  }

  /** Index of the first window whose iova is ≥ `iova`. */
  #insertionPoint(iova: bigint): number {
    let lo = 0;
    let hi = this.#windows.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.#windows[mid]!.iova < iova) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  #unmap(w: DmaWindow): void {
    if (w.mapping) this.#io.munmap(w.mapping);
  }
}

function hex(n: bigint): string {
  return `0x${n.toString(16)}`;
}
