/**
 * Concepts: the core's lookup tables. Every lookup a view or a hot path makes is one `Map`/`Set` operation:
 * by UUID (all states, so uniqueness covers devices still creating or being removed), by sysfs name and by IOMMU
 * group (active devices only), and per-parent/per-type sets of active devices so listing is O(result).
 */
import type { DeviceRecord, ParentRecord, TypeRecord } from './records.js';
import { uuidKey } from './uuid.js';

/** All lookup tables of one `Core`. */
export class Registry {
  readonly parents = new Map<string, ParentRecord>();
  /** Every device in any state: the duplicate-UUID check spans all parents (mainline's global `mdev_list`). */
  readonly byUuid = new Map<string, DeviceRecord>();
  /** Active devices by sysfs name (`UUID` or `UUID-instance`). */
  readonly byName = new Map<string, DeviceRecord>();
  /** Devices holding an IOMMU group. */
  readonly byGroup = new Map<number, DeviceRecord>();
  /** Active devices in activation order. */
  readonly active = new Set<DeviceRecord>();

  /** Take the UUID. Pairs with `unreserve` (rollback or end of removal). */
  reserve(rec: DeviceRecord): void {
    this.byUuid.set(rec.uuid, rec);
    rec.parent.devices.add(rec);
  }

  unreserve(rec: DeviceRecord): void {
    this.byUuid.delete(rec.uuid);
    rec.parent.devices.delete(rec);
  }

  /** Make a device visible. Pairs with `deactivate`. */
  activate(rec: DeviceRecord): void {
    rec.state = 'active';
    this.byName.set(rec.name, rec);
    this.active.add(rec);
    rec.parent.active.add(rec);
    rec.type.active.add(rec);
  }

  /** Start removal: from here the device is invisible to lookups and `open` (`ENODEV`). */
  deactivate(rec: DeviceRecord): void {
    rec.state = 'removing';
    this.byName.delete(rec.name);
    this.active.delete(rec);
    rec.parent.active.delete(rec);
    rec.type.active.delete(rec);
  }

  /** The active device with this UUID (any case), or undefined. */
  activeDevice(uuid: string): DeviceRecord | undefined {
    const rec = this.byUuid.get(uuid) ?? this.byUuid.get(uuidKey(uuid));
    return rec !== undefined && rec.state === 'active' ? rec : undefined;
  }

  /** The device with this UUID in any state. */
  anyDevice(uuid: string): DeviceRecord | undefined {
    return this.byUuid.get(uuid) ?? this.byUuid.get(uuidKey(uuid));
  }

  /** True when `type` is a type of a parent currently registered here (not a stale or foreign object). */
  ownsType(type: unknown): type is TypeRecord {
    const t = type as TypeRecord | null;
    return t !== null && typeof t === 'object' && this.parents.get(t.parent?.name) === t.parent && t.parent.typesById.get(t.id) === t;
  }
}
