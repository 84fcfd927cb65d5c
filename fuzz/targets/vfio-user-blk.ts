/**
 * Hostile virtio-blk scenarios for the vfio-user fuzz target's mvblk device: one input maps a memfd (or, now and
 * then, memory without an fd, whose DMA_READ/WRITE messages the fuzzer never answers) as guest RAM, drives the
 * virtio registers half right and half wrong, writes rings that are mostly hostile (descriptor loops, chains through
 * the whole table, indirect tables of up to 64k entries, nested ones, buffers outside RAM or past the disk, an
 * available index far ahead), kicks, and then often pulls the rug: DMA_UNMAP of the RAM while requests run, a
 * reset (status 0 or DEVICE_RESET), rings rewritten under the device, or a hang-up. Returns the messages to send, in
 * order, with the fds each carries; the caller closes the fds after sending.
 */
import { native, Seal } from '../../src/native/index.js';
import { Command, HEADER_SIZE, IrqSetFlags } from '../../src/vfio-user/constants.js';
import { BLK_T, COMMON, DESC, FEATURE, STATUS, bit } from '../../src/drivers/mvblk/virtio.js';
import { NOTIFY_OFFSET } from '../../src/drivers/mvblk/virtio-pci.js';
import type { Rng } from '../rng.js';

export interface Step {
  readonly frame: Buffer;
  readonly fds?: number[];
  /** Run after the frame is sent (rewrite guest memory while the device works). */
  readonly after?: () => void;
}

const RAM_BYTES = 0x40000;
const NO_REPLY = 0x10;

function frame(cmd: number, body: Buffer, flags = 0): Buffer {
  const h = Buffer.alloc(HEADER_SIZE);
  h.writeUInt16LE(cmd, 2);
  h.writeUInt32LE(HEADER_SIZE + body.length, 4);
  h.writeUInt32LE(flags, 8);
  return Buffer.concat([h, body]);
}

/** A REGION_WRITE of `size` (≤ 8) bytes of `value` at BAR0 `offset`; posted (NO_REPLY) as QEMU sends a notify. */
function regWrite(offset: number, value: bigint | number, size: number, posted = false): Buffer {
  const b = Buffer.alloc(16 + 8);
  b.writeBigUInt64LE(BigInt(offset), 0);
  b.writeUInt32LE(0, 8);
  b.writeUInt32LE(size, 12);
  b.writeBigUInt64LE(BigInt.asUintN(64, BigInt(value)), 16);
  return frame(Command.REGION_WRITE, b.subarray(0, 16 + size), posted ? NO_REPLY : 0);
}

/** One hostile scenario against an mvblk device's connection (already negotiated). */
export function blkScenario(rng: Rng): { steps: Step[]; release: () => void } {
  const ramIova = BigInt(1 + rng.int(16)) * 0x100000n;
  const withFd = rng.chance(0.9);
  const fd = withFd ? native.memfdCreate('fuzz-blk', RAM_BYTES, Seal.SHRINK | Seal.GROW) : -1;
  const mapping = withFd ? native.mmap(fd, 0, RAM_BYTES, true) : undefined;
  const ram = mapping === undefined ? Buffer.alloc(RAM_BYTES) : Buffer.from(mapping);
  const release = (): void => {
    if (mapping !== undefined) native.munmap(mapping);
  };
  const steps: Step[] = [];
  const map = Buffer.alloc(32);
  map.writeUInt32LE(32, 0);
  map.writeUInt32LE(3, 4);
  map.writeBigUInt64LE(ramIova, 16);
  map.writeBigUInt64LE(BigInt(RAM_BYTES), 24);
  steps.push({ frame: frame(Command.DMA_MAP, map), ...(withFd ? { fds: [fd] } : {}) });
  const reg = (offset: number, value: bigint | number, size: number): void => void steps.push({ frame: regWrite(offset, value, size) });

  // The handshake, each step sometimes wrong or missing.
  const size = rng.pick([1, 2, 4, 8, 16, 256, 3, 0, 512, 65535]);
  if (rng.chance(0.95)) reg(COMMON.STATUS, 0, 1);
  reg(COMMON.STATUS, STATUS.ACKNOWLEDGE | STATUS.DRIVER, 1);
  const features = rng.chance(0.8) ? bit(FEATURE.VERSION_1) | bit(FEATURE.RING_INDIRECT_DESC) | bit(FEATURE.BLK_FLUSH) | bit(FEATURE.BLK_SEG_MAX) : BigInt.asUintN(64, BigInt(rng.u32()) << BigInt(rng.int(40)));
  reg(COMMON.GFSELECT, 0, 4);
  reg(COMMON.GF, features & 0xffffffffn, 4);
  reg(COMMON.GFSELECT, 1, 4);
  reg(COMMON.GF, features >> 32n, 4);
  reg(COMMON.STATUS, STATUS.ACKNOWLEDGE | STATUS.DRIVER | STATUS.FEATURES_OK, 1);
  const inRam = (): bigint => ramIova + BigInt(rng.int(RAM_BYTES >> 4) << 4);
  const addr = (): bigint => (rng.chance(0.85) ? inRam() : rng.pick([0n, 0xffff_ffff_ffff_f000n, ramIova + BigInt(RAM_BYTES) - 2n, BigInt(rng.u32()) << 12n]));
  const desc = ramIova;
  const avail = ramIova + 0x2000n;
  const used = ramIova + 0x3000n;
  reg(COMMON.Q_SELECT, rng.chance(0.9) ? 0 : rng.int(8), 2);
  reg(COMMON.Q_SIZE, size, 2);
  reg(COMMON.Q_MSIX, rng.pick([1, 0, 0xffff, 7]), 2);
  for (const [off, a] of [[COMMON.Q_DESC, desc], [COMMON.Q_AVAIL, avail], [COMMON.Q_USED, used]] as const) {
    const v = rng.chance(0.9) ? a : addr();
    reg(off, v & 0xffffffffn, 4);
    reg(off + 4, v >> 32n, 4);
  }
  if (rng.chance(0.5)) {
    const efd = native.eventfd(0, { nonblock: true });
    const set = Buffer.alloc(20);
    set.writeUInt32LE(20, 0);
    set.writeUInt32LE(IrqSetFlags.DATA_EVENTFD | IrqSetFlags.ACTION_TRIGGER, 4);
    set.writeUInt32LE(2, 8);
    set.writeUInt32LE(rng.int(2), 12);
    set.writeUInt32LE(1, 16);
    steps.push({ frame: frame(Command.DEVICE_SET_IRQS, set), fds: [efd] });
  }
  reg(COMMON.Q_ENABLE, 1, 2);
  reg(COMMON.STATUS, STATUS.ACKNOWLEDGE | STATUS.DRIVER | STATUS.FEATURES_OK | STATUS.DRIVER_OK, 1);

  // The rings: a few requests, most of them wrong in some way.
  const tableSize = Math.max(1, Math.min(size, 256));
  const at = (iova: bigint): number => Number(iova - ramIova);
  const putDesc = (table: bigint, i: number, a: bigint, len: number, flags: number, next: number): void => {
    const o = at(table) + 16 * i;
    if (o < 0 || o + 16 > RAM_BYTES) return;
    ram.writeBigUInt64LE(a, o);
    ram.writeUInt32LE(len >>> 0, o + 8);
    ram.writeUInt16LE(flags, o + 12);
    ram.writeUInt16LE(next & 0xffff, o + 14);
  };
  const hdr = ramIova + 0x8000n;
  ram.writeUInt32LE(rng.pick([BLK_T.IN, BLK_T.OUT, BLK_T.FLUSH, BLK_T.GET_ID, rng.u32()]), at(hdr));
  ram.writeBigUInt64LE(rng.chance(0.8) ? BigInt(rng.int(1 << 21)) : BigInt(rng.u32()) << 32n, at(hdr) + 8);
  const requests = 1 + rng.int(4);
  for (let r = 0; r < requests; r++) {
    const base = r * 4;
    switch (rng.int(8)) {
      case 0: // a loop
        putDesc(desc, base % tableSize, hdr, 16, DESC.NEXT, (base + 1) % tableSize);
        putDesc(desc, (base + 1) % tableSize, ramIova + 0x9000n, 1, DESC.WRITE | DESC.NEXT, base % tableSize);
        break;
      case 1: // the whole table chained in a circle
        for (let i = 0; i < tableSize; i++) putDesc(desc, i, hdr, 16, DESC.NEXT, (i + 1) % tableSize);
        break;
      case 2: {
        // an indirect table of up to 64k entries, maybe nested, maybe looping
        const table = ramIova + 0x10000n;
        const n = rng.pick([1, 3, 1024, 1025, 65536, 0]);
        putDesc(desc, base % tableSize, table, n * 16 + (rng.chance(0.1) ? 3 : 0), DESC.INDIRECT | (rng.chance(0.1) ? DESC.NEXT : 0), 0);
        for (let i = 0; i < Math.min(n, 2048); i++) {
          const nested = rng.chance(0.01);
          putDesc(table, i, nested ? table : i === 0 ? hdr : addr(), nested ? 32 : i === 0 ? 16 : rng.pick([1, 512, 4096]), nested ? DESC.INDIRECT : DESC.NEXT | (i > 0 ? DESC.WRITE : 0), rng.chance(0.9) ? (i + 1) % Math.max(1, n) : rng.int(70000));
        }
        break;
      }
      default: {
        // a plausible request with random buffers
        const data = rng.pick([0, 1, 512, 4096, 1 << 20, 4 << 20]);
        putDesc(desc, base % tableSize, hdr, 16, DESC.NEXT, (base + 1) % tableSize);
        putDesc(desc, (base + 1) % tableSize, addr(), data, DESC.NEXT | (rng.chance(0.5) ? DESC.WRITE : 0), (base + 2) % tableSize);
        putDesc(desc, (base + 2) % tableSize, addr(), rng.pick([1, 0, 4]), DESC.WRITE | (rng.chance(0.05) ? DESC.NEXT : 0), rng.int(tableSize + 2));
      }
    }
    const slot = at(avail) + 4 + 2 * (r % tableSize);
    if (slot + 2 <= RAM_BYTES) ram.writeUInt16LE(rng.chance(0.9) ? base % tableSize : rng.int(65536), slot);
  }
  ram.writeUInt16LE(rng.chance(0.9) ? requests : rng.int(65536), at(avail) + 2);
  steps.push({ frame: regWrite(NOTIFY_OFFSET, 0, 2, rng.chance(0.7)) });

  // And then, often, the rug.
  const rug = rng.int(10);
  if (rug === 0) {
    const unmap = Buffer.alloc(24);
    unmap.writeUInt32LE(24, 0);
    unmap.writeBigUInt64LE(ramIova, 8);
    unmap.writeBigUInt64LE(BigInt(RAM_BYTES), 16);
    steps.push({ frame: frame(Command.DMA_UNMAP, unmap) });
  } else if (rug === 1) {
    steps.push({ frame: frame(Command.DEVICE_RESET, Buffer.alloc(0)) });
  } else if (rug === 2) {
    reg(COMMON.STATUS, 0, 1);
  } else if (rug === 3) {
    // Rewrite the rings while the device walks them.
    steps.push({ frame: regWrite(NOTIFY_OFFSET, 0, 2, true), after: () => ram.fill(rng.u32() & 0xff, 0, 0x4000) });
  } else if (rug === 4) {
    const unmapAll = Buffer.alloc(24);
    unmapAll.writeUInt32LE(24, 0);
    unmapAll.writeUInt32LE(2, 4);
    steps.push({ frame: frame(Command.DMA_UNMAP, unmapAll) });
  }
  return { steps, release };
}
