/**
 * Concepts: the simplest trapped BAR, a register file: reads return the bytes, writes store them and then tell the
 * device which register changed, so a device reacts only to the registers that do something (a doorbell).
 */
import type { BarAccess } from '../vfio/pci-spec.js';

/**
 * Handlers serving `bytes` (owned by the device, as long as the BAR is). `written` runs after each write with its
 * offset and length; a promise it returns (DMA after a doorbell) is awaited before the write is answered.
 */
export function registerFile(bytes: Uint8Array, written?: (offset: number, length: number) => void | Promise<void>): Required<BarAccess> {
  return {
    read: (offset, length) => bytes.slice(offset, offset + length),
    write: (offset, data) => {
      bytes.set(data, offset);
      return written?.(offset, data.length);
    },
  };
}
