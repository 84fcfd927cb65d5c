/**
 * Concepts: device dirty-page tracking (VFIO_DEVICE_FEATURE_DMA_LOGGING_START/STOP/REPORT). While logging, every
 * page of guest memory the device writes through the transport is marked, at the page size the client chose, in
 * the ranges it named; REPORT returns a range's pages as a bitmap (bit n = page n of the range, u64 words, little
 * endian) and clears what it reported, as the kernel's report-and-clear does. A write outside every range is not
 * tracked (the client asked only for those). Memory is one bit per page of the ranges, bounded by `maxBitmapBytes`.
 *
 * With no ranges at all (`num_ranges` 0, which the vfio-user spec defines as "log every write") every page written
 * anywhere is tracked, in bitmaps of 32,768 pages made when a write first touches them: memory follows what the
 * device writes, which is bounded by the memory the client mapped.
 */
import { err } from '../errors.js';

/** LOG_MAX_RANGES of the kernel's iova_bitmap users: more ranges than this are EINVAL. */
export const MAX_LOG_RANGES = 256;

export interface LogRange {
  readonly iova: bigint;
  readonly length: bigint;
}

interface Tracked extends LogRange {
  /** One bit per page of the range. */
  readonly bits: Uint8Array;
}

/** Pages per bitmap chunk of an all-memory log (4 KiB of bits). */
const CHUNK_PAGES = 32768n;

/** One client's dirty log; created by DMA_LOGGING_START, dropped by STOP or when the client goes. */
export class DirtyLog {
  readonly pageSize: bigint;
  readonly #ranges: Tracked[];
  /** Logging every write (no ranges): chunk index → bits of its pages. */
  readonly #all: Map<bigint, Uint8Array> | undefined;

  /**
   * EINVAL for a page size that is not a power of two ≥ `minPageSize`, or bad, overlapping or too many ranges.
   * No ranges logs every write.
   */
  constructor(pageSize: bigint, ranges: readonly LogRange[], minPageSize: bigint, maxBitmapBytes: number) {
    if (pageSize < minPageSize || (pageSize & (pageSize - 1n)) !== 0n) throw err('EINVAL', `dirty page size ${pageSize} is not a power of two of at least ${minPageSize}`);
    if (ranges.length > MAX_LOG_RANGES) throw err('EINVAL', `${ranges.length} dirty-logging ranges (0..${MAX_LOG_RANGES})`);
    this.#all = ranges.length === 0 ? new Map() : undefined;
    this.pageSize = pageSize;
    const sorted = [...ranges].sort((a, b) => (a.iova < b.iova ? -1 : a.iova > b.iova ? 1 : 0));
    let total = 0;
    this.#ranges = sorted.map((r, i) => {
      if (r.length === 0n || r.iova % pageSize !== 0n || r.length % pageSize !== 0n || r.iova + r.length > 1n << 64n) {
        throw err('EINVAL', `dirty-logging range 0x${r.iova.toString(16)}+0x${r.length.toString(16)} is empty, unaligned or wraps`);
      }
      const prev = sorted[i - 1];
      if (prev && prev.iova + prev.length > r.iova) throw err('EINVAL', `dirty-logging ranges overlap at 0x${r.iova.toString(16)}`);
      const bytes = Number((r.length / pageSize + 7n) / 8n);
      total += bytes;
      if (total > maxBitmapBytes) throw err('EINVAL', `dirty-logging ranges need more than ${maxBitmapBytes} bitmap bytes`);
      return { ...r, bits: new Uint8Array(bytes) };
    });
  }

  /** True when every write is logged (started with no ranges). */
  get everything(): boolean {
    return this.#all !== undefined;
  }

  /** The device wrote `length` bytes at `iova`: mark every tracked page they touch. */
  mark(iova: bigint, length: number): void {
    if (length <= 0) return;
    const end = iova + BigInt(length);
    const all = this.#all;
    if (all !== undefined) {
      for (let page = iova / this.pageSize, last = (end - 1n) / this.pageSize; page <= last; page++) {
        const key = page / CHUNK_PAGES;
        let bits = all.get(key);
        if (bits === undefined) all.set(key, (bits = new Uint8Array(Number(CHUNK_PAGES / 8n))));
        const n = Number(page % CHUNK_PAGES);
        bits[n >> 3]! |= 1 << (n & 7);
      }
      return;
    }
    for (const r of this.#ranges) {
      const lo = iova > r.iova ? iova : r.iova;
      const hi = end < r.iova + r.length ? end : r.iova + r.length;
      if (lo >= hi) continue;
      for (let n = Number((lo - r.iova) / this.pageSize), last = Number((hi - 1n - r.iova) / this.pageSize); n <= last; n++) {
        r.bits[n >> 3] |= 1 << (n & 7);
      }
    }
  }

  /**
   * The bitmap of `[iova, iova+length)` at `pageSize` (a multiple of the logging page size) in u64 words, and clear
   * it. The range must lie inside one logged range and be aligned to `pageSize`; EINVAL otherwise.
   */
  report(iova: bigint, length: bigint, pageSize: bigint): Buffer {
    if (pageSize < this.pageSize || pageSize % this.pageSize !== 0n || (pageSize & (pageSize - 1n)) !== 0n) {
      throw err('EINVAL', `report page size ${pageSize} is not a power-of-two multiple of the logging page size ${this.pageSize}`);
    }
    if (length === 0n || iova % pageSize !== 0n || length % pageSize !== 0n) throw err('EINVAL', 'report range is empty or not page aligned');
    if (this.#all !== undefined) return this.collect(iova, length, pageSize);
    const r = this.#ranges.find((x) => iova >= x.iova && iova + length <= x.iova + x.length);
    if (!r) throw err('EINVAL', `report range 0x${iova.toString(16)}+0x${length.toString(16)} is not inside a logged range`);
    const pages = Number(length / pageSize);
    const out = Buffer.alloc(bitmapBytes(length, pageSize));
    const per = Number(pageSize / this.pageSize);
    const first = Number((iova - r.iova) / this.pageSize);
    for (let p = 0; p < pages; p++) {
      let dirty = false;
      for (let q = 0; q < per; q++) {
        const n = first + p * per + q;
        const bit = 1 << (n & 7);
        if (r.bits[n >> 3]! & bit) {
          dirty = true;
          r.bits[n >> 3]! &= ~bit;
        }
      }
      if (dirty) out[p >> 3] |= 1 << (p & 7);
    }
    return out;
  }

  /**
   * The bitmap of `[iova, iova+length)` at `pageSize` (a multiple of the logging page size), for any range: pages
   * no range tracks read clean. Clears what it reports. For DMA_UNMAP's dirty bitmap and all-memory reports.
   */
  collect(iova: bigint, length: bigint, pageSize: bigint): Buffer {
    if (pageSize < this.pageSize || pageSize % this.pageSize !== 0n) throw err('EINVAL', `bitmap page size ${pageSize} is not a multiple of the logging page size ${this.pageSize}`);
    const pages = Number((length + pageSize - 1n) / pageSize);
    const out = Buffer.alloc(bitmapBytes(BigInt(pages) * pageSize, pageSize));
    const per = pageSize / this.pageSize;
    for (let p = 0; p < pages; p++) {
      const first = (iova + BigInt(p) * pageSize) / this.pageSize;
      let dirty = false;
      for (let q = 0n; q < per; q++) if (this.#takeBit(first + q)) dirty = true;
      if (dirty) out[p >> 3]! |= 1 << (p & 7);
    }
    return out;
  }

  /** Whether logging page `page` (of `pageSize`) is dirty; cleared. */
  #takeBit(page: bigint): boolean {
    let bits: Uint8Array | undefined;
    let n: number;
    if (this.#all !== undefined) {
      bits = this.#all.get(page / CHUNK_PAGES);
      n = Number(page % CHUNK_PAGES);
    } else {
      const addr = page * this.pageSize;
      const r = this.#ranges.find((x) => addr >= x.iova && addr < x.iova + x.length);
      if (r === undefined) return false;
      bits = r.bits;
      n = Number((addr - r.iova) / this.pageSize);
    }
    if (bits === undefined || !(bits[n >> 3]! & (1 << (n & 7)))) return false;
    bits[n >> 3]! &= ~(1 << (n & 7));
    return true;
  }
}

/** Bytes of a report's bitmap for `length` bytes at `pageSize`: whole u64 words. */
export function bitmapBytes(length: bigint, pageSize: bigint): number {
  return Number((length / pageSize + 63n) / 64n) * 8;
}
