/**
 * Concepts: the BAR that holds a device's MSI-X table and Pending Bit Array, served by the framework so a vendor
 * only declares a vector count. The table (16 bytes per vector: address, data, vector control) starts at offset 0,
 * the PBA follows it, and the BAR is at least a page so a VMM can place it on its own.
 *
 * A VMM (QEMU's vfio-pci, vfio-user-pci) emulates the table itself and tells the device where to deliver through
 * VFIO_DEVICE_SET_IRQS, one eventfd per vector, as with vfio-pci: QEMU never writes the table here, and its vectors
 * are delivered as they come. A client that does program this table gets PCI's masking (PCI 3.0 §6.8.2.9): entries
 * start masked, and once the client has written a vector's entry, an interrupt of that vector while it is masked
 * (or while the function is masked, MSI-X control bit 14) is held as its Pending Bit, which the PBA shows, and is
 * delivered when the client unmasks it. A vector the client never wrote is not held: its masking is the VMM's.
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

/** The table copy of one device and its pending bits. Owned by that device. */
export class MsixTable {
  readonly layout: MsixLayout;
  readonly #table: Uint8Array;
  readonly #pba: Uint8Array;
  /** Vectors whose entry the client has written: their mask bit is the client's to honour. */
  readonly #programmed: Uint8Array;
  /** Told when a held vector is unmasked (deliver it now). */
  onRelease: ((vector: number) => void) | undefined;
  /** Whether the function is masked (MSI-X control bit 14 in config space). */
  functionMasked: () => boolean = () => false;

  constructor(layout: MsixLayout) {
    this.layout = layout;
    this.#table = new Uint8Array(layout.vectors * ENTRY_SIZE);
    for (let v = 0; v < layout.vectors; v++) this.#table[v * ENTRY_SIZE + VECTOR_CONTROL] = 1;
    this.#pba = new Uint8Array(Math.ceil(layout.vectors / 64) * 8);
    this.#programmed = new Uint8Array(layout.vectors);
  }

  /** An interrupt of `vector` comes: true to deliver it now; false when it is held pending (masked). */
  admit(vector: number): boolean {
    if (vector < 0 || vector >= this.layout.vectors || !this.#programmed[vector]) return true;
    if (!this.functionMasked() && !(this.#table[vector * ENTRY_SIZE + VECTOR_CONTROL]! & 1)) return true;
    this.#pba[vector >> 3]! |= 1 << (vector & 7);
    return false;
  }

  /** Deliver every held vector that is no longer masked (after a table write or a function unmask). */
  release(): void {
    if (this.functionMasked()) return;
    for (let v = 0; v < this.layout.vectors; v++) {
      const bit = 1 << (v & 7);
      if (!(this.#pba[v >> 3]! & bit) || this.#table[v * ENTRY_SIZE + VECTOR_CONTROL]! & 1) continue;
      this.#pba[v >> 3]! &= ~bit;
      this.onRelease?.(v);
    }
  }

  read(offset: number, length: number): Uint8Array {
    const out = new Uint8Array(length);
    const t = this.#table;
    if (offset < t.length) out.set(t.subarray(offset, Math.min(t.length, offset + length)));
    const p = this.layout.pbaOffset;
    for (let i = 0; i < length; i++) {
      const at = offset + i - p;
      if (at >= 0 && at < this.#pba.length) out[i] = this.#pba[at]!;
    }
    return out;
  }

  write(offset: number, data: Uint8Array): void {
    const t = this.#table;
    if (offset >= t.length) return;
    const n = Math.min(data.length, t.length - offset);
    t.set(data.subarray(0, n), offset);
    for (let v = Math.floor(offset / ENTRY_SIZE); v * ENTRY_SIZE < offset + n; v++) this.#programmed[v] = 1;
    this.release();
  }

  /** Back to reset: every entry masked and unwritten, nothing pending. */
  clear(): void {
    this.#table.fill(0);
    for (let v = 0; v < this.layout.vectors; v++) this.#table[v * ENTRY_SIZE + VECTOR_CONTROL] = 1;
    this.#pba.fill(0);
    this.#programmed.fill(0);
  }
}

/** The MSI-X BAR of one device: its declaration, with handlers over `table`. */
export function msixBar(table: MsixTable): BarDecl {
  return {
    kind: 'mem32',
    size: table.layout.barSize,
    read: (offset, length) => table.read(offset, length),
    // The PBA is read-only (writes to it, as to the padding, are dropped).
    write: (offset, data) => table.write(offset, data),
  };
}
