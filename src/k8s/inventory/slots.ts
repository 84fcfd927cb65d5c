/**
 * Concepts: a **slot** is a device umdev-k8s may create on demand: slot `i` of type `t` on parent `p` is named
 * `<p>-<t>-<i>` (a DNS label: device plugin ID and DRA device name alike) and its device gets a UUID derived from that
 * name (RFC 4122 version 5), so the agent keeps no table of UUIDs: after a restart it still recognizes its devices,
 * and a slot keeps its name from allocation to removal. One slot is one device whichever API hands it out; which
 * slot numbers each API offers is the pool's partition (see `partition.ts`), so the two never offer the same slot.
 */
import { createHash } from 'node:crypto';
import { toDnsLabel } from '../names.js';

// A fixed namespace for umdev-k8s's name-based UUIDs.
const NAMESPACE = Buffer.from('6d2c9e1a4b7f4c3e9a1d0b5e8f2a7c64', 'hex');

/** Slot numbers are below this; a partition larger than this is cut to it. */
export const SLOT_LIMIT = 4096;

/** The UUID of slot `index` of `parent`/`type` (RFC 4122 version 5: SHA-1 of namespace and name). */
export function slotUuid(parent: string, type: string, index: number): string {
  const h = createHash('sha1').update(NAMESPACE).update(`${parent}\0${type}\0${index}`).digest();
  h[6] = (h[6]! & 0x0f) | 0x50;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

/** The name of slot `index`: `<parent>-<type>-<index>` as a DNS label of at most 63 characters. */
export function slotId(parent: string, type: string, index: number): string {
  const suffix = `-${index}`;
  return `${toDnsLabel(`${parent}-${type}`, 63 - suffix.length)}${suffix}`;
}

/** Recognizes slot devices by UUID, computing each type's UUIDs once (at most `SLOT_LIMIT` per type). One per agent. */
export class SlotIndex {
  readonly #known = new Map<string, { uuids: Map<string, number>; upTo: number }>();

  /** The slot number `uuid` has as a device of `parent`/`type`, looking at numbers below `bound`. */
  indexOf(parent: string, type: string, uuid: string, bound: number): number | undefined {
    const key = `${parent}\0${type}`;
    let e = this.#known.get(key);
    if (e === undefined) this.#known.set(key, (e = { uuids: new Map(), upTo: 0 }));
    const want = Math.min(SLOT_LIMIT, bound);
    for (; e.upTo < want; e.upTo++) e.uuids.set(slotUuid(parent, type, e.upTo), e.upTo);
    const i = e.uuids.get(uuid);
    return i !== undefined && i < want ? i : undefined;
  }
}
