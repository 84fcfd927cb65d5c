/**
 * Concepts: the transport's side of a PCI device: the `VfioDevice` a vfio-user session serves, built from the
 * vendor's declaration (`PciDeviceSpec`). From the declaration it derives config space, the region table, the
 * interrupt controller and the memfds of memory-backed BARs (`pci-parts.ts`; those declared `perSession` when a
 * client opens the device, or when a migration loads into them before one does), and it answers the VFIO API.
 *
 * A vendor never sees this class: it declares a `PciDevice` (`pci-device.ts`), the face it implements, whose
 * function the framework reaches with `vfioOf`. So no driver can override how a region is read, an IRQ set or a
 * client opened; what a device may change is what its declaration says (handlers, `open`, `close`, `reset`, …).
 *
 * A declaration given at construction is checked and built at once: a bad one throws `EINVAL` naming the problem,
 * so the create fails. Otherwise `declare` is asked when something first needs the device (a client opening it, a
 * migration, a reset), so a device that no client ever opens costs only its own object; building is
 * deterministic and nothing changes state before it.
 *
 * Owned by its `PciDevice`; `dispose()` (the parent's remove) releases the memfds, `close()` (the transport, when a
 * client goes) the client's eventfds and per-session memfds.
 */
import { type UmdevError, err } from '../errors.js';
import { VFIO_DEVICE_STATE, VFIO_PCI_IRQ, VFIO_PCI_REGION } from './constants.js';
import { DeviceActivity } from './device-activity.js';
import type { DmaAccess, SetIrqsRequest, VfioDevice, VfioIrqInfo, VfioOpenContext, VfioRegionInfo } from './device.js';
import type { MigrationDriver } from './device-migration.js';
import type { IrqConfig } from './irqs.js';
import { MemfdBacking } from './memfd-region.js';
import type { PciConfigSpace } from './pci-config.js';
import { type PciParts, backing, buildParts, memfdName } from './pci-parts.js';
import type { PciDeviceSpec } from './pci-spec.js';

/** Config space (base64) and interrupt configuration: what travels beside the device stream. Plain data. */
export interface PlatformState {
  readonly config: string;
  readonly irqs: IrqConfig;
}

/** One PCI function as the transport serves it; see the module comment. */
export class PciFunction implements VfioDevice {
  /** What the declaration implies: built by the constructor, or by the first use (`#parts`). */
  #built: PciParts | undefined;
  #client: VfioOpenContext | undefined;
  /** Set by `dispose`: a device built afterwards gets no memfds, as a built one has none left after it. */
  #disposed = false;
  /** The client's DMA as the vendor sees it; made the first time it is asked for. */
  #guardedDma: DmaAccess | undefined;
  #activity: DeviceActivity | undefined;

  readonly #declare: () => PciDeviceSpec;

  /** Check and build `spec` now; without it `declare()` is asked and built on first use. */
  constructor(spec: PciDeviceSpec | undefined, declare: () => PciDeviceSpec) {
    this.#declare = declare;
    if (spec !== undefined) this.#built = this.#build(spec);
  }

  get #parts(): PciParts {
    return (this.#built ??= this.#build(this.#declare()));
  }

  #build(spec: PciDeviceSpec): PciParts {
    return buildParts(spec, {
      log: (level, message) => this.log(level, message),
      // The client's eventfd is watched by the transport that serves it, while it is open.
      watch: (fd, onReadable) => {
        const watch = this.#client?.watchReadable;
        if (!watch) throw err('ENOTTY', 'no unmask eventfd support: the transport cannot watch fds');
        return watch(fd, onReadable);
      },
      withMemory: !this.#disposed,
      delivered: () => this.activity.interrupt(),
    });
  }

  /** The declaration the function was built from (asking it builds a deferred one). */
  get spec(): PciDeviceSpec {
    return this.#parts.spec;
  }

  get deviceFlags(): number {
    return this.#parts.deviceFlags;
  }

  get numRegions(): number {
    return VFIO_PCI_REGION.NUM_REGIONS;
  }

  get numIrqs(): number {
    return VFIO_PCI_IRQ.NUM_IRQS;
  }

  /** The emulated config space; the device may change bytes with `setByte` and friends. */
  get config(): PciConfigSpace {
    return this.#parts.config;
  }

  /** The migration state machine, when the device declared `migration`. */
  get migration(): MigrationDriver | undefined {
    return this.#parts.migration;
  }

  /**
   * Signal `vector` of the active interrupt (INTx, MSI or MSI-X); false when none is active, INTx is masked, or the
   * device is stopped for migration (a stopped device raises nothing; its registers still say what is pending).
   */
  interrupt(vector = 0): boolean {
    const index = this.#parts.irqs.activeIndex;
    return index === undefined ? false : this.trigger(index, vector);
  }

  /** Signal one vector of a given index (ERR and REQ included); false when it has no eventfd, is not active, or the device is stopped. */
  trigger(index: number, vector = 0): boolean {
    const p = this.#parts;
    if (this.#stopped) return false;
    // A vector the client masked in the MSI-X table is held in the PBA and delivered on unmask.
    if (index === VFIO_PCI_IRQ.MSIX && p.msix !== undefined && p.irqs.activeIndex === index && !p.msix.admit(vector)) return false;
    return p.irqs.trigger(index, vector);
  }

  /** What this device's use looks like (requests, interrupts, DMA, its client); made on first use. */
  get activity(): DeviceActivity {
    return (this.#activity ??= new DeviceActivity());
  }

  /** The recorder once something was recorded; reading it makes none (thousands of idle devices carry nothing). */
  get recordedActivity(): DeviceActivity | undefined {
    return this.#activity;
  }

  /** True while migration holds the device stopped (STOP, STOP_COPY, RESUMING, ERROR): no interrupts, no DMA. */
  get #stopped(): boolean {
    const m = this.#parts.migration;
    return m !== undefined && !m.running;
  }

  /**
   * What a VMM carries besides the device's own stream (QEMU's `vfio_save_config`): the raw config space and the
   * interrupt configuration. umdevd carries it when it migrates a device itself, so the device stream stays what
   * the vendor defines (mtty's is the kernel sample's, byte for byte).
   */
  platformState(): PlatformState {
    const p = this.#parts;
    return { config: p.config.snapshot().toString('base64'), irqs: p.irqs.snapshot() };
  }

  /** Load `platformState()` from the same kind of device, all or nothing; EINVAL for one that does not fit. */
  loadPlatformState(state: PlatformState): void {
    const p = this.#parts;
    const config = Buffer.from(state.config, 'base64');
    if (config.length !== p.config.size) throw err('EINVAL', `config space of ${config.length} bytes, this device has ${p.config.size}`);
    p.irqs.restore(state.irqs);
    p.config.restore(config);
  }

  /** The active interrupt index (VFIO_PCI_INTX/MSI/MSIX_IRQ_INDEX), or undefined while interrupts are off. */
  get activeIrq(): number | undefined {
    return this.#built?.irqs.activeIndex;
  }

  /** Eventfds the device holds for its client now (for tests and status displays). */
  get heldIrqFds(): number {
    return this.#built?.irqs.heldFds ?? 0;
  }

  /**
   * The device's view of a memory-backed BAR (shared with a VMM that maps it); EINVAL for any other BAR, ENODEV for
   * per-session memory while no client has the device open.
   */
  memory(bar: number): Buffer {
    const b = backing(this.#parts, bar).bytes;
    return Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  }

  /** True when `memory(bar)` would answer now (per-session memory exists while a client has it, or a load made it). */
  hasMemory(bar: number): boolean {
    return this.#parts.memory.has(bar);
  }

  /**
   * The memory of a memory-backed BAR for a migration to load into. Per-session memory is created now when no
   * client has the device open; it is then the memory the next client maps, and goes when that client closes.
   */
  memoryForLoad(bar: number): Buffer {
    const p = this.#parts;
    const s = p.sessionMemory.find((m) => m.bar === bar);
    if (s !== undefined && !p.memory.has(bar)) p.memory.set(bar, new MemfdBacking(memfdName(p.spec, bar), s.size));
    return this.memory(bar);
  }

  /** Guest memory, while a client has the device open; ENODEV otherwise, EBUSY while stopped for migration. */
  get dma(): DmaAccess {
    const c = this.#client;
    if (!c) throw err('ENODEV', 'no client has the device open');
    return this.#dmaView();
  }

  /** The client's DMA, refused while migration holds the device stopped (the kernel's STOP: no DMA). */
  #dmaView(): DmaAccess {
    return (this.#guardedDma ??= {
      read: (iova, length) => {
        const refused = this.#dmaRefused();
        if (refused) return Promise.reject(refused);
        this.activity.dma(length);
        return this.#client!.dma.read(iova, length);
      },
      write: (iova, data) => {
        const refused = this.#dmaRefused();
        if (refused) return Promise.reject(refused);
        this.activity.dma(data.length);
        return this.#client!.dma.write(iova, data);
      },
      readv: (segs, into) => {
        const refused = this.#dmaRefused();
        return refused ? Promise.reject(refused) : this.#client!.dma.readv(segs, into);
      },
      writev: (segs, data) => {
        const refused = this.#dmaRefused();
        return refused ? Promise.reject(refused) : this.#client!.dma.writev(segs, data);
      },
    });
  }

  /** Why the device may not DMA now (EBUSY stopped for migration, ENODEV no client), or undefined when it may. */
  #dmaRefused(): UmdevError | undefined {
    if (this.#stopped) return err('EBUSY', 'DMA while the device is stopped for migration');
    return this.#client ? undefined : err('ENODEV', 'no client has the device open');
  }

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
   * calls it). Idempotent. Clients that mapped a memfd keep their pages. A device never built has nothing to release.
   */
  dispose(): void {
    this.#disposed = true;
    const p = this.#built;
    if (p === undefined) return;
    p.irqs.close();
    for (const m of p.memory.values()) m.close();
    p.memory.clear();
  }

  regionInfo(index: number): VfioRegionInfo {
    const p = this.#parts;
    const info = p.regions.info(index);
    const shift = p.spec.vfio?.regionOffsetShift;
    const empty = p.spec.vfio?.emptyRegionFlags;
    const flags = info.size === 0n && empty !== undefined ? empty : info.flags;
    return { ...info, flags, ...(shift === undefined ? {} : { offset: BigInt(index) << shift }) };
  }

  irqInfo(index: number): VfioIrqInfo {
    return this.#parts.irqs.info(index);
  }

  read(index: number, offset: bigint, length: number): Buffer {
    return this.#parts.regions.read(index, offset, length);
  }

  write(index: number, offset: bigint, data: Buffer): void | Promise<void> {
    return this.#parts.regions.write(index, offset, data);
  }

  setIrqs(request: SetIrqsRequest): void {
    this.#parts.irqs.setIrqs(request);
  }

  /**
   * VFIO_DEVICE_RESET: the vendor's reset, migration back to RUNNING from any state (ERROR included), and the MSI-X
   * table back to its reset state (every entry masked and unwritten, nothing pending), as a function reset leaves it.
   */
  async reset(): Promise<void> {
    const p = this.#parts;
    // No await without migration: the vendor's reset then starts at once, as before migration existed.
    if (p.migration !== undefined) await p.migration.reset();
    await p.spec.reset?.();
    p.msix?.clear();
  }

  async open(context: VfioOpenContext): Promise<void> {
    const p = this.#parts;
    this.#client = context;
    try {
      for (const s of p.sessionMemory) if (!p.memory.has(s.bar)) p.memory.set(s.bar, new MemfdBacking(memfdName(p.spec, s.bar), s.size));
      await p.spec.open?.({ dma: this.#dmaView() });
    } catch (e) {
      this.#releaseSessionMemory();
      this.#client = undefined;
      throw e;
    }
  }

  /**
   * The client is gone (the kernel's `close_device`): its eventfds and per-session memory go, and a migration it
   * left half-way (no one else holds it) goes back to RUNNING; everything else the device holds stays for the next.
   */
  async close(): Promise<void> {
    const p = this.#parts;
    p.irqs.close();
    const m = p.migration;
    if (m !== undefined && m.owner === undefined && m.state !== VFIO_DEVICE_STATE.RUNNING) await m.reset();
    try {
      await p.spec.close?.();
    } finally {
      this.#releaseSessionMemory();
      this.#client = undefined;
    }
  }

  #releaseSessionMemory(): void {
    const p = this.#built;
    if (p === undefined) return;
    for (const s of p.sessionMemory) {
      p.memory.get(s.bar)?.close();
      p.memory.delete(s.bar);
    }
  }

  dmaUnmap(iova: bigint, length: bigint): void | Promise<void> {
    return this.#built?.spec.dmaUnmap?.(iova, length);
  }

  get busy(): boolean {
    return this.#built?.spec.busy?.() ?? false;
  }

  /**
   * A removal waits for the client: signal REQ (vfio-pci's `request`), and say so once whether the client can be
   * asked at all (a VMM that armed no REQ eventfd never hears it).
   */
  requestRelease(count: number): void {
    const p = this.#parts;
    if (p.spec.irqs?.req) {
      const sent = p.irqs.trigger(VFIO_PCI_IRQ.REQ);
      if (count === 0) this.log('info', sent ? 'REQ signalled: the client is asked to release the device' : 'the client armed no REQ interrupt: it cannot be asked to release the device');
    }
    p.spec.requestRelease?.(count);
  }
}
