/**
 * Concepts: the VFIO device API as a vendor driver implements it and a transport (the vfio-user server) serves it,
 * the userspace twin of `vfio_device_ops` plus the `VFIO_DEVICE_GET_*` ioctls. This is what a transport consumes;
 * vendors do not implement it by hand but declare a `PciDevice` (`pci-device.ts`), which implements it, and the
 * vfio-user bus driver binds only those (`requirePciDevice`). Offsets are relative to the region; the transport does
 * the bounds checks against `regionInfo(i).size` before calling.
 */
import type { DeviceActivity } from './device-activity.js';
import type { MigrationDriver } from './device-migration.js';

/** A sparse-mmap area inside a region (VFIO_REGION_INFO_CAP_SPARSE_MMAP), relative to the region start. */
export interface SparseArea {
  readonly offset: bigint;
  readonly size: bigint;
}

export interface VfioRegionInfo {
  readonly index: number;
  /** VFIO_REGION_INFO_FLAG_READ | WRITE | MMAP | CAPS. */
  readonly flags: number;
  readonly size: bigint;
  /**
   * Where a kernel VFIO driver would place the region in the device fd (mtty: `index << 40`). Informational:
   * transports that address regions by index (vfio-user) need not use it. Optional, absent for most devices.
   */
  readonly offset?: bigint;
  /** Areas the client may mmap, backed by `fd` at `fdOffset + area.offset`. */
  readonly sparse?: readonly SparseArea[];
  /** A memfd (or other fd) backing the mmap-able areas; passed to the client with GET_REGION_INFO. */
  readonly fd?: number;
  readonly fdOffset?: bigint;
}

export interface VfioIrqInfo {
  readonly index: number;
  /** VFIO_IRQ_INFO_EVENTFD | MASKABLE | AUTOMASKED | NORESIZE. */
  readonly flags: number;
  readonly count: number;
}

/** One VFIO_DEVICE_SET_IRQS request, already validated against `irqInfo` by the transport. */
export interface SetIrqsRequest {
  readonly index: number;
  /** VFIO_IRQ_SET_DATA_* | VFIO_IRQ_SET_ACTION_* bits. */
  readonly flags: number;
  readonly start: number;
  readonly count: number;
  /** DATA_EVENTFD: one fd per sub-index (-1 to tear that one down). The device owns them from here on. */
  readonly fds?: readonly number[];
  /** DATA_BOOL: one flag per sub-index. */
  readonly bools?: readonly boolean[];
}

/** One buffer of guest memory in a scatter-gather list. */
export interface DmaSegment {
  readonly iova: bigint;
  readonly length: number;
}

/**
 * How a device reaches guest memory: through a mapping of a passed fd, or through DMA_READ/DMA_WRITE messages.
 * Every access is checked against the client's mappings when it is made (EFAULT outside them, EPERM against a
 * window's permissions); the device never holds a pointer into guest memory, so memory the client unmaps is never
 * touched again. Accesses to mapped memory complete at once (the promise is already settled).
 */
export interface DmaAccess {
  read(iova: bigint, length: number): Promise<Buffer>;
  write(iova: bigint, data: Buffer): Promise<void>;
  /**
   * The buffers of `segs`, in order, gathered into one (a scatter-gather list read in one call): into `into` when
   * given (at least their total length; the result is its first bytes), else a new buffer.
   */
  readv(segs: readonly DmaSegment[], into?: Buffer): Promise<Buffer>;
  /** `data` scattered over the buffers of `segs` in order; `data` may be shorter than they are. */
  writev(segs: readonly DmaSegment[], data: Buffer): Promise<void>;
}

/**
 * Calls `onReadable` on the main loop whenever `fd` is readable, until `stop()` (idempotent; call it before closing
 * the fd). Makes `fd` non-blocking. The caller keeps owning `fd`. Given by the transport, so devices need no native
 * code of their own.
 */
export type WatchReadable = (fd: number, onReadable: () => void) => { stop(): void };

/** What the transport gives a device while a client has it open. */
export interface VfioOpenContext {
  readonly dma: DmaAccess;
  /** Readiness of client-supplied fds (an INTx unmask eventfd); absent where the transport cannot watch fds. */
  readonly watchReadable?: WatchReadable;
  /** Logs with the device's prefix. */
  readonly log: (level: 'debug' | 'info' | 'warn' | 'error', message: string) => void;
}

/** A device served through the VFIO API. Errors are `UmdevError`s; the transport maps them to `error_no`. */
export interface VfioDevice {
  /** VFIO_DEVICE_FLAGS_PCI | VFIO_DEVICE_FLAGS_RESET … */
  readonly deviceFlags: number;
  readonly numRegions: number;
  readonly numIrqs: number;
  regionInfo(index: number): VfioRegionInfo;
  irqInfo(index: number): VfioIrqInfo;
  /** `length` bytes at `offset` of region `index`; bounds already checked. */
  read(index: number, offset: bigint, length: number): Buffer | Promise<Buffer>;
  write(index: number, offset: bigint, data: Buffer): void | Promise<void>;
  setIrqs(request: SetIrqsRequest): void;
  /** VFIO_DEVICE_RESET. */
  reset(): void | Promise<void>;
  /** The migration state machine; absent: the device cannot migrate (DEVICE_FEATURE MIGRATION is EOPNOTSUPP). */
  readonly migration?: MigrationDriver;
  /** A client attached (first open). */
  open(context: VfioOpenContext): void | Promise<void>;
  /** The client went away: release its eventfds and DMA state (last close). */
  close(): void | Promise<void>;
  /** The client takes `[iova, iova + length)` away: requests using it end first (see `PciDeviceSpec.dmaUnmap`). */
  dmaUnmap?(iova: bigint, length: bigint): void | Promise<void>;
  /** True while device work is under way that ends on the event loop (no busy polling meanwhile). */
  readonly busy?: boolean;
  /**
   * A removal waits for the client to let go (vfio's `request` op, called again every wait interval with a rising
   * `count`): signal the REQ interrupt. Optional: without it the removal just waits.
   */
  requestRelease?(count: number): void;
  /** Where the transport counts this device's requests and records its client; absent: nothing is recorded. */
  readonly activity?: DeviceActivity;
}
