/**
 * Concepts: the vfio-user wire vocabulary (spec 0.9.2, QEMU docs/interop/vfio-user.rst; numbering shared by QEMU's
 * and libvfio-user's `enum vfio_user_command`). Every message starts with a 16-byte header; `msg_size` counts the
 * header. Structures are packed, little-endian (the host order of every implementation in practice).
 * The VFIO bits reused inside payloads come from `linux/vfio.h`.
 */

/** Command numbers (header `cmd`). 14 (DIRTY_PAGES) existed only in spec 0.9.1 and is rejected as unknown. */
export const Command = {
  VERSION: 1,
  DMA_MAP: 2,
  DMA_UNMAP: 3,
  DEVICE_GET_INFO: 4,
  DEVICE_GET_REGION_INFO: 5,
  DEVICE_GET_REGION_IO_FDS: 6,
  DEVICE_GET_IRQ_INFO: 7,
  DEVICE_SET_IRQS: 8,
  REGION_READ: 9,
  REGION_WRITE: 10,
  DMA_READ: 11,
  DMA_WRITE: 12,
  DEVICE_RESET: 13,
  REGION_WRITE_MULTI: 15,
  DEVICE_FEATURE: 16,
  MIG_DATA_READ: 17,
  MIG_DATA_WRITE: 18,
} as const;
export type Command = (typeof Command)[keyof typeof Command];

/** Name of a command number, for log lines ("cmd 99" when unknown). */
export function commandName(cmd: number): string {
  for (const [name, value] of Object.entries(Command)) if (value === cmd) return name;
  return `cmd ${cmd}`;
}

/**
 * Commands whose requests may carry fds (spec "File descriptors" table): DMA_MAP (one to mmap) and SET_IRQS
 * (eventfds). Fds on any other request make it malformed (EINVAL); they are closed unused.
 */
export const FD_COMMANDS: ReadonlySet<number> = new Set([Command.DMA_MAP, Command.DEVICE_SET_IRQS]);

/** Header layout and flag bits. */
export const HEADER_SIZE = 16;
export const Flags = {
  TYPE_MASK: 0xf,
  TYPE_COMMAND: 0x0,
  TYPE_REPLY: 0x1,
  NO_REPLY: 0x10,
  ERROR: 0x20,
} as const;

/** Protocol version this implementation speaks (libvfio-user's LIB_VFIO_USER_MAJOR/MINOR). */
export const VERSION_MAJOR = 0;
export const VERSION_MINOR = 2;

/** Capability defaults when the peer names none (spec "Version" table). */
export const DEFAULT_MAX_MSG_FDS = 1;
export const DEFAULT_MAX_DATA_XFER_SIZE = 1 << 20;
export const DEFAULT_MAX_DMA_MAPS = 65535;
export const DEFAULT_PGSIZES = 4096;

/**
 * The `max_dma_maps` this server announces by default: QEMU maps about 20 windows over a guest's boot; the spec's
 * 65535 would let one client take every mapping the process may have (see `dma-budget.ts`).
 */
export const SERVER_MAX_DMA_MAPS = 1024;
/** What this server announces: fds it accepts per message (as libvfio-user's SERVER_MAX_FDS) and transfer size. */
export const SERVER_MAX_MSG_FDS = 8;
export const SERVER_MAX_DATA_XFER_SIZE = 1 << 20;
/** libvfio-user refuses a client `max_msg_fds` above this (VFIO_USER_CLIENT_MAX_MSG_FDS_LIMIT). */
export const CLIENT_MAX_MSG_FDS_LIMIT = 1024;
/**
 * Largest message either side accepts. The largest legal request is a REGION_WRITE of max_data_xfer_size bytes
 * (16-byte header + 16-byte access header + data); anything above is a framing error (libvfio-user's
 * SERVER_MAX_MSG_SIZE is the same bound).
 */
export const MAX_MSG_SIZE = SERVER_MAX_DATA_XFER_SIZE + 2 * HEADER_SIZE;

/** VFIO_DEVICE_FLAGS_*. */
export const DeviceFlags = { RESET: 1 << 0, PCI: 1 << 1 } as const;

/** VFIO_REGION_INFO_FLAG_* and capability ids. */
export const RegionFlags = { READ: 1 << 0, WRITE: 1 << 1, MMAP: 1 << 2, CAPS: 1 << 3 } as const;
export const REGION_INFO_CAP_SPARSE_MMAP = 1;
export const REGION_INFO_CAP_TYPE = 2;

/** VFIO_IRQ_INFO_*. */
export const IrqInfoFlags = { EVENTFD: 1 << 0, MASKABLE: 1 << 1, AUTOMASKED: 1 << 2, NORESIZE: 1 << 3 } as const;

/** VFIO_IRQ_SET_*. */
export const IrqSetFlags = {
  DATA_NONE: 1 << 0,
  DATA_BOOL: 1 << 1,
  DATA_EVENTFD: 1 << 2,
  DATA_TYPE_MASK: 0x07,
  ACTION_MASK: 1 << 3,
  ACTION_UNMASK: 1 << 4,
  ACTION_TRIGGER: 1 << 5,
  ACTION_TYPE_MASK: 0x38,
} as const;

/** DMA_MAP flags (spec: readable/writeable) and DMA_UNMAP flags (libvfio-user and QEMU extensions of linux/vfio.h). */
export const DmaMapFlags = { READ: 1 << 0, WRITE: 1 << 1 } as const;
export const DmaUnmapFlags = { GET_DIRTY_BITMAP: 1 << 0, ALL: 1 << 1 } as const;

/** VFIO_DEVICE_FEATURE_* bits. */
export const FeatureFlags = { MASK: 0xffff, GET: 1 << 16, SET: 1 << 17, PROBE: 1 << 18 } as const;

/** Fixed payload sizes (after the header). */
export const Size = {
  VERSION: 4,
  DMA_MAP: 32,
  DMA_UNMAP: 24,
  /** DMA_UNMAP with GET_DIRTY_BITMAP: `u64 pgsize, u32 size` after the unmap struct (libvfio-user's packed struct). */
  BITMAP_HEAD: 12,
  DEVICE_INFO: 16,
  REGION_INFO: 32,
  REGION_IO_FDS: 16,
  SUB_REGION_IO_FD: 40,
  IRQ_INFO: 16,
  IRQ_SET: 20,
  REGION_ACCESS: 16,
  DMA_ACCESS: 16,
  WRITE_MULTI_HEAD: 8,
  WRITE_MULTI_ENTRY: 24,
  DEVICE_FEATURE: 8,
  MIG_DATA: 8,
  CAP_HEADER: 8,
  SPARSE_MMAP_HEAD: 16,
  SPARSE_AREA: 16,
} as const;
