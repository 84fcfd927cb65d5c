/**
 * Concepts: what umdev-k8s offers to Kubernetes for one mdev type on one parent. Devices that exist are offered
 * under their UUID. A *dynamic* type also offers one free **slot** per available instance; allocating a slot creates
 * its device. A slot's device gets a UUID derived from the slot's name (a name-based UUID, RFC 4122 version 5), so
 * the agent keeps no table of what it created: after a restart it still recognizes its devices, and a slot keeps its
 * name from allocation to removal. Slots are numbered from 0; free ones take the lowest numbers not in use.
 *
 * Types of one parent draw on the parent's one pool, so their slots overlap (mtty's 24 ports offer 24 mtty-1 and 12
 * mtty-2 slots at once); every creation is followed by a fresh inventory in which the others shrink.
 */
import { createHash } from 'node:crypto';
import type { DeviceView, TypeView } from '../daemon/api/views.js';
import { toDnsLabel } from './names.js';
import type { UmdevSnapshot } from './umdev-watch.js';

/** One offered device. Plain data. */
export interface OfferedDevice {
  /** Device plugin ID and DRA device name: a DNS label. */
  readonly id: string;
  readonly parent: string;
  readonly type: string;
  /** Set when the device exists; a free slot has none yet (`slotUuid` is what it will get). */
  readonly device?: DeviceView;
  /** The UUID the device has or will have. */
  readonly uuid: string;
  /** Created by this agent for a slot (so it removes it again), or a free slot. */
  readonly slot: boolean;
}

/** Which agent's slots: the device plugin's and the DRA driver's never share a UUID. */
export type SlotScope = string;

// A fixed namespace for umdev-k8s's name-based UUIDs.
const NAMESPACE = Buffer.from('6d2c9e1a4b7f4c3e9a1d0b5e8f2a7c64', 'hex');

/** The UUID of slot `index` of `parent`/`type` in `scope` (RFC 4122 version 5: SHA-1 of namespace and name). */
export function slotUuid(scope: SlotScope, parent: string, type: string, index: number): string {
  const h = createHash('sha1').update(NAMESPACE).update(`${scope}\0${parent}\0${type}\0${index}`).digest();
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

/** How many slot UUIDs are looked at beyond the ones a type can have now. */
const SLOT_MARGIN = 64;
const SLOT_LIMIT = 4096;

/** Recognizes slot devices by UUID; remembers the UUIDs it has computed. One per agent. */
export class SlotIndex {
  readonly #scope: SlotScope;
  readonly #known = new Map<string, { uuids: Map<string, number>; upTo: number }>();

  constructor(scope: SlotScope) {
    this.#scope = scope;
  }

  get scope(): SlotScope {
    return this.#scope;
  }

  /** The slot number `uuid` belongs to for `parent`/`type`, looking at numbers below `bound` (plus a margin). */
  indexOf(parent: string, type: string, uuid: string, bound: number): number | undefined {
    const key = `${parent}\0${type}`;
    let e = this.#known.get(key);
    if (e === undefined) this.#known.set(key, (e = { uuids: new Map(), upTo: 0 }));
    const want = Math.min(SLOT_LIMIT, bound + SLOT_MARGIN);
    for (; e.upTo < want; e.upTo++) e.uuids.set(slotUuid(this.#scope, parent, type, e.upTo), e.upTo);
    return e.uuids.get(uuid);
  }

  /** What `parent`/`type` offers now: its devices, and its free slots when `dynamic`. */
  offer(snapshot: UmdevSnapshot, t: TypeView, dynamic: boolean): OfferedDevice[] {
    const existing = snapshot.devices.filter((d) => d.parent === t.parent && d.type === t.id && d.state === 'active');
    const available = t.availableInstances ?? 0;
    const bound = existing.length + available;
    const used = new Set<number>();
    const out: OfferedDevice[] = [];
    for (const d of existing) {
      const i = this.indexOf(t.parent, t.id, d.uuid, bound);
      if (i !== undefined) used.add(i);
      out.push({ id: i === undefined ? d.uuid : slotId(t.parent, t.id, i), parent: t.parent, type: t.id, device: d, uuid: d.uuid, slot: i !== undefined });
    }
    if (dynamic) {
      for (let i = 0, n = 0; n < available && i < SLOT_LIMIT; i++) {
        if (used.has(i)) continue;
        out.push({ id: slotId(t.parent, t.id, i), parent: t.parent, type: t.id, uuid: slotUuid(this.#scope, t.parent, t.id, i), slot: true });
        n++;
      }
    }
    return out;
  }
}
