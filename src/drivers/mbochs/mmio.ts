/**
 * Concepts: the register page behind BAR2 (`handle_mmio_read`/`handle_mmio_write` in the sample). Accesses arrive
 * split into aligned 4/2/1-byte chunks; each chunk goes to the block it starts in:
 *
 * - 0x000–0x3ff EDID: reads return the type's EDID block, zero past its end (all zero for a type without a maximum
 *   resolution, which bochs-drm takes as "no EDID"); writes are ignored.
 * - 0x400–0x41f VGA ports 0x3c0–0x3df: read as zero, writes ignored, as the sample (bochs-drm only blanks and
 *   unblanks through them, which a DISPI display does not honour).
 * - 0x500–0x515 DISPI: 16-bit accesses only, register `(offset − 0x500) / 2`; other widths read zero and are
 *   ignored, as the sample.
 * - everything else, QEMU's extended registers included: zero, writes ignored.
 */
import { alignedChunks } from '../../sdk/index.js';
import type { DispiRegisters } from './dispi.js';
import { MMIO } from './spec.js';

/** One device's register page. Owns nothing; the DISPI file and the EDID bytes belong to the device. */
export class MmioPage {
  readonly #dispi: DispiRegisters;
  readonly #edid: Uint8Array;

  constructor(dispi: DispiRegisters, edid: Uint8Array) {
    this.#dispi = dispi;
    this.#edid = edid;
  }

  read(offset: number, length: number): Buffer {
    const out = Buffer.alloc(length);
    alignedChunks(offset, out, (at, chunk) => this.#readChunk(at, chunk));
    return out;
  }

  write(offset: number, data: Uint8Array): void {
    alignedChunks(offset, data, (at, chunk) => this.#writeChunk(at, chunk));
  }

  #readChunk(at: number, chunk: Uint8Array): void {
    if (inside(at, MMIO.EDID)) {
      for (let i = 0; i < chunk.length; i++) chunk[i] = this.#edid[at - MMIO.EDID.offset + i] ?? 0;
    } else if (inside(at, MMIO.DISPI) && chunk.length === 2) {
      const v = this.#dispi.read((at - MMIO.DISPI.offset) >>> 1);
      chunk[0] = v & 0xff;
      chunk[1] = v >>> 8;
    }
    // Everything else reads as the zeros the caller's buffer holds.
  }

  #writeChunk(at: number, chunk: Uint8Array): void {
    if (inside(at, MMIO.DISPI) && chunk.length === 2) this.#dispi.write((at - MMIO.DISPI.offset) >>> 1, chunk[0]! | (chunk[1]! << 8));
  }
}

function inside(at: number, block: { readonly offset: number; readonly size: number }): boolean {
  return at >= block.offset && at < block.offset + block.size;
}
