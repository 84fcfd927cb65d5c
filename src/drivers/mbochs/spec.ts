/**
 * Concepts: everything that describes an mbochs device, stated once (samples/vfio-mdev/mbochs.c). The types and
 * their video memory and maximum resolution; the PCI identity; the device declaration on the device contract
 * (BAR0 the framebuffer, memory-backed and mmap-able by the VMM; BAR2 the register page); and the map of that
 * register page. The contract derives config space and the region table from the declaration, and the sysfs types
 * come from `MBOCHS_TYPES`; nothing else in the driver repeats a size, an id or an offset.
 */
import { type BarAccess, type BarDecl, type PciDeviceSpec, type PciIdentity, VFIO_PCI_REGION } from '../../sdk/index.js';

/** One mbochs type: its video memory and the largest mode its EDID offers (0×0: no limit, no EDID). */
export interface MbochsType {
  /** The sysfs name; the type id is `mbochs-<sysfsName>`. */
  readonly sysfsName: string;
  readonly prettyName: string;
  readonly mbytes: number;
  readonly maxX: number;
  readonly maxY: number;
}

/**
 * `mbochs_types[]`: sysfs names `small`, `medium`, `large` (type ids `mbochs-small` …), pretty names
 * `mbochs-<size>`. The sample gives `large` no maximum resolution (0×0).
 */
export const MBOCHS_TYPES: readonly MbochsType[] = [
  { sysfsName: 'small', prettyName: 'mbochs-small', mbytes: 4, maxX: 800, maxY: 600 },
  { sysfsName: 'medium', prettyName: 'mbochs-medium', mbytes: 16, maxX: 1920, maxY: 1440 },
  { sysfsName: 'large', prettyName: 'mbochs-large', mbytes: 64, maxX: 0, maxY: 0 },
];

/** The sample's `max_mbytes` module parameter: video memory all mbochs devices of one parent share. */
export const MBOCHS_DEFAULT_MAX_MBYTES = 256;

/**
 * 1234:1111, what Linux's bochs-drm binds, with the subsystem QEMU's stdvga has (1af4:1100) and revision 1 (no
 * QEMU extended registers: bochs-drm reads them only from revision 2). Class 03/00/00, a VGA-compatible display
 * controller; the sample says "display, other" (0x0380) as QEMU's secondary-vga does, and bochs-drm matches on the
 * ids alone, so either binds.
 */
export const MBOCHS_IDENTITY: PciIdentity = {
  vendorId: 0x1234,
  deviceId: 0x1111,
  classCode: 0x030000,
  revision: 0x01,
  subsystemVendorId: 0x1af4,
  subsystemId: 0x1100,
};

/** Region indexes of the two BARs. */
export const FB_BAR = VFIO_PCI_REGION.BAR0;
export const MMIO_BAR = VFIO_PCI_REGION.BAR2;

/** `MBOCHS_MMIO_BAR_SIZE`: one page of registers. */
export const MMIO_BAR_SIZE = 0x1000;

/** The register page (BAR2), as bochs-drm addresses it. */
export const MMIO = {
  /** The EDID block bochs-drm reads byte by byte (`bochs_get_edid_block`): 0x000–0x3ff. */
  EDID: { offset: 0x000, size: 0x400 },
  /** VGA I/O ports 0x3c0–0x3df remapped: 0x400–0x41f. */
  VGA: { offset: 0x400, size: 0x20 },
  /** The bochs DISPI (VBE) registers, 16 bits each at `0x500 + index * 2`. */
  DISPI: { offset: 0x500, size: 0x16 },
  /** QEMU's extended registers (0x600–0x607); absent at revision 1. */
  QEXT: { offset: 0x600, size: 0x8 },
} as const;

const MIB = 1024 * 1024;

/** The video memory of a type, in bytes. */
export function vramBytes(type: MbochsType): number {
  return type.mbytes * MIB;
}

/** What one device brings to its declaration: its handlers and hooks, the rest being the type's. */
export type MbochsParts = Pick<PciDeviceSpec, 'reset' | 'open' | 'close' | 'migration' | 'display'> & {
  /** The register page (BAR2). */
  readonly registers: Required<BarAccess>;
  /** Told of each video memory access that arrives as a message instead of through the client's mapping. */
  vramAccessed(length: number): void;
};

/**
 * The declaration of one device of `type`: BAR0 the video memory, a prefetchable 32-bit BAR backed by a memfd that
 * exists while a client has the device open and that the VMM maps whole (the few accesses that still arrive as
 * messages are served from the same pages, and told to `vramAccessed`); BAR2 the trapped register page served by `registers`. No interrupts, as the sample.
 */
export function mbochsDeviceSpec(type: MbochsType, parts: MbochsParts): PciDeviceSpec {
  const { registers, vramAccessed, ...hooks } = parts;
  const bytes = vramBytes(type);
  const bars: (BarDecl | undefined)[] = [];
  bars[FB_BAR] = { kind: 'mem32', size: bytes, prefetchable: true, memory: { perSession: true, mmap: [{ offset: 0n, size: BigInt(bytes) }], accessed: vramAccessed } };
  bars[MMIO_BAR] = { kind: 'mem32', size: MMIO_BAR_SIZE, ...registers };
  return { name: 'mbochs', identity: MBOCHS_IDENTITY, bars, ...hooks };
}
