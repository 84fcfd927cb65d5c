/**
 * The mdev core: one instance owns all state (no module-level lists, so tests can run several cores side by side).
 * STUB: signatures are the contract; the implementation lands with the core work.
 */
import { EventEmitter } from 'node:events';
import { err } from './errors.js';
import type {
  BusDriver,
  CoreEvent,
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
  /** How often `unregisterParent`/`remove` emit a `warning` event while waiting for open handles (ms). */
  readonly waitWarningMs?: number;
}

export class Core {
  /** `on('event', (e: CoreEvent) => …)`; also `on(kind, …)` for one kind. */
  readonly events = new EventEmitter();

  constructor(_options: CoreOptions = {}) {}

  /** Register a parent; `EINVAL` for a bad spec, `EEXIST` for a second registration of the same name. */
  registerParent<D>(_spec: ParentSpec<D>): Parent {
    throw err('ENOSYS', 'not implemented');
  }
  /** Refuse new creates (`ENODEV`), force-remove every device, wait for open handles, then drop the parent. */
  async unregisterParent(_name: string): Promise<void> {
    throw err('ENOSYS', 'not implemented');
  }
  parent(_name: string): Parent | undefined {
    return undefined;
  }
  parents(): readonly Parent[] {
    return [];
  }
  type(_parent: string, _typeId: string): MdevType | undefined {
    return undefined;
  }
  /** `available_instances` of a type: the vendor's `getAvailable`, or what is left of the core pool. */
  availableInstances(_type: MdevType): number {
    return 0;
  }
  /** Active devices, optionally of one parent or one type. */
  devices(_filter?: { parent?: string; type?: MdevType }): readonly MdevDevice[] {
    return [];
  }
  /** Look up an active device by UUID (any case accepted). O(1). */
  device(_uuid: Uuid): MdevDevice | undefined {
    return undefined;
  }
  /** Look up an active device by its sysfs name (`UUID` or `UUID-instance`). O(1). */
  deviceByName(_name: string): MdevDevice | undefined {
    return undefined;
  }
  deviceByGroup(_group: number): MdevDevice | undefined {
    return undefined;
  }
  /** Create; `EINVAL` bad UUID, `EEXIST` duplicate anywhere, `ENODEV` parent gone/unregistering, pool errno. */
  async create(_parent: string, _typeId: string, _uuid: string, _options?: CreateOptions): Promise<MdevDevice> {
    throw err('ENOSYS', 'not implemented');
  }
  /** Remove; `ENODEV` missing, `EAGAIN` not active, vendor `EBUSY` unless forced. */
  async remove(_uuid: Uuid, _options?: RemoveOptions): Promise<void> {
    throw err('ENOSYS', 'not implemented');
  }
  /** Take a handle on an active device; the caller releases it. */
  open(_uuid: Uuid): DeviceHandle {
    throw err('ENOSYS', 'not implemented');
  }
  async setOnline(_uuid: Uuid, _online: boolean): Promise<void> {
    throw err('ENOSYS', 'not implemented');
  }
  /** Start or stop several devices in one call: one vendor call when it has group hooks, all-or-nothing otherwise. */
  async setOnlineGroup(_uuids: readonly Uuid[], _online: boolean): Promise<void> {
    throw err('ENOSYS', 'not implemented');
  }
  async reset(_uuid: Uuid): Promise<void> {
    throw err('ENOSYS', 'not implemented');
  }
  /** Register a bus driver; it binds every existing unbound device it matches. */
  async registerDriver(_driver: BusDriver): Promise<void> {
    throw err('ENOSYS', 'not implemented');
  }
  async unregisterDriver(_name: string): Promise<void> {
    throw err('ENOSYS', 'not implemented');
  }
  drivers(): readonly BusDriver[] {
    return [];
  }
  addMapping(_uuid: Uuid, _range: MappedRange): void {
    throw err('ENOSYS', 'not implemented');
  }
  deleteMapping(_uuid: Uuid, _start: bigint): void {
    throw err('ENOSYS', 'not implemented');
  }
  /** Notify the owner of every range overlapping [addr, addr+size), partial overlaps included. O(log n + k). */
  invalidate(_uuid: Uuid, _addr: bigint, _size: bigint): number {
    throw err('ENOSYS', 'not implemented');
  }
  /** Async iterator over events until `signal` aborts. */
  watch(_signal?: AbortSignal): AsyncIterable<CoreEvent> {
    throw err('ENOSYS', 'not implemented');
  }
}
