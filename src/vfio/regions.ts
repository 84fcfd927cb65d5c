/**
 * Concepts: the region table of a VFIO device. Each region index has a size, access flags and either trapped
 * handlers (every access becomes a call) or a backing fd the client may mmap (a memfd), or both: a region with
 * sparse mmap areas traps everything outside the areas and serves accesses inside them from the fd with
 * pread/pwrite, so the device and a mapping client see the same bytes. Indexes the device does not describe
 * exist with size 0 and no flags, as vfio-pci reports unimplemented BARs.
 *
 * The table checks every access against the region's bounds and flags (`EINVAL`), so handlers only see offsets
 * inside their region. It imports no native code: creating the memfd is the caller's business, and the
 * trapped-only path needs nothing but Node.
 */
import fs from 'node:fs';
import { err } from '../errors.js';
import { VFIO_REGION_INFO_FLAG } from './constants.js';
import type { SparseArea, VfioRegionInfo } from './device.js';

/** An fd the client may mmap; the table does not own it (whoever created the memfd closes it). */
export interface RegionMmap {
  readonly fd: number;
  /** Where the region starts inside the fd. */
  readonly fdOffset?: bigint;
  /** Mappable areas, relative to the region; the whole region when absent (no sparse capability then). */
  readonly areas?: readonly SparseArea[];
}

/** One region, as the device describes it. Handlers get region-relative offsets already bounds-checked. */
export interface RegionSpec {
  readonly index: number;
  readonly size: bigint | number;
  /** Trapped read; absent means reads are refused (unless the bytes are in an mmap area). */
  read?(offset: number, length: number): Uint8Array;
  /** Trapped write; absent means writes are refused (unless the bytes are in an mmap area). May be async. */
  write?(offset: number, data: Buffer): void | Promise<void>;
  readonly mmap?: RegionMmap;
  /** Override the computed READ/WRITE flags (e.g. to advertise RW on a zero-size region as mtty does). */
  readonly flags?: number;
  /** Told the length of every access that arrives as a message (mapped areas included), once it is in bounds. */
  accessed?(length: number): void;
}

/** The regions of one device. Owned by the device; holds no fds of its own. */
export class RegionTable {
  readonly numRegions: number;
  readonly #specs = new Map<number, RegionSpec>();

  constructor(numRegions: number, specs: readonly RegionSpec[]) {
    this.numRegions = numRegions;
    for (const s of specs) {
      if (!Number.isInteger(s.index) || s.index < 0 || s.index >= numRegions) throw err('EINVAL', `region index ${s.index} outside 0..${numRegions - 1}`);
      if (this.#specs.has(s.index)) throw err('EINVAL', `region ${s.index} described twice`);
      const size = BigInt(s.size);
      if (size < 0n) throw err('EINVAL', `region ${s.index} has negative size`);
      for (const a of s.mmap?.areas ?? []) {
        if (a.offset < 0n || a.size <= 0n || a.offset + a.size > size) throw err('EINVAL', `region ${s.index}: mmap area 0x${a.offset.toString(16)}+0x${a.size.toString(16)} outside the region`);
      }
      this.#specs.set(s.index, s);
    }
  }

  /** VFIO_DEVICE_GET_REGION_INFO for `index`; EINVAL beyond `numRegions`. */
  info(index: number): VfioRegionInfo {
    this.#checkIndex(index);
    const s = this.#specs.get(index);
    if (!s) return { index, flags: 0, size: 0n };
    const size = BigInt(s.size);
    let flags = s.flags;
    if (flags === undefined) {
      flags = 0;
      if (s.read || s.mmap) flags |= VFIO_REGION_INFO_FLAG.READ;
      if (s.write || s.mmap) flags |= VFIO_REGION_INFO_FLAG.WRITE;
    }
    if (!s.mmap) return { index, flags, size };
    flags |= VFIO_REGION_INFO_FLAG.MMAP;
    const info: VfioRegionInfo = { index, flags, size, fd: s.mmap.fd, fdOffset: s.mmap.fdOffset ?? 0n };
    if (s.mmap.areas) return { ...info, flags: flags | VFIO_REGION_INFO_FLAG.CAPS, sparse: s.mmap.areas };
    return info;
  }

  /** Read `length` bytes at `offset` of region `index`: EINVAL out of bounds or when the region is not readable. */
  read(index: number, offset: bigint, length: number): Buffer {
    const s = this.#access(index, offset, length, 'read');
    s.accessed?.(length);
    const out = Buffer.alloc(length);
    for (const part of this.#split(s, Number(offset), length)) {
      if (part.mmap) {
        readFully(s.mmap!.fd, out, part.at - Number(offset), part.length, (s.mmap!.fdOffset ?? 0n) + BigInt(part.at));
      } else {
        if (!s.read) throw err('EINVAL', `region ${index} is not readable at 0x${part.at.toString(16)}`);
        const got = s.read(part.at, part.length);
        if (got.length !== part.length) throw err('EIO', `region ${index} read handler returned ${got.length} bytes, wanted ${part.length}`);
        out.set(got, part.at - Number(offset));
      }
    }
    return out;
  }

  /**
   * Write `data` at `offset` of region `index`: EINVAL out of bounds or when the region is not writable. A trapped
   * handler that returns a promise is awaited before the rest of the write is applied.
   */
  write(index: number, offset: bigint, data: Buffer): void | Promise<void> {
    const s = this.#access(index, offset, data.length, 'write');
    s.accessed?.(data.length);
    const parts = this.#split(s, Number(offset), data.length);
    const from = (k: number): void | Promise<void> => {
      for (; k < parts.length; k++) {
        const part = parts[k]!;
        const chunk = data.subarray(part.at - Number(offset), part.at - Number(offset) + part.length);
        if (part.mmap) {
          writeFully(s.mmap!.fd, chunk, (s.mmap!.fdOffset ?? 0n) + BigInt(part.at));
          continue;
        }
        if (!s.write) throw err('EINVAL', `region ${index} is not writable at 0x${part.at.toString(16)}`);
        const pending = s.write(part.at, chunk);
        if (pending) {
          const next = k + 1;
          return pending.then(() => from(next));
        }
      }
    };
    return from(0);
  }

  #checkIndex(index: number): void {
    if (!Number.isInteger(index) || index < 0 || index >= this.numRegions) throw err('EINVAL', `region index ${index} outside 0..${this.numRegions - 1}`);
  }

  #access(index: number, offset: bigint, length: number, what: 'read' | 'write'): RegionSpec {
    this.#checkIndex(index);
    const s = this.#specs.get(index);
    const size = s ? BigInt(s.size) : 0n;
    if (!Number.isInteger(length) || length < 0 || offset < 0n || offset + BigInt(length) > size) {
      throw err('EINVAL', `${what} of ${length} bytes at 0x${offset.toString(16)} outside region ${index} (size 0x${size.toString(16)})`);
    }
    if (!s) throw err('EINVAL', `region ${index} is empty`);
    return s;
  }

  /** Split [at, at+length) into runs that are inside an mmap area (served from the fd) or trapped. */
  #split(s: RegionSpec, at: number, length: number): { at: number; length: number; mmap: boolean }[] {
    if (!s.mmap) return [{ at, length, mmap: false }];
    const areas = s.mmap.areas ?? [{ offset: 0n, size: BigInt(s.size) }];
    const parts: { at: number; length: number; mmap: boolean }[] = [];
    let pos = at;
    const end = at + length;
    while (pos < end) {
      const inside = areas.find((a) => BigInt(pos) >= a.offset && BigInt(pos) < a.offset + a.size);
      let stop: number;
      if (inside) {
        stop = Math.min(end, Number(inside.offset + inside.size));
      } else {
        const next = areas.map((a) => Number(a.offset)).filter((o) => o > pos);
        stop = Math.min(end, ...next);
      }
      parts.push({ at: pos, length: stop - pos, mmap: inside !== undefined });
      pos = stop;
    }
    return parts;
  }
}

function readFully(fd: number, out: Buffer, at: number, length: number, position: bigint): void {
  let done = 0;
  while (done < length) {
    const n = fs.readSync(fd, out, at + done, length - done, position + BigInt(done));
    // Past the end of a memfd reads as zeros, as an unbacked page would.
    if (n === 0) break;
    done += n;
  }
}

function writeFully(fd: number, data: Buffer, position: bigint): void {
  let done = 0;
  while (done < data.length) done += fs.writeSync(fd, data, done, data.length - done, Number(position) + done);
}
