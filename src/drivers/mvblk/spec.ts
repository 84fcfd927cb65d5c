/**
 * mvblk's types and the limits every device shares. A type sets how many request queues a device has (what the
 * parent's pool of queues is spent on) and the size of the disk image a device gets when no backing file is named.
 */
import { err } from '../../sdk/index.js';

export interface MvblkType {
  readonly sysfsName: string;
  readonly prettyName: string;
  /** Request queues (virtqueues), each with its own MSI-X vector. */
  readonly queues: number;
  /** Bytes of the default image (`<uuid>.img`, sparse). */
  readonly defaultBytes: number;
}

const GiB = 1024 ** 3;

export const MVBLK_TYPES: readonly MvblkType[] = [
  { sysfsName: 'small', prettyName: 'mvblk-small', queues: 1, defaultBytes: 1 * GiB },
  { sysfsName: 'medium', prettyName: 'mvblk-medium', queues: 2, defaultBytes: 8 * GiB },
  { sysfsName: 'large', prettyName: 'mvblk-large', queues: 4, defaultBytes: 64 * GiB },
];

/** Queues a parent has to share out by default: four large devices, or sixteen small ones. */
export const MVBLK_DEFAULT_QUEUES = 16;
/** Entries per queue (QEMU's virtio-blk default). */
export const QUEUE_SIZE = 256;
/** Data buffers per request (QEMU's choice: the queue size less the header and status descriptors). */
export const SEG_MAX = QUEUE_SIZE - 2;
/** Largest data buffer (SIZE_MAX): what a request moves per piece, bounding its memory. */
export const SIZE_MAX = 1 << 20;

export function mvblkType(type: { readonly sysfsName: string } | string): MvblkType {
  const name = typeof type === 'string' ? type : type.sysfsName;
  const t = MVBLK_TYPES.find((m) => m.sysfsName === name);
  if (t === undefined) throw err('EINVAL', `mvblk has no type ${name}`);
  return t;
}
