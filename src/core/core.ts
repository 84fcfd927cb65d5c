/**
 * The mdev core: one instance owns all state (no module-level lists, so tests can run several cores side by side).
 * This class is the facade of `include/linux/mdev.h`: it wires the internal modules (registry, lifecycle, bus, online,
 * mappings, events) and checks nothing itself beyond what those modules do.
 */
import { writableDeviceAttr } from './attributes.js';
import { Bus } from './bus.js';
import { DEFAULT_WATCH_BUFFER, EventHub } from './events.js';
import { DeviceHandleImpl } from './handles.js';
import { GroupIds } from './iommu-groups.js';
import { err } from '../errors.js';
import { type Logger, createLogger, describeError } from '../log.js';
import { Lifecycle } from './lifecycle.js';
import { Mappings } from './mappings.js';
import { OnlineControl } from './online.js';
import { Registry } from './registry.js';
import type {
  BusDriver,
  CoreEvent,
  CoreEventKind,
  CreateOptions,
  DeviceHandle,
  MappedRange,
  MdevDevice,
  MdevType,
  Parent,
  ParentSpec,
  RemoveOptions,
  Uuid,
} from './types.js';

export interface CoreOptions {
  /** How often `unregisterParent`/`remove` emit a `warning` event while waiting for open handles (ms). Default 10 s. */
  readonly waitWarningMs?: number;
  /**
   * How long a non-forced `remove` waits for open handles (a VMM holding the device) to be released before it fails
   * with `EBUSY` and leaves the device as it was (ms). Default 10 s.
   */
  readonly releaseTimeoutMs?: number;
  /** How many events a `watch()` stream buffers for a slow reader before failing with `EOVERFLOW`. Default 4096. */
  readonly watchBufferSize?: number;
  /** Where the core reports what it does not fail on (an event listener that threw). Default: stderr. */
  readonly log?: Logger;
}

/** The seed's unregister loop waited `HZ * 10` between warnings. */
const DEFAULT_WAIT_WARNING_MS = 10_000;
const DEFAULT_RELEASE_TIMEOUT_MS = 10_000;

export class Core {
  readonly #registry = new Registry();
  readonly #groups = new GroupIds();
  readonly #hub: EventHub;
  readonly #bus: Bus;
  readonly #online: OnlineControl;
  readonly #lifecycle: Lifecycle;
  readonly #mappings: Mappings;

  constructor(options: CoreOptions = {}) {
    const waitWarningMs = options.waitWarningMs ?? DEFAULT_WAIT_WARNING_MS;
    const watchBufferSize = options.watchBufferSize ?? DEFAULT_WATCH_BUFFER;
    const releaseTimeoutMs = options.releaseTimeoutMs ?? DEFAULT_RELEASE_TIMEOUT_MS;
    if (!(waitWarningMs > 0) || !(Number.isInteger(watchBufferSize) && watchBufferSize > 0) || !(releaseTimeoutMs > 0)) {
      throw err('EINVAL', 'waitWarningMs, releaseTimeoutMs and watchBufferSize must be positive');
    }
    const log = options.log ?? createLogger({ component: 'core' });
    this.#hub = new EventHub(watchBufferSize, (e, event) =>
      log.error(`a listener of the ${event.kind} event (seq ${event.seq}) threw; the operation stands: ${describeError(e)}`),
    );
    this.#bus = new Bus(this.#registry, this.#hub);
    this.#online = new OnlineControl(this.#registry, this.#hub);
    this.#lifecycle = new Lifecycle(this.#registry, this.#groups, this.#bus, this.#online, this.#hub, waitWarningMs, releaseTimeoutMs);
    this.#mappings = new Mappings(this.#registry, this.#hub);
  }

  /** Register a parent; `EINVAL` for a bad spec, `EEXIST` for a second registration of the same name. */
  registerParent<D>(spec: ParentSpec<D>): Parent {
    return this.#lifecycle.registerParent(spec);
  }
  /** Refuse new creates (`ENODEV`), force-remove every device, wait for open handles, then drop the parent. */
  async unregisterParent(name: string): Promise<void> {
    return this.#lifecycle.unregisterParent(name);
  }
  parent(name: string): Parent | undefined {
    return this.#registry.parents.get(name);
  }
  parents(): readonly Parent[] {
    return Array.from(this.#registry.parents.values());
  }
  type(parent: string, typeId: string): MdevType | undefined {
    return this.#registry.parents.get(parent)?.typesById.get(typeId);
  }
  /** `available_instances` of a type: the vendor's `getAvailable`, or what is left of the core pool. O(1). */
  availableInstances(type: MdevType): number {
    if (!this.#registry.ownsType(type)) return 0;
    const parent = type.parent;
    const getAvailable = parent.ops.getAvailable;
    return getAvailable === undefined ? parent.available : getAvailable.call(parent.ops, type);
  }
  /** Active devices, optionally of one parent or one type; grouped by type, in creation order within one. O(result). */
  devices(filter?: { parent?: string; type?: MdevType }): readonly MdevDevice[] {
    if (filter?.type !== undefined) {
      if (!this.#registry.ownsType(filter.type)) return [];
      if (filter.parent !== undefined && filter.type.parent.name !== filter.parent) return [];
      return filter.type.collect([]);
    }
    if (filter?.parent !== undefined) {
      const parent = this.#registry.parents.get(filter.parent);
      return parent === undefined ? [] : this.#registry.activeDevices(parent);
    }
    return this.#registry.activeDevices();
  }
  /** Look up an active device by UUID (any case accepted). O(1). */
  device(uuid: Uuid): MdevDevice | undefined {
    return this.#registry.activeDevice(uuid);
  }
  /** Look up an active device by its sysfs name (`UUID` or `UUID-instance`). O(1). */
  deviceByName(name: string): MdevDevice | undefined {
    return this.#registry.byName(name);
  }
  /** The active device holding an IOMMU group id. O(1). */
  deviceByGroup(group: number): MdevDevice | undefined {
    return this.#registry.byGroup(group);
  }
  /** Create; `EINVAL` bad UUID/type/options, `EEXIST` duplicate anywhere, `ENODEV` parent gone/unregistering, pool errno. */
  create(parent: string, typeId: string, uuid: string, options?: CreateOptions): Promise<MdevDevice> {
    return this.#lifecycle.create(parent, typeId, uuid, options);
  }
  /**
   * Remove; `ENODEV` missing, `EAGAIN` not active, vendor `EBUSY` unless forced, `EBUSY` when a handle is still
   * open after `releaseTimeoutMs` (the device then stays); forced revokes open handles.
   */
  remove(uuid: Uuid, options?: RemoveOptions): Promise<void> {
    return this.#lifecycle.remove(uuid, options);
  }
  /**
   * Write a vendor attribute of an active device (`vendor/knob`, as a definition names it), as a write to its sysfs
   * file would: `ENODEV` no such active device, `ENOENT` no such attribute, `EACCES` read-only, else the vendor's
   * own errno.
   */
  async storeAttribute(uuid: Uuid, path: string, value: string): Promise<void> {
    const rec = this.#registry.activeDevice(uuid);
    if (rec === undefined) throw err('ENODEV', `no device ${uuid}`);
    const attr = writableDeviceAttr(rec.parent.deviceAttributes, path, rec.uuid);
    await attr.store(rec, rec.driverData, value);
  }
  /** Take a handle on an active device (`ENODEV` otherwise); the caller releases it. */
  open(uuid: Uuid): DeviceHandle {
    const rec = this.#registry.activeDevice(uuid);
    if (rec === undefined) throw err('ENODEV', `no device ${uuid}`);
    return new DeviceHandleImpl(rec);
  }
  /** `EOPNOTSUPP` when the parent has no start/stop; the current state again is a no-op. */
  async setOnline(uuid: Uuid, online: boolean): Promise<void> {
    return this.#online.setOnline(uuid, online);
  }
  /** Start or stop several devices in one call: one vendor call when it has group hooks, all-or-nothing otherwise. */
  async setOnlineGroup(uuids: readonly Uuid[], online: boolean): Promise<void> {
    return this.#online.setOnlineGroup(uuids, online);
  }
  /** Vendor reset; `ENOTTY` when the vendor has none. */
  async reset(uuid: Uuid): Promise<void> {
    return this.#online.reset(uuid);
  }
  /** Register a bus driver; it binds every existing unbound device it matches. */
  async registerDriver(driver: BusDriver): Promise<void> {
    return this.#bus.register(driver);
  }
  /** Unregister a bus driver (`ENODEV` unknown), unbinding its devices. */
  async unregisterDriver(name: string): Promise<void> {
    return this.#bus.unregister(name);
  }
  drivers(): readonly BusDriver[] {
    return this.#bus.list();
  }
  /** Bind an unbound device to the first matching bus driver; `ENODEV` none/not active, `EBUSY` already bound. */
  async bind(uuid: Uuid): Promise<void> {
    return this.#bus.bindDevice(uuid);
  }
  /** Unbind a device from its bus driver (the driver's `remove` runs); `ENODEV` not active or not bound. */
  async unbind(uuid: Uuid): Promise<void> {
    return this.#bus.unbindDevice(uuid);
  }
  /** `drivers_autoprobe` of the bus: kept and shown; mdev devices are bound explicitly whatever it says. */
  get busAutoprobe(): boolean {
    return this.#bus.autoprobe;
  }
  set busAutoprobe(on: boolean) {
    this.#bus.autoprobe = on;
  }
  /** `EINVAL` bad range or overlap, `ENODEV` unknown device. */
  addMapping(uuid: Uuid, range: MappedRange): void {
    this.#mappings.add(uuid, range);
  }
  /** `ENXIO` when no range starts at `start`. */
  deleteMapping(uuid: Uuid, start: bigint): void {
    this.#mappings.delete(uuid, start);
  }
  /** Notify the owner of every range overlapping [addr, addr+size), partial overlaps included. O(log n + k). */
  invalidate(uuid: Uuid, addr: bigint, size: bigint): number {
    return this.#mappings.invalidate(uuid, addr, size);
  }
  /** The mapped ranges of a device, in address order. */
  mappings(uuid: Uuid): readonly MappedRange[] {
    return this.#mappings.list(uuid);
  }
  /** The IOMMU group id the next device would get (diagnostics and tests). */
  nextGroup(): number {
    return this.#groups.peek();
  }
  /**
   * Call `listener` with every event from now on (or only those of `kinds`); returns the unsubscribe function.
   * Listeners run synchronously once a change is complete; one that throws is logged and fails nothing.
   */
  subscribe(listener: (event: CoreEvent) => void, kinds?: readonly CoreEventKind[]): () => void {
    return this.#hub.subscribe(listener, kinds);
  }
  /** Subscriptions open now (for leak checks in tests and diagnostics). */
  get subscribers(): number {
    return this.#hub.subscribers;
  }
  /** Async iterator over events from now until `signal` aborts (or the consumer stops). */
  watch(signal?: AbortSignal): AsyncIterable<CoreEvent> {
    return this.#hub.watch(signal);
  }
}
