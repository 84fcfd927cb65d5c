/**
 * Concepts: the interrupt side of a VFIO PCI device, as `VFIO_DEVICE_SET_IRQS` defines it and vfio-pci (and the
 * mtty sample, which copies it) implements it.
 *
 * - An *index* is an interrupt type (INTx, MSI, MSI-X, …) with a number of *vectors*. At most one of INTx, MSI and
 *   MSI-X is active at a time: enabling one while another is active is `EINVAL`.
 * - TRIGGER + DATA_EVENTFD installs one eventfd per vector (`-1` tears that vector down); the device signals a
 *   vector by writing the 8-byte little-endian value 1 to its eventfd. TRIGGER + DATA_NONE with `count == 0`
 *   disables the index. TRIGGER + DATA_NONE/DATA_BOOL on an active index fires a loopback test interrupt.
 *   Disabling an index that is off, or that the device lacks, succeeds (QEMU disables indexes it never enabled).
 * - INTx is level-like: with AUTOMASKED, each delivered interrupt masks the line until the client UNMASKs it (after
 *   the guest's EOI). MASK/UNMASK take DATA_NONE or DATA_BOOL, also before INTx has an eventfd (the mask state
 *   then starts over when one is installed). UNMASK with DATA_EVENTFD installs an unmask eventfd, as vfio-pci's
 *   `vfio_pci_set_intx_unmask` does with a virqfd (QEMU under KVM wires the guest's EOI to it): each signal is
 *   drained and unmasks INTx; fd -1 removes it, and it goes with INTx. An eventfd for MASK is `ENOTTY`. As in mtty,
 *   an unmask does not re-deliver a condition that is still pending: the device raises it again when it changes.
 * - ERR and REQ are side channels, as vfio-pci's `vfio_pci_set_ctx_trigger_single`: one eventfd each, independent
 *   of which of INTx/MSI/MSI-X is active. DATA_EVENTFD (count 1) installs it (-1 removes), DATA_NONE count 0
 *   removes it, DATA_NONE/DATA_BOOL count 1 signals it; start must be 0 and count at most 1. REQ asks the user to
 *   release the device (a removal waits for it); QEMU answers by unplugging the device.
 *
 * Ownership: every fd handed to `setIrqs` belongs to the controller from then on, even when the request fails; it is
 * closed when replaced, torn down, or at `close()`. Every fd must be an eventfd (EINVAL otherwise, as the kernel's
 * `eventfd_ctx_fdget`): another kind could block a write or never drain. Delivery never blocks either: the client
 * owns the eventfd's open file description, so it may hand over a blocking eventfd whose counter it filled; a full
 * counter drops the signal (the client has an unread one already), as the kernel's `eventfd_signal` saturates.
 */
import fs from 'node:fs';
import { err } from '../errors.js';
import { native } from '../native/index.js';
import { VFIO_IRQ_INFO, VFIO_IRQ_SET, VFIO_PCI_IRQ } from './constants.js';
import type { SetIrqsRequest, VfioIrqInfo, WatchReadable } from './device.js';

/** One interrupt index the device implements. */
export interface IrqIndexSpec {
  readonly index: number;
  readonly count: number;
  /** VFIO_IRQ_INFO_* flags; MASKABLE enables MASK/UNMASK, AUTOMASKED masks on every delivery. */
  readonly flags: number;
}

export interface IrqControllerOptions {
  /** `num_irqs` of the device (VFIO_PCI_NUM_IRQS for PCI). */
  readonly numIrqs: number;
  readonly indexes: readonly IrqIndexSpec[];
  /** Told when a delivery fails for a reason other than a saturated eventfd counter. */
  readonly onError?: (message: string) => void;
  /** Watches the INTx unmask eventfd; without it an unmask eventfd is `ENOTTY`. */
  readonly watch?: WatchReadable;
  /** Adds 1 to an eventfd without blocking, false when full (default: the addon's `eventfdSignal`). */
  readonly signal?: (fd: number) => boolean;
  /** Told after each signal that reached an eventfd (the device's interrupt count). */
  readonly delivered?: () => void;
}

const KNOWN_FLAGS = VFIO_IRQ_SET.DATA_TYPE_MASK | VFIO_IRQ_SET.ACTION_TYPE_MASK;

/** Interrupt state of one device. Owned by the device; `close()` releases every fd it holds. */
/** An interrupt configuration without eventfds; plain data (it travels as JSON). */
export interface IrqConfig {
  /** The active index (INTx, MSI, MSI-X), null when interrupts are off. */
  readonly active: number | null;
  /** Vectors enabled on it. */
  readonly enabled: number;
  readonly intxMasked: boolean;
}

export class IrqController {
  readonly numIrqs: number;
  readonly #specs = new Map<number, IrqIndexSpec>();
  readonly #fds = new Map<number, (number | undefined)[]>();
  readonly #onError: ((message: string) => void) | undefined;
  readonly #delivered: (() => void) | undefined;
  readonly #watch: WatchReadable | undefined;
  readonly #write: (fd: number) => boolean;
  /** The INTx unmask eventfd and its watch, while installed. */
  #unmask: { fd: number; stop(): void } | undefined;
  #active: number | undefined;
  #enabled = 0;
  #masked = false;

  constructor(options: IrqControllerOptions) {
    this.numIrqs = options.numIrqs;
    this.#onError = options.onError;
    this.#delivered = options.delivered;
    this.#watch = options.watch;
    this.#write = options.signal ?? ((fd) => native.eventfdSignal(fd));
    for (const s of options.indexes) {
      if (!Number.isInteger(s.index) || s.index < 0 || s.index >= options.numIrqs) throw err('EINVAL', `IRQ index ${s.index} outside 0..${options.numIrqs - 1}`);
      if (!Number.isInteger(s.count) || s.count < 0) throw err('EINVAL', `IRQ index ${s.index} has a bad count`);
      this.#specs.set(s.index, s);
      this.#fds.set(s.index, new Array<number | undefined>(s.count).fill(undefined));
    }
  }

  /** The active index (INTx, MSI, MSI-X), or undefined when interrupts are off. */
  get activeIndex(): number | undefined {
    return this.#active;
  }

  /** True while INTx is masked (by the client, or automatically after a delivery). */
  get intxMasked(): boolean {
    return this.#masked;
  }

  /** Distinct eventfds held now (vectors, side channels and the unmask eventfd). */
  get heldFds(): number {
    const fds = new Set<number>();
    for (const slots of this.#fds.values()) for (const fd of slots) if (fd !== undefined) fds.add(fd);
    if (this.#unmask) fds.add(this.#unmask.fd);
    return fds.size;
  }

  /**
   * VFIO_DEVICE_GET_IRQ_INFO; EINVAL beyond `numIrqs`. An index the device lacks has count 0 and, as vfio-pci
   * reports every non-INTx index (MSI-X without a capability included), EVENTFD|NORESIZE.
   */
  info(index: number): VfioIrqInfo {
    if (!Number.isInteger(index) || index < 0 || index >= this.numIrqs) throw err('EINVAL', `IRQ index ${index} outside 0..${this.numIrqs - 1}`);
    const s = this.#specs.get(index);
    if (!s) return { index, flags: VFIO_IRQ_INFO.EVENTFD | VFIO_IRQ_INFO.NORESIZE, count: 0 };
    return { index, flags: s.flags, count: s.count };
  }

  /** VFIO_DEVICE_SET_IRQS. Takes ownership of `request.fds` whatever the outcome. */
  setIrqs(request: SetIrqsRequest): void {
    const taken = [...(request.fds ?? [])];
    try {
      this.#set(request);
    } finally {
      // Whatever was not installed is still ours to close.
      for (const fd of taken) if (fd >= 0 && !this.#owns(fd)) closeQuietly(fd);
    }
  }

  /**
   * Signal one vector of an index. Returns true when an eventfd was written. INTx is not delivered while masked,
   * and with AUTOMASKED a delivery masks it. Nothing happens for an index that is not active.
   */
  trigger(index: number, vector = 0): boolean {
    if (isSide(index)) {
      const fd = this.#fds.get(index)?.[0];
      return fd !== undefined && this.#signal(fd);
    }
    if (this.#active !== index) return false;
    const fd = this.#fds.get(index)?.[vector];
    if (fd === undefined) return false;
    if (index === VFIO_PCI_IRQ.INTX) {
      if (this.#masked) return false;
      if (this.#specs.get(index)!.flags & VFIO_IRQ_INFO.AUTOMASKED) this.#masked = true;
    }
    return this.#signal(fd);
  }

  /**
   * The interrupt configuration without its eventfds (which belong to one client and cannot travel): which index is
   * active with how many vectors, and whether INTx is masked. What a migration carries besides the device stream.
   */
  snapshot(): IrqConfig {
    return { active: this.#active ?? null, enabled: this.#enabled, intxMasked: this.#masked };
  }

  /**
   * Take a configuration from `snapshot` on a device with no client: the index is enabled with no eventfds (as
   * vfio-pci allows, fd -1 per vector), so a client that attaches eventfds later finds it as the guest left it.
   * EINVAL for an index or vector count this device does not have, with nothing changed.
   */
  restore(c: IrqConfig): void {
    if (c.active !== null) {
      const spec = this.#specs.get(c.active);
      if (!spec || isSide(c.active)) throw err('EINVAL', `interrupt configuration names IRQ index ${c.active}, which this device lacks`);
      if (!Number.isInteger(c.enabled) || c.enabled < 1 || c.enabled > spec.count) throw err('EINVAL', `interrupt configuration enables ${c.enabled} vectors of index ${c.active} (has ${spec.count})`);
    }
    this.close();
    this.#active = c.active ?? undefined;
    this.#enabled = c.active === null ? 0 : c.enabled;
    this.#masked = c.active === VFIO_PCI_IRQ.INTX && c.intxMasked;
  }

  /** Tear every index down and close every fd (the client went away). Idempotent. */
  close(): void {
    for (const index of this.#fds.keys()) this.#disable(index);
  }

  #set(r: SetIrqsRequest): void {
    const { index, flags, start, count } = r;
    if (!Number.isInteger(index) || index < 0 || index >= this.numIrqs) throw err('EINVAL', `IRQ index ${index} outside 0..${this.numIrqs - 1}`);
    if ((flags & ~KNOWN_FLAGS) !== 0) throw err('EINVAL', `unknown SET_IRQS flags 0x${flags.toString(16)}`);
    if (!Number.isInteger(start) || !Number.isInteger(count) || start < 0 || count < 0 || start + count > 0xffffffff) {
      throw err('EINVAL', `bad start/count ${start}/${count}`);
    }
    const data = flags & VFIO_IRQ_SET.DATA_TYPE_MASK;
    if (data !== VFIO_IRQ_SET.DATA_NONE && data !== VFIO_IRQ_SET.DATA_BOOL && data !== VFIO_IRQ_SET.DATA_EVENTFD) {
      throw err('EINVAL', `SET_IRQS needs exactly one DATA_* flag, got 0x${data.toString(16)}`);
    }
    if (data === VFIO_IRQ_SET.DATA_BOOL && (r.bools?.length ?? 0) < count) throw err('EINVAL', `DATA_BOOL needs ${count} flags`);
    if (data === VFIO_IRQ_SET.DATA_EVENTFD && (r.fds?.length ?? 0) < count) throw err('EINVAL', `DATA_EVENTFD needs ${count} fds`);
    const action = flags & VFIO_IRQ_SET.ACTION_TYPE_MASK;
    const spec = this.#specs.get(index);
    const disable = action === VFIO_IRQ_SET.ACTION_TRIGGER && data === VFIO_IRQ_SET.DATA_NONE && count === 0;
    // Disabling what is off is a no-op (libvfio-user); QEMU disables MSI-X, ERR and REQ whether or not they exist.
    if (!spec && disable && start === 0) return;
    // Anything else on an index (MSI-X, ERR, REQ) the device does not implement: ENOTTY, as vfio-pci and mtty.
    if (!spec) throw err('ENOTTY', `IRQ index ${index} not implemented`);
    if (isSide(index)) {
      this.#sideAction(index, r, data, action);
      return;
    }
    if (action === VFIO_IRQ_SET.ACTION_MASK || action === VFIO_IRQ_SET.ACTION_UNMASK) {
      this.#maskAction(spec, r, data, action === VFIO_IRQ_SET.ACTION_MASK);
    } else if (action === VFIO_IRQ_SET.ACTION_TRIGGER) {
      this.#triggerAction(spec, r, data);
    } else {
      throw err('ENOTTY', `SET_IRQS needs exactly one ACTION_* flag, got 0x${action.toString(16)}`);
    }
  }

  /** ERR/REQ: one eventfd, installed, removed or signalled (vfio_pci_set_ctx_trigger_single). */
  #sideAction(index: number, r: SetIrqsRequest, data: number, action: number): void {
    if (action !== VFIO_IRQ_SET.ACTION_TRIGGER) throw err('EINVAL', `IRQ index ${index} takes TRIGGER only`);
    if (r.start !== 0 || r.count > 1) throw err('EINVAL', `IRQ index ${index} takes start 0, count 0 or 1`);
    const slots = this.#fds.get(index)!;
    if (data === VFIO_IRQ_SET.DATA_EVENTFD) {
      if (r.count === 0) return;
      const fd = r.fds![0]!;
      if (fd >= 0) checkEventfd(fd);
      const old = slots[0];
      slots[0] = fd >= 0 ? fd : undefined;
      if (old !== undefined && !this.#owns(old)) closeQuietly(old);
      return;
    }
    if (r.count === 0) {
      if (data !== VFIO_IRQ_SET.DATA_NONE) throw err('EINVAL', `IRQ index ${index}: count 0 needs DATA_NONE`);
      const old = slots[0];
      slots[0] = undefined;
      if (old !== undefined && !this.#owns(old)) closeQuietly(old);
      return;
    }
    if (data === VFIO_IRQ_SET.DATA_NONE || r.bools![0]) this.trigger(index);
  }

  #maskAction(spec: IrqIndexSpec, r: SetIrqsRequest, data: number, mask: boolean): void {
    if (!(spec.flags & VFIO_IRQ_INFO.MASKABLE)) throw err('ENOTTY', `IRQ index ${spec.index} is not maskable`);
    if (r.start !== 0 || r.count !== 1) throw err('EINVAL', `${mask ? 'MASK' : 'UNMASK'} needs start 0, count 1`);
    if (data === VFIO_IRQ_SET.DATA_EVENTFD) {
      // vfio-pci has no mask eventfd either ("XXX implement me" in vfio_pci_set_intx_mask).
      if (mask) throw err('ENOTTY', 'no mask eventfd support');
      this.#setUnmaskFd(r.fds![0]!);
      return;
    }
    if (data === VFIO_IRQ_SET.DATA_NONE || r.bools![0]) this.#masked = mask;
  }

  /** Install (fd >= 0) or remove (-1) the INTx unmask eventfd; the old one is closed once the new one is watched. */
  #setUnmaskFd(fd: number): void {
    if (fd < 0) {
      this.#dropUnmask();
      return;
    }
    // As vfio_pci_set_intx_unmask: an unmask eventfd belongs to an enabled INTx.
    if (this.#active !== VFIO_PCI_IRQ.INTX) throw err('EINVAL', 'an INTx unmask eventfd needs INTx enabled');
    if (!this.#watch) throw err('ENOTTY', 'no unmask eventfd support: this transport cannot watch fds');
    checkEventfd(fd);
    const watcher = this.#watch(fd, () => this.#onUnmaskSignal(fd));
    this.#dropUnmask();
    this.#unmask = { fd, stop: () => watcher.stop() };
  }

  /** The unmask eventfd was signalled: drain its counter (the watch is level-triggered) and unmask INTx. */
  #onUnmaskSignal(fd: number): void {
    if (this.#unmask?.fd !== fd) return;
    try {
      // The client shares the file description and may have made it blocking again: a read that found the counter
      // emptied by the client first would then wait for the client. null: it did read first; the unmask stands.
      native.setNonBlocking(fd, true);
      native.eventfdRead(fd);
    } catch (e) {
      this.#onError?.(`reading unmask eventfd ${fd} failed: ${(e as Error).message}`);
    }
    this.#masked = false;
  }

  #dropUnmask(): void {
    const u = this.#unmask;
    if (!u) return;
    this.#unmask = undefined;
    u.stop();
    if (!this.#owns(u.fd)) closeQuietly(u.fd);
  }

  #triggerAction(spec: IrqIndexSpec, r: SetIrqsRequest, data: number): void {
    const index = spec.index;
    if (r.count === 0 && data === VFIO_IRQ_SET.DATA_NONE) {
      if (this.#active === index) this.#disable(index);
      return;
    }
    if ((this.#active !== undefined && this.#active !== index) || r.count === 0 || r.start + r.count > spec.count) {
      throw err('EINVAL', `TRIGGER on index ${index} with start ${r.start} count ${r.count} not allowed (active: ${this.#active ?? 'none'})`);
    }
    if (data === VFIO_IRQ_SET.DATA_EVENTFD) {
      if (this.#active === index && spec.flags & VFIO_IRQ_INFO.NORESIZE && r.start + r.count > this.#enabled) {
        throw err('EINVAL', `index ${index} is enabled with ${this.#enabled} vectors and cannot be resized`);
      }
      const fds = r.fds!.slice(0, r.count);
      for (const fd of fds) if (fd >= 0) checkEventfd(fd);
      const slots = this.#fds.get(index)!;
      for (let i = 0; i < fds.length; i++) {
        const old = slots[r.start + i];
        const fd = fds[i]!;
        slots[r.start + i] = fd >= 0 ? fd : undefined;
        // A client may pass one eventfd for several vectors: close it only when no vector uses it any more.
        if (old !== undefined && !this.#owns(old)) closeQuietly(old);
      }
      if (slots.some((fd) => fd !== undefined)) {
        if (this.#active !== index) this.#enabled = r.start + r.count;
        this.#active = index;
      } else {
        this.#disable(index);
      }
      // A new INTx eventfd starts unmasked, as mtty's disable-then-install does.
      if (index === VFIO_PCI_IRQ.INTX) this.#masked = false;
      return;
    }
    if (this.#active !== index) throw err('EINVAL', `loopback trigger on inactive index ${index}`);
    for (let i = 0; i < r.count; i++) {
      if (data === VFIO_IRQ_SET.DATA_NONE || r.bools![i]) this.trigger(index, r.start + i);
    }
  }

  #owns(fd: number): boolean {
    if (this.#unmask?.fd === fd) return true;
    for (const slots of this.#fds.values()) if (slots.includes(fd)) return true;
    return false;
  }

  #disable(index: number): void {
    const slots = this.#fds.get(index);
    if (!slots) return;
    for (let i = 0; i < slots.length; i++) {
      const fd = slots[i];
      slots[i] = undefined;
      if (fd !== undefined && !this.#owns(fd)) closeQuietly(fd);
    }
    if (index === VFIO_PCI_IRQ.INTX) this.#dropUnmask();
    if (this.#active === index) {
      this.#active = undefined;
      this.#enabled = 0;
      if (index === VFIO_PCI_IRQ.INTX) this.#masked = false;
    }
  }

  #signal(fd: number): boolean {
    try {
      // false: the counter is saturated, so the client has an unread signal already; nothing is lost.
      const ok = this.#write(fd);
      if (ok) this.#delivered?.();
      return ok;
    } catch (e) {
      this.#onError?.(`interrupt delivery on fd ${fd} failed: ${(e as Error).message}`);
      return false;
    }
  }
}

/** ERR and REQ: side-channel indexes with one eventfd each, outside the INTx/MSI/MSI-X exclusion. */
function isSide(index: number): boolean {
  return index === VFIO_PCI_IRQ.ERR || index === VFIO_PCI_IRQ.REQ;
}

/** EBADF for a closed fd, EINVAL for one that is not an eventfd (Linux names its inode `anon_inode:[eventfd]`). */
function checkEventfd(fd: number): void {
  let target: string;
  try {
    target = fs.readlinkSync(`/proc/self/fd/${fd}`);
  } catch {
    throw err('EBADF', `fd ${fd} is not open`);
  }
  if (target !== 'anon_inode:[eventfd]') throw err('EINVAL', `fd ${fd} is not an eventfd (${target})`);
}

function closeQuietly(fd: number): void {
  try {
    fs.closeSync(fd);
  } catch {
    // Already closed by its other owner: nothing left to release.
  }
}
