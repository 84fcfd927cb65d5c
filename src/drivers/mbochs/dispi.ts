/**
 * Concepts: the bochs DISPI (VBE) register file and the scanout it describes. Eleven 16-bit registers
 * (`VBE_DISPI_INDEX_*`); a guest sets a mode by writing ENABLE=0, BPP, XRES, YRES, VIRT_WIDTH, the offsets, then
 * ENABLE=ENABLED|LFB_ENABLED (bochs-drm's `bochs_hw_setmode`), and pans by rewriting VIRT_WIDTH and the offsets
 * (`bochs_hw_setbase`). `scanout()` turns the registers into the plane the display shows, checked as the sample's
 * `mbochs_check_framebuffer` checks it, and widened to 24 and 16 bits per pixel (the sample knows only 32).
 *
 * Departures from the sample, where it lets a guest write what hardware keeps fixed: ID and VIDEO_MEMORY_64K are
 * read-only here (a write is ignored), as in QEMU's VBE; every other register keeps the 16 bits written. Pure
 * state; owned by one mbochs device.
 */
import { err, type PixelFormat } from '../../sdk/index.js';

export const DISPI = {
  ID: 0x0,
  XRES: 0x1,
  YRES: 0x2,
  BPP: 0x3,
  ENABLE: 0x4,
  BANK: 0x5,
  VIRT_WIDTH: 0x6,
  VIRT_HEIGHT: 0x7,
  X_OFFSET: 0x8,
  Y_OFFSET: 0x9,
  VIDEO_MEMORY_64K: 0xa,
  COUNT: 0xb,
  /** VBE_DISPI_ID5, what `mbochs_reset` puts in ID. */
  ID5: 0xb0c5,
  ENABLED: 0x01,
  LFB_ENABLED: 0x40,
} as const;

/** The smallest mode the sample accepts (`mbochs_check_framebuffer`: width and height ≥ 64). */
export const MIN_SCANOUT = 64;

/** What the display shows: `height` rows of `width` pixels, `stride` bytes apart, from `offset` in video memory. */
export interface Scanout {
  readonly format: PixelFormat;
  readonly bytesPerPixel: number;
  readonly width: number;
  readonly height: number;
  readonly stride: number;
  readonly offset: number;
  /** stride × height, as the sample counts it. */
  readonly size: number;
}

const FORMATS: Readonly<Record<number, { format: PixelFormat; bytesPerPixel: number }>> = {
  32: { format: 'xrgb8888', bytesPerPixel: 4 },
  24: { format: 'rgb888', bytesPerPixel: 3 },
  16: { format: 'rgb565', bytesPerPixel: 2 },
};

/** The DISPI registers of one device with `vramBytes` of video memory. */
export class DispiRegisters {
  readonly #regs = new Uint16Array(DISPI.COUNT);
  readonly #vramBytes: number;

  constructor(vramBytes: number) {
    this.#vramBytes = vramBytes;
    this.reset();
  }

  /** `mbochs_reset`: all zero (display off), ID5, and the video memory in 64 KiB units. */
  reset(): void {
    this.#regs.fill(0);
    this.#regs[DISPI.ID] = DISPI.ID5;
    this.#regs[DISPI.VIDEO_MEMORY_64K] = Math.min(0xffff, Math.floor(this.#vramBytes / 0x10000));
  }

  /** Register `index`; an index past the file reads 0, as the sample's `handle_mmio_read`. */
  read(index: number): number {
    return index >= 0 && index < DISPI.COUNT ? this.#regs[index]! : 0;
  }

  /** A 16-bit guest write; indexes past the file and the read-only registers ignore it. */
  write(index: number, value: number): void {
    if (index < 0 || index >= DISPI.COUNT || index === DISPI.ID || index === DISPI.VIDEO_MEMORY_64K) return;
    this.#regs[index] = value & 0xffff;
  }

  /** Every register, for a migration stream. */
  save(): number[] {
    return [...this.#regs];
  }

  /** EINVAL unless `values` are registers of this device: the full file, 16-bit, and the fixed ID and size. */
  check(values: readonly number[]): void {
    if (values.length !== DISPI.COUNT) throw err('EINVAL', `${values.length} DISPI registers, mbochs has ${DISPI.COUNT}`);
    if (values.some((v) => !Number.isInteger(v) || v < 0 || v > 0xffff)) throw err('EINVAL', 'a DISPI register outside 16 bits');
    for (const i of [DISPI.ID, DISPI.VIDEO_MEMORY_64K]) {
      if (values[i] !== this.#regs[i]) throw err('EINVAL', `DISPI register ${i} is 0x${values[i]!.toString(16)}, this device has 0x${this.#regs[i]!.toString(16)}`);
    }
  }

  /** Load `save()`'s registers, all or nothing (`check`). */
  load(values: readonly number[]): void {
    this.check(values);
    this.#regs.set(values);
  }

  /**
   * The plane being shown, or why there is none (display disabled, an unsupported depth, a mode below 64×64, a
   * plane past the end of video memory), as `mbochs_check_framebuffer` decides it.
   */
  scanout(): Scanout | { readonly off: string } {
    const r = this.#regs;
    if (!(r[DISPI.ENABLE]! & DISPI.ENABLED)) return { off: 'the display is disabled (DISPI ENABLE is 0)' };
    const f = FORMATS[r[DISPI.BPP]!];
    if (f === undefined) return { off: `${r[DISPI.BPP]} bits per pixel is not supported (32, 24 or 16)` };
    const width = r[DISPI.XRES]!;
    const height = r[DISPI.YRES]!;
    if (width < MIN_SCANOUT || height < MIN_SCANOUT) return { off: `invalid resolution ${width}x${height}` };
    const stride = Math.max(r[DISPI.VIRT_WIDTH]!, width) * f.bytesPerPixel;
    const size = stride * height;
    const offset = r[DISPI.X_OFFSET]! * f.bytesPerPixel + r[DISPI.Y_OFFSET]! * stride;
    if (offset + size > this.#vramBytes) return { off: `the ${width}x${height} plane at 0x${offset.toString(16)} overflows video memory` };
    return { ...f, width, height, stride, offset, size };
  }
}
