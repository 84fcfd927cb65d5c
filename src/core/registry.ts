/**
 * Concepts: the core's lookup tables. Every lookup a view or a hot path makes is O(1): by UUID (all states, so
 * uniqueness covers devices still creating or being removed), by sysfs name and by IOMMU group (active devices
 * only). Listing is O(result) from per-type lists of active devices.
 *
 * The tables are kept few and cheap on purpose, because create and remove touch each of them and big hash tables
 * cost cache misses: UUIDs go through a `UuidTable` (see there); a device named by its bare UUID is found through
 * that table (only `UUID-instance` names get a map of their own); group ids are dense small integers, so they index
 * an array; active devices are linked into a list per type, and per-parent and global listings concatenate those
 * lists instead of keeping tables of their own.
 */
import type { DeviceRecord, ParentRecord } from './records.js';
import type { TypeRecord } from './records.js';
import { UuidTable } from './uuid-table.js';
import { uuidKey } from './uuid.js';

/** All lookup tables of one `Core`. */
export class Registry {
  readonly parents = new Map<string, ParentRecord>();
  /** Every device in any state: the duplicate-UUID check spans all parents (mainline's global `mdev_list`). */
  readonly byUuid = new UuidTable<DeviceRecord>();
  /** Active devices whose sysfs name is not their UUID (seed v6 `UUID-instance`). */
  readonly #byInstanceName = new Map<string, DeviceRecord>();
  /** Devices holding an IOMMU group, indexed by group id (ids are dense, see `GroupIds`). */
  readonly #byGroup: (DeviceRecord | undefined)[] = [];

  /** Take the UUID. Pairs with `unreserve` (rollback or end of removal). */
  reserve(rec: DeviceRecord): void {
    this.byUuid.add(rec);
    rec.parent.deviceCount++;
  }

  unreserve(rec: DeviceRecord): void {
    this.byUuid.delete(rec);
    rec.parent.deviceCount--;
  }

  /** Make a device visible. Pairs with `deactivate`. */
  activate(rec: DeviceRecord): void {
    rec.state = 'active';
    if (rec.instance !== undefined) this.#byInstanceName.set(rec.name, rec);
    rec.type.link(rec);
  }

  /** Start removal: from here the device is invisible to lookups and `open` (`ENODEV`). */
  deactivate(rec: DeviceRecord): void {
    rec.state = 'removing';
    if (rec.instance !== undefined) this.#byInstanceName.delete(rec.name);
    rec.type.unlink(rec);
  }

  /** Record the group a device holds. Pairs with `ungroup`. */
  group(rec: DeviceRecord, id: number): void {
    rec.iommuGroup = id;
    this.#byGroup[id] = rec;
  }

  ungroup(rec: DeviceRecord): void {
    if (rec.iommuGroup === undefined) return;
    this.#byGroup[rec.iommuGroup] = undefined;
    rec.iommuGroup = undefined;
  }

  /** The active device with this UUID (any case), or undefined. */
  activeDevice(uuid: string): DeviceRecord | undefined {
    const rec = this.byUuid.get(uuidKey(uuid));
    return rec !== undefined && rec.state === 'active' ? rec : undefined;
  }

  /** The device with this UUID in any state. */
  anyDevice(uuid: string): DeviceRecord | undefined {
    return this.byUuid.get(uuidKey(uuid));
  }

  /** The active device with this sysfs name (`UUID` or `UUID-instance`, any case). */
  byName(name: string): DeviceRecord | undefined {
    const key = uuidKey(name);
    const rec = this.#byInstanceName.get(key) ?? this.byUuid.get(key);
    return rec !== undefined && rec.state === 'active' && rec.name === key ? rec : undefined;
  }

  /** The active device holding group `id`. */
  byGroup(id: number): DeviceRecord | undefined {
    const rec = Number.isInteger(id) && id >= 0 ? this.#byGroup[id] : undefined;
    return rec !== undefined && rec.state === 'active' ? rec : undefined;
  }

  /** Active devices of one parent (or all parents), grouped by type, in creation order within a type. */
  activeDevices(parent?: ParentRecord): DeviceRecord[] {
    const out: DeviceRecord[] = [];
    const parents = parent === undefined ? this.parents.values() : [parent];
    for (const p of parents) for (const t of p.types) t.collect(out);
    return out;
  }

  /** True when `type` is a type of a parent currently registered here (not a stale or foreign object). */
  ownsType(type: unknown): type is TypeRecord {
    const t = type as TypeRecord | null;
    return t !== null && typeof t === 'object' && this.parents.get(t.parent?.name) === t.parent && t.parent.typesById.get(t.id) === t;
  }
}
