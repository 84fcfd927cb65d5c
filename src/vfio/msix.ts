/**
 * Concepts: the BAR that holds a device's MSI-X table and Pending Bit Array, served by the framework so a vendor
 * only declares a vector count. The table (16 bytes per vector: address, data, vector control) starts at offset 0,
 * the PBA follows it, and the BAR is at least a page so a VMM can place it on its own.
 *
 * A VMM (QEMU's vfio-pci, vfio-user-pci) emulates the table itself and tells the device where to deliver through
 * VFIO_DEVICE_SET_IRQS, one eventfd per vector, as with vfio-pci: the copy here only keeps what a VMM writes
 * and reads back, entries start masked (PCI 3.0 §6.8.2.9), and the PBA reads as zeros because delivery goes through
 * the eventfds, where nothing is held pending.
 */
import { err } from '../errors.js';
import type { BarDecl } from './pci-spec.js';

const ENTRY_SIZE = 16;
const VECTOR_CONTROL = 12;
/** Smallest BAR holding the structures: a page, so it never shares one with another BAR's mapping. */
const MIN_BAR_SIZE = 4096;

/** Where the table and PBA sit in the BAR. */
export interface MsixLayout {
  readonly vectors: number;
  readonly tableOffset: number;
  readonly pbaOffset: number;
  readonly barSize: number;
}

/** The layout for `vectors` (1..2048): table at 0, PBA right after it (8-byte aligned), BAR a power of two. */
export function msixLayout(vectors: number): MsixLayout {
  if (!Number.isInteger(vectors) || vectors < 1 || vectors > 2048) throw err('EINVAL', `MSI-X vectors ${vectors} not in 1..2048`);
  const tableBytes = vectors * ENTRY_SIZE;
  const pbaBytes = Math.ceil(vectors / 64) * 8;
  let barSize = MIN_BAR_SIZE;
  while (barSize < tableBytes + pbaBytes) barSize *= 2;
  return { vectors, tableOffset: 0, pbaOffset: tableBytes, barSize };
}

/** The MSI-X BAR of one device: its declaration, with handlers over the table copy. Owned by that device. */
export function msixBar(layout: MsixLayout): BarDecl {
  const table = new Uint8Array(layout.vectors * ENTRY_SIZE);
  for (let v = 0; v < layout.vectors; v++) table[v * ENTRY_SIZE + VECTOR_CONTROL] = 1;
  return {
    kind: 'mem32',
    size: layout.barSize,
    read: (offset, length) => {
      const out = new Uint8Array(length);
      // Bytes outside the table (the PBA, the padding) read as zero.
      if (offset < table.length) out.set(table.subarray(offset, Math.min(table.length, offset + length)));
      return out;
    },
    write: (offset, data) => {
      if (offset >= table.length) return;
      table.set(data.subarray(0, table.length - offset), offset);
    },
  };
}
