/**
 * Concepts: the declaration of a PCI device, the one place a vendor states what its device is. A `PciDevice` is
 * built from it, and everything a VMM asks about is derived from it: config space (BAR types and size masks,
 * interrupt pin, the MSI and MSI-X capabilities), region info (one region per BAR, config space, mmap areas and
 * their fd) and IRQ info (INTx, MSI, MSI-X, ERR, REQ with their counts and flags). Nothing is stated twice.
 *
 * A BAR is either trapped (every access is a call to its `read`/`write`) or memory-backed (the framework makes a
 * memfd of the BAR's size that the VMM may mmap; accesses outside the mmap areas are trapped, and served from the
 * memory when the BAR has no handlers). Handlers get offsets relative to the BAR, already bounds-checked.
 */
import type { DisplaySource } from '../display/plane.js';
import type { ByteRing } from './uart-tap.js';
import type { DmaAccess, SparseArea } from './device.js';
import type { DeviceMigration } from './device-migration.js';
import type { CapabilitySpec, PciConfigSpace, PciIdentity, VendorRange } from './pci-config.js';

/** Trapped access to a BAR: each guest access becomes one call. A handler throws `UmdevError` to fail it. */
export interface BarAccess {
  /** `length` bytes at `offset`; absent: reads are refused (`EINVAL`) outside the mmap areas. */
  read?(offset: number, length: number): Uint8Array;
  /** Apply a guest write; may return a promise (a doorbell that does DMA). Absent: writes are refused. */
  write?(offset: number, data: Buffer): void | Promise<void>;
}

/** A memory-backed BAR: the whole BAR is a memfd; the VMM may mmap `mmap` (the whole BAR when absent). */
export interface BarMemory {
  /** Areas the VMM may map, relative to the BAR and page aligned; the rest of the BAR is trapped. */
  readonly mmap?: readonly SparseArea[];
  /**
   * The memory exists only while a client has the device open: created (zeroed) on open, released on close, as a
   * kernel driver that allocates pages on demand and frees them in `close_device`. While closed the region offers
   * no fd and trapped accesses to the memory fail with `ENODEV`.
   */
  readonly perSession?: boolean;
  /**
   * Told the length of every access to the BAR that arrives as a message (REGION_READ/WRITE) instead of through
   * the client's mapping: a device that expects to be mapped can count what was not.
   */
  accessed?(length: number): void;
}

interface BarCommon extends BarAccess {
  /** Backed by a memfd the VMM may map; `true` maps all of it. Size must be a multiple of the page size. */
  readonly memory?: true | BarMemory;
}

/** One BAR. A `mem64` BAR also takes the next slot, which must then be left `undefined`. Sizes are powers of two. */
export type BarDecl =
  | (BarAccess & { readonly kind: 'io'; readonly size: number })
  | (BarCommon & { readonly kind: 'mem32'; readonly size: number; readonly prefetchable?: boolean })
  | (BarCommon & { readonly kind: 'mem64'; readonly size: bigint | number; readonly prefetchable?: boolean });

/** Config space beyond what the BARs and IRQs already say. */
export interface ConfigDecl {
  /** 256 (conventional PCI, the default) or 4096 (PCI Express). */
  readonly size?: number;
  /** Initial PCI_COMMAND. */
  readonly command?: number;
  /** Initial PCI_STATUS (CAP_LIST is set by the framework when there are capabilities). */
  readonly status?: number;
  /** PCI_INTERRUPT_PIN; default INTA# (1) when the device has INTx, none (0) otherwise. */
  readonly interruptPin?: number;
  /** Capabilities besides MSI and MSI-X (PM, PCI Express, vendor), placed first. */
  readonly capabilities?: readonly CapabilitySpec[];
  /** Device-specific read-only bytes past the header and capabilities (a vendor signature, a string). */
  readonly bytes?: readonly { readonly offset: number; readonly data: Uint8Array }[];
  /** Byte ranges the vendor serves itself. */
  readonly vendorRanges?: readonly VendorRange[];
  /**
   * Take every guest config write instead of the standard masked write (a sample that keeps its own quirks).
   * `space.write` applies the standard semantics; `space.setByte` and friends change bytes directly.
   */
  write?(offset: number, data: Uint8Array, space: PciConfigSpace): void;
}

/** The interrupts a device has; each becomes a VFIO IRQ index, and MSI/MSI-X also a capability. */
export interface IrqDecl {
  /** INTx (INTA#): one line, maskable and automasked, as vfio-pci. */
  readonly intx?: boolean;
  /** MSI with `vectors` (1..32, a power of two). `capability: false` reports the index without a capability. */
  readonly msi?: { readonly vectors: number; readonly capability?: boolean; readonly address64?: boolean; readonly perVectorMask?: boolean };
  /** MSI-X with `vectors` (1..2048); its table and PBA fill BAR `bar`, which the framework serves. */
  readonly msix?: { readonly vectors: number; readonly bar: number };
  /** The error side channel (VFIO_PCI_ERR_IRQ_INDEX). */
  readonly err?: boolean;
  /** The request side channel: signalled when a removal waits for the user to let the device go. */
  readonly req?: boolean;
}

/** What a device may do while a client has it open; the framework's, given to `open`. */
export interface OpenInfo {
  readonly dma: DmaAccess;
}

/** Everything about one PCI device. Built per device instance; handlers close over the instance's state. */
export interface PciDeviceSpec {
  readonly identity: PciIdentity;
  /** BAR0..BAR5; `undefined` for an unused slot. */
  readonly bars?: readonly (BarDecl | undefined)[];
  readonly config?: ConfigDecl;
  readonly irqs?: IrqDecl;
  /** VFIO_DEVICE_RESET (and the sysfs `reset` file); the device advertises RESET only when this exists. */
  reset?(): void | Promise<void>;
  /** A client attached. */
  open?(info: OpenInfo): void | Promise<void>;
  /** The client went away; the framework has already released its interrupts. */
  close?(): void | Promise<void>;
  /**
   * The client is taking `[iova, iova + length)` of its memory away (DMA_UNMAP): finish or fail every request that
   * uses it before this resolves, as the kernel's `dma_unmap` op of `vfio_device_ops` unpins (the seed's
   * invalidation of mapped ranges). The reply to the client waits for it. The range is closed to new accesses
   * before this is called: `dma` fails with EFAULT there, and a DMA_READ/WRITE message still out fails too.
   */
  dmaUnmap?(iova: bigint, length: bigint): void | Promise<void>;
  /**
   * True while the device has work under way that it finishes on its own (requests in flight). The transport then
   * goes back to the event loop after a request instead of busy-polling for the next one, so that work runs.
   */
  busy?(): boolean;
  /** A removal waits for the client (REQ is signalled by the framework when declared); `count` rises from 0. */
  requestRelease?(count: number): void;
  /** Live migration; absent: the device cannot migrate. */
  readonly migration?: DeviceMigration;
  /**
   * Compatibility with a kernel sample's VFIO answers, not needed by new devices: where a kernel driver would place
   * region `i` in its fd (`i << regionOffsetShift`), and the flags reported for regions the device lacks.
   */
  readonly vfio?: { readonly regionOffsetShift?: bigint; readonly emptyRegionFlags?: number };
  /**
   * The device's display (mbochs: its DISPI registers over its video memory): what screenshots, the dashboard and
   * `screen.png` show. Absent: the device has none, and asking for its screen is EOPNOTSUPP.
   */
  readonly display?: DisplaySource;
  /** What the guest sent on the device's console (mtty's first UART), for the dashboard; absent: none. */
  readonly console?: ByteRing;
  /** Name of the device's memfds (`/proc/<pid>/fd` shows `memfd:<name>-bar<i>`). */
  readonly name?: string;
}
