/**
 * Concepts: one mtty device as the VFIO API sees it (samples/vfio-mdev/mtty.c, v6.7+): PCI device info (plus RESET,
 * see `deviceFlags`), 9 regions (config 256 bytes where the sample has 0xff, see `MTTY_CONFIG_SIZE`; BAR0 and, for two ports, BAR1 as 8-byte I/O BARs whose register
 * n is UART register n of port 0 or 1; the rest empty but still flagged READ|WRITE), 5 IRQ indexes of which INTx
 * (automasked) and MSI (one vector, no resize) exist. Both ports share the one interrupt.
 *
 * Accesses are split into naturally aligned 4/2/1-byte chunks as `mtty_read`/`mtty_write` do; a BAR chunk acts on
 * its first byte only, and a config write chunk is dispatched on its start offset.
 */
import { err } from '../../core/errors.js';
import { VFIO_DEVICE_FLAGS, VFIO_IRQ_INFO, VFIO_PCI_IRQ, VFIO_PCI_REGION, VFIO_REGION_INFO_FLAG } from '../../vfio/constants.js';
import type { SetIrqsRequest, VfioDevice, VfioIrqInfo, VfioOpenContext, VfioRegionInfo, WatchReadable } from '../../vfio/device.js';
import { IrqController } from '../../vfio/irqs.js';
import { RegionTable, type RegionSpec } from '../../vfio/regions.js';
import { MTTY_CONFIG_SIZE, MTTY_IO_BAR_SIZE, MttyConfig } from './config.js';
import { restoreMtty, saveMtty, mttyDataSize } from './migration.js';
import { UartPort } from './uart.js';

/** `MTTY_VFIO_PCI_OFFSET_SHIFT`: region `i` sits at `i << 40` of the kernel device fd. */
export const MTTY_REGION_SHIFT = 40n;

const RW = VFIO_REGION_INFO_FLAG.READ | VFIO_REGION_INFO_FLAG.WRITE;

/** One mtty device's state. Created by the parent's `create`, dropped by its `remove`; owns its eventfds. */
export class MttyDevice implements VfioDevice {
  /**
   * PCI|RESET. The sample reports only PCI yet answers VFIO_DEVICE_RESET; a vfio-user server (like vfio-pci) only
   * forwards a reset to a device that advertises it, so the flag is set here to keep reset reachable.
   */
  readonly deviceFlags = VFIO_DEVICE_FLAGS.PCI | VFIO_DEVICE_FLAGS.RESET;
  readonly numRegions = VFIO_PCI_REGION.NUM_REGIONS;
  readonly numIrqs = VFIO_PCI_IRQ.NUM_IRQS;
  readonly nrPorts: number;
  readonly ports: readonly UartPort[];
  readonly config: MttyConfig;
  readonly #regions: RegionTable;
  readonly #irqs: IrqController;
  #log: VfioOpenContext['log'] | undefined;
  #watch: WatchReadable | undefined;

  constructor(nrPorts: 1 | 2) {
    this.nrPorts = nrPorts;
    const raise = (): void => this.#raise();
    this.ports = Array.from({ length: nrPorts }, () => new UartPort(raise));
    this.config = new MttyConfig(nrPorts);
    this.#irqs = new IrqController({
      numIrqs: VFIO_PCI_IRQ.NUM_IRQS,
      indexes: [
        { index: VFIO_PCI_IRQ.INTX, count: 1, flags: VFIO_IRQ_INFO.EVENTFD | VFIO_IRQ_INFO.MASKABLE | VFIO_IRQ_INFO.AUTOMASKED },
        { index: VFIO_PCI_IRQ.MSI, count: 1, flags: VFIO_IRQ_INFO.EVENTFD | VFIO_IRQ_INFO.NORESIZE },
        // As the kernel's mtty sample (and vfio-pci): a REQ eventfd, signalled when a removal waits for the user.
        { index: VFIO_PCI_IRQ.REQ, count: 1, flags: VFIO_IRQ_INFO.EVENTFD | VFIO_IRQ_INFO.NORESIZE },
      ],
      onError: (m) => this.#log?.('warn', m),
      // The transport's watcher, while a client has the device open (it is the client's eventfd that is watched).
      watch: (fd, onReadable) => {
        if (!this.#watch) throw err('ENOTTY', 'no unmask eventfd support: the transport cannot watch fds');
        return this.#watch(fd, onReadable);
      },
    });
    const specs: RegionSpec[] = [];
    for (let index = 0; index < VFIO_PCI_REGION.NUM_REGIONS; index++) {
      if (index === VFIO_PCI_REGION.CONFIG) {
        specs.push({
          index,
          size: MTTY_CONFIG_SIZE,
          flags: RW,
          read: (off, len) => this.config.read(off, len),
          write: (off, data) => chunks(off, data, (at, c) => this.config.writeChunk(at, c)),
        });
      } else if (index < nrPorts) {
        const port = this.ports[index]!;
        specs.push({
          index,
          size: MTTY_IO_BAR_SIZE,
          flags: RW,
          read: (off, len) => {
            // Each chunk reads one register into its first byte; the rest of the chunk stays 0.
            const out = Buffer.alloc(len);
            chunks(off, out, (at) => {
              out[at - off] = port.read(at) ?? 0;
            });
            return out;
          },
          write: (off, data) => chunks(off, data, (at, c) => port.write(at, c[0]!)),
        });
      } else {
        specs.push({ index, size: 0, flags: RW });
      }
    }
    this.#regions = new RegionTable(VFIO_PCI_REGION.NUM_REGIONS, specs);
  }

  /** The interrupt controller's active index (INTx, MSI) or undefined; for tests and status displays. */
  get irqIndex(): number | undefined {
    return this.#irqs.activeIndex;
  }

  regionInfo(index: number): VfioRegionInfo {
    return { ...this.#regions.info(index), offset: BigInt(index) << MTTY_REGION_SHIFT };
  }

  irqInfo(index: number): VfioIrqInfo {
    return this.#irqs.info(index);
  }

  read(index: number, offset: bigint, length: number): Buffer {
    return this.#regions.read(index, offset, length);
  }

  write(index: number, offset: bigint, data: Buffer): void {
    this.#regions.write(index, offset, data);
  }

  setIrqs(request: SetIrqsRequest): void {
    this.#irqs.setIrqs(request);
  }

  /**
   * VFIO_DEVICE_RESET as the sample's `mtty_reset`, whose only effect is on migration state (back to RUNNING, files
   * closed), which this device keeps outside (`save`/`restore`): UART registers, FIFOs, interrupt setup and config
   * space are left as they are.
   */
  /** A removal waits for the client: signal its REQ eventfd (QEMU then unplugs the device). */
  requestRelease(): void {
    this.#irqs.trigger(VFIO_PCI_IRQ.REQ);
  }

  reset(): void {
    this.#log?.('info', 'reset');
  }

  open(context: VfioOpenContext): void {
    this.#log = context.log;
    this.#watch = context.watchReadable;
  }

  /** `mtty_close`: INTx and MSI are disabled and their eventfds (the unmask eventfd too) closed. */
  close(): void {
    this.#irqs.close();
    this.#log = undefined;
    this.#watch = undefined;
  }

  /** The device's migration stream (`mtty_data`), as a STOP_COPY read returns it. */
  save(): Buffer {
    return saveMtty(this.ports);
  }

  /** Load a migration stream; EINVAL for a bad magic, version, flags, port count or size, with nothing changed. */
  restore(stream: Uint8Array): void {
    restoreMtty(this.ports, stream);
  }

  /** `migration_get_data_size`. */
  get migrationDataSize(): number {
    return mttyDataSize(this.nrPorts);
  }

  #raise(): void {
    const index = this.#irqs.activeIndex;
    if (index !== undefined) this.#irqs.trigger(index, 0);
  }
}

/** Split [offset, offset+data.length) into naturally aligned 4/2/1-byte chunks, as `mtty_read`/`mtty_write`. */
function chunks(offset: number, data: Uint8Array, each: (at: number, chunk: Uint8Array) => void): void {
  let pos = offset;
  let i = 0;
  while (i < data.length) {
    const left = data.length - i;
    const n = left >= 4 && pos % 4 === 0 ? 4 : left >= 2 && pos % 2 === 0 ? 2 : 1;
    each(pos, data.subarray(i, i + n));
    pos += n;
    i += n;
  }
}
