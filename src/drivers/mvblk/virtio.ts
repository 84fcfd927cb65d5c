/**
 * The virtio 1.x numbers mvblk speaks (OASIS virtio v1.2: §2.1 device status, §2.7 split virtqueues, §4.1 virtio
 * over PCI, §5.2 block device), named as Linux's `include/uapi/linux/virtio_*.h` name them.
 */

/** §2.1 device status bits. */
export const STATUS = { ACKNOWLEDGE: 1, DRIVER: 2, DRIVER_OK: 4, FEATURES_OK: 8, NEEDS_RESET: 0x40, FAILED: 0x80 } as const;

/** Feature bits (§6 reserved bits, §5.2.3 block features). */
export const FEATURE = {
  BLK_SIZE_MAX: 1,
  BLK_SEG_MAX: 2,
  BLK_RO: 5,
  BLK_BLK_SIZE: 6,
  BLK_FLUSH: 9,
  BLK_MQ: 12,
  RING_INDIRECT_DESC: 28,
  RING_EVENT_IDX: 29,
  VERSION_1: 32,
} as const;

/** `1n << bit` for a feature bit. */
export function bit(feature: number): bigint {
  return 1n << BigInt(feature);
}

/** §4.1.4 virtio PCI capability `cfg_type`s. */
export const CAP = { COMMON: 1, NOTIFY: 2, ISR: 3, DEVICE: 4, PCI_CFG: 5 } as const;

/** §4.1.4.3 `struct virtio_pci_common_cfg` offsets (with the 1.2 `queue_notify_data` and `queue_reset`). */
export const COMMON = {
  DFSELECT: 0x00,
  DF: 0x04,
  GFSELECT: 0x08,
  GF: 0x0c,
  MSIX_CONFIG: 0x10,
  NUM_QUEUES: 0x12,
  STATUS: 0x14,
  CONFIG_GENERATION: 0x15,
  Q_SELECT: 0x16,
  Q_SIZE: 0x18,
  Q_MSIX: 0x1a,
  Q_ENABLE: 0x1c,
  Q_NOFF: 0x1e,
  Q_DESC: 0x20,
  Q_AVAIL: 0x28,
  Q_USED: 0x30,
  Q_NOTIFY_DATA: 0x38,
  Q_RESET: 0x3a,
  SIZE: 0x3c,
} as const;

/** §4.1.4.3: a vector register that names no vector. */
export const NO_VECTOR = 0xffff;

/** §2.7.5 descriptor flags. */
export const DESC = { NEXT: 1, WRITE: 2, INDIRECT: 4 } as const;
/** §2.7.6 / §2.7.8 ring flags. */
export const AVAIL_F_NO_INTERRUPT = 1;
export const USED_F_NO_NOTIFY = 1;

/** §5.2.6 request types and statuses. */
export const BLK_T = { IN: 0, OUT: 1, FLUSH: 4, GET_ID: 8 } as const;
export const BLK_S = { OK: 0, IOERR: 1, UNSUPP: 2 } as const;
/** The `virtio_blk_outhdr` a request starts with: type, reserved (ioprio), sector. */
export const BLK_HDR_SIZE = 16;
/** GET_ID answers up to 20 bytes (VIRTIO_BLK_ID_BYTES). */
export const BLK_ID_BYTES = 20;
export const SECTOR = 512;

/** §5.2.4 `struct virtio_blk_config` offsets. */
export const BLK_CFG = {
  CAPACITY: 0x00,
  SIZE_MAX: 0x08,
  SEG_MAX: 0x0c,
  GEOMETRY: 0x10,
  BLK_SIZE: 0x14,
  PHYSICAL_BLOCK_EXP: 0x18,
  MIN_IO_SIZE: 0x1a,
  OPT_IO_SIZE: 0x1c,
  NUM_QUEUES: 0x22,
  SIZE: 0x24,
} as const;
