/**
 * Concepts: a parent's **pool**, in units. The types of one parent draw on one pool (mtty's 24 ports: a `mtty-1` takes
 * one, a `mtty-2` two; mbochs's 256 MiB: 4, 16 or 64 MiB a device), but umdevd says only how many more instances of
 * each type fit *now* (`availableInstances`). A `PoolShape` says what the pool holds (`capacity`) and what one
 * instance of each type takes (`consumes`), in units of the cheapest type. It comes from the config (`pools[]`), or
 * is learned when it is seen whole (no device on it): capacity = the largest `availableInstances`, and a type that
 * fits `n` times takes `floor(capacity / n)`, which is exact when costs are multiples of the cheapest one (mtty,
 * mbochs) and never too small otherwise. With configured costs, a whole pool gives the capacity as the largest
 * `availableInstances × cost`. Only a whole pool is learned from: devices and types are read by two requests, and a
 * device created between them would make `devices + available` count it twice, while a view with no device at all
 * can only under-count (the largest seen wins). Learned shapes are saved with the agent's checkpoint, so an agent
 * restarted while devices exist still knows them; a pool never seen whole and not configured offers no slots.
 */
import type { TypeView } from '../../api-client/wire.js';
import type { PoolRule } from '../config.js';
import type { UmdevSnapshot } from '../umdev/watch.js';

/** What a parent's pool holds and what one instance of each type takes. Plain data. */
export interface PoolShape {
  readonly parent: string;
  /** Units in the whole pool. */
  readonly capacity: number;
  /** Units one instance of a type takes; a type absent here is offered no slots. */
  readonly consumes: ReadonlyMap<string, number>;
}

/** A shape as saved in the checkpoint. */
export interface SavedShape {
  readonly capacity: number;
  readonly consumes: Readonly<Record<string, number>>;
}

const isCount = (n: unknown): n is number => Number.isSafeInteger(n) && (n as number) > 0;

/** Shapes of every pool: configured ones, and learned ones (which the owner saves). One per agent. */
export class PoolShapes {
  readonly #rules: ReadonlyMap<string, PoolRule>;
  readonly #learned = new Map<string, PoolShape>();

  constructor(rules: readonly PoolRule[] = [], saved?: unknown) {
    this.#rules = new Map(rules.map((r) => [r.parent, r]));
    if (typeof saved !== 'object' || saved === null) return;
    for (const [parent, s] of Object.entries(saved as Record<string, unknown>)) {
      const shape = s as Partial<SavedShape> | null;
      if (shape === null || !isCount(shape.capacity) || typeof shape.consumes !== 'object' || shape.consumes === null) continue;
      const consumes = new Map(Object.entries(shape.consumes).filter((e): e is [string, number] => isCount(e[1])));
      this.#learned.set(parent, { parent, capacity: shape.capacity, consumes });
    }
  }

  /** The shape of `parent`'s pool, or undefined while it is unknown. */
  shape(parent: string): PoolShape | undefined {
    const rule = this.#rules.get(parent);
    const learned = this.#learned.get(parent);
    if (rule?.consumes === undefined) {
      if (learned === undefined) return undefined;
      return rule?.capacity === undefined ? learned : { ...learned, capacity: rule.capacity };
    }
    const capacity = rule.capacity ?? learned?.capacity;
    return capacity === undefined ? undefined : { parent, capacity, consumes: rule.consumes };
  }

  /** Learn what `snap` shows; true when a learned shape changed (the owner saves `saved()`). */
  observe(snap: UmdevSnapshot): boolean {
    if (!snap.up) return false;
    const byParent = new Map<string, TypeView[]>();
    for (const t of snap.types) {
      let list = byParent.get(t.parent);
      if (list === undefined) byParent.set(t.parent, (list = []));
      list.push(t);
    }
    const devicesOf = new Map<string, Map<string, number>>();
    for (const d of snap.devices) {
      let m = devicesOf.get(d.parent);
      if (m === undefined) devicesOf.set(d.parent, (m = new Map()));
      m.set(d.type, (m.get(d.type) ?? 0) + 1);
    }
    let changed = false;
    for (const [parent, types] of byParent) {
      if (types.some((t) => t.availableInstances === null)) continue;
      const rule = this.#rules.get(parent);
      const existing = devicesOf.get(parent) ?? new Map<string, number>();
      const next = learn(types, existing, rule);
      if (next === undefined) continue;
      const old = this.#learned.get(parent);
      // A capacity seen once stays: one seen later with devices present can only be as large.
      const capacity = Math.max(next.capacity, old !== undefined && sameCosts(old.consumes, next.consumes) ? old.capacity : 0);
      const shape = { parent, capacity, consumes: next.consumes };
      if (shape.capacity === 0) continue;
      if (old === undefined || old.capacity !== shape.capacity || !sameCosts(old.consumes, shape.consumes)) {
        this.#learned.set(parent, shape);
        changed = true;
      }
    }
    return changed;
  }

  /** Learned shapes, for the checkpoint. */
  saved(): Record<string, SavedShape> {
    return Object.fromEntries([...this.#learned].map(([p, s]) => [p, { capacity: s.capacity, consumes: Object.fromEntries(s.consumes) }]));
  }
}

function sameCosts(a: ReadonlyMap<string, number>, b: ReadonlyMap<string, number>): boolean {
  return a.size === b.size && [...a].every(([k, v]) => b.get(k) === v);
}

/** A shape from one look at a parent, or undefined when this look cannot tell. */
function learn(types: readonly TypeView[], existing: ReadonlyMap<string, number>, rule: PoolRule | undefined): Omit<PoolShape, 'parent'> | undefined {
  if (existing.size > 0) return undefined;
  const avail = (t: TypeView): number => t.availableInstances ?? 0;
  if (rule?.consumes !== undefined) {
    return { capacity: Math.max(0, ...types.map((t) => avail(t) * (rule.consumes!.get(t.id) ?? 0))), consumes: rule.consumes };
  }
  const capacity = Math.max(0, ...types.map(avail));
  if (capacity === 0) return undefined;
  const consumes = new Map<string, number>();
  for (const t of types) if (avail(t) > 0) consumes.set(t.id, Math.floor(capacity / avail(t)));
  return { capacity, consumes };
}
