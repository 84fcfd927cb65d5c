/**
 * Concepts: how one pool is split between the two APIs, so that neither can be handed more than the pool holds.
 * The device plugin API cannot express a shared pool, so the device plugin gets a **static partition**: a number of
 * slots per type (`pools[].devicePluginSlots`, by default an even share of the units per type) whose units are
 * reserved for it. The DRA driver gets the rest of the pool: as one shared counter the scheduler draws from (every
 * set of devices whose costs fit can be prepared), or, where the cluster lacks partitionable devices, as a static
 * partition of its own (`pools[].draSlots`, by default an even share). When both APIs serve a pool and nothing is
 * configured, the device plugin's share is half of it. The APIs' slot numbers never overlap: the DRA driver's slots
 * of a type start after the device plugin's. Pure: tested as a table.
 */
import type { PoolRule } from '../config.js';
import type { PoolShape } from './pools.js';
import { SLOT_LIMIT } from './slots.js';

/** Slot numbers `[offset, offset + count)` of one type. */
export interface SlotRange {
  readonly offset: number;
  readonly count: number;
}

/** One pool's split. Plain data. */
export interface PoolPlan {
  readonly shape: PoolShape;
  /** The device plugin's slots per type. */
  readonly devicePlugin: ReadonlyMap<string, SlotRange>;
  /** The DRA driver's slots per type. */
  readonly dra: ReadonlyMap<string, SlotRange>;
  /** Units the device plugin's partition takes. */
  readonly devicePluginUnits: number;
  /** Units of the DRA share: the counter's value before deductions, or what its static partition takes. */
  readonly draUnits: number;
  /** Why a configured partition was cut (it did not fit the pool), for the log. */
  readonly problems: readonly string[];
}

/** Split `shape`'s pool for the types each API serves; `counters`: the DRA side uses a shared counter. */
export function planPool(
  shape: PoolShape,
  devicePluginTypes: readonly string[],
  draTypes: readonly string[],
  rule: PoolRule | undefined,
  counters: boolean,
): PoolPlan {
  const problems: string[] = [];
  const cost = (t: string): number | undefined => shape.consumes.get(t);
  const dpTypes = devicePluginTypes.filter((t) => cost(t) !== undefined);
  const drTypes = draTypes.filter((t) => cost(t) !== undefined);
  const dpShare = drTypes.length > 0 ? Math.floor(shape.capacity / 2) : shape.capacity;
  const dpCounts = fit(
    dpTypes.map((t) => [t, rule?.devicePluginSlots === undefined ? evenShare(dpShare, dpTypes.length, cost(t)!) : (rule.devicePluginSlots.get(t) ?? 0)]),
    shape.capacity,
    cost,
    (msg) => problems.push(`devicePluginSlots ${msg}`),
  );
  const devicePluginUnits = units(dpCounts, cost);
  const devicePlugin = new Map(dpCounts.map(([t, n]) => [t, { offset: 0, count: n }]));
  const offset = (t: string): number => devicePlugin.get(t)?.count ?? 0;
  const draShare = drTypes.length > 0 ? shape.capacity - devicePluginUnits : 0;
  let draCounts: [string, number][];
  let draUnits: number;
  if (counters) {
    draCounts = drTypes.map((t) => [t, Math.floor(draShare / cost(t)!)]);
    draUnits = draShare;
  } else {
    draCounts = fit(
      drTypes.map((t) => [t, rule?.draSlots === undefined ? evenShare(draShare, drTypes.length, cost(t)!) : (rule.draSlots.get(t) ?? 0)]),
      draShare,
      cost,
      (msg) => problems.push(`draSlots ${msg}`),
    );
    draUnits = units(draCounts, cost);
  }
  const dra = new Map(draCounts.map(([t, n]) => [t, { offset: offset(t), count: Math.max(0, Math.min(n, SLOT_LIMIT - offset(t))) }]));
  return { shape, devicePlugin, dra, devicePluginUnits, draUnits, problems };
}

function evenShare(share: number, types: number, cost: number): number {
  return Math.floor(Math.floor(share / types) / cost);
}

function units(counts: readonly (readonly [string, number])[], cost: (t: string) => number | undefined): number {
  return counts.reduce((n, [t, c]) => n + c * cost(t)!, 0);
}

/** `counts` cut (last types first) until their units fit `budget`, each at most `SLOT_LIMIT`. */
function fit(counts: [string, number][], budget: number, cost: (t: string) => number | undefined, problem: (m: string) => void): [string, number][] {
  const out = counts.map(([t, n]): [string, number] => [t, Math.min(n, SLOT_LIMIT)]);
  const want = units(out, cost);
  if (want <= budget) return out;
  let over = want - Math.max(0, budget);
  for (let i = out.length - 1; i >= 0 && over > 0; i--) {
    const [t, n] = out[i]!;
    const c = cost(t)!;
    const drop = Math.min(n, Math.ceil(over / c));
    out[i] = [t, n - drop];
    over -= drop * c;
  }
  problem(`take ${want} units, more than the ${Math.max(0, budget)} available; cut to ${out.map(([t, n]) => `${t}: ${n}`).join(', ')}`);
  return out;
}
