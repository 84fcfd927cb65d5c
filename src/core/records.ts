/**
 * Concepts: the core's internal records. Each implements the read-only view type of `types.ts` that drivers and views
 * receive (`Parent`, `MdevType`, `MdevDevice`); the extra mutable fields are the core's bookkeeping and are written
 * only by core modules. Records never leave the `Core` that created them except through those view types.
 */
import type {
  BusDriver,
  DeviceAttrGroupSpec,
  DeviceState,
  MdevDevice,
  MdevType,
  Parent,
  ParentOps,
  ParentSpec,
  Uuid,
} from './types.js';
import type { EventHub } from './events.js';
import type { RangeTree } from './ranges.js';
import { Waiters } from './waiting.js';

/** An open handle as its device's record holds it (`handles.ts` makes them): what a removal asks of each. */
export interface HeldHandle {
  /** A forced removal took the device away. */
  revoke(reason: string, events: EventHub): void;
  /** A plain removal waits: ask the holder to let go (`count` rises from 0). */
  request(count: number, events: EventHub): void;
}

/** A registered parent. Created by `registerParent`, dropped at the end of `unregisterParent`. */
export class ParentRecord implements Parent {
  readonly name: string;
  readonly devicePath: string;
  readonly driverName: string;
  readonly deviceApi: string;
  readonly types: readonly TypeRecord[];
  unregistering = false;
  readonly hasReset: boolean;
  readonly hasOnline: boolean;
  readonly deviceAttributes: readonly DeviceAttrGroupSpec[];
  readonly supportedConfigs: (() => string) | undefined;

  readonly ops: ParentOps<unknown>;
  readonly typesById = new Map<string, TypeRecord>();
  /** True when the core enforces `maxInstances` (no vendor `getAvailable`). */
  readonly pooled: boolean;
  /** What is left of the per-parent pool (mainline `parent->available_instances`). */
  available: number;
  /** Devices of this parent in any state (for unregister's progress warnings). */
  deviceCount = 0;
  /** Open handles on this parent's devices (for unregister's progress warnings). */
  openHandles = 0;
  /** Creates and removals in flight; `unregisterParent` waits for this to reach zero. */
  pending = 0;
  readonly idle = new Waiters();
  unregistration: Promise<void> | undefined;

  constructor(spec: ParentSpec<unknown>) {
    this.name = spec.name;
    this.devicePath = spec.devicePath;
    this.driverName = spec.driverName;
    this.deviceApi = spec.deviceApi;
    this.ops = spec.ops;
    this.hasReset = typeof spec.ops.reset === 'function';
    this.hasOnline = typeof spec.ops.start === 'function' || typeof spec.ops.startGroup === 'function';
    this.deviceAttributes = spec.deviceAttributes ?? [];
    const sc = spec.ops.supportedConfigs;
    this.supportedConfigs = sc === undefined ? undefined : () => sc.call(spec.ops);
    this.pooled = typeof spec.ops.getAvailable !== 'function';
    this.available = this.pooled ? (spec.maxInstances ?? 0) : 0;
    this.types = spec.types.map((t) => new TypeRecord(this, t.sysfsName, t.prettyName, t.description));
    for (const t of this.types) this.typesById.set(t.id, t);
  }

  /** One create or removal finished: wake `unregisterParent` when nothing is left in flight. */
  settle(): void {
    if (--this.pending === 0) this.idle.wake();
  }
}

/** A type of a registered parent. Lives as long as its parent. */
export class TypeRecord implements MdevType {
  readonly id: string;
  readonly name: string;
  readonly deviceApi: string;
  /**
   * Active devices of this type in activation order, as an intrusive doubly-linked list through the records: adding
   * and removing touch only neighbours (no hash table to probe or rehash on the create/remove path), and listing is
   * O(result).
   */
  first: DeviceRecord | undefined = undefined;
  last: DeviceRecord | undefined = undefined;
  activeCount = 0;

  link(rec: DeviceRecord): void {
    rec.prevInType = this.last;
    rec.nextInType = undefined;
    if (this.last === undefined) this.first = rec;
    else this.last.nextInType = rec;
    this.last = rec;
    this.activeCount++;
  }

  unlink(rec: DeviceRecord): void {
    const { prevInType: prev, nextInType: next } = rec;
    if (prev === undefined) this.first = next;
    else prev.nextInType = next;
    if (next === undefined) this.last = prev;
    else next.prevInType = prev;
    rec.prevInType = rec.nextInType = undefined;
    this.activeCount--;
  }

  /** Append the active devices to `out`, in activation order. */
  collect(out: DeviceRecord[]): DeviceRecord[] {
    for (let rec = this.first; rec !== undefined; rec = rec.nextInType) out.push(rec);
    return out;
  }

  constructor(
    readonly parent: ParentRecord,
    readonly sysfsName: string,
    prettyName: string | undefined,
    readonly description: (() => string) | undefined,
  ) {
    this.id = `${parent.driverName}-${sysfsName}`;
    this.name = prettyName ?? sysfsName;
    this.deviceApi = parent.deviceApi;
  }
}

/** A registered bus driver. `devices` are the ones it is bound to (or probing), so unbinding all is O(result). */
export class DriverRecord {
  readonly devices = new Set<DeviceRecord>();
  constructor(readonly driver: BusDriver) {}
  get name(): string {
    return this.driver.name;
  }
}

/** A device. Reserved by `create` before its first await; dropped at the end of removal or rollback. */
export class DeviceRecord implements MdevDevice {
  state: DeviceState = 'creating';
  online: boolean;
  iommuGroup: number | undefined = undefined;
  driver: string | undefined = undefined;
  vfioIndex: number | undefined = undefined;
  driverData: unknown = undefined;
  openCount = 0;

  /** The bus driver bound (or probing); `driver` is its name. Cleared by whoever calls its `remove` first. */
  bound: DriverRecord | undefined = undefined;
  /** A bind or unbind by `registerDriver`/`unregisterDriver` in flight; removal waits for it. */
  busBusy: PromiseLike<unknown> | undefined = undefined;
  /** A non-forced `remove` is asking the vendor; a second `remove` gets `EAGAIN`. */
  removeRequested = false;
  /** Open handles, created on first open. */
  handles: Set<HeldHandle> | undefined = undefined;
  /** Woken when `openCount` drops to zero; created by the first wait. */
  closed: Waiters | undefined = undefined;
  ranges: RangeTree | undefined = undefined;
  /** Owned by the registry's `UuidTable`. */
  uuidHash = 0;
  nextSameHash: DeviceRecord | undefined = undefined;
  /** Neighbours in the type's list of active devices (see `TypeRecord.link`). */
  prevInType: DeviceRecord | undefined = undefined;
  nextInType: DeviceRecord | undefined = undefined;

  constructor(
    readonly uuid: Uuid,
    readonly name: string,
    readonly parent: ParentRecord,
    readonly type: TypeRecord,
    readonly instance: number | undefined,
    readonly params: string | undefined,
  ) {
    this.online = !parent.hasOnline;
  }
}
