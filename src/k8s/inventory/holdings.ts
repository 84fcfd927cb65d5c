/**
 * Concepts: the one record of who holds which device, shared by the device plugin and the DRA driver. A device
 * (by UUID) is held by at most one of them: by the device plugin for a resource's ID (allocated, or listed by the
 * kubelet's pod resources API for a running pod), or by the DRA driver for a prepared claim. Both APIs ask `holder`
 * before they hand a device out and record the hold before their first `await`, so two calls racing for one device
 * cannot both win; every change calls the listeners, which withdraw the device from the other API. Claim UIDs,
 * device IDs and resource names are data: they are only ever `Map` keys here.
 *
 * Device plugin holds: an Allocate holds its IDs at once; the hold lasts while the pod resources API lists the ID,
 * or for `graceMs` after the allocation (a pod that is starting is not listed yet). While the pod resources API has
 * never answered, nothing expires (the agent cannot tell a device in use from a free one). DRA holds last from
 * prepare to unprepare and are saved in the agent's checkpoint (`checkpoint.ts`).
 */
import { err } from '../../errors.js';

export type Api = 'device-plugin' | 'dra';

/** A device a prepared claim holds, as recorded in the checkpoint. */
export interface RecordedDevice {
  readonly request: string;
  readonly deviceName: string;
  readonly parent: string;
  readonly type: string;
  readonly uuid: string;
  /** The driver created it (a slot), so unprepare removes it. */
  readonly created: boolean;
}

export interface ClaimRecord {
  readonly namespace: string;
  readonly name: string;
  readonly devices: readonly RecordedDevice[];
}

/** A device the device plugin gave out for `resource` under `id`; parent and type when known (to re-create it). */
export interface DevicePluginHold {
  readonly resource: string;
  readonly id: string;
  readonly uuid: string;
  readonly parent?: string;
  readonly type?: string;
}

/** Who holds a device. */
export interface Holder {
  readonly api: Api;
  /** The resource name (device plugin) or the claim UID (DRA). */
  readonly by: string;
}

/** Owned by the agent; both APIs share the one instance. */
export class Holdings {
  readonly #claims = new Map<string, ClaimRecord>();
  readonly #claimOf = new Map<string, string>();
  readonly #allocated = new Map<string, DevicePluginHold & { readonly at: number }>();
  #listed = new Map<string, DevicePluginHold>();
  #podResourcesSeen = false;
  readonly #listeners = new Set<() => void>();
  readonly #releasing = new Map<string, Promise<void>>();

  /**
   * Remove a device nobody holds: `drop` runs unless `uuid` is held now, and while it runs `releasing(uuid)` says so,
   * so an Allocate that holds the device meanwhile waits and creates it again instead of handing out a dying one.
   */
  async release(uuid: string, drop: () => Promise<void>): Promise<boolean> {
    if (this.holder(uuid) !== undefined || this.#releasing.has(uuid)) return false;
    const p = drop();
    this.#releasing.set(uuid, p.then(() => undefined, () => undefined));
    try {
      await p;
    } finally {
      this.#releasing.delete(uuid);
    }
    return true;
  }

  /** Resolves when a removal of `uuid` in progress has ended (at once when there is none). */
  releasing(uuid: string): Promise<void> | undefined {
    return this.#releasing.get(uuid);
  }

  /** Who holds `uuid` now, if anyone. */
  holder(uuid: string): Holder | undefined {
    const claim = this.#claimOf.get(uuid);
    if (claim !== undefined) return { api: 'dra', by: claim };
    const h = this.#listed.get(uuid) ?? this.#allocated.get(uuid);
    return h === undefined ? undefined : { api: 'device-plugin', by: h.resource };
  }

  /** Calls `cb` after every change; returns its unsubscribe function. */
  onChange(cb: () => void): () => void {
    this.#listeners.add(cb);
    return () => this.#listeners.delete(cb);
  }

  #changed(): void {
    for (const cb of this.#listeners) cb();
  }

  // --- DRA ---------------------------------------------------------------------------------------------------------

  get claims(): ReadonlyMap<string, ClaimRecord> {
    return this.#claims;
  }

  /** Record claim `uid` holding `rec.devices`; `EBUSY` (nothing recorded) when one is held by anyone else. */
  holdClaim(uid: string, rec: ClaimRecord): void {
    for (const d of rec.devices) {
      const h = this.holder(d.uuid);
      if (h !== undefined && !(h.api === 'dra' && h.by === uid)) {
        throw err('EBUSY', `device ${d.deviceName} (${d.uuid}) is held by ${h.api === 'dra' ? 'another claim' : `the device plugin (${h.by})`}`);
      }
    }
    this.#dropClaim(uid);
    this.#claims.set(uid, rec);
    for (const d of rec.devices) this.#claimOf.set(d.uuid, uid);
    this.#changed();
  }

  /** Forget claim `uid` (unprepared, or its prepare failed). */
  releaseClaim(uid: string): void {
    if (this.#dropClaim(uid)) this.#changed();
  }

  #dropClaim(uid: string): boolean {
    const old = this.#claims.get(uid);
    if (old === undefined) return false;
    for (const d of old.devices) if (this.#claimOf.get(d.uuid) === uid) this.#claimOf.delete(d.uuid);
    this.#claims.delete(uid);
    return true;
  }

  // --- device plugin -----------------------------------------------------------------------------------------------

  /** True once the pod resources API has answered: the device plugin's holds are then known. */
  get devicePluginSynced(): boolean {
    return this.#podResourcesSeen;
  }

  /** The device plugin's holds now: listed for pods, or allocated and not expired. */
  devicePluginHolds(): DevicePluginHold[] {
    const out = new Map<string, DevicePluginHold>(this.#allocated);
    for (const [u, h] of this.#listed) out.set(u, h);
    return [...out.values()];
  }

  /**
   * Hold `holds` for the device plugin at `now`; `EBUSY` (nothing recorded) when one is held by the DRA driver.
   * Returns the undo: it forgets the holds this call added (for an Allocate that fails later).
   */
  allocate(holds: readonly DevicePluginHold[], now: number): () => void {
    for (const h of holds) {
      const by = this.holder(h.uuid);
      if (by?.api === 'dra') throw err('EBUSY', `device ${h.id} (${h.uuid}) is held by a DRA claim`);
    }
    const added: string[] = [];
    for (const h of holds) {
      if (!this.#allocated.has(h.uuid)) added.push(h.uuid);
      this.#allocated.set(h.uuid, { ...h, at: now });
    }
    this.#changed();
    return () => {
      for (const u of added) this.#allocated.delete(u);
      if (added.length > 0) this.#changed();
    };
  }

  /**
   * What the pod resources API lists now (`undefined`: it did not answer). Allocations older than `graceMs` that it
   * does not list expire; returns the holds that ended.
   */
  podResources(listed: readonly DevicePluginHold[] | undefined, now: number, graceMs: number): DevicePluginHold[] {
    if (listed === undefined) return [];
    const before = this.devicePluginHolds();
    this.#podResourcesSeen = true;
    this.#listed = new Map(listed.map((h) => [h.uuid, h]));
    for (const [u, h] of this.#allocated) if (!this.#listed.has(u) && now - h.at >= graceMs) this.#allocated.delete(u);
    const ended = before.filter((h) => this.holder(h.uuid)?.api !== 'device-plugin');
    const started = listed.some((h) => !before.some((b) => b.uuid === h.uuid));
    if (ended.length > 0 || started) this.#changed();
    return ended;
  }
}
