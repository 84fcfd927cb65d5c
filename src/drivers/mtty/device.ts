/**
 * Concepts: one mtty device (samples/vfio-mdev/mtty.c, v6.7+) declared on the device contract: an 8-byte I/O BAR
 * per port (BAR0, and BAR1 for two ports) whose register n is UART register n of that port; INTx (automasked),
 * MSI (one vector, reported without a capability, as the sample) and REQ; reset; migration of the sample's
 * `mtty_data` stream. Both ports share the one interrupt. Config space, regions and IRQ info follow from this.
 *
 * Where the sample's VFIO answers differ from what the framework derives, the declaration says so: region `i` sits
 * at `i << 40` of the kernel device fd, and regions the device lacks are still flagged READ|WRITE. The device also
 * advertises RESET, which the sample does not, because a vfio-user server (like vfio-pci) only forwards a reset to
 * a device that advertises it.
 *
 * Accesses are split into naturally aligned 4/2/1-byte chunks as `mtty_read`/`mtty_write` do; a BAR chunk acts on
 * its first byte only.
 */
import { VFIO_REGION_INFO_FLAG } from '../../vfio/constants.js';
import { snapshotMigration } from '../../vfio/device-migration.js';
import { PciDevice } from '../../vfio/pci-device.js';
import type { BarDecl, IrqDecl, PciDeviceSpec } from '../../vfio/pci-spec.js';
import { alignedChunks } from '../../vfio/chunks.js';
import { MTTY_IDENTITY, MTTY_IO_BAR_SIZE, mttyConfig } from './config.js';
import { restoreMtty, saveMtty, mttyDataSize } from './migration.js';
import { UartPort } from './uart.js';
import { ByteRing } from '../../sdk/index.js';

/** `MTTY_VFIO_PCI_OFFSET_SHIFT`: region `i` sits at `i << 40` of the kernel device fd. */
export const MTTY_REGION_SHIFT = 40n;

/** As the kernel's mtty sample (and vfio-pci), REQ is signalled when a removal waits for the user. */
const MTTY_IRQS: IrqDecl = { intx: true, msi: { vectors: 1, capability: false }, req: true };
const MTTY_VFIO: PciDeviceSpec['vfio'] = { regionOffsetShift: MTTY_REGION_SHIFT, emptyRegionFlags: VFIO_REGION_INFO_FLAG.READ | VFIO_REGION_INFO_FLAG.WRITE };

/**
 * One mtty device. Created by the parent's `create`, dropped by its `remove`; owns its eventfds. Declared on first
 * use (`declaration`): a device no client opens holds its port count and nothing else.
 */
export class MttyDevice extends PciDevice {
  readonly nrPorts: 1 | 2;
  #ports: readonly UartPort[] | undefined;
  #tap: ByteRing | undefined;

  constructor(nrPorts: 1 | 2) {
    super();
    this.nrPorts = nrPorts;
  }

  /** The UART ports, in their power-on state until something uses them. */
  get ports(): readonly UartPort[] {
    // The first port's output is kept for a console view (the dashboard), once the guest sends anything.
    return (this.#ports ??= Array.from({ length: this.nrPorts }, (_, i) => new UartPort(() => this.interrupt(), i === 0 ? (b) => this.uartTap.push(b) : undefined)));
  }

  /** What the guest sent on its first port, the last few KiB of it. Made on first use: an idle device keeps none. */
  get uartTap(): ByteRing {
    return (this.#tap ??= new ByteRing());
  }

  protected override declaration(): PciDeviceSpec {
    const ports = this.ports;
    return {
      name: 'mtty',
      identity: MTTY_IDENTITY,
      bars: ports.map(portBar),
      config: mttyConfig(this.nrPorts),
      irqs: MTTY_IRQS,
      /**
       * VFIO_DEVICE_RESET as the sample's `mtty_reset`, whose only effect is on migration state (back to RUNNING,
       * files closed), kept outside the device: UART registers, FIFOs, interrupt setup and config space stay.
       */
      reset: () => this.log('info', 'reset'),
      migration: snapshotMigration({
        size: mttyDataSize(this.nrPorts),
        save: () => saveMtty(ports),
        restore: (stream) => restoreMtty(ports, stream),
      }),
      vfio: MTTY_VFIO,
    };
  }

  /** The active interrupt index (INTx, MSI) or undefined; for tests and status displays. */
  get irqIndex(): number | undefined {
    return this.activeIrq;
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
}

/** A port's BAR: each chunk reads one register into its first byte (the rest stays 0) or writes its first byte. */
function portBar(port: UartPort): BarDecl {
  return {
    kind: 'io',
    size: MTTY_IO_BAR_SIZE,
    read: (off, len) => {
      const out = Buffer.alloc(len);
      alignedChunks(off, out, (at) => {
        out[at - off] = port.read(at) ?? 0;
      });
      return out;
    },
    write: (off, data) => alignedChunks(off, data, (at, c) => port.write(at, c[0]!)),
  };
}
