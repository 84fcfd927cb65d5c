/** What the mbochs device tests share: the small type, an open context without DMA, errno matching, DISPI writes. */
import { UmdevError } from '../../../src/errors.js';
import { MbochsDevice, MBOCHS_TYPES } from '../../../src/drivers/mbochs/index.js';
import { MMIO } from '../../../src/drivers/mbochs/spec.js';
import { VFIO_PCI_REGION as R } from '../../../src/vfio/constants.js';
import type { VfioOpenContext } from '../../../src/vfio/device.js';
import { vfioOf } from '../../../src/vfio/pci-device.js';

export const small = MBOCHS_TYPES[0]!;
export const context: VfioOpenContext = { dma: { read: () => Promise.reject(new Error('no DMA')), write: () => Promise.reject(new Error('no DMA')), readv: () => Promise.reject(new Error('no DMA')), writev: () => Promise.reject(new Error('no DMA')) }, log: () => undefined };
export const isErrno = (errno: string) => (e: unknown): boolean => e instanceof UmdevError && e.errno === errno;

/** Write DISPI register `index` through BAR2, as the guest does (16-bit). */
export function reg(d: MbochsDevice, index: number, value: number): void {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(value);
  vfioOf(d).write(R.BAR2, BigInt(MMIO.DISPI.offset + index * 2), b);
}
