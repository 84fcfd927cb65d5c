/**
 * Concepts: a PCI device as its vendor writes it. The vendor declares the device (`PciDeviceSpec`: identity, BARs
 * with their handlers, config extras, interrupts, reset, open/close, migration, display) and subclasses this class
 * to keep its own state on the same object; at run time the device uses what this face offers: `interrupt()`,
 * `dma`, `memory(bar)`, `config`, `log`.
 *
 * What a transport calls (region and IRQ info, reads and writes, SET_IRQS, open/close, migration, platform state)
 * is not here but on the device's `PciFunction` (`pci-function.ts`), which the framework reaches with `vfioOf`. A
 * vendor therefore cannot override transport code: everything a device does differently is in its declaration.
 *
 * A declaration passed to the constructor is checked and built at once (a bad one throws `EINVAL` naming the
 * problem, so the create fails). A subclass may instead construct with no declaration and override
 * `declaration()`: the device is then built when something first asks it.
 */
import { err } from '../errors.js';
import type { DisplaySource } from '../display/plane.js';
import type { DmaAccess } from './device.js';
import type { PciConfigSpace } from './pci-config.js';
import { PciFunction } from './pci-function.js';
import type { PciDeviceSpec } from './pci-spec.js';
import type { ByteRing } from './uart-tap.js';

export type { PlatformState } from './pci-function.js';

/** Set once, by PciDevice's static block: the only way from a device to its function. */
let functionOf: (device: PciDevice) => PciFunction;

/** The device a vendor declares; see the module comment. */
export class PciDevice {
  readonly #fn: PciFunction;

  static {
    functionOf = (device) => device.#fn;
  }

  /** Check and build `spec` now; without it the subclass's `declaration()` is built on first use. */
  constructor(spec?: PciDeviceSpec) {
    if (spec === undefined && this.declaration === PciDevice.prototype.declaration) throw err('EINVAL', 'a PciDevice needs a declaration: pass one, or override declaration()');
    this.#fn = new PciFunction(spec, () => this.declaration());
  }

  /**
   * The declaration of a device constructed without one, asked once, on first use. It may set up the subclass's own
   * state but must not use what it declares (config, regions, interrupts): those are being built from it.
   */
  protected declaration(): PciDeviceSpec {
    throw err('EINVAL', 'this PciDevice has no declaration');
  }

  /** The emulated config space; the device may change bytes with `setByte` and friends. */
  get config(): PciConfigSpace {
    return this.#fn.config;
  }

  /**
   * Signal `vector` of the active interrupt (INTx, MSI or MSI-X); false when none is active, INTx is masked, or the
   * device is stopped for migration (a stopped device raises nothing; its registers still say what is pending).
   */
  interrupt(vector = 0): boolean {
    return this.#fn.interrupt(vector);
  }

  /** Signal one vector of a given index (ERR and REQ included); false when it has no eventfd, is not active, or the device is stopped. */
  trigger(index: number, vector = 0): boolean {
    return this.#fn.trigger(index, vector);
  }

  /** The active interrupt index (VFIO_PCI_INTX/MSI/MSIX_IRQ_INDEX), or undefined while interrupts are off. */
  get activeIrq(): number | undefined {
    return this.#fn.activeIrq;
  }

  /** The VFIO migration state (`VFIO_DEVICE_STATE`), or undefined for a device that declared no migration. */
  get migrationState(): number | undefined {
    return this.#fn.migration?.state;
  }

  /**
   * The device's view of a memory-backed BAR (shared with a VMM that maps it); EINVAL for any other BAR, ENODEV for
   * per-session memory while no client has the device open.
   */
  memory(bar: number): Buffer {
    return this.#fn.memory(bar);
  }

  /** True when `memory(bar)` would answer now (per-session memory exists while a client has it, or a load made it). */
  hasMemory(bar: number): boolean {
    return this.#fn.hasMemory(bar);
  }

  /**
   * The memory of a memory-backed BAR for a migration to load into. Per-session memory is created now when no
   * client has the device open; it is then the memory the next client maps, and goes when that client closes.
   */
  memoryForLoad(bar: number): Buffer {
    return this.#fn.memoryForLoad(bar);
  }

  /** Guest memory, while a client has the device open; ENODEV otherwise, EBUSY while stopped for migration. */
  get dma(): DmaAccess {
    return this.#fn.dma;
  }

  /** True while a client has the device open. */
  get opened(): boolean {
    return this.#fn.opened;
  }

  /** Log with the serving transport's prefix (nothing while no client has the device open). */
  log(level: 'debug' | 'info' | 'warn' | 'error', message: string): void {
    this.#fn.log(level, message);
  }

  /** The display the declaration names (`PciDeviceSpec.display`); undefined for a device without one. */
  get display(): DisplaySource | undefined {
    return this.#fn.spec.display;
  }

  /** The console output the declaration names (`PciDeviceSpec.console`); undefined for a device without one. */
  get console(): ByteRing | undefined {
    return this.#fn.spec.console;
  }
}

/** The transport's side of `device`: what a session serves, a migration drives, a removal disposes of. */
export function vfioOf(device: PciDevice): PciFunction {
  return functionOf(device);
}

/**
 * The device a vendor's state is, for a bus driver about to serve it: a `PciDevice`, or `EINVAL` saying what came
 * instead, so a driver that does not follow the contract fails its create loudly instead of going unserved.
 */
export function requirePciDevice(state: unknown, what: string): PciDevice {
  if (state instanceof PciDevice) return state;
  const got = state === null || typeof state !== 'object' ? String(state) : `an object of class ${state.constructor?.name ?? 'Object'}`;
  throw err('EINVAL', `${what}: the driver's create returned ${got}, not a PciDevice (declare the device with the device contract, src/sdk)`);
}
