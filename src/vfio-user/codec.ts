/**
 * Concepts: pure encode/decode of every vfio-user payload (Buffer ↔ typed object). No I/O and no device knowledge:
 * decoders check only what the bytes themselves can prove (payload long enough, `argsz` at least the fixed reply,
 * NUL-terminated JSON) and throw `EINVAL`, as libvfio-user's handlers do before touching a device.
 * Offsets are those of the spec's tables; the 16-byte header is handled separately by `decodeHeader`/`encodeHeader`.
 */
import { err } from '../errors.js';
import {
  HEADER_SIZE,
  REGION_INFO_CAP_SPARSE_MMAP,
  RegionFlags,
  Size,
  commandName,
} from './constants.js';

/** The 16-byte message header. `size` includes the header. */
export interface Header {
  readonly msgId: number;
  readonly cmd: number;
  readonly size: number;
  readonly flags: number;
  readonly errorNo: number;
}

export function decodeHeader(buf: Buffer, off = 0): Header {
  return {
    msgId: buf.readUInt16LE(off),
    cmd: buf.readUInt16LE(off + 2),
    size: buf.readUInt32LE(off + 4),
    flags: buf.readUInt32LE(off + 8),
    errorNo: buf.readUInt32LE(off + 12),
  };
}

/** Writes `h` into `buf` at `off` (a fresh 16-byte buffer when none is given) and returns the buffer. */
export function encodeHeader(h: Header, buf: Buffer = Buffer.allocUnsafe(HEADER_SIZE), off = 0): Buffer {
  buf.writeUInt16LE(h.msgId & 0xffff, off);
  buf.writeUInt16LE(h.cmd, off + 2);
  buf.writeUInt32LE(h.size >>> 0, off + 4);
  buf.writeUInt32LE(h.flags >>> 0, off + 8);
  buf.writeUInt32LE(h.errorNo >>> 0, off + 12);
  return buf;
}

function need(cmd: number, body: Buffer, min: number): void {
  if (body.length < min) throw err('EINVAL', `${commandName(cmd)}: payload is ${body.length} bytes, needs ${min}`);
}

function needArgsz(cmd: number, argsz: number, min: number): void {
  if (argsz < min) throw err('EINVAL', `${commandName(cmd)}: argsz ${argsz} is below ${min}`);
}

export * from './codec-version.js';

// ---- DMA_MAP / DMA_UNMAP ----------------------------------------------------------------------------------------

export interface DmaMap {
  readonly argsz: number;
  readonly flags: number;
  /** File offset in the passed fd. */
  readonly offset: bigint;
  readonly iova: bigint;
  readonly size: bigint;
}

export function decodeDmaMap(body: Buffer): DmaMap {
  need(2, body, Size.DMA_MAP);
  const m = {
    argsz: body.readUInt32LE(0),
    flags: body.readUInt32LE(4),
    offset: body.readBigUInt64LE(8),
    iova: body.readBigUInt64LE(16),
    size: body.readBigUInt64LE(24),
  };
  needArgsz(2, m.argsz, Size.DMA_MAP);
  return m;
}

export function encodeDmaMap(m: DmaMap): Buffer {
  const b = Buffer.alloc(Size.DMA_MAP);
  b.writeUInt32LE(m.argsz, 0);
  b.writeUInt32LE(m.flags, 4);
  b.writeBigUInt64LE(m.offset, 8);
  b.writeBigUInt64LE(m.iova, 16);
  b.writeBigUInt64LE(m.size, 24);
  return b;
}

export interface DmaUnmap {
  readonly argsz: number;
  readonly flags: number;
  readonly iova: bigint;
  readonly size: bigint;
}

export function decodeDmaUnmap(body: Buffer): DmaUnmap {
  need(3, body, Size.DMA_UNMAP);
  const u = {
    argsz: body.readUInt32LE(0),
    flags: body.readUInt32LE(4),
    iova: body.readBigUInt64LE(8),
    size: body.readBigUInt64LE(16),
  };
  needArgsz(3, u.argsz, Size.DMA_UNMAP);
  return u;
}

export function encodeDmaUnmap(u: DmaUnmap): Buffer {
  const b = Buffer.alloc(Size.DMA_UNMAP);
  b.writeUInt32LE(u.argsz, 0);
  b.writeUInt32LE(u.flags, 4);
  b.writeBigUInt64LE(u.iova, 8);
  b.writeBigUInt64LE(u.size, 16);
  return b;
}

// ---- four-u32 structures: DEVICE_GET_INFO, GET_IRQ_INFO, GET_REGION_IO_FDS ---------------------------------------

/** `{argsz, flags, a, b}`: device info (a = num_regions, b = num_irqs), irq info and io-fds (a = index, b = count). */
export interface Quad {
  readonly argsz: number;
  readonly flags: number;
  readonly a: number;
  readonly b: number;
}

/** Decodes a 16-byte `{argsz, flags, u32, u32}` request and checks `argsz` ≥ 16. */
export function decodeQuad(cmd: number, body: Buffer): Quad {
  need(cmd, body, 16);
  const q = { argsz: body.readUInt32LE(0), flags: body.readUInt32LE(4), a: body.readUInt32LE(8), b: body.readUInt32LE(12) };
  needArgsz(cmd, q.argsz, 16);
  return q;
}

export function encodeQuad(q: Quad, extra = 0): Buffer {
  const b = Buffer.alloc(16 + extra);
  b.writeUInt32LE(q.argsz >>> 0, 0);
  b.writeUInt32LE(q.flags >>> 0, 4);
  b.writeUInt32LE(q.a >>> 0, 8);
  b.writeUInt32LE(q.b >>> 0, 12);
  return b;
}

// ---- DEVICE_GET_REGION_INFO -------------------------------------------------------------------------------------

export interface RegionInfo {
  readonly argsz: number;
  readonly flags: number;
  readonly index: number;
  readonly capOffset: number;
  readonly size: bigint;
  /** mmap offset in the region's fd (sparse area offsets are added to it). */
  readonly offset: bigint;
  /** Sparse-mmap areas when the capability chain carried them. */
  readonly sparse?: readonly { offset: bigint; size: bigint }[];
}

/** Decodes a region-info payload; walks the capability chain (bounded, loop-safe) when CAPS is set. */
export function decodeRegionInfo(body: Buffer): RegionInfo {
  need(5, body, Size.REGION_INFO);
  const info: RegionInfo = {
    argsz: body.readUInt32LE(0),
    flags: body.readUInt32LE(4),
    index: body.readUInt32LE(8),
    capOffset: body.readUInt32LE(12),
    size: body.readBigUInt64LE(16),
    offset: body.readBigUInt64LE(24),
  };
  if (!(info.flags & RegionFlags.CAPS) || info.capOffset === 0) return info;
  let at = info.capOffset;
  for (let hops = 0; at !== 0 && hops < 16; hops++) {
    if (at < Size.REGION_INFO || at + Size.CAP_HEADER > body.length) throw err('EINVAL', 'region info: bad cap offset');
    const id = body.readUInt16LE(at);
    const next = body.readUInt32LE(at + 4);
    if (id === REGION_INFO_CAP_SPARSE_MMAP) {
      if (at + Size.SPARSE_MMAP_HEAD > body.length) throw err('EINVAL', 'region info: short sparse cap');
      const n = body.readUInt32LE(at + 8);
      if (at + Size.SPARSE_MMAP_HEAD + n * Size.SPARSE_AREA > body.length) throw err('EINVAL', 'region info: short areas');
      const areas = [];
      for (let i = 0; i < n; i++) {
        const p = at + Size.SPARSE_MMAP_HEAD + i * Size.SPARSE_AREA;
        areas.push({ offset: body.readBigUInt64LE(p), size: body.readBigUInt64LE(p + 8) });
      }
      return { ...info, sparse: areas };
    }
    at = next;
  }
  return info;
}

/**
 * Encodes a region-info reply for a client that accepts `clientArgsz` bytes. The reply's `argsz` always says the
 * full size; the capability chain is included (and CAPS set) only when it fits, as libvfio-user does.
 */
export function encodeRegionInfo(
  info: Omit<RegionInfo, 'argsz' | 'capOffset'>,
  clientArgsz: number,
): { payload: Buffer; capsIncluded: boolean } {
  const areas = info.sparse ?? [];
  const capsSize = areas.length > 0 ? Size.SPARSE_MMAP_HEAD + areas.length * Size.SPARSE_AREA : 0;
  const full = Size.REGION_INFO + capsSize;
  const capsIncluded = capsSize > 0 && clientArgsz >= full;
  const b = Buffer.alloc(capsIncluded ? full : Size.REGION_INFO);
  b.writeUInt32LE(full, 0);
  b.writeUInt32LE((info.flags & ~RegionFlags.CAPS) | (capsIncluded ? RegionFlags.CAPS : 0), 4);
  b.writeUInt32LE(info.index, 8);
  b.writeUInt32LE(capsIncluded ? Size.REGION_INFO : 0, 12);
  b.writeBigUInt64LE(info.size, 16);
  b.writeBigUInt64LE(info.offset, 24);
  if (capsIncluded) {
    const at = Size.REGION_INFO;
    b.writeUInt16LE(REGION_INFO_CAP_SPARSE_MMAP, at);
    b.writeUInt16LE(1, at + 2);
    b.writeUInt32LE(0, at + 4);
    b.writeUInt32LE(areas.length, at + 8);
    areas.forEach((a, i) => {
      b.writeBigUInt64LE(a.offset, at + Size.SPARSE_MMAP_HEAD + i * Size.SPARSE_AREA);
      b.writeBigUInt64LE(a.size, at + Size.SPARSE_MMAP_HEAD + i * Size.SPARSE_AREA + 8);
    });
  }
  return { payload: b, capsIncluded };
}

/** A region-info request: only `argsz` and `index` matter. */
export function encodeRegionInfoRequest(index: number, argsz: number): Buffer {
  const b = Buffer.alloc(Size.REGION_INFO);
  b.writeUInt32LE(argsz, 0);
  b.writeUInt32LE(index, 8);
  return b;
}

// ---- DEVICE_SET_IRQS --------------------------------------------------------------------------------------------

export interface IrqSet {
  readonly argsz: number;
  readonly flags: number;
  readonly index: number;
  readonly start: number;
  readonly count: number;
  /** Bytes after the fixed part (DATA_BOOL flags). */
  readonly data: Buffer;
}

export function decodeIrqSet(body: Buffer): IrqSet {
  need(8, body, Size.IRQ_SET);
  const s = {
    argsz: body.readUInt32LE(0),
    flags: body.readUInt32LE(4),
    index: body.readUInt32LE(8),
    start: body.readUInt32LE(12),
    count: body.readUInt32LE(16),
    data: body.subarray(Size.IRQ_SET),
  };
  // QEMU sends argsz = 20 even with eventfds attached, so argsz is only checked against the fixed part.
  needArgsz(8, s.argsz, Size.IRQ_SET);
  return s;
}

export function encodeIrqSet(s: Omit<IrqSet, 'argsz'> & { argsz?: number }): Buffer {
  const b = Buffer.alloc(Size.IRQ_SET + s.data.length);
  b.writeUInt32LE(s.argsz ?? b.length, 0);
  b.writeUInt32LE(s.flags, 4);
  b.writeUInt32LE(s.index, 8);
  b.writeUInt32LE(s.start, 12);
  b.writeUInt32LE(s.count, 16);
  s.data.copy(b, Size.IRQ_SET);
  return b;
}

// ---- REGION_READ / REGION_WRITE / DMA_READ / DMA_WRITE ----------------------------------------------------------

export interface RegionAccess {
  readonly offset: bigint;
  readonly region: number;
  readonly count: number;
  /** The data that follows the access header (empty for a read request). */
  readonly data: Buffer;
}

export function decodeRegionAccess(cmd: number, body: Buffer): RegionAccess {
  need(cmd, body, Size.REGION_ACCESS);
  return {
    offset: body.readBigUInt64LE(0),
    region: body.readUInt32LE(8),
    count: body.readUInt32LE(12),
    data: body.subarray(Size.REGION_ACCESS),
  };
}

/** Writes a region-access header into `buf` at `off` (a fresh buffer when none is given). */
export function encodeRegionAccess(
  offset: bigint,
  region: number,
  count: number,
  buf: Buffer = Buffer.allocUnsafe(Size.REGION_ACCESS),
  off = 0,
): Buffer {
  buf.writeBigUInt64LE(offset, off);
  buf.writeUInt32LE(region, off + 8);
  buf.writeUInt32LE(count, off + 12);
  return buf;
}

export interface DmaAccessMsg {
  readonly iova: bigint;
  readonly count: bigint;
  readonly data: Buffer;
}

export function decodeDmaAccess(cmd: number, body: Buffer): DmaAccessMsg {
  need(cmd, body, Size.DMA_ACCESS);
  return { iova: body.readBigUInt64LE(0), count: body.readBigUInt64LE(8), data: body.subarray(Size.DMA_ACCESS) };
}

export function encodeDmaAccess(iova: bigint, count: bigint): Buffer {
  const b = Buffer.allocUnsafe(Size.DMA_ACCESS);
  b.writeBigUInt64LE(iova, 0);
  b.writeBigUInt64LE(count, 8);
  return b;
}

// ---- REGION_WRITE_MULTI -----------------------------------------------------------------------------------------

export interface MultiWrite {
  readonly offset: bigint;
  readonly region: number;
  readonly count: number;
  readonly data: Buffer;
}

export function decodeWriteMulti(body: Buffer): MultiWrite[] {
  need(15, body, Size.WRITE_MULTI_HEAD);
  const n = body.readBigUInt64LE(0);
  const expect = BigInt(Size.WRITE_MULTI_HEAD) + n * BigInt(Size.WRITE_MULTI_ENTRY);
  if (n === 0n || BigInt(body.length) !== expect) {
    throw err('EINVAL', `REGION_WRITE_MULTI: wr_cnt ${n} does not match a ${body.length}-byte payload`);
  }
  const out: MultiWrite[] = [];
  for (let i = 0; i < Number(n); i++) {
    const p = Size.WRITE_MULTI_HEAD + i * Size.WRITE_MULTI_ENTRY;
    const count = body.readUInt32LE(p + 12);
    if (count > 8) throw err('EINVAL', `REGION_WRITE_MULTI: write ${i} has count ${count} > 8`);
    out.push({ offset: body.readBigUInt64LE(p), region: body.readUInt32LE(p + 8), count, data: body.subarray(p + 16, p + 16 + count) });
  }
  return out;
}

export function encodeWriteMulti(writes: readonly MultiWrite[]): Buffer {
  const b = Buffer.alloc(Size.WRITE_MULTI_HEAD + writes.length * Size.WRITE_MULTI_ENTRY);
  b.writeBigUInt64LE(BigInt(writes.length), 0);
  writes.forEach((w, i) => {
    const p = Size.WRITE_MULTI_HEAD + i * Size.WRITE_MULTI_ENTRY;
    encodeRegionAccess(w.offset, w.region, w.count, b, p);
    w.data.copy(b, p + 16, 0, Math.min(8, w.data.length));
  });
  return b;
}

// ---- DEVICE_FEATURE / MIG_DATA_* --------------------------------------------------------------------------------

/** `{u32 argsz, u32 flags-or-size, data[]}`: DEVICE_FEATURE (second word = flags) and MIG_DATA_* (= size). */
export interface ArgszPair {
  readonly argsz: number;
  readonly word: number;
  readonly data: Buffer;
}

export function decodeArgszPair(cmd: number, body: Buffer): ArgszPair {
  need(cmd, body, 8);
  const p = { argsz: body.readUInt32LE(0), word: body.readUInt32LE(4), data: body.subarray(8) };
  needArgsz(cmd, p.argsz, 8);
  return p;
}

export function encodeArgszPair(p: ArgszPair): Buffer {
  const b = Buffer.alloc(8 + p.data.length);
  b.writeUInt32LE(p.argsz, 0);
  b.writeUInt32LE(p.word, 4);
  p.data.copy(b, 8);
  return b;
}
