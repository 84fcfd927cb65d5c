/**
 * Concepts: the mdev bus (mainline `mdev_driver.c`). Bus drivers (the vfio-user server is one) are kept in
 * registration order; a new device is probed by the first driver that matches it, and a probe failure fails the
 * create. Registering a driver binds every active unbound device it matches (a probe failure there only leaves that
 * device unbound, with a `warning`); unregistering one unbinds its devices. Bind and unbind of existing devices run
 * one at a time on the bus queue, and each marks the device `busBusy` so a removal waits for it; so do the bind and
 * unbind of one device (sysfs `bind`/`unbind`). A bound device holds a VFIO device index (`vfio<N>`), the lowest free
 * one, from attach to detach, as `vfio_main.c` allocates `device->index` at registration: every bus driver here serves
 * the device through the VFIO API.
 */
import { err } from '../errors.js';
import type { EventHub } from './events.js';
import { DriverRecord, type DeviceRecord } from './records.js';
import type { Registry } from './registry.js';
import { SerialQueue } from './serial-queue.js';
import { GroupIds } from './iommu-groups.js';
import type { BusDriver, Uuid } from './types.js';
import { isEntryName } from './parent-spec.js';
import { isThenable } from './waiting.js';

/** The bus of one `Core`. */
export class Bus {
  readonly #drivers: DriverRecord[] = [];
  readonly #byName = new Map<string, DriverRecord>();
  readonly #queue = new SerialQueue();
  readonly #registry: Registry;
  readonly #events: EventHub;
  readonly #vfioIndexes = new GroupIds();
  /** `bus/mdev/drivers_autoprobe`. Kept and shown, with no effect: mdev binds explicitly, as the kernel's does. */
  autoprobe = true;

  constructor(registry: Registry, events: EventHub) {
    this.#registry = registry;
    this.#events = events;
  }

  list(): readonly BusDriver[] {
    return this.#drivers.map((d) => d.driver);
  }

  /** The first driver, in registration order, that matches the device. */
  firstMatch(rec: DeviceRecord): DriverRecord | undefined {
    for (const d of this.#drivers) if (d.driver.match(rec)) return d;
    return undefined;
  }

  /** Record `d` as the device's driver before its probe runs, so an unregister of `d` sees the device. */
  attach(rec: DeviceRecord, d: DriverRecord): void {
    rec.bound = d;
    rec.driver = d.name;
    // Pairs with the free in detach.
    rec.vfioIndex = this.#vfioIndexes.alloc();
    d.devices.add(rec);
  }

  /** Forget the binding without calling the driver (its probe failed, so there is nothing to undo). */
  detach(rec: DeviceRecord): void {
    const d = rec.bound;
    if (d === undefined) return;
    rec.bound = undefined;
    rec.driver = undefined;
    if (rec.vfioIndex !== undefined) this.#vfioIndexes.free(rec.vfioIndex);
    rec.vfioIndex = undefined;
    d.devices.delete(rec);
  }

  /**
   * Unbind: forget the binding, then call the driver's `remove`. The binding is cleared first so that whoever gets
   * here first (removal, rollback, unregisterDriver) is the only one calling `remove`. A failure is a `warning`: the
   * driver cannot refuse. Returns a promise only when the driver's `remove` did.
   */
  unbind(rec: DeviceRecord): void | Promise<void> {
    const d = rec.bound;
    if (d === undefined) return;
    this.detach(rec);
    const warn = (e: unknown): void => this.#events.warn(rec.parent.name, rec.uuid, `driver ${d.name} remove failed: ${String(e)}`);
    try {
      const r = d.driver.remove(rec);
      if (isThenable(r)) return Promise.resolve(r).then(undefined, warn);
    } catch (e) {
      warn(e);
    }
  }

  /** `EINVAL` for a malformed driver, `EEXIST` for a taken name; then binds existing devices it matches. */
  async register(driver: BusDriver): Promise<void> {
    if (
      driver === null ||
      typeof driver !== 'object' ||
      !isEntryName(driver.name) ||
      typeof driver.match !== 'function' ||
      typeof driver.probe !== 'function' ||
      typeof driver.remove !== 'function'
    ) {
      throw err('EINVAL', 'registerDriver: a driver needs a name, match, probe and remove');
    }
    if (this.#byName.has(driver.name)) throw err('EEXIST', `bus driver ${driver.name} is already registered`);
    const d = new DriverRecord(driver);
    // Listed at once, so a create from now on probes it; existing devices are bound on the queue.
    this.#drivers.push(d);
    this.#byName.set(driver.name, d);
    await this.#queue.run(() => this.#bindExisting(d));
  }

  /** `ENODEV` for an unknown name; otherwise new creates stop probing it at once, then its devices are unbound. */
  async unregister(name: string): Promise<void> {
    const d = this.#byName.get(name);
    if (d === undefined) throw err('ENODEV', `no bus driver ${name}`);
    this.#byName.delete(name);
    this.#drivers.splice(this.#drivers.indexOf(d), 1);
    await this.#queue.run(() => this.#unbindAll(d));
  }

  /**
   * Bind one unbound device to the first driver that matches it (sysfs `bind`). `ENODEV` when the device is not active
   * or no driver matches, `EBUSY` when it is bound already; a probe failure leaves it unbound and is the errno.
   */
  async bindDevice(uuid: Uuid): Promise<void> {
    await this.#queue.run(async () => {
      const rec = await this.#settled(uuid);
      if (rec.bound !== undefined) throw err('EBUSY', `device ${rec.uuid} is bound to ${rec.bound.name}`);
      const d = this.firstMatch(rec);
      if (d === undefined) throw err('ENODEV', `no bus driver matches device ${rec.uuid}`);
      this.attach(rec, d);
      const p = this.#probe(rec, d);
      rec.busBusy = p;
      try {
        await p;
      } finally {
        rec.busBusy = undefined;
      }
      if (rec.state === 'active') this.#events.emit('change', rec.parent.name, rec.uuid, rec.type.id, `bound to ${d.name}`);
    });
  }

  /** Unbind one device from its driver (sysfs `unbind`); `ENODEV` when it is not active or not bound. */
  async unbindDevice(uuid: Uuid): Promise<void> {
    await this.#queue.run(async () => {
      const rec = await this.#settled(uuid);
      const d = rec.bound;
      if (d === undefined) throw err('ENODEV', `device ${rec.uuid} is not bound`);
      const r = this.unbind(rec);
      if (r !== undefined) {
        rec.busBusy = r;
        try {
          await r;
        } finally {
          rec.busBusy = undefined;
        }
      }
      if (rec.state === 'active') this.#events.emit('change', rec.parent.name, rec.uuid, rec.type.id, `unbound from ${d.name}`);
    });
  }

  /** The active device once no bind/unbind of it is in flight; `ENODEV` otherwise. */
  async #settled(uuid: Uuid): Promise<DeviceRecord> {
    const rec = this.#registry.activeDevice(uuid);
    if (rec === undefined) throw err('ENODEV', `no device ${uuid}`);
    await settleBus(rec);
    if (rec.state !== 'active') throw err('ENODEV', `device ${rec.uuid} is being removed`);
    return rec;
  }

  /** Probe for `bindDevice`: a failure undoes the attach and is rethrown, unlike #probeExisting which only warns. */
  async #probe(rec: DeviceRecord, d: DriverRecord): Promise<void> {
    try {
      await d.driver.probe(rec);
    } catch (e) {
      if (rec.bound === d) this.detach(rec);
      throw e;
    }
  }

  async #bindExisting(d: DriverRecord): Promise<void> {
    for (const rec of this.#registry.activeDevices()) {
      if (rec.state !== 'active' || rec.bound !== undefined || !this.#byName.has(d.name)) continue;
      let matches: boolean;
      try {
        matches = d.driver.match(rec);
      } catch (e) {
        this.#events.warn(rec.parent.name, rec.uuid, `driver ${d.name} match failed: ${String(e)}`);
        continue;
      }
      if (!matches) continue;
      this.attach(rec, d);
      const p = this.#probeExisting(rec, d);
      rec.busBusy = p;
      await p;
      rec.busBusy = undefined;
    }
  }

  async #probeExisting(rec: DeviceRecord, d: DriverRecord): Promise<void> {
    try {
      await d.driver.probe(rec);
      if (rec.state === 'active') this.#events.emit('change', rec.parent.name, rec.uuid, rec.type.id, `bound to ${d.name}`);
    } catch (e) {
      if (rec.bound === d) this.detach(rec);
      this.#events.warn(rec.parent.name, rec.uuid, `driver ${d.name} probe failed, device left unbound: ${String(e)}`);
    }
  }

  async #unbindAll(d: DriverRecord): Promise<void> {
    for (const rec of Array.from(d.devices)) {
      await settleBus(rec);
      if (rec.bound !== d) continue;
      const r = this.unbind(rec);
      if (r !== undefined) {
        rec.busBusy = r;
        await r;
        rec.busBusy = undefined;
      }
      if (rec.state === 'active') this.#events.emit('change', rec.parent.name, rec.uuid, rec.type.id, `unbound from ${d.name}`);
    }
  }
}

/**
 * Wait until no bind/unbind of the device is in flight. A failure of that operation is reported by the operation
 * itself (create fails, or a `warning`), so it is not reported again here.
 */
export async function settleBus(rec: DeviceRecord): Promise<void> {
  while (rec.busBusy !== undefined) {
    try {
      await rec.busBusy;
    } catch {
      // Reported by the operation that owns busBusy.
    }
  }
}
