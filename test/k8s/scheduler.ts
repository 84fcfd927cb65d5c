/**
 * The DRA scheduler's side, for tests: reads a pool's published ResourceSlices (as the fake API server holds them)
 * and picks devices for a claim the way the structured-parameters allocator does with partitionable devices: a
 * device is free when no claim holds it and every counter it consumes still has that much left after the devices
 * already allocated.
 */
type Obj = Record<string, unknown>;

export interface PoolDevice {
  readonly name: string;
  readonly type: string;
  readonly uuid: string;
  readonly slot: boolean;
  /** counter set → counter → amount. */
  readonly consumes: ReadonlyMap<string, ReadonlyMap<string, number>>;
}

export class PoolModel {
  readonly devices: readonly PoolDevice[];
  readonly capacity: ReadonlyMap<string, ReadonlyMap<string, number>>;
  readonly byName: ReadonlyMap<string, PoolDevice>;

  constructor(slices: Iterable<Obj>) {
    const devices: PoolDevice[] = [];
    const capacity = new Map<string, Map<string, number>>();
    for (const s of slices) {
      const spec = (s.spec ?? {}) as { sharedCounters?: { name: string; counters: Record<string, { value: string }> }[]; devices?: Obj[] };
      for (const c of spec.sharedCounters ?? []) capacity.set(c.name, new Map(Object.entries(c.counters).map(([k, v]) => [k, Number(v.value)])));
      for (const d of spec.devices ?? []) {
        const a = d.attributes as Record<string, { string?: string; bool?: boolean }>;
        const consumes = new Map<string, Map<string, number>>();
        for (const c of (d.consumesCounters ?? []) as { counterSet: string; counters: Record<string, { value: string }> }[]) {
          consumes.set(c.counterSet, new Map(Object.entries(c.counters).map(([k, v]) => [k, Number(v.value)])));
        }
        devices.push({ name: String(d.name), type: a.type?.string ?? '', uuid: a.uuid?.string ?? '', slot: a.slot?.bool === true, consumes });
      }
    }
    this.devices = devices;
    this.capacity = capacity;
    this.byName = new Map(devices.map((d) => [d.name, d]));
  }

  /** True when `names` can be allocated together (every device listed, counters not exceeded). */
  fits(names: Iterable<string>): boolean {
    const used = new Map<string, number>();
    for (const n of names) {
      const d = this.byName.get(n);
      if (d === undefined) return false;
      for (const [set, counters] of d.consumes) {
        for (const [k, v] of counters) {
          const key = `${set}\0${k}`;
          const total = (used.get(key) ?? 0) + v;
          if (total > (this.capacity.get(set)?.get(k) ?? 0)) return false;
          used.set(key, total);
        }
      }
    }
    return true;
  }

  /** `count` devices of `type` that fit next to `allocated`, chosen by `rnd` (undefined when they do not exist). */
  pick(allocated: ReadonlySet<string>, type: string, count: number, rnd: () => number = Math.random): string[] | undefined {
    const chosen: string[] = [];
    const candidates = this.devices.filter((d) => d.type === type && !allocated.has(d.name));
    while (chosen.length < count && candidates.length > 0) {
      const d = candidates.splice(Math.floor(rnd() * candidates.length), 1)[0]!;
      if (this.fits([...allocated, ...chosen, d.name])) chosen.push(d.name);
    }
    return chosen.length === count ? chosen : undefined;
  }
}
