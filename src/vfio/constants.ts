/**
 * Concepts: the VFIO uAPI numbers a vendor driver and a transport agree on, as `include/uapi/linux/vfio.h`
 * (torvalds/linux @02256acf) and `include/uapi/linux/pci_regs.h` define them. Values only; no behaviour lives here.
 * Everything is a frozen plain object of numbers, so the values are shared read-only by every importer.
 */

/** `vfio_device_info.flags` (VFIO_DEVICE_FLAGS_*). */
export const VFIO_DEVICE_FLAGS = {
  RESET: 1 << 0,
  PCI: 1 << 1,
  PLATFORM: 1 << 2,
  AMBA: 1 << 3,
  CCW: 1 << 4,
  AP: 1 << 5,
  FSL_MC: 1 << 6,
  CAPS: 1 << 7,
  CDX: 1 << 8,
} as const;

/** The `device_api` strings (VFIO_DEVICE_API_*_STRING). */
export const VFIO_DEVICE_API = {
  PCI: 'vfio-pci',
  PLATFORM: 'vfio-platform',
  AMBA: 'vfio-amba',
  CCW: 'vfio-ccw',
  AP: 'vfio-ap',
} as const;

/** Fixed PCI region indexes (VFIO_PCI_*_REGION_INDEX); indexes ≥ NUM_REGIONS are device specific. */
export const VFIO_PCI_REGION = {
  BAR0: 0,
  BAR1: 1,
  BAR2: 2,
  BAR3: 3,
  BAR4: 4,
  BAR5: 5,
  ROM: 6,
  CONFIG: 7,
  VGA: 8,
  NUM_REGIONS: 9,
} as const;

/** `vfio_region_info.flags` (VFIO_REGION_INFO_FLAG_*). */
export const VFIO_REGION_INFO_FLAG = {
  READ: 1 << 0,
  WRITE: 1 << 1,
  MMAP: 1 << 2,
  CAPS: 1 << 3,
} as const;

/** Region info capability ids (VFIO_REGION_INFO_CAP_*); each `vfio_info_cap_header` is 8 bytes. */
export const VFIO_REGION_INFO_CAP = {
  SPARSE_MMAP: 1,
  TYPE: 2,
  MSIX_MAPPABLE: 3,
  NVLINK2_SSATGT: 4,
  NVLINK2_LNKSPD: 5,
} as const;

/** Device info capability ids (VFIO_DEVICE_INFO_CAP_*). */
export const VFIO_DEVICE_INFO_CAP = {
  ZPCI_BASE: 1,
  ZPCI_GROUP: 2,
  ZPCI_UTIL: 3,
  ZPCI_PFIP: 4,
  PCI_ATOMIC_COMP: 5,
} as const;

/** `vfio_region_info_cap_type.type` (VFIO_REGION_TYPE_*); PCI_VENDOR_TYPE carries the vendor in its low 16 bits. */
export const VFIO_REGION_TYPE = {
  PCI_VENDOR_TYPE: 0x80000000,
  PCI_VENDOR_MASK: 0xffff,
  GFX: 1,
  CCW: 2,
  MIGRATION_DEPRECATED: 3,
} as const;

/** `vfio_region_info_cap_type.subtype` values (VFIO_REGION_SUBTYPE_*). */
export const VFIO_REGION_SUBTYPE = {
  INTEL_IGD_OPREGION: 1,
  INTEL_IGD_HOST_CFG: 2,
  INTEL_IGD_LPC_CFG: 3,
  GFX_EDID: 1,
  CCW_ASYNC_CMD: 1,
  CCW_SCHIB: 2,
  CCW_CRW: 3,
  MIGRATION_DEPRECATED: 1,
} as const;

/** Fixed PCI IRQ indexes (VFIO_PCI_*_IRQ_INDEX). */
export const VFIO_PCI_IRQ = {
  INTX: 0,
  MSI: 1,
  MSIX: 2,
  ERR: 3,
  REQ: 4,
  NUM_IRQS: 5,
} as const;

/** `vfio_irq_info.flags` (VFIO_IRQ_INFO_*). */
export const VFIO_IRQ_INFO = {
  EVENTFD: 1 << 0,
  MASKABLE: 1 << 1,
  AUTOMASKED: 1 << 2,
  NORESIZE: 1 << 3,
} as const;

/** `vfio_irq_set.flags` (VFIO_IRQ_SET_*): exactly one DATA_* and one ACTION_* bit per request. */
export const VFIO_IRQ_SET = {
  DATA_NONE: 1 << 0,
  DATA_BOOL: 1 << 1,
  DATA_EVENTFD: 1 << 2,
  ACTION_MASK: 1 << 3,
  ACTION_UNMASK: 1 << 4,
  ACTION_TRIGGER: 1 << 5,
  DATA_TYPE_MASK: 0x07,
  ACTION_TYPE_MASK: 0x38,
} as const;

/** `vfio_device_feature.flags` (VFIO_DEVICE_FEATURE_*): the low 16 bits carry the feature id. */
export const VFIO_DEVICE_FEATURE = {
  MASK: 0xffff,
  GET: 1 << 16,
  SET: 1 << 17,
  PROBE: 1 << 18,
  PCI_VF_TOKEN: 0,
  MIGRATION: 1,
  MIG_DEVICE_STATE: 2,
  LOW_POWER_ENTRY: 3,
  LOW_POWER_ENTRY_WITH_WAKEUP: 4,
  LOW_POWER_EXIT: 5,
  DMA_LOGGING_START: 6,
  DMA_LOGGING_STOP: 7,
  DMA_LOGGING_REPORT: 8,
  MIG_DATA_SIZE: 9,
  BUS_MASTER: 10,
  DMA_BUF: 11,
} as const;

/** `vfio_device_feature_migration.flags` (VFIO_MIGRATION_*). */
export const VFIO_MIGRATION = {
  STOP_COPY: 1 << 0,
  P2P: 1 << 1,
  PRE_COPY: 1 << 2,
} as const;

/** `enum vfio_device_mig_state` (VFIO_DEVICE_STATE_*). */
export const VFIO_DEVICE_STATE = {
  ERROR: 0,
  STOP: 1,
  RUNNING: 2,
  STOP_COPY: 3,
  RESUMING: 4,
  RUNNING_P2P: 5,
  PRE_COPY: 6,
  PRE_COPY_P2P: 7,
  NR: 8,
} as const;

/** The ioctl numbers, `_IO(';', 100 + n)`; a vfio-user server never sees them, tools that print them do. */
export const VFIO_IOCTL = {
  GET_API_VERSION: 0x3b64,
  CHECK_EXTENSION: 0x3b65,
  SET_IOMMU: 0x3b66,
  GROUP_GET_STATUS: 0x3b67,
  GROUP_SET_CONTAINER: 0x3b68,
  GROUP_UNSET_CONTAINER: 0x3b69,
  GROUP_GET_DEVICE_FD: 0x3b6a,
  DEVICE_GET_INFO: 0x3b6b,
  DEVICE_GET_REGION_INFO: 0x3b6c,
  DEVICE_GET_IRQ_INFO: 0x3b6d,
  DEVICE_SET_IRQS: 0x3b6e,
  DEVICE_RESET: 0x3b6f,
  DEVICE_GET_PCI_HOT_RESET_INFO: 0x3b70,
  DEVICE_PCI_HOT_RESET: 0x3b71,
  DEVICE_QUERY_GFX_PLANE: 0x3b72,
  DEVICE_GET_GFX_DMABUF: 0x3b73,
  DEVICE_IOEVENTFD: 0x3b74,
  DEVICE_FEATURE: 0x3b75,
  DEVICE_BIND_IOMMUFD: 0x3b76,
  DEVICE_ATTACH_IOMMUFD_PT: 0x3b77,
  DEVICE_DETACH_IOMMUFD_PT: 0x3b78,
  MIG_GET_PRECOPY_INFO: 0x3b79,
} as const;

/** PCI configuration-space offsets of the type-0 header (pci_regs.h PCI_*). */
export const PCI_CFG = {
  VENDOR_ID: 0x00,
  DEVICE_ID: 0x02,
  COMMAND: 0x04,
  STATUS: 0x06,
  CLASS_REVISION: 0x08,
  REVISION_ID: 0x08,
  CLASS_PROG: 0x09,
  CLASS_DEVICE: 0x0a,
  CACHE_LINE_SIZE: 0x0c,
  LATENCY_TIMER: 0x0d,
  HEADER_TYPE: 0x0e,
  BIST: 0x0f,
  BASE_ADDRESS_0: 0x10,
  CARDBUS_CIS: 0x28,
  SUBSYSTEM_VENDOR_ID: 0x2c,
  SUBSYSTEM_ID: 0x2e,
  ROM_ADDRESS: 0x30,
  CAPABILITY_LIST: 0x34,
  INTERRUPT_LINE: 0x3c,
  INTERRUPT_PIN: 0x3d,
  MIN_GNT: 0x3e,
  MAX_LAT: 0x3f,
  /** End of the standard header; capabilities start here. */
  STD_HEADER_SIZEOF: 0x40,
  /** Conventional PCI config space size; PCIe extended space is 4096. */
  SPACE_SIZE: 0x100,
  EXP_SPACE_SIZE: 0x1000,
} as const;

/** PCI_COMMAND bits. */
export const PCI_COMMAND = {
  IO: 0x1,
  MEMORY: 0x2,
  MASTER: 0x4,
  SPECIAL: 0x8,
  INVALIDATE: 0x10,
  VGA_PALETTE: 0x20,
  PARITY: 0x40,
  WAIT: 0x80,
  SERR: 0x100,
  FAST_BACK: 0x200,
  INTX_DISABLE: 0x400,
} as const;

/** PCI_STATUS bits; the error bits (RW1C) are cleared by writing 1. */
export const PCI_STATUS = {
  IMM_READY: 0x01,
  INTERRUPT: 0x08,
  CAP_LIST: 0x10,
  MHZ66: 0x20,
  UDF: 0x40,
  FAST_BACK: 0x80,
  PARITY: 0x100,
  DEVSEL_MASK: 0x600,
  DEVSEL_FAST: 0x000,
  DEVSEL_MEDIUM: 0x200,
  DEVSEL_SLOW: 0x400,
  SIG_TARGET_ABORT: 0x800,
  REC_TARGET_ABORT: 0x1000,
  REC_MASTER_ABORT: 0x2000,
  SIG_SYSTEM_ERROR: 0x4000,
  DETECTED_PARITY: 0x8000,
  /** The write-1-to-clear error bits. */
  RW1C_MASK: 0x100 | 0x800 | 0x1000 | 0x2000 | 0x4000 | 0x8000,
} as const;

/** BAR low bits (PCI_BASE_ADDRESS_*). */
export const PCI_BAR = {
  SPACE_IO: 0x01,
  SPACE_MEMORY: 0x00,
  MEM_TYPE_32: 0x00,
  MEM_TYPE_1M: 0x02,
  MEM_TYPE_64: 0x04,
  MEM_TYPE_MASK: 0x06,
  MEM_PREFETCH: 0x08,
  MEM_MASK: 0xfffffff0,
  IO_MASK: 0xfffffffc,
  ROM_ENABLE: 0x01,
} as const;

/** Capability ids (PCI_CAP_ID_*). */
export const PCI_CAP_ID = {
  PM: 0x01,
  AGP: 0x02,
  VPD: 0x03,
  SLOTID: 0x04,
  MSI: 0x05,
  CHSWP: 0x06,
  PCIX: 0x07,
  HT: 0x08,
  VNDR: 0x09,
  DBG: 0x0a,
  CCRC: 0x0b,
  SHPC: 0x0c,
  SSVID: 0x0d,
  AGP3: 0x0e,
  SECDEV: 0x0f,
  EXP: 0x10,
  MSIX: 0x11,
  SATA: 0x12,
  AF: 0x13,
  EA: 0x14,
} as const;
