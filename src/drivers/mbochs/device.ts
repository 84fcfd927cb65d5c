/**
 * Concepts: one mbochs device as the VFIO API sees it (samples/vfio-mdev/mbochs.c): PCI device info (plus RESET,
 * see `deviceFlags`), the nine PCI regions of which three exist: config space (256 bytes), BAR0 the video memory and
 * BAR2 the register page, all laid out by `spec.ts`. No interrupts (every index has count 0, as the sample).
 *
 * Video memory is a memfd created when a client opens the device and released when it closes it, as the sample
 * allocates pages on demand and frees them in `close_device`. GET_REGION_INFO hands the memfd to the client with
 * one sparse area covering BAR0, so a VMM maps it into the guest and the guest's framebuffer writes never become
 * messages; the few accesses that still arrive as REGION_READ/WRITE are served from the same pages and counted.
 * The display (`queryPlane`) reads the same pages through the device's own mapping.
 *
 * Config space follows the PCI rules (`PciConfigSpace` masks) rather than the sample's, which drops every config
 * write other than BAR0 and BAR2 (the command register included).
 */
import { err } from '../../core/errors.js';
import type { DisplayPlane, DisplaySource } from '../../display/plane.js';
import { VFIO_DEVICE_FLAGS, VFIO_PCI_IRQ, VFIO_PCI_REGION } from '../../vfio/constants.js';
import type { SetIrqsRequest, VfioDevice, VfioIrqInfo, VfioOpenContext, VfioRegionInfo } from '../../vfio/device.js';
import { IrqController } from '../../vfio/irqs.js';
import { MemfdBacking } from '../../vfio/memfd-region.js';
import { PciConfigSpace } from '../../vfio/pci-config.js';
import { RegionTable, type RegionMmap } from '../../vfio/regions.js';
import { DispiRegisters } from './dispi.js';
import { buildEdid } from './edid.js';
import { MmioPage } from './mmio.js';
import { FB_BAR, MBOCHS_IDENTITY, MMIO_BAR, MMIO_BAR_SIZE, type MbochsType, mbochsBars, vramBytes } from './spec.js';

/** One mbochs device's state. Created by the parent's `create`, dropped by its `remove`. */
export class MbochsDevice implements VfioDevice, DisplaySource {
  /** PCI|RESET: the sample answers VFIO_DEVICE_RESET without advertising it; a vfio-user server forwards only advertised resets. */
  readonly deviceFlags = VFIO_DEVICE_FLAGS.PCI | VFIO_DEVICE_FLAGS.RESET;
  readonly numRegions = VFIO_PCI_REGION.NUM_REGIONS;
  readonly numIrqs = VFIO_PCI_IRQ.NUM_IRQS;
  readonly type: MbochsType;
  readonly config: PciConfigSpace;
  readonly dispi: DispiRegisters;
  readonly #regions: RegionTable;
  readonly #irqs = new IrqController({ numIrqs: VFIO_PCI_IRQ.NUM_IRQS, indexes: [] });
  #vram: MemfdBacking | undefined;
  #log: VfioOpenContext['log'] | undefined;
  #trappedVramBytes = 0;

  constructor(type: MbochsType) {
    this.type = type;
    const size = vramBytes(type);
    this.config = new PciConfigSpace({ identity: MBOCHS_IDENTITY, bars: mbochsBars(type) });
    this.dispi = new DispiRegisters(size);
    const mmio = new MmioPage(this.dispi, type.maxX > 0 && type.maxY > 0 ? buildEdid(type.maxX, type.maxY) : new Uint8Array(0));
    const vram = (): MemfdBacking => {
      if (this.#vram === undefined) throw err('ENODEV', 'video memory exists only while a client has the device open');
      return this.#vram;
    };
    // The region's fd exists only while a client has the device open, so the table asks for it on every use.
    const mapping = (): RegionMmap | undefined =>
      this.#vram === undefined ? undefined : { fd: this.#vram.fd, areas: [{ offset: 0n, size: BigInt(size) }] };
    this.#regions = new RegionTable(VFIO_PCI_REGION.NUM_REGIONS, [
      {
        index: VFIO_PCI_REGION.CONFIG,
        size: this.config.size,
        read: (off, len) => this.config.read(off, len),
        write: (off, data) => this.config.write(off, data),
      },
      {
        index: FB_BAR,
        size,
        // Reached only while no memfd backs the region; with one, the table serves the bytes from the fd.
        read: (off, len) => vram().bytes.subarray(off, off + len),
        write: (off, data) => vram().bytes.set(data, off),
        get mmap(): RegionMmap | undefined {
          return mapping();
        },
      },
      { index: MMIO_BAR, size: MMIO_BAR_SIZE, read: (off, len) => mmio.read(off, len), write: (off, data) => mmio.write(off, data) },
    ]);
  }

  /** Bytes of video memory that went through REGION_READ/WRITE instead of the client's mapping, this session. */
  get trappedVramBytes(): number {
    return this.#trappedVramBytes;
  }

  regionInfo(index: number): VfioRegionInfo {
    return this.#regions.info(index);
  }

  irqInfo(index: number): VfioIrqInfo {
    return this.#irqs.info(index);
  }

  read(index: number, offset: bigint, length: number): Buffer {
    if (index === FB_BAR) this.#trappedVramBytes += length;
    return this.#regions.read(index, offset, length);
  }

  write(index: number, offset: bigint, data: Buffer): void {
    if (index === FB_BAR) this.#trappedVramBytes += data.length;
    this.#regions.write(index, offset, data);
  }

  setIrqs(request: SetIrqsRequest): void {
    this.#irqs.setIrqs(request);
  }

  /** `mbochs_reset`: the DISPI registers go back to display off; video memory and config space stay. */
  reset(): void {
    this.dispi.reset();
  }

  /** A client attached: its video memory is allocated (zeroed). */
  open(context: VfioOpenContext): void {
    this.#log = context.log;
    this.#trappedVramBytes = 0;
    this.#vram ??= new MemfdBacking('mbochs-vram', vramBytes(this.type));
  }

  /** `mbochs_close_device`: video memory is released (a client that mapped it keeps its pages until it unmaps). */
  close(): void {
    this.#log?.('debug', `video memory: ${this.#trappedVramBytes} bytes went through REGION_READ/WRITE, the rest through the client's mapping`);
    this.#irqs.close();
    this.#vram?.close();
    this.#vram = undefined;
    this.#log = undefined;
  }

  /** The primary plane the DISPI registers describe, in video memory; EBUSY with the reason when nothing is shown. */
  queryPlane(): DisplayPlane {
    const s = this.dispi.scanout();
    if ('off' in s) throw err('EBUSY', s.off);
    if (this.#vram === undefined) throw err('EBUSY', 'no client has the device open: it has no video memory');
    return { format: s.format, width: s.width, height: s.height, stride: s.stride, pixels: this.#vram.bytes.subarray(s.offset, s.offset + s.size) };
  }
}
