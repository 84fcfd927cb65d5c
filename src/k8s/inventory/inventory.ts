/**
 * Concepts: what each API offers now, from one view of umdevd (`UmdevView`), the pools' shapes and partitions
 * (`pools.ts`, `partition.ts`) and the one record of holds (`holdings.ts`). For every pool:
 *   - the device plugin lists its partition's slots: held ones always (healthy while their device exists and umdevd
 *     answers, unhealthy otherwise), free ones while their units fit what is left of its share;
 *   - the DRA driver lists its slots, each consuming its type's units from the pool's counter set, whose value is
 *     the DRA share; or, without counters, its static partition's slots as the device plugin does;
 *   - a device that exists and is no slot (made with mdevctl or the API) is offered to both, under its UUID, and
 *     withdrawn from one while the other holds it. It takes units of the pool that no partition counted, so they are
 *     taken off the DRA share first, then off the device plugin's free slots.
 * With these rules every set of devices one API may hand out at once fits the pool together with everything the
 * other may hand out. The result is computed once per change and shared; listeners run after every change, and
 * `settle()` waits until every API has shown the change to the kubelet or the API server (an answer returns only
 * after its device is withdrawn from the other API).
 */
import type { DeviceView, TypeView } from '../../api-client/wire.js';
import { describeError, type Logger } from '../../log.js';
import { resolveResources, type K8sConfig, type ResolvedResource } from '../config.js';
import { toDnsLabel } from '../names.js';
import type { UmdevView } from '../umdev/watch.js';
import type { Api, DevicePluginHold, Holdings } from './holdings.js';
import { planPool, type PoolPlan, type SlotRange } from './partition.js';
import type { PoolShapes } from './pools.js';
import { SlotIndex, slotId, slotUuid } from './slots.js';

/** One device the device plugin lists for a resource. Plain data. */
export interface DevicePluginEntry {
  readonly id: string;
  readonly uuid: string;
  readonly parent?: string;
  readonly type?: string;
  /** A slot (its device is created on Allocate and removed after the pod), not an existing device. */
  readonly slot: boolean;
  readonly device?: DeviceView;
  readonly held: boolean;
  readonly healthy: boolean;
}

/** One device of the DRA driver's pool. Plain data. */
export interface DraDevice {
  readonly name: string;
  readonly parent: string;
  readonly type: string;
  readonly uuid: string;
  readonly slot: boolean;
  readonly device?: DeviceView;
  readonly typeView?: TypeView;
  /** Units taken from `counterSet` when allocated (only with shared counters). */
  readonly consumes?: { readonly counterSet: string; readonly units: number };
}

/** A parent's shared counter: the units of its pool the DRA driver may hand out. */
export interface DraCounterSet {
  readonly name: string;
  readonly parent: string;
  readonly units: number;
}

export interface DraOffer {
  readonly counters: boolean;
  readonly counterSets: readonly DraCounterSet[];
  readonly devices: readonly DraDevice[];
}

/** The counter each counter set holds: units of the parent's pool. */
export const COUNTER = 'units';

interface Computed {
  readonly devicePlugin: ReadonlyMap<string, readonly DevicePluginEntry[]>;
  readonly dra: DraOffer;
  readonly draByName: ReadonlyMap<string, DraDevice>;
}

export interface InventoryOptions {
  readonly devicePlugin: boolean;
  readonly dra: boolean;
  /** The DRA side describes pools with shared counters (else with a static partition). */
  readonly counters: boolean;
}

/** Owned by the agent; both APIs read it. */
export class Inventory {
  readonly #cfg: K8sConfig;
  readonly #watch: UmdevView;
  readonly #holdings: Holdings;
  readonly #shapes: PoolShapes;
  readonly #log: Logger;
  readonly #slots = new SlotIndex();
  readonly #listeners = new Set<() => void>();
  readonly #settlers = new Set<{ readonly api: Api; readonly show: () => Promise<void> }>();
  readonly #warned = new Set<string>();
  readonly #opts: { devicePlugin: boolean; dra: boolean; counters: boolean };
  #computed: Computed | undefined;
  /** Called when a pool shape was learned (the owner saves the checkpoint). */
  onLearned: () => void = () => {};

  constructor(cfg: K8sConfig, watch: UmdevView, holdings: Holdings, shapes: PoolShapes, log: Logger, opts: InventoryOptions) {
    this.#cfg = cfg;
    this.#watch = watch;
    this.#holdings = holdings;
    this.#shapes = shapes;
    this.#log = log.child('inventory');
    this.#opts = { ...opts };
    watch.onChange(() => this.#changed());
    holdings.onChange(() => this.#changed());
  }

  get watch(): UmdevView {
    return this.#watch;
  }

  get holdings(): Holdings {
    return this.#holdings;
  }

  /** True while the DRA side uses shared counters. */
  get counters(): boolean {
    return this.#opts.counters;
  }

  /** Switch the DRA side to a static partition (the API server dropped the counters). */
  useStaticPartition(): void {
    if (!this.#opts.counters) return;
    this.#opts.counters = false;
    this.#changed();
  }

  /** Calls `cb` after every change of what is offered; returns its unsubscribe function. */
  onChange(cb: () => void): () => void {
    this.#listeners.add(cb);
    return () => this.#listeners.delete(cb);
  }

  /** `show` is awaited by `settle()`: it shows the latest change to `api`'s consumer. Returns its removal. */
  addSettler(api: Api, show: () => Promise<void>): () => void {
    const s = { api, show };
    this.#settlers.add(s);
    return () => this.#settlers.delete(s);
  }

  /**
   * Resolves once every API but `from` has shown what is offered now (each gets at most `timeoutMs`). The device
   * plugin shows changes as they happen (a ListAndWatch write); the DRA driver publishes its slices.
   */
  async settle(from: Api, timeoutMs = 5000): Promise<void> {
    await Promise.all(
      [...this.#settlers].filter((s) => s.api !== from).map(async ({ show: f }) => {
        let timer: NodeJS.Timeout | undefined;
        const late = new Promise<void>((r) => (timer = setTimeout(r, timeoutMs)));
        try {
          await Promise.race([f(), late]);
        } catch (e) {
          this.#log.warn(`showing a change failed: ${describeError(e)}`);
        } finally {
          clearTimeout(timer);
        }
      }),
    );
  }

  #changed(): void {
    this.#computed = undefined;
    for (const cb of this.#listeners) cb();
  }

  /** The resources the device plugin serves now. */
  devicePluginResources(): ResolvedResource[] {
    return this.#opts.devicePlugin ? resolveResources(this.#cfg, this.#watch.snapshot.types).filter((r) => r.api !== 'dra') : [];
  }

  /** What the device plugin lists for `resource` now. */
  devicePluginList(resource: string): readonly DevicePluginEntry[] {
    return this.#compute().devicePlugin.get(resource) ?? [];
  }

  /** The DRA driver's pool now. */
  dra(): DraOffer {
    return this.#compute().dra;
  }

  /** One device of the DRA driver's pool by name. */
  draDevice(name: string): DraDevice | undefined {
    return this.#compute().draByName.get(name);
  }

  #compute(): Computed {
    if (this.#computed !== undefined) return this.#computed;
    const snap = this.#watch.snapshot;
    if (this.#shapes.observe(snap)) this.onLearned();
    const all = resolveResources(this.#cfg, snap.types);
    const dpResources = this.#opts.devicePlugin ? all.filter((r) => r.api !== 'dra') : [];
    const draResources = this.#opts.dra ? all.filter((r) => r.api !== 'device-plugin') : [];
    const typeKey = (p: string, t: string): string => `${p}\0${t}`;
    const typeViews = new Map(snap.types.map((t) => [typeKey(t.parent, t.id), t]));
    const served = (rs: readonly ResolvedResource[], dynamic: boolean): Map<string, Set<string>> => {
      const m = new Map<string, Set<string>>();
      for (const r of rs) {
        if (dynamic && !r.dynamic) continue;
        for (const { parent, type } of r.types) {
          let s = m.get(parent);
          if (s === undefined) m.set(parent, (s = new Set()));
          s.add(type);
        }
      }
      return m;
    };
    const dpDynamic = served(dpResources, true);
    const draDynamic = served(draResources, true);
    const dpAny = served(dpResources, false);
    const draAny = served(draResources, false);
    const devicesOf = new Map<string, DeviceView[]>();
    for (const d of snap.devices) {
      let l = devicesOf.get(d.parent);
      if (l === undefined) devicesOf.set(d.parent, (l = []));
      l.push(d);
    }
    const byUuid = new Map(snap.devices.map((d) => [d.uuid, d]));
    const dpHolds = this.#holdings.devicePluginHolds();
    const dpHoldByUuid = new Map(dpHolds.map((h) => [h.uuid, h]));
    const claimDevices = [...this.#holdings.claims.values()].flatMap((c) => c.devices);
    const claimed = new Set(claimDevices.map((d) => d.uuid));
    const foreignToDra = !this.#opts.devicePlugin || this.#holdings.devicePluginSynced;

    const dpByType = new Map<string, DevicePluginEntry[]>();
    const push = (p: string, t: string, e: DevicePluginEntry): void => {
      const k = typeKey(p, t);
      let l = dpByType.get(k);
      if (l === undefined) dpByType.set(k, (l = []));
      l.push(e);
    };
    const listedDp = new Set<string>();
    const draDevices: DraDevice[] = [];
    const counterSets: DraCounterSet[] = [];
    const setNames = new Set<string>();
    const up = snap.up;

    for (const parent of new Set([...dpAny.keys(), ...draAny.keys()])) {
      const dpTypes = [...(dpDynamic.get(parent) ?? [])];
      const draTypes = [...(draDynamic.get(parent) ?? [])];
      const shape = this.#shapes.shape(parent);
      let plan: PoolPlan | undefined;
      if (shape !== undefined && dpTypes.length + draTypes.length > 0) {
        plan = planPool(shape, dpTypes, draTypes, this.#cfg.pools?.find((r) => r.parent === parent), this.#opts.counters);
        for (const p of plan.problems) this.#warnOnce(`${parent}: ${p}`);
      } else if (dpTypes.length + draTypes.length > 0) {
        this.#warnOnce(`pool ${parent}: what each type takes is unknown until the parent is seen with no device, or configured (pools[].consumes); no slots are offered`);
      }
      const cost = (t: string): number => shape?.consumes.get(t) ?? shape?.capacity ?? 0;
      const rangeEnd = (m: ReadonlyMap<string, SlotRange> | undefined, t: string): number => {
        const r = m?.get(t);
        return r === undefined ? 0 : r.offset + r.count;
      };
      const bound = (t: string): number => Math.max(rangeEnd(plan?.devicePlugin, t), rangeEnd(plan?.dra, t)) + 64;
      const inRange = (r: SlotRange | undefined, i: number | undefined): boolean => r !== undefined && i !== undefined && i >= r.offset && i < r.offset + r.count;
      const kindOf = (type: string, uuid: string): 'dp' | 'dra' | 'other' => {
        const i = this.#slots.indexOf(parent, type, uuid, bound(type));
        if (inRange(plan?.devicePlugin.get(type), i)) return 'dp';
        if (inRange(plan?.dra.get(type), i)) return 'dra';
        return 'other';
      };
      const isSlot = (type: string, uuid: string): boolean => this.#slots.indexOf(parent, type, uuid, bound(type)) !== undefined;

      // Units no partition counts: devices that are no slot of a range, and (with counters) unclaimed DRA slots' devices.
      let other = 0;
      for (const d of devicesOf.get(parent) ?? []) {
        const kind = kindOf(d.type, d.uuid);
        if (kind === 'other' || (kind === 'dra' && this.#opts.counters && !claimed.has(d.uuid))) other += cost(d.type);
      }
      let draHeld = 0;
      for (const d of claimDevices) if (d.parent === parent && kindOf(d.type, d.uuid) === 'dra') draHeld += cost(d.type);
      let dpHeld = 0;
      for (const h of dpHolds) if (h.parent === parent && h.type !== undefined && kindOf(h.type, h.uuid) === 'dp') dpHeld += cost(h.type);
      const draUnits = plan?.draUnits ?? 0;
      const toDra = draTypes.length > 0 ? Math.min(other, Math.max(0, draUnits - draHeld)) : 0;
      let dpFree = (plan?.devicePluginUnits ?? 0) - (other - toDra) - dpHeld;
      let draFree = draUnits - toDra - draHeld;

      // The device plugin's slots: held ones, then free ones by slot number across types while they fit.
      if (plan !== undefined) {
        const free: [string, number][] = [];
        for (const [type, r] of plan.devicePlugin) {
          for (let i = r.offset; i < r.offset + r.count; i++) {
            const uuid = slotUuid(parent, type, i);
            const device = byUuid.get(uuid);
            const hold = dpHoldByUuid.get(uuid);
            if (hold !== undefined) {
              push(parent, type, { id: slotId(parent, type, i), uuid, parent, type, slot: true, ...(device === undefined ? {} : { device }), held: true, healthy: up && device !== undefined });
              listedDp.add(uuid);
            } else if (!claimed.has(uuid)) free.push([type, i]);
          }
        }
        for (const [type, i] of byNumber(free)) {
          if (cost(type) > dpFree) continue;
          dpFree -= cost(type);
          const uuid = slotUuid(parent, type, i);
          const device = byUuid.get(uuid);
          push(parent, type, { id: slotId(parent, type, i), uuid, parent, type, slot: true, ...(device === undefined ? {} : { device }), held: false, healthy: up });
          listedDp.add(uuid);
        }

        // The DRA driver's slots.
        let setName: string | undefined;
        if (this.#opts.counters && plan.dra.size > 0) {
          setName = uniqueName(toDnsLabel(parent), setNames);
          counterSets.push({ name: setName, parent, units: Math.max(0, draUnits - toDra) });
        }
        const draFreeSlots: [string, number][] = [];
        for (const [type, r] of plan.dra) {
          for (let i = r.offset; i < r.offset + r.count; i++) {
            const uuid = slotUuid(parent, type, i);
            if (dpHoldByUuid.has(uuid)) continue;
            const d = this.#draSlot(parent, type, i, byUuid.get(uuid), typeViews.get(typeKey(parent, type)), setName, cost(type));
            if (setName !== undefined || claimed.has(uuid)) draDevices.push(d);
            else draFreeSlots.push([type, i]);
          }
        }
        for (const [type, i] of byNumber(draFreeSlots)) {
          if (cost(type) > draFree) continue;
          draFree -= cost(type);
          draDevices.push(this.#draSlot(parent, type, i, byUuid.get(slotUuid(parent, type, i)), typeViews.get(typeKey(parent, type)), undefined, cost(type)));
        }
      }

      // Devices that are no slot: offered to both APIs, withdrawn from the one that does not hold them.
      for (const d of devicesOf.get(parent) ?? []) {
        if (d.state !== 'active' || isSlot(d.type, d.uuid)) continue;
        const holder = this.#holdings.holder(d.uuid);
        if (dpAny.get(parent)?.has(d.type) === true && holder?.api !== 'dra') {
          push(parent, d.type, { id: d.uuid, uuid: d.uuid, parent, type: d.type, slot: false, device: d, held: holder !== undefined, healthy: up });
          listedDp.add(d.uuid);
        }
        if (draAny.get(parent)?.has(d.type) === true && holder?.api !== 'device-plugin' && (foreignToDra || holder !== undefined)) {
          draDevices.push({ name: d.uuid, parent, type: d.type, uuid: d.uuid, slot: false, device: d, ...typeField(typeViews.get(typeKey(parent, d.type))) });
        }
      }
    }

    // Per resource: its types' entries, then held devices listed nowhere else (gone, or outside the partition now).
    const devicePlugin = new Map<string, DevicePluginEntry[]>();
    for (const r of dpResources) {
      const list = r.types.flatMap(({ parent, type }) => dpByType.get(typeKey(parent, type)) ?? []);
      devicePlugin.set(r.name, list);
    }
    for (const h of dpHolds) {
      if (listedDp.has(h.uuid)) continue;
      const list = devicePlugin.get(h.resource);
      if (list === undefined) continue;
      const device = byUuid.get(h.uuid);
      list.push({ id: h.id, uuid: h.uuid, ...heldWhere(h), slot: false, ...(device === undefined ? {} : { device }), held: true, healthy: up && device !== undefined });
    }
    // Two resources may name one type: a device is offered once.
    const draByName = new Map(draDevices.map((d) => [d.name, d]));
    this.#computed = { devicePlugin, dra: { counters: this.#opts.counters, counterSets, devices: [...draByName.values()] }, draByName };
    return this.#computed;
  }

  #draSlot(parent: string, type: string, i: number, device: DeviceView | undefined, tv: TypeView | undefined, setName: string | undefined, units: number): DraDevice {
    return {
      name: slotId(parent, type, i),
      parent,
      type,
      uuid: slotUuid(parent, type, i),
      slot: true,
      ...(device === undefined ? {} : { device }),
      ...typeField(tv),
      ...(setName === undefined ? {} : { consumes: { counterSet: setName, units } }),
    };
  }

  #warnOnce(msg: string): void {
    if (this.#warned.has(msg)) return;
    this.#warned.add(msg);
    this.#log.warn(msg);
  }
}

function typeField(tv: TypeView | undefined): { typeView?: TypeView } {
  return tv === undefined ? {} : { typeView: tv };
}

function heldWhere(h: DevicePluginHold): { parent?: string; type?: string } {
  return { ...(h.parent === undefined ? {} : { parent: h.parent }), ...(h.type === undefined ? {} : { type: h.type }) };
}

/** Slots ordered by number, then type: free slots are cut from the highest numbers of every type alike. */
function byNumber(slots: readonly [string, number][]): [string, number][] {
  return slots.map((s, k) => [s, k] as const).sort((a, b) => a[0][1] - b[0][1] || a[1] - b[1]).map(([s]) => s);
}

function uniqueName(base: string, taken: Set<string>): string {
  let name = base;
  for (let n = 2; taken.has(name); n++) name = `${base.slice(0, 60)}-${n}`;
  taken.add(name);
  return name;
}
