/**
 * Concepts: the client's DMA address space as one connection sees it (libvfio-user's `dma.h` "DMA controller").
 * DMA_MAP adds a window [iova, iova+size). Windows never overlap (the spec answers EEXIST). Everything is dropped
 * when the client goes away. A window is reached one of three ways:
 *
 * - **mapped**: an fd that is a memfd sealed against shrinking (F_SEAL_SHRINK; QEMU's memory-backend-memfd seals
 *   by default) is mmap'ed, and device DMA copies to and from the mapping: the fast path. The seal is what makes
 *   it safe: a mapping of a file the client may shrink later faults (SIGBUS) on the first access past the new end,
 *   and that kills the whole daemon.
 * - **file**: any other regular file (an unsealed memfd, a tmpfs or hugetlbfs file) is kept open and reached with
 *   pread/pwrite at the window's offset. The client may truncate it at any time; a short read or write is then
 *   EFAULT for that DMA, never a fault.
 * - **message**: no fd: DMA_READ/DMA_WRITE to the client, awaiting the reply.
 *
 * An fd is checked before anything is kept: a regular file (sockets, pipes, eventfds, devices are EINVAL) whose
 * size covers offset+size (EINVAL otherwise, as the kernel's type1 driver refuses a vaddr range it cannot pin).
 * Mapped and file windows hold a kernel object each, counted against the daemon's `DmaBudget` (ENOSPC).
 */
import fs from 'node:fs';
import { err } from '../errors.js';
import type { DmaAccess, DmaSegment } from '../vfio/device.js';
import { Command, DmaMapFlags } from './constants.js';
import { type Native, Seal } from '../native/index.js';
import type { DmaBudget } from './dma-budget.js';

/** The memory calls a DMA space needs from the native addon. */
export type MemIo = Pick<Native, 'mmap' | 'munmap' | 'close' | 'pageSize' | 'getSeals'>;

/** statfs f_type of tmpfs/shmem, where memfds live (hugetlbfs memfds fault when the pool runs dry: no mmap). */
const TMPFS_MAGIC = 0x01021994;

/** Sends one DMA_READ (count bytes) or DMA_WRITE (data) to the client; resolves with the reply's data. */
export type RemoteDma = (cmd: typeof Command.DMA_READ | typeof Command.DMA_WRITE, iova: bigint, count: number, data?: Buffer) => Promise<Buffer>;

/**
 * One DMA window: `mem` is a view of the whole window when it is mapped; `file` the fd (owned by the window) and
 * the file offset of the window's first byte when it is reached by pread/pwrite.
 */
export interface DmaWindow {
  readonly iova: bigint;
  readonly size: bigint;
  readonly flags: number;
  readonly mapping: ArrayBuffer | undefined;
  readonly mem: Buffer | undefined;
  readonly file: { readonly fd: number; readonly offset: bigint } | undefined;
  /** Set once the client asked for the window to go (`retire`): no new access reaches it, though it is still mapped. */
  retired?: boolean;
}

const U64_MAX = (1n << 64n) - 1n;

/** Owned by one connection; `close()` unmaps everything and makes later device DMA fail with ENOTCONN. */
export class DmaSpace {
  readonly #io: MemIo;
  readonly #remote: RemoteDma;
  readonly #maxXfer: () => number;
  readonly #budget: DmaBudget;
  /** Sorted by iova, non-overlapping. */
  #windows: DmaWindow[] = [];
  #closed = false;
  /** Rejecters of DMA_READ/WRITE messages still out, by the window they reach. */
  readonly #remoteOut = new Map<DmaWindow, Set<(e: Error) => void>>();
  maxWindows: number;

  constructor(io: MemIo, remote: RemoteDma, maxXfer: () => number, maxWindows: number, budget: DmaBudget) {
    this.#io = io;
    this.#remote = remote;
    this.#maxXfer = maxXfer;
    this.maxWindows = maxWindows;
    this.#budget = budget;
  }

  get count(): number {
    return this.#windows.length;
  }

  windows(): readonly DmaWindow[] {
    return this.#windows;
  }

  /** Add a window. Takes ownership of `fd` (kept by a file window, else closed once mapped, or on failure). */
  add(iova: bigint, size: bigint, flags: number, fd: number | undefined, offset: bigint): DmaWindow {
    let keep = false;
    try {
      if (size === 0n || iova + size - 1n > U64_MAX) throw err('EINVAL', `bad DMA window ${hex(iova)}+${hex(size)}`);
      const at = this.#insertionPoint(iova);
      const prev = this.#windows[at - 1];
      const next = this.#windows[at];
      if ((prev && prev.iova + prev.size > iova) || (next && iova + size > next.iova)) {
        throw err('EEXIST', `DMA window ${hex(iova)}+${hex(size)} overlaps an existing one`);
      }
      if (this.#windows.length >= this.maxWindows) throw err('ENOSPC', `already ${this.maxWindows} DMA windows`);
      let w: DmaWindow = { iova, size, flags, mapping: undefined, mem: undefined, file: undefined };
      if (fd !== undefined) {
        const what = `DMA window ${hex(iova)}+${hex(size)}`;
        // Seals first: F_SEAL_SHRINK is permanent, so the size checked next can only grow afterwards.
        const mappable = this.#mappable(fd);
        checkFile(fd, offset, size, what);
        this.#budget.take(what);
        try {
          if (mappable) w = { ...w, ...this.#map(fd, offset, size, flags) };
          else w = { ...w, file: { fd, offset } };
        } catch (e) {
          this.#budget.give();
          throw e;
        }
        keep = w.file !== undefined;
      }
      this.#windows.splice(at, 0, w);
      return w;
    } finally {
      if (fd !== undefined && !keep) this.#io.close(fd);
    }
  }

  /** A memfd on tmpfs that can never shrink: mapping it cannot fault. */
  #mappable(fd: number): boolean {
    if ((this.#io.getSeals(fd) & Seal.SHRINK) === 0) return false;
    try {
      return fs.statfsSync(`/proc/self/fd/${fd}`).type === TMPFS_MAGIC;
    } catch {
      return false;
    }
  }

  #map(fd: number, offset: bigint, size: bigint, flags: number): { mapping: ArrayBuffer; mem: Buffer } {
    const page = BigInt(this.#io.pageSize());
    const base = offset - (offset % page);
    const delta = Number(offset - base);
    const length = Number(((BigInt(delta) + size + page - 1n) / page) * page);
    const mapping = this.#io.mmap(fd, base, length, (flags & DmaMapFlags.WRITE) !== 0);
    return { mapping, mem: Buffer.from(mapping, delta, Number(size)) };
  }

  /** The window that matches exactly (spec: "must match exactly a previous mapping"); ENOENT otherwise. */
  exact(iova: bigint, size: bigint): DmaWindow {
    const w = this.#windows.find((x) => x.iova === iova && x.size === size);
    if (w === undefined) throw err('ENOENT', `no DMA window ${hex(iova)}+${hex(size)}`);
    return w;
  }

  /**
   * Close `w` to the device ahead of its removal: every later access fails with EFAULT and every DMA_READ/WRITE
   * message still out for it fails now, so requests using it end while its memory is still mapped (the seed's
   * invalidation: the device unpins before the unmap returns). Idempotent.
   */
  retire(w: DmaWindow): void {
    w.retired = true;
    const out = this.#remoteOut.get(w);
    if (out === undefined) return;
    this.#remoteOut.delete(w);
    const gone = err('EFAULT', `DMA window ${hex(w.iova)}+${hex(w.size)} was unmapped during the access`);
    for (const reject of out) reject(gone);
  }

  /** Remove the window that matches exactly; ENOENT otherwise. */
  remove(iova: bigint, size: bigint): void {
    const w = this.exact(iova, size);
    this.#windows.splice(this.#windows.indexOf(w), 1);
    this.retire(w);
    this.#unmap(w);
  }

  removeAll(): number {
    const all = this.#windows;
    this.#windows = [];
    for (const w of all) {
      this.retire(w);
      this.#unmap(w);
    }
    return all.length;
  }

  close(): void {
    this.#closed = true;
    this.removeAll();
  }

  /** Told of every device write to guest memory (dirty-page logging), while set. */
  writeLog: ((iova: bigint, length: number) => void) | undefined;

  /**
   * The mapped window that holds all of `[iova, iova + length)` with permission `need`, if there is one: the fast
   * path, a copy with no await.
   */
  #mapped(iova: bigint, length: number, need: number): DmaWindow | undefined {
    if (this.#closed) return undefined;
    const w = this.#find(iova);
    if (w === undefined || w.mem === undefined || w.retired || !(w.flags & need)) return undefined;
    return iova + BigInt(length) <= w.iova + w.size ? w : undefined;
  }

  /** The device's view: reads and writes split across windows, fd-backed parts copied, the rest sent as messages. */
  readonly access: DmaAccess = {
    read: (iova, length) => {
      const w = this.#mapped(iova, length, DmaMapFlags.READ);
      if (w !== undefined) {
        const at = Number(iova - w.iova);
        return Promise.resolve(Buffer.from(w.mem!.subarray(at, at + length)));
      }
      return this.#read(iova, length);
    },
    write: (iova, data) => {
      const w = this.#mapped(iova, data.length, DmaMapFlags.WRITE);
      if (w !== undefined) {
        this.writeLog?.(iova, data.length);
        data.copy(w.mem!, Number(iova - w.iova));
        return Promise.resolve();
      }
      return this.#write(iova, data);
    },
    readv: (segs, into) => {
      let total = 0;
      for (const s of segs) total += s.length;
      if (into !== undefined && into.length < total) return Promise.reject(err('EINVAL', `readv of ${total} bytes into ${into.length}`));
      const out = into === undefined ? Buffer.allocUnsafe(total) : into.subarray(0, total);
      let at = 0;
      for (const s of segs) {
        const w = this.#mapped(s.iova, s.length, DmaMapFlags.READ);
        if (w === undefined) return this.#readvSlow(segs, out);
        const from = Number(s.iova - w.iova);
        w.mem!.copy(out, at, from, from + s.length);
        at += s.length;
      }
      return Promise.resolve(out);
    },
    writev: (segs, data) => {
      let at = 0;
      for (const s of segs) {
        if (at >= data.length) break;
        const n = Math.min(s.length, data.length - at);
        const w = this.#mapped(s.iova, n, DmaMapFlags.WRITE);
        // A segment that is not plainly mapped: this one and the rest go the careful way.
        if (w === undefined) return this.#writevSlow(segs, data, at);
        this.writeLog?.(s.iova, n);
        data.copy(w.mem!, Number(s.iova - w.iova), at, at + n);
        at += n;
      }
      return Promise.resolve();
    },
  };

  async #readvSlow(segs: readonly DmaSegment[], out: Buffer): Promise<Buffer> {
    let at = 0;
    for (const s of segs) {
      (await this.#read(s.iova, s.length)).copy(out, at);
      at += s.length;
    }
    return out;
  }

  async #writevSlow(segs: readonly DmaSegment[], data: Buffer, from: number): Promise<void> {
    let skipped = 0;
    for (const s of segs) {
      const start = Math.max(from, skipped);
      const end = Math.min(skipped + s.length, data.length);
      if (end > start) await this.#write(s.iova + BigInt(start - skipped), data.subarray(start, end));
      skipped += s.length;
      if (skipped >= data.length) break;
    }
  }

  readonly #accessSlow = {
    read: async (iova: bigint, length: number): Promise<Buffer> => {
      const out = Buffer.allocUnsafe(length);
      await this.#walk(iova, length, DmaMapFlags.READ, async (w, at, done, n) => {
        if (w.mem) {
          w.mem.copy(out, done, at, at + n);
          return;
        }
        if (w.file) {
          readAll(w.file.fd, out, done, n, w.file.offset + BigInt(at), w.iova + BigInt(at));
          return;
        }
        const data = await this.#remoteFor(w, Command.DMA_READ, w.iova + BigInt(at), n);
        if (data.length !== n) throw err('EIO', `DMA_READ reply carried ${data.length} bytes, wanted ${n}`);
        data.copy(out, done);
      });
      return out;
    },
    write: async (iova: bigint, data: Buffer): Promise<void> => {
      await this.#walk(iova, data.length, DmaMapFlags.WRITE, async (w, at, done, n) => {
        // Marked before the copy: a page reported dirty that was not written costs a resend, the reverse a loss.
        this.writeLog?.(w.iova + BigInt(at), n);
        if (w.mem) {
          data.copy(w.mem, at, done, done + n);
          return;
        }
        if (w.file) {
          writeAll(w.file.fd, data, done, n, w.file.offset + BigInt(at), w.iova + BigInt(at));
          return;
        }
        await this.#remoteFor(w, Command.DMA_WRITE, w.iova + BigInt(at), n, data.subarray(done, done + n));
      });
    },
  };

  #read(iova: bigint, length: number): Promise<Buffer> {
    return this.#accessSlow.read(iova, length);
  }

  #write(iova: bigint, data: Buffer): Promise<void> {
    return this.#accessSlow.write(iova, data);
  }

  /** A DMA_READ/WRITE message for window `w`, failed at once (EFAULT) if the window is retired before the reply. */
  #remoteFor(w: DmaWindow, cmd: typeof Command.DMA_READ | typeof Command.DMA_WRITE, iova: bigint, count: number, data?: Buffer): Promise<Buffer> {
    return new Promise<Buffer>((resolve, reject) => {
      let out = this.#remoteOut.get(w);
      if (out === undefined) this.#remoteOut.set(w, (out = new Set()));
      const set = out;
      set.add(reject);
      this.#remote(cmd, iova, count, data).then(resolve, reject).finally(() => {
        set.delete(reject);
        if (set.size === 0 && this.#remoteOut.get(w) === set) this.#remoteOut.delete(w);
      });
    });
  }

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
      if (!w || w.retired) throw err('EFAULT', `DMA to unmapped address ${hex(cur)}`);
      if (!(w.flags & need)) throw err('EPERM', `DMA window ${hex(w.iova)} does not allow ${need === DmaMapFlags.READ ? 'reads' : 'writes'}`);
      const at = Number(cur - w.iova);
      // Messages are bounded by the client's max_data_xfer_size; memory and files are not.
      const cap = w.mem || w.file ? Number.MAX_SAFE_INTEGER : this.#maxXfer();
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
    if (w.file) this.#io.close(w.file.fd);
    if (w.mapping || w.file) this.#budget.give();
  }
}

/** EINVAL unless `fd` is a regular file (memfds are) whose size covers [offset, offset+size). */
function checkFile(fd: number, offset: bigint, size: bigint, what: string): void {
  let st: fs.BigIntStats;
  try {
    st = fs.fstatSync(fd, { bigint: true });
  } catch (e) {
    throw err('EBADF', `${what}: cannot fstat the fd: ${(e as Error).message}`);
  }
  if (!st.isFile()) throw err('EINVAL', `${what}: the fd is not a regular file or memfd`);
  if (offset + size > st.size) throw err('EINVAL', `${what}: offset ${hex(offset)} + size runs past the file's ${hex(st.size)} bytes`);
  // pread/pwrite positions are JS numbers (fs.writeSync ignores a bigint position and writes at the file position).
  if (offset + size > BigInt(Number.MAX_SAFE_INTEGER)) throw err('EINVAL', `${what}: offset beyond 2^53`);
}

/** pread all of `n` bytes; a file the client truncated meanwhile ends early: EFAULT. */
function readAll(fd: number, out: Buffer, to: number, n: number, position: bigint, iova: bigint): void {
  let done = 0;
  while (done < n) {
    let got: number;
    try {
      got = fs.readSync(fd, out, to + done, n - done, Number(position) + done);
    } catch (e) {
      throw err('EFAULT', `DMA read at ${hex(iova + BigInt(done))} failed: ${(e as Error).message}`);
    }
    if (got <= 0) throw err('EFAULT', `DMA read at ${hex(iova + BigInt(done))}: the client's file ends after ${done} of ${n} bytes`);
    done += got;
  }
}

/** pwrite all of `n` bytes; a short write (a file the client truncated and sealed, a full fs) is EFAULT. */
function writeAll(fd: number, data: Buffer, from: number, n: number, position: bigint, iova: bigint): void {
  let done = 0;
  while (done < n) {
    let put: number;
    try {
      put = fs.writeSync(fd, data, from + done, n - done, Number(position) + done);
    } catch (e) {
      throw err('EFAULT', `DMA write at ${hex(iova + BigInt(done))} failed: ${(e as Error).message}`);
    }
    if (put <= 0) throw err('EFAULT', `DMA write at ${hex(iova + BigInt(done))}: the client's file took ${done} of ${n} bytes`);
    done += put;
  }
}

function hex(n: bigint): string {
  return `0x${n.toString(16)}`;
}
