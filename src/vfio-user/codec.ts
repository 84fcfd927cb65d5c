/**
 * Concepts: pure encode/decode of every vfio-user payload (Buffer ↔ typed object). No I/O and no device knowledge:
 * decoders check only what the bytes themselves can prove (payload long enough, `argsz` at least the fixed reply,
 * NUL-terminated JSON) and throw `EINVAL`, as libvfio-user's handlers do before touching a device.
 *
 * Each fixed structure is declared once, as the table of its fields in the spec's order (`struct.ts`), which gives
 * both its decoder and its encoder; each table is checked against the spec's size (`Size`) when the module loads.
 * What is not a fixed structure (the sparse-mmap capability chain, REGION_WRITE_MULTI's list, trailing data) is
 * walked here around those tables.
 */
import { err } from '../errors.js';
import { Command, HEADER_SIZE, REGION_INFO_CAP_SPARSE_MMAP, RegionFlags, Size, commandName } from './constants.js';
import { type Decoded, type Fields, type Struct, struct } from './struct.js';

/** `fields` as a structure of exactly `size` bytes, the spec's size of it. */
function sized<F extends Fields>(size: number, fields: F): Struct<F> {
  const s = struct(fields);
  if (s.size !== size) throw new Error(`a vfio-user structure of ${s.size} bytes where the spec has ${size}: ${Object.keys(fields).join(', ')}`);
  return s;
}

/** The 16-byte message header. `size` includes the header. */
export const HEADER = sized(HEADER_SIZE, { msgId: 'u16', cmd: 'u16', size: 'u32', flags: 'u32', errorNo: 'u32' });
export type Header = Decoded<typeof HEADER>;

// The header and the region-access header are read and written for every message, so their two directions are
// written out by hand (a table walk costs each message several times as much); test/vfio-user/struct.test.ts checks
// them against their tables.

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
  buf.writeUInt16LE(h.cmd & 0xffff, off + 2);
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

/** `offset` is the file offset in the passed fd. */
const DMA_MAP = sized(Size.DMA_MAP, { argsz: 'u32', flags: 'u32', offset: 'u64', iova: 'u64', size: 'u64' });
export type DmaMap = Decoded<typeof DMA_MAP>;

export function decodeDmaMap(body: Buffer): DmaMap {
  need(2, body, DMA_MAP.size);
  const m = DMA_MAP.decode(body);
  needArgsz(2, m.argsz, DMA_MAP.size);
  return m;
}

export function encodeDmaMap(m: DmaMap): Buffer {
  return DMA_MAP.encode(m);
}

const DMA_UNMAP = sized(Size.DMA_UNMAP, { argsz: 'u32', flags: 'u32', iova: 'u64', size: 'u64' });
export type DmaUnmap = Decoded<typeof DMA_UNMAP>;

export function decodeDmaUnmap(body: Buffer): DmaUnmap {
  need(3, body, DMA_UNMAP.size);
  const u = DMA_UNMAP.decode(body);
  needArgsz(3, u.argsz, DMA_UNMAP.size);
  return u;
}

export function encodeDmaUnmap(u: DmaUnmap): Buffer {
  return DMA_UNMAP.encode(u);
}

// ---- four-u32 structures: DEVICE_GET_INFO, GET_IRQ_INFO, GET_REGION_IO_FDS ---------------------------------------

/** `{argsz, flags, a, b}`: device info (a = num_regions, b = num_irqs), irq info and io-fds (a = index, b = count). */
const QUAD = sized(Size.DEVICE_INFO, { argsz: 'u32', flags: 'u32', a: 'u32', b: 'u32' });
export type Quad = Decoded<typeof QUAD>;

/** Decodes a 16-byte `{argsz, flags, u32, u32}` request and checks `argsz` ≥ 16. */
export function decodeQuad(cmd: number, body: Buffer): Quad {
  need(cmd, body, QUAD.size);
  const q = QUAD.decode(body);
  needArgsz(cmd, q.argsz, QUAD.size);
  return q;
}

export function encodeQuad(q: Quad, extra = 0): Buffer {
  return QUAD.encode(q, undefined, 0, extra);
}

// ---- DEVICE_GET_REGION_INFO -------------------------------------------------------------------------------------

/** `offset`: the mmap offset in the region's fd (sparse area offsets are added to it). */
const REGION_INFO = sized(Size.REGION_INFO, { argsz: 'u32', flags: 'u32', index: 'u32', capOffset: 'u32', size: 'u64', offset: 'u64' });
/** A capability's header, and the sparse-mmap capability's head and areas (`struct vfio_region_info_cap_sparse_mmap`). */
const CAP_HEADER = sized(Size.CAP_HEADER, { id: 'u16', version: 'u16', next: 'u32' });
const SPARSE_MMAP_HEAD = sized(Size.SPARSE_MMAP_HEAD, { id: 'u16', version: 'u16', next: 'u32', nrAreas: 'u32', reserved: 'u32' });
const SPARSE_AREA = sized(Size.SPARSE_AREA, { offset: 'u64', size: 'u64' });

export type RegionInfo = Decoded<typeof REGION_INFO> & {
  /** Sparse-mmap areas when the capability chain carried them. */
  readonly sparse?: readonly { offset: bigint; size: bigint }[];
};

/** Decodes a region-info payload; walks the capability chain (bounded, loop-safe) when CAPS is set. */
export function decodeRegionInfo(body: Buffer): RegionInfo {
  need(5, body, REGION_INFO.size);
  const info: RegionInfo = REGION_INFO.decode(body);
  if (!(info.flags & RegionFlags.CAPS) || info.capOffset === 0) return info;
  let at = info.capOffset;
  for (let hops = 0; at !== 0 && hops < 16; hops++) {
    if (at < REGION_INFO.size || at + CAP_HEADER.size > body.length) throw err('EINVAL', 'region info: bad cap offset');
    const cap = CAP_HEADER.decode(body, at);
    if (cap.id === REGION_INFO_CAP_SPARSE_MMAP) {
      if (at + SPARSE_MMAP_HEAD.size > body.length) throw err('EINVAL', 'region info: short sparse cap');
      const n = SPARSE_MMAP_HEAD.decode(body, at).nrAreas;
      if (at + SPARSE_MMAP_HEAD.size + n * SPARSE_AREA.size > body.length) throw err('EINVAL', 'region info: short areas');
      const areas = [];
      for (let i = 0; i < n; i++) areas.push(SPARSE_AREA.decode(body, at + SPARSE_MMAP_HEAD.size + i * SPARSE_AREA.size));
      return { ...info, sparse: areas };
    }
    at = cap.next;
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
  const capsSize = areas.length > 0 ? SPARSE_MMAP_HEAD.size + areas.length * SPARSE_AREA.size : 0;
  const full = REGION_INFO.size + capsSize;
  const capsIncluded = capsSize > 0 && clientArgsz >= full;
  const b = Buffer.alloc(capsIncluded ? full : REGION_INFO.size);
  const flags = (info.flags & ~RegionFlags.CAPS) | (capsIncluded ? RegionFlags.CAPS : 0);
  REGION_INFO.encode({ argsz: full, flags, index: info.index, capOffset: capsIncluded ? REGION_INFO.size : 0, size: info.size, offset: info.offset }, b);
  if (capsIncluded) {
    const at = REGION_INFO.size;
    SPARSE_MMAP_HEAD.encode({ id: REGION_INFO_CAP_SPARSE_MMAP, version: 1, next: 0, nrAreas: areas.length, reserved: 0 }, b, at);
    areas.forEach((a, i) => SPARSE_AREA.encode({ offset: a.offset, size: a.size }, b, at + SPARSE_MMAP_HEAD.size + i * SPARSE_AREA.size));
  }
  return { payload: b, capsIncluded };
}

/** A region-info request: only `argsz` and `index` matter. */
export function encodeRegionInfoRequest(index: number, argsz: number): Buffer {
  return REGION_INFO.encode({ argsz, flags: 0, index, capOffset: 0, size: 0n, offset: 0n });
}

// ---- DEVICE_SET_IRQS --------------------------------------------------------------------------------------------

const IRQ_SET = sized(Size.IRQ_SET, { argsz: 'u32', flags: 'u32', index: 'u32', start: 'u32', count: 'u32' });

export type IrqSet = Decoded<typeof IRQ_SET> & {
  /** Bytes after the fixed part (DATA_BOOL flags). */
  readonly data: Buffer;
};

export function decodeIrqSet(body: Buffer): IrqSet {
  need(8, body, IRQ_SET.size);
  const s = { ...IRQ_SET.decode(body), data: body.subarray(IRQ_SET.size) };
  // QEMU sends argsz = 20 even with eventfds attached, so argsz is only checked against the fixed part.
  needArgsz(8, s.argsz, IRQ_SET.size);
  return s;
}

export function encodeIrqSet(s: Omit<IrqSet, 'argsz'> & { argsz?: number }): Buffer {
  const b = Buffer.alloc(IRQ_SET.size + s.data.length);
  IRQ_SET.encode({ argsz: s.argsz ?? b.length, flags: s.flags, index: s.index, start: s.start, count: s.count }, b);
  s.data.copy(b, IRQ_SET.size);
  return b;
}

// ---- REGION_READ / REGION_WRITE / DMA_READ / DMA_WRITE ----------------------------------------------------------

/** The access header of REGION_READ/WRITE (and each REGION_WRITE_MULTI entry); per message, so written out by hand. */
export const REGION_ACCESS = sized(Size.REGION_ACCESS, { offset: 'u64', region: 'u32', count: 'u32' });

export type RegionAccess = Decoded<typeof REGION_ACCESS> & {
  /** The data that follows the access header (empty for a read request). */
  readonly data: Buffer;
};

export function decodeRegionAccess(cmd: number, body: Buffer): RegionAccess {
  need(cmd, body, REGION_ACCESS.size);
  return { offset: body.readBigUInt64LE(0), region: body.readUInt32LE(8), count: body.readUInt32LE(12), data: body.subarray(REGION_ACCESS.size) };
}

/** Writes a region-access header into `buf` at `off` (a fresh buffer when none is given). */
export function encodeRegionAccess(
  offset: bigint,
  region: number,
  count: number,
  buf: Buffer = Buffer.allocUnsafe(REGION_ACCESS.size),
  off = 0,
): Buffer {
  buf.writeBigUInt64LE(offset, off);
  buf.writeUInt32LE(region >>> 0, off + 8);
  buf.writeUInt32LE(count >>> 0, off + 12);
  return buf;
}

const DMA_ACCESS = sized(Size.DMA_ACCESS, { iova: 'u64', count: 'u64' });

export type DmaAccessMsg = Decoded<typeof DMA_ACCESS> & { readonly data: Buffer };

export function decodeDmaAccess(cmd: number, body: Buffer): DmaAccessMsg {
  need(cmd, body, DMA_ACCESS.size);
  return { ...DMA_ACCESS.decode(body), data: body.subarray(DMA_ACCESS.size) };
}

export function encodeDmaAccess(iova: bigint, count: bigint): Buffer {
  return DMA_ACCESS.encode({ iova, count }, Buffer.allocUnsafe(DMA_ACCESS.size));
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
    const a = decodeRegionAccess(Command.REGION_WRITE_MULTI, body.subarray(p, p + Size.WRITE_MULTI_ENTRY));
    if (a.count > 8) throw err('EINVAL', `REGION_WRITE_MULTI: write ${i} has count ${a.count} > 8`);
    out.push({ ...a, data: a.data.subarray(0, a.count) });
  }
  return out;
}

export function encodeWriteMulti(writes: readonly MultiWrite[]): Buffer {
  const b = Buffer.alloc(Size.WRITE_MULTI_HEAD + writes.length * Size.WRITE_MULTI_ENTRY);
  b.writeBigUInt64LE(BigInt(writes.length), 0);
  writes.forEach((w, i) => {
    const p = Size.WRITE_MULTI_HEAD + i * Size.WRITE_MULTI_ENTRY;
    encodeRegionAccess(w.offset, w.region, w.count, b, p);
    w.data.copy(b, p + REGION_ACCESS.size, 0, Math.min(8, w.data.length));
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

const ARGSZ_PAIR = sized(Size.DEVICE_FEATURE, { argsz: 'u32', word: 'u32' });

export function decodeArgszPair(cmd: number, body: Buffer): ArgszPair {
  need(cmd, body, ARGSZ_PAIR.size);
  const p = { ...ARGSZ_PAIR.decode(body), data: body.subarray(ARGSZ_PAIR.size) };
  needArgsz(cmd, p.argsz, ARGSZ_PAIR.size);
  return p;
}

export function encodeArgszPair(p: ArgszPair): Buffer {
  const b = ARGSZ_PAIR.encode(p, undefined, 0, p.data.length);
  p.data.copy(b, ARGSZ_PAIR.size);
  return b;
}
