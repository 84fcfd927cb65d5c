/**
 * Concepts: the seed's `mdev_add_phys_mapping` / `mdev_del_phys_mapping` / `mdev_device_invalidate_mapping`, with the
 * review's fixes: overlap checks use `<=` (adjacent ranges are fine), and invalidation reaches every range that
 * overlaps the invalidated span, partially or not, telling each owner exactly which part was hit.
 *
 * Errnos: an unknown device is `ENODEV`; a bad or overlapping range is `EINVAL` (the seed's "should be no overlap"
 * answer); deleting a start where no range begins is `ENXIO` (no such address; the seed ignored it silently).
 * Ranges can be added while the device is creating or active (vendors map during create), deleted and invalidated
 * until the device is gone (vendors unmap while tearing down), and are dropped with the device.
 */
import { err } from '../errors.js';
import type { EventHub } from './events.js';
import { ADDRESS_LIMIT, RangeTree } from './ranges.js';
import type { DeviceRecord } from './records.js';
import type { Registry } from './registry.js';
import type { MappedRange, Uuid } from './types.js';

/** Mapped-range operations of one `Core`. */
export class Mappings {
  readonly #registry: Registry;
  readonly #events: EventHub;

  constructor(registry: Registry, events: EventHub) {
    this.#registry = registry;
    this.#events = events;
  }

  add(uuid: Uuid, range: MappedRange): void {
    const rec = this.#device(uuid);
    if (rec.state === 'removing') throw err('ENODEV', `device ${rec.uuid} is being removed`);
    if (range === null || typeof range !== 'object' || typeof range.onInvalidate !== 'function') {
      throw err('EINVAL', 'a mapped range needs start, size and onInvalidate');
    }
    (rec.ranges ??= new RangeTree()).insert(range);
  }

  delete(uuid: Uuid, start: bigint): void {
    const rec = this.#device(uuid);
    if (typeof start !== 'bigint') throw err('EINVAL', 'start must be a bigint');
    if (rec.ranges?.delete(start) === undefined) throw err('ENXIO', `device ${rec.uuid} has no range at 0x${start.toString(16)}`);
  }

  /** Tell each overlapping range's owner which part is hit; returns how many ranges were hit. O(log n + k). */
  invalidate(uuid: Uuid, addr: bigint, size: bigint): number {
    const rec = this.#device(uuid);
    if (typeof addr !== 'bigint' || typeof size !== 'bigint' || addr < 0n || size <= 0n || addr + size > ADDRESS_LIMIT) {
      throw err('EINVAL', 'bad span: addr >= 0, size > 0, addr + size <= 2^64');
    }
    if (rec.ranges === undefined) return 0;
    return rec.ranges.overlapping(addr, addr + size, (range, hitStart, hitSize) => {
      // One owner's failure must not keep the others from hearing about the invalidation.
      try {
        range.onInvalidate(range, hitStart, hitSize);
      } catch (e) {
        this.#events.warn(rec.parent.name, rec.uuid, `invalidate callback failed: ${String(e)}`);
      }
    });
  }

  /** The ranges of a device in address order (for views and tests). */
  list(uuid: Uuid): readonly MappedRange[] {
    return this.#device(uuid).ranges?.values() ?? [];
  }

  #device(uuid: Uuid): DeviceRecord {
    const rec = this.#registry.anyDevice(uuid);
    if (rec === undefined) throw err('ENODEV', `no device ${uuid}`);
    return rec;
  }
}
