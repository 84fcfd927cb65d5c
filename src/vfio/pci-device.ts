/**
 * Concepts: a PCI device built from its declaration (`PciDeviceSpec`), the one thing a vendor's `create` returns
 * for a `vfio-pci` parent and the one thing the vfio-user bus driver binds. The constructor checks the declaration
 * (a bad one throws `EINVAL` naming the problem, so the create fails) and derives from it the config space, the
 * region table and the interrupt controller; it creates the memfds of memory-backed BARs (those declared
 * `perSession` when a client opens the device). After that the device
 * answers the VFIO API (`VfioDevice`) and gives the vendor's code what it needs at run time: `interrupt()`, `dma`,
 * `memory(bar)`, `config`, `log`.
 *
 * Region `i` is BAR `i` (a 64-bit BAR's upper slot is an empty region), then ROM, config space and VGA, as
 * vfio-pci numbers them. Owned by the vendor state that made it; `dispose()` (the parent's remove) releases the
 * memfds, `close()` (the transport, when a client goes) the client's eventfds and per-session memfds.
 */
import { err } from '../errors.js';
import { VFIO_DEVICE_FLAGS, VFIO_IRQ_INFO, VFIO_PCI_IRQ, VFIO_PCI_REGION, VFIO_REGION_INFO_FLAG } from './constants.js';
import type { DmaAccess, SetIrqsRequest, VfioDevice, VfioIrqInfo, VfioOpenContext, VfioRegionInfo } from './device.js';
import { MigrationDriver } from './device-migration.js';
import { type IrqConfig, type IrqIndexSpec, IrqController } from './irqs.js';
import { MemfdBacking } from './memfd-region.js';
import { msixBar, msixLayout } from './msix.js';
import { type BarSpec, type CapabilitySpec, PciConfigSpace, msiCapability, msixCapability } from './pci-config.js';
import type { BarDecl, PciDeviceSpec } from './pci-spec.js';
import { type RegionMmap, type RegionSpec, RegionTable } from './regions.js';

const RW = VFIO_REGION_INFO_FLAG.READ | VFIO_REGION_INFO_FLAG.WRITE;
const EVENTFD_NORESIZE = VFIO_IRQ_INFO.EVENTFD | VFIO_IRQ_INFO.NORESIZE;

/** Config space (base64) and interrupt configuration: what travels beside the device stream. Plain data. */
export interface PlatformState {
  readonly config: string;
  readonly irqs: IrqConfig;
}

/** The device a vendor declares; see the module comment. Subclass it to keep the vendor's state on one object. */
export class PciDevice implements VfioDevice {
  readonly deviceFlags: number;
  readonly numRegions = VFIO_PCI_REGION.NUM_REGIONS;
  readonly numIrqs = VFIO_PCI_IRQ.NUM_IRQS;
  /** The emulated config space; the device may change bytes with `setByte` and friends. */
  readonly config: PciConfigSpace;
  /** The migration state machine, when the device declared `migration`. */
  readonly migration: MigrationDriver | undefined;
  readonly #spec: PciDeviceSpec;
  readonly #regions: RegionTable;
  readonly #irqs: IrqController;
  readonly #memory = new Map<number, MemfdBacking>();
  /** Memory-backed BARs whose memfd lives for one client session (`BarMemory.perSession`). */
  readonly #sessionMemory: { readonly bar: number; readonly size: number }[] = [];
  #client: VfioOpenContext | undefined;

  constructor(spec: PciDeviceSpec) {
    this.#spec = spec;
    const bars = [...(spec.bars ?? [])];
    if (bars.length > 6) throw err('EINVAL', `${bars.length} BARs declared; a PCI function has 6`);
    const caps: CapabilitySpec[] = [...(spec.config?.capabilities ?? [])];
    const irqs = spec.irqs ?? {};
    if (irqs.msi && irqs.msi.capability !== false) caps.push(msiCapability(irqs.msi));
    if (irqs.msix) {
      const { bar } = irqs.msix;
      if (!Number.isInteger(bar) || bar < 0 || bar > 5) throw err('EINVAL', `MSI-X BAR ${bar} not in 0..5`);
      if (bars[bar] !== undefined || (bar > 0 && bars[bar - 1]?.kind === 'mem64')) throw err('EINVAL', `MSI-X BAR ${bar} is already declared`);
      const layout = msixLayout(irqs.msix.vectors);
      bars[bar] = msixBar(layout);
      caps.push(msixCapability({ tableSize: layout.vectors, tableBar: bar, tableOffset: layout.tableOffset, pbaBar: bar, pbaOffset: layout.pbaOffset }));
    }
    const c = spec.config ?? {};
    this.config = new PciConfigSpace({
      identity: spec.identity,
      size: c.size,
      bars: bars.map(barSpec),
      command: c.command,
      status: c.status,
      interruptPin: c.interruptPin ?? (irqs.intx ? 1 : 0),
      capabilities: caps,
      vendorRanges: c.vendorRanges,
    });
    for (const b of c.bytes ?? []) {
      if (b.offset < this.config.capabilitiesEnd || b.offset + b.data.length > this.config.size) {
        throw err('EINVAL', `config bytes at 0x${b.offset.toString(16)}+${b.data.length} overlap the header or capabilities, or leave the space`);
      }
      b.data.forEach((v, i) => this.config.setByte(b.offset + i, v));
    }
    this.#irqs = new IrqController({
      numIrqs: VFIO_PCI_IRQ.NUM_IRQS,
      indexes: irqIndexes(spec),
      onError: (m) => this.log('warn', m),
      // The client's eventfd is watched by the transport that serves it, while it is open.
      watch: (fd, onReadable) => {
        const watch = this.#client?.watchReadable;
        if (!watch) throw err('ENOTTY', 'no unmask eventfd support: the transport cannot watch fds');
        return watch(fd, onReadable);
      },
    });
    try {
      this.#regions = new RegionTable(VFIO_PCI_REGION.NUM_REGIONS, this.#regionSpecs(bars));
    } catch (e) {
      this.dispose();
      throw e;
    }
    this.migration = spec.migration ? new MigrationDriver(spec.migration) : undefined;
    this.deviceFlags = VFIO_DEVICE_FLAGS.PCI | (spec.reset ? VFIO_DEVICE_FLAGS.RESET : 0);
  }

  // ---- for the vendor's code ----

  /**
   * Signal `vector` of the active interrupt (INTx, MSI or MSI-X); false when none is active, INTx is masked, or the
   * device is stopped for migration (a stopped device raises nothing; its registers still say what is pending).
   */
  interrupt(vector = 0): boolean {
    const index = this.#irqs.activeIndex;
    return index === undefined || this.#stopped ? false : this.#irqs.trigger(index, vector);
  }

  /** Signal one vector of a given index (ERR and REQ included); false when it has no eventfd, is not active, or the device is stopped. */
  trigger(index: number, vector = 0): boolean {
    return this.#stopped ? false : this.#irqs.trigger(index, vector);
  }

  /** True while migration holds the device stopped (STOP, STOP_COPY, RESUMING, ERROR): no interrupts, no DMA. */
  get #stopped(): boolean {
    return this.migration !== undefined && !this.migration.running;
  }

  /**
   * What a VMM carries besides the device's own stream (QEMU's `vfio_save_config`): the raw config space and the
   * interrupt configuration. umdevd carries it when it migrates a device itself, so the device stream stays what
   * the vendor defines (mtty's is the kernel sample's, byte for byte).
   */
  platformState(): PlatformState {
    return { config: this.config.snapshot().toString('base64'), irqs: this.#irqs.snapshot() };
  }

  /** Load `platformState()` from the same kind of device, all or nothing; EINVAL for one that does not fit. */
  loadPlatformState(p: PlatformState): void {
    const config = Buffer.from(p.config, 'base64');
    if (config.length !== this.config.size) throw err('EINVAL', `config space of ${config.length} bytes, this device has ${this.config.size}`);
    this.#irqs.restore(p.irqs);
    this.config.restore(config);
  }

  /** The active interrupt index (VFIO_PCI_INTX/MSI/MSIX_IRQ_INDEX), or undefined while interrupts are off. */
  get activeIrq(): number | undefined {
    return this.#irqs.activeIndex;
  }

  /** Eventfds the device holds for its client now (for tests and status displays). */
  get heldIrqFds(): number {
    return this.#irqs.heldFds;
  }

  /**
   * The device's view of a memory-backed BAR (shared with a VMM that maps it); EINVAL for any other BAR, ENODEV for
   * per-session memory while no client has the device open.
   */
  memory(bar: number): Buffer {
    const b = this.#backing(bar).bytes;
    return Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  }

  #backing(bar: number): MemfdBacking {
    const m = this.#memory.get(bar);
    if (m) return m;
    if (this.#sessionMemory.some((s) => s.bar === bar)) throw err('ENODEV', `BAR ${bar}'s memory exists only while a client has the device open`);
    throw err('EINVAL', `BAR ${bar} is not memory-backed`);
  }

  /** Guest memory, while a client has the device open; ENODEV otherwise, EBUSY while stopped for migration. */
  get dma(): DmaAccess {
    const c = this.#client;
    if (!c) throw err('ENODEV', 'no client has the device open');
    return this.#guardedDma;
  }

  /** The client's DMA, refused while migration holds the device stopped (the kernel's STOP: no DMA). */
  readonly #guardedDma: DmaAccess = {
    read: (iova, length) => {
      if (this.#stopped) return Promise.reject(err('EBUSY', 'DMA while the device is stopped for migration'));
      return this.#client ? this.#client.dma.read(iova, length) : Promise.reject(err('ENODEV', 'no client has the device open'));
    },
    write: (iova, data) => {
      if (this.#stopped) return Promise.reject(err('EBUSY', 'DMA while the device is stopped for migration'));
      return this.#client ? this.#client.dma.write(iova, data) : Promise.reject(err('ENODEV', 'no client has the device open'));
    },
  };

  /** True while a client has the device open. */
  get opened(): boolean {
    return this.#client !== undefined;
  }

  /** Log with the serving transport's prefix (nothing while no client has the device open). */
  log(level: 'debug' | 'info' | 'warn' | 'error', message: string): void {
    this.#client?.log(level, message);
  }

  /**
   * Release everything the device holds: its client's eventfds and its memfds (the parent's remove; `pciParent`
   * calls it). Idempotent. Clients that mapped a memfd keep their pages.
   */
  dispose(): void {
    this.#irqs.close();
    for (const m of this.#memory.values()) m.close();
    this.#memory.clear();
  }

  // ---- VfioDevice, for the transport ----

  regionInfo(index: number): VfioRegionInfo {
    const info = this.#regions.info(index);
    const shift = this.#spec.vfio?.regionOffsetShift;
    const empty = this.#spec.vfio?.emptyRegionFlags;
    const flags = info.size === 0n && empty !== undefined ? empty : info.flags;
    return { ...info, flags, ...(shift === undefined ? {} : { offset: BigInt(index) << shift }) };
  }

  irqInfo(index: number): VfioIrqInfo {
    return this.#irqs.info(index);
  }

  read(index: number, offset: bigint, length: number): Buffer {
    return this.#regions.read(index, offset, length);
  }

  write(index: number, offset: bigint, data: Buffer): void | Promise<void> {
    return this.#regions.write(index, offset, data);
  }

  setIrqs(request: SetIrqsRequest): void {
    this.#irqs.setIrqs(request);
  }

  /** VFIO_DEVICE_RESET: the vendor's reset, and migration back to RUNNING from any state (ERROR included). */
  async reset(): Promise<void> {
    // No await without migration: the vendor's reset then starts at once, as before migration existed.
    if (this.migration !== undefined) await this.migration.reset();
    await this.#spec.reset?.();
  }

  async open(context: VfioOpenContext): Promise<void> {
    this.#client = context;
    try {
      for (const s of this.#sessionMemory) if (!this.#memory.has(s.bar)) this.#memory.set(s.bar, new MemfdBacking(this.#memfdName(s.bar), s.size));
      await this.#spec.open?.({ dma: this.#guardedDma });
    } catch (e) {
      this.#releaseSessionMemory();
      this.#client = undefined;
      throw e;
    }
  }

  async close(): Promise<void> {
    this.#irqs.close();
    try {
      await this.#spec.close?.();
    } finally {
      this.#releaseSessionMemory();
      this.#client = undefined;
    }
  }

  #releaseSessionMemory(): void {
    for (const s of this.#sessionMemory) {
      this.#memory.get(s.bar)?.close();
      this.#memory.delete(s.bar);
    }
  }

  #memfdName(bar: number): string {
    return `${this.#spec.name ?? 'umdev'}-bar${bar}`;
  }

  requestRelease(count: number): void {
    if (this.#spec.irqs?.req) this.#irqs.trigger(VFIO_PCI_IRQ.REQ);
    this.#spec.requestRelease?.(count);
  }

  #regionSpecs(bars: readonly (BarDecl | undefined)[]): RegionSpec[] {
    const specs: RegionSpec[] = [];
    bars.forEach((bar, index) => {
      if (bar !== undefined) specs.push(this.#barRegion(index, bar));
    });
    const c = this.#spec.config;
    const write = c?.write;
    specs.push({
      index: VFIO_PCI_REGION.CONFIG,
      size: this.config.size,
      flags: RW,
      read: (off, len) => this.config.read(off, len),
      write: write ? (off, data) => write(off, data, this.config) : (off, data) => this.config.write(off, data),
    });
    return specs;
  }

  #barRegion(index: number, bar: BarDecl): RegionSpec {
    const size = BigInt(bar.size);
    if (bar.kind === 'io' || !bar.memory) {
      return { index, size, read: bar.read?.bind(bar), write: bar.write?.bind(bar), flags: RW };
    }
    const memory = bar.memory === true ? {} : bar.memory;
    if (memory.perSession) this.#sessionMemory.push({ bar: index, size: Number(size) });
    else this.#memory.set(index, new MemfdBacking(this.#memfdName(index), Number(size)));
    const areas = memory.mmap;
    const present = this.#memory;
    // Outside the mmap areas a BAR without handlers is served from its memory too.
    const bytes = (): Uint8Array => this.#backing(index).bytes;
    return {
      index,
      size,
      flags: RW,
      // Asked on every use: per-session memory has an fd only while a client has the device open.
      get mmap(): RegionMmap | undefined {
        const m = present.get(index);
        return m === undefined ? undefined : { fd: m.fd, ...(areas ? { areas } : {}) };
      },
      read: bar.read?.bind(bar) ?? ((off, len) => bytes().slice(off, off + len)),
      write: bar.write?.bind(bar) ?? ((off, data) => bytes().set(data, off)),
    };
  }
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

function barSpec(bar: BarDecl | undefined): BarSpec | undefined {
  if (bar === undefined) return undefined;
  if (bar.kind === 'io') return { kind: 'io', size: bar.size };
  if (bar.kind === 'mem32') return { kind: 'mem32', size: bar.size, prefetchable: bar.prefetchable };
  return { kind: 'mem64', size: BigInt(bar.size), prefetchable: bar.prefetchable };
}

/** The IRQ indexes the declaration implies, with vfio-pci's flags. */
function irqIndexes(spec: PciDeviceSpec): IrqIndexSpec[] {
  const i = spec.irqs ?? {};
  const out: IrqIndexSpec[] = [];
  if (i.intx) out.push({ index: VFIO_PCI_IRQ.INTX, count: 1, flags: VFIO_IRQ_INFO.EVENTFD | VFIO_IRQ_INFO.MASKABLE | VFIO_IRQ_INFO.AUTOMASKED });
  if (i.msi) {
    const v = i.msi.vectors;
    if (!Number.isInteger(v) || v < 1 || v > 32 || (v & (v - 1)) !== 0) throw err('EINVAL', `MSI vectors ${v} not a power of two in 1..32`);
  }
  if (i.msi) out.push({ index: VFIO_PCI_IRQ.MSI, count: i.msi.vectors, flags: EVENTFD_NORESIZE });
  if (i.msix) out.push({ index: VFIO_PCI_IRQ.MSIX, count: i.msix.vectors, flags: EVENTFD_NORESIZE });
  if (i.err) out.push({ index: VFIO_PCI_IRQ.ERR, count: 1, flags: EVENTFD_NORESIZE });
  if (i.req) out.push({ index: VFIO_PCI_IRQ.REQ, count: 1, flags: EVENTFD_NORESIZE });
  return out;
}
