/**
 * Concepts: an emulated PCI configuration space for a type-0 (endpoint) function.
 *
 * The space is three byte arrays of the same size: the current value, a write mask (1 = the guest may change the
 * bit) and a write-1-to-clear mask (1 = writing 1 clears the bit, as the PCI_STATUS error bits). Every standard
 * behaviour follows from the masks: BAR sizing works because the size bits of a BAR are not writable, so writing
 * all-ones reads back `~(size - 1)` with the type bits that were never writable (I/O bit 0, memory type and
 * prefetch bits). A 64-bit BAR spans two dwords and its upper dword is fully writable down to the size.
 *
 * The capability list is laid out from 0x40 by `capabilities`; PCI_CAPABILITY_LIST points at the first and
 * PCI_STATUS_CAP_LIST is set. Vendor ranges (`vendorRanges`) take every access that falls in them, relative to
 * their start; the standard emulation never touches those bytes. The space is 256 bytes (conventional PCI) or 4096
 * (PCI Express) and nothing else: a guest reads it in naturally aligned dwords up to 0xfc, so a shorter space (the
 * kernel's mtty sample reports 0xff) makes the last dword fail.
 */
import { err } from '../errors.js';
import { PCI_BAR, PCI_CAP_ID, PCI_CFG, PCI_COMMAND, PCI_STATUS } from './constants.js';

/** One BAR of a function; a `mem64` BAR also takes the next slot. Sizes are powers of two. */
export type BarSpec =
  | { readonly kind: 'io'; readonly size: number }
  | { readonly kind: 'mem32'; readonly size: number; readonly prefetchable?: boolean }
  | { readonly kind: 'mem64'; readonly size: bigint; readonly prefetchable?: boolean };

/** The identity fields of the header. */
export interface PciIdentity {
  readonly vendorId: number;
  readonly deviceId: number;
  /** 24-bit class code: base class << 16 | sub class << 8 | programming interface. */
  readonly classCode: number;
  readonly revision?: number;
  readonly subsystemVendorId?: number;
  readonly subsystemId?: number;
}

/** A capability placed by the builder: `body` is everything after the 2-byte `[id, next]` header. */
export interface CapabilitySpec {
  readonly id: number;
  readonly body: Uint8Array;
  /** Per-byte write mask of `body` (all read-only when absent). */
  readonly writeMask?: Uint8Array;
  /** Per-byte write-1-to-clear mask of `body`. */
  readonly w1cMask?: Uint8Array;
}

/** A vendor-owned byte range: accesses inside it go to these callbacks with range-relative offsets. */
export interface VendorRange {
  readonly offset: number;
  readonly length: number;
  read(offset: number, length: number): Uint8Array;
  write(offset: number, data: Uint8Array): void;
}

export interface PciConfigOptions {
  readonly identity: PciIdentity;
  /** Bytes of config space: 256 (the default) or 4096 for PCI Express. */
  readonly size?: number;
  /** BAR0..BAR5 (`undefined` for an unimplemented slot; a `mem64` BAR leaves the next slot `undefined`). */
  readonly bars?: readonly (BarSpec | undefined)[];
  /** Expansion ROM size (power of two ≥ 2 KiB), or none. */
  readonly romSize?: number;
  /** Initial PCI_COMMAND value. */
  readonly command?: number;
  /** Initial PCI_STATUS value (CAP_LIST is added when capabilities exist). */
  readonly status?: number;
  /** PCI_INTERRUPT_PIN: 0 none, 1..4 INTA#..INTD#. */
  readonly interruptPin?: number;
  readonly capabilities?: readonly CapabilitySpec[];
  readonly vendorRanges?: readonly VendorRange[];
}

const STD_HEADER_END = PCI_CFG.STD_HEADER_SIZEOF;

/** The emulated config space of one device. Owned by that device; lives as long as it does. */
export class PciConfigSpace {
  readonly size: number;
  readonly #value: Uint8Array;
  readonly #wmask: Uint8Array;
  readonly #w1c: Uint8Array;
  readonly #vendor: readonly VendorRange[];
  readonly #capOffsets = new Map<number, number>();
  #capEnd: number = STD_HEADER_END;

  constructor(options: PciConfigOptions) {
    const size = options.size ?? PCI_CFG.SPACE_SIZE;
    if (size !== PCI_CFG.SPACE_SIZE && size !== PCI_CFG.EXP_SPACE_SIZE) {
      throw err('EINVAL', `config space size ${size}: must be 0x100 or 0x1000`);
    }
    this.size = size;
    this.#value = new Uint8Array(size);
    this.#wmask = new Uint8Array(size);
    this.#w1c = new Uint8Array(size);
    this.#vendor = [...(options.vendorRanges ?? [])];
    for (const r of this.#vendor) {
      if (r.offset < 0 || r.length <= 0 || r.offset + r.length > size) throw err('EINVAL', `vendor range 0x${r.offset.toString(16)}+${r.length} outside config space`);
    }
    this.#header(options);
    this.#bars(options.bars ?? [], options.romSize);
    this.#caps(options.capabilities ?? []);
  }

  /** The first byte past the header and the capabilities: where device-specific bytes may start. */
  get capabilitiesEnd(): number {
    return this.#capEnd;
  }

  /** Where the builder placed the first capability with this id, if any. */
  capabilityOffset(id: number): number | undefined {
    return this.#capOffsets.get(id);
  }

  /** `length` bytes at `offset`; EINVAL outside the space. */
  read(offset: number, length: number): Buffer {
    this.#check(offset, length);
    const out = Buffer.alloc(length);
    let i = 0;
    while (i < length) {
      const pos = offset + i;
      const r = this.#vendorAt(pos);
      if (r) {
        const n = Math.min(length - i, r.offset + r.length - pos);
        const got = r.read(pos - r.offset, n);
        out.set(got.subarray(0, n), i);
        i += n;
      } else {
        out[i] = this.#value[pos]!;
        i += 1;
      }
    }
    return out;
  }

  /** Apply a guest write: masks for the standard bytes, the owning callback for vendor bytes; EINVAL outside. */
  write(offset: number, data: Uint8Array): void {
    this.#check(offset, data.length);
    let i = 0;
    while (i < data.length) {
      const pos = offset + i;
      const r = this.#vendorAt(pos);
      if (r) {
        const n = Math.min(data.length - i, r.offset + r.length - pos);
        r.write(pos - r.offset, data.subarray(i, i + n));
        i += n;
      } else {
        const v = data[i]!;
        const old = this.#value[pos]!;
        const wm = this.#wmask[pos]!;
        this.#value[pos] = ((old & ~wm) | (v & wm)) & ~(v & this.#w1c[pos]!) & 0xff;
        i += 1;
      }
    }
  }

  /** Device-side access (no masks): the device sets status bits, capability state and the like. */
  setByte(offset: number, value: number): void {
    this.#check(offset, 1);
    this.#value[offset] = value & 0xff;
  }
  setWord(offset: number, value: number): void {
    this.setByte(offset, value);
    this.setByte(offset + 1, value >>> 8);
  }
  setDword(offset: number, value: number): void {
    this.setWord(offset, value & 0xffff);
    this.setWord(offset + 2, value >>> 16);
  }
  byte(offset: number): number {
    this.#check(offset, 1);
    return this.#value[offset]!;
  }
  word(offset: number): number {
    return this.byte(offset) | (this.byte(offset + 1) << 8);
  }
  dword(offset: number): number {
    return (this.word(offset) | (this.word(offset + 2) << 16)) >>> 0;
  }

  /** A copy of the raw value bytes (vendor ranges excluded), for snapshots and tests. */
  snapshot(): Buffer {
    return Buffer.from(this.#value);
  }

  /** Restore raw value bytes taken by `snapshot` (same size); masks stay as built. */
  restore(bytes: Uint8Array): void {
    if (bytes.length !== this.size) throw err('EINVAL', `config snapshot is ${bytes.length} bytes, expected ${this.size}`);
    this.#value.set(bytes);
  }

  #check(offset: number, length: number): void {
    if (!Number.isInteger(offset) || !Number.isInteger(length) || offset < 0 || length < 0 || offset + length > this.size) {
      throw err('EINVAL', `config access 0x${offset.toString(16)}+${length} outside ${this.size} bytes`);
    }
  }

  #vendorAt(pos: number): VendorRange | undefined {
    for (const r of this.#vendor) if (pos >= r.offset && pos < r.offset + r.length) return r;
    return undefined;
  }

  #init(offset: number, bytes: number, value: number, wmask = 0, w1c = 0): void {
    for (let k = 0; k < bytes; k++) {
      const shift = 8 * k;
      this.#value[offset + k] = Number((BigInt(value >>> 0) >> BigInt(shift)) & 0xffn);
      this.#wmask[offset + k] = (wmask >>> shift) & 0xff;
      this.#w1c[offset + k] = (w1c >>> shift) & 0xff;
    }
  }

  #header(o: PciConfigOptions): void {
    const id = o.identity;
    const bars = o.bars ?? [];
    const hasIo = bars.some((b) => b?.kind === 'io');
    const hasMem = bars.some((b) => b !== undefined && b.kind !== 'io') || o.romSize !== undefined;
    const cmdWritable =
      (hasIo ? PCI_COMMAND.IO : 0) |
      (hasMem ? PCI_COMMAND.MEMORY : 0) |
      PCI_COMMAND.MASTER |
      PCI_COMMAND.PARITY |
      PCI_COMMAND.SERR |
      PCI_COMMAND.INTX_DISABLE;
    this.#init(PCI_CFG.VENDOR_ID, 2, id.vendorId);
    this.#init(PCI_CFG.DEVICE_ID, 2, id.deviceId);
    this.#init(PCI_CFG.COMMAND, 2, o.command ?? 0, cmdWritable);
    this.#init(PCI_CFG.STATUS, 2, o.status ?? 0, 0, PCI_STATUS.RW1C_MASK);
    this.#init(PCI_CFG.REVISION_ID, 1, id.revision ?? 0);
    this.#init(PCI_CFG.CLASS_PROG, 3, id.classCode & 0xffffff);
    this.#init(PCI_CFG.CACHE_LINE_SIZE, 1, 0, 0xff);
    this.#init(PCI_CFG.SUBSYSTEM_VENDOR_ID, 2, id.subsystemVendorId ?? 0);
    this.#init(PCI_CFG.SUBSYSTEM_ID, 2, id.subsystemId ?? 0);
    this.#init(PCI_CFG.INTERRUPT_LINE, 1, 0, 0xff);
    const pin = o.interruptPin ?? 0;
    if (!Number.isInteger(pin) || pin < 0 || pin > 4) throw err('EINVAL', `interrupt pin ${pin} not in 0..4`);
    this.#init(PCI_CFG.INTERRUPT_PIN, 1, pin);
  }

  #bars(bars: readonly (BarSpec | undefined)[], romSize: number | undefined): void {
    if (bars.length > 6) throw err('EINVAL', `${bars.length} BARs; a type-0 header has 6`);
    for (let i = 0; i < bars.length; i++) {
      const bar = bars[i];
      if (bar === undefined) continue;
      const off = PCI_CFG.BASE_ADDRESS_0 + 4 * i;
      if (bar.kind === 'io') {
        if (!isPow2(bar.size) || bar.size < 4 || bar.size > 256) throw err('EINVAL', `I/O BAR${i} size ${bar.size} is not a power of two in 4..256`);
        this.#init(off, 4, PCI_BAR.SPACE_IO, (~(bar.size - 1) & PCI_BAR.IO_MASK) >>> 0);
      } else if (bar.kind === 'mem32') {
        if (!isPow2(bar.size) || bar.size < 16) throw err('EINVAL', `memory BAR${i} size ${bar.size} is not a power of two ≥ 16`);
        const type = PCI_BAR.MEM_TYPE_32 | (bar.prefetchable ? PCI_BAR.MEM_PREFETCH : 0);
        this.#init(off, 4, type, (~(bar.size - 1) & PCI_BAR.MEM_MASK) >>> 0);
      } else {
        if (i === 5 || bars[i + 1] !== undefined) throw err('EINVAL', `64-bit BAR${i} needs slot ${i + 1} free`);
        const size = bar.size;
        if (size < 16n || (size & (size - 1n)) !== 0n) throw err('EINVAL', `memory BAR${i} size ${size} is not a power of two ≥ 16`);
        const mask = ~(size - 1n) & 0xffffffffffffffffn;
        const type = PCI_BAR.MEM_TYPE_64 | (bar.prefetchable ? PCI_BAR.MEM_PREFETCH : 0);
        this.#init(off, 4, type, Number(mask & 0xffffffffn & BigInt(PCI_BAR.MEM_MASK)));
        this.#init(off + 4, 4, 0, Number(mask >> 32n));
        i += 1;
      }
    }
    if (romSize !== undefined) {
      if (!isPow2(romSize) || romSize < 2048) throw err('EINVAL', `ROM size ${romSize} is not a power of two ≥ 2048`);
      this.#init(PCI_CFG.ROM_ADDRESS, 4, 0, ((~(romSize - 1) & 0xfffff800) | PCI_BAR.ROM_ENABLE) >>> 0);
    }
  }

  #caps(caps: readonly CapabilitySpec[]): void {
    if (caps.length === 0) return;
    let at: number = STD_HEADER_END;
    let prevNext: number = PCI_CFG.CAPABILITY_LIST;
    for (const cap of caps) {
      const len = 2 + cap.body.length;
      if (at + len > this.size) throw err('EINVAL', `capability 0x${cap.id.toString(16)} does not fit in ${this.size} bytes`);
      if (this.#vendorOverlaps(at, len)) throw err('EINVAL', `capability 0x${cap.id.toString(16)} overlaps a vendor range`);
      this.#value[prevNext] = at;
      this.#value[at] = cap.id;
      this.#value[at + 1] = 0;
      this.#value.set(cap.body, at + 2);
      if (cap.writeMask) this.#wmask.set(cap.writeMask.subarray(0, cap.body.length), at + 2);
      if (cap.w1cMask) this.#w1c.set(cap.w1cMask.subarray(0, cap.body.length), at + 2);
      if (!this.#capOffsets.has(cap.id)) this.#capOffsets.set(cap.id, at);
      prevNext = at + 1;
      this.#capEnd = at + len;
      at = (at + len + 3) & ~3;
    }
    this.#value[PCI_CFG.STATUS]! |= PCI_STATUS.CAP_LIST;
  }

  #vendorOverlaps(at: number, len: number): boolean {
    return this.#vendor.some((r) => at < r.offset + r.length && r.offset < at + len);
  }
}

function isPow2(n: number): boolean {
  return Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0;
}

/** Power Management capability (PCI PM 1.2): PMCSR power state and PME_En writable, PME_Status RW1C. */
export function pmCapability(pmc = 0x0003): CapabilitySpec {
  const body = new Uint8Array(6);
  body[0] = pmc & 0xff;
  body[1] = pmc >>> 8;
  return {
    id: PCI_CAP_ID.PM,
    body,
    writeMask: Uint8Array.of(0, 0, 0x03, 0x01, 0, 0),
    w1cMask: Uint8Array.of(0, 0, 0, 0x80, 0, 0),
  };
}

/** MSI capability: `vectors` (1..32, power of two) requestable, optional 64-bit address and per-vector masking. */
export function msiCapability(options: { vectors?: number; address64?: boolean; perVectorMask?: boolean } = {}): CapabilitySpec {
  const vectors = options.vectors ?? 1;
  if (!isPow2(vectors) || vectors > 32) throw err('EINVAL', `MSI vectors ${vectors} not a power of two in 1..32`);
  const is64 = options.address64 ?? true;
  const pvm = options.perVectorMask ?? false;
  const control = (Math.log2(vectors) << 1) | (is64 ? 0x80 : 0) | (pvm ? 0x100 : 0);
  // control(2) + addr lo(4) [+ addr hi(4)] + data(2) + pad(2) [+ mask(4) + pending(4)]
  const len = 2 + 4 + (is64 ? 4 : 0) + 4 + (pvm ? 8 : 0);
  const body = new Uint8Array(len);
  const wm = new Uint8Array(len);
  body[0] = control & 0xff;
  body[1] = control >>> 8;
  wm[0] = 0x71; // enable + multiple message enable
  wm.set([0xfc, 0xff, 0xff, 0xff], 2);
  let p = 6;
  if (is64) {
    wm.set([0xff, 0xff, 0xff, 0xff], p);
    p += 4;
  }
  wm.set([0xff, 0xff], p);
  p += 4;
  if (pvm) {
    const maskBits = vectors === 32 ? 0xffffffff : (1 << vectors) - 1;
    wm.set([maskBits & 0xff, (maskBits >>> 8) & 0xff, (maskBits >>> 16) & 0xff, (maskBits >>> 24) & 0xff], p);
  }
  return { id: PCI_CAP_ID.MSI, body, writeMask: wm };
}

/** MSI-X capability: table of `tableSize` entries and the PBA, each in a BAR at an 8-byte-aligned offset. */
export function msixCapability(options: { tableSize: number; tableBar: number; tableOffset: number; pbaBar: number; pbaOffset: number }): CapabilitySpec {
  const { tableSize, tableBar, tableOffset, pbaBar, pbaOffset } = options;
  if (!Number.isInteger(tableSize) || tableSize < 1 || tableSize > 2048) throw err('EINVAL', `MSI-X table size ${tableSize} not in 1..2048`);
  if ((tableOffset & 7) !== 0 || (pbaOffset & 7) !== 0) throw err('EINVAL', 'MSI-X table and PBA offsets must be 8-byte aligned');
  if (tableBar < 0 || tableBar > 5 || pbaBar < 0 || pbaBar > 5) throw err('EINVAL', 'MSI-X BIR not in 0..5');
  const body = new Uint8Array(10);
  const control = tableSize - 1;
  body[0] = control & 0xff;
  body[1] = control >>> 8;
  writeLe32(body, 2, (tableOffset | tableBar) >>> 0);
  writeLe32(body, 6, (pbaOffset | pbaBar) >>> 0);
  return { id: PCI_CAP_ID.MSIX, body, writeMask: Uint8Array.of(0, 0xc0, 0, 0, 0, 0, 0, 0, 0, 0) };
}

/** PCI Express capability (version 2) of an endpoint: Device Control and Link Control writable, status RW1C. */
export function pcieCapability(options: { maxPayload?: number; linkSpeed?: number; linkWidth?: number } = {}): CapabilitySpec {
  const body = new Uint8Array(0x3c - 2);
  const at = (capOffset: number): number => capOffset - 2;
  const flags = 0x0002; // version 2, device/port type 0 (PCI Express endpoint)
  body[at(0x02)] = flags & 0xff;
  body[at(0x03)] = flags >>> 8;
  writeLe32(body, at(0x04), (options.maxPayload ?? 0) & 0x7); // DEVCAP: max payload size supported
  const speed = options.linkSpeed ?? 1;
  const width = options.linkWidth ?? 1;
  writeLe32(body, at(0x0c), (speed & 0xf) | ((width & 0x3f) << 4)); // LNKCAP
  body[at(0x12)] = (speed & 0xf) | ((width & 0xf) << 4); // LNKSTA
  body[at(0x13)] = (width >>> 4) & 0x3;
  const wm = new Uint8Array(body.length);
  wm[at(0x08)] = 0xff; // DEVCTL
  wm[at(0x09)] = 0x7f;
  wm[at(0x10)] = 0xfb; // LNKCTL (bit 2 reserved on endpoints)
  wm[at(0x11)] = 0x0f;
  const w1c = new Uint8Array(body.length);
  w1c[at(0x0a)] = 0x0f; // DEVSTA error bits
  return { id: PCI_CAP_ID.EXP, body, writeMask: wm, w1cMask: w1c };
}

/** Vendor-specific capability: byte 2 is the total length (header included), then `data`; all read-only. */
export function vendorCapability(data: Uint8Array): CapabilitySpec {
  const len = 3 + data.length;
  if (len > 0xff) throw err('EINVAL', `vendor capability of ${len} bytes exceeds 255`);
  const body = new Uint8Array(1 + data.length);
  body[0] = len;
  body.set(data, 1);
  return { id: PCI_CAP_ID.VNDR, body };
}

function writeLe32(buf: Uint8Array, at: number, v: number): void {
  buf[at] = v & 0xff;
  buf[at + 1] = (v >>> 8) & 0xff;
  buf[at + 2] = (v >>> 16) & 0xff;
  buf[at + 3] = (v >>> 24) & 0xff;
}
