/**
 * Concepts: the ResourceSlices (resource.k8s.io/v1) that describe this node's umdev devices to the DRA scheduler.
 * The pool is named after the node and holds what the inventory offers the DRA driver: slots (created on
 * NodePrepareResources) and devices that exist (named by UUID). Each device carries attributes `parent`, `type`,
 * `typeName`, `deviceApi`, `uuid` (what the device has or will get) and `slot`. With shared counters each parent's
 * pool is a counter set named after the parent holding one counter, `units` (the DRA share of the pool), and each
 * slot consumes its type's units from it (`consumesCounters`), so the scheduler never picks more than the pool
 * holds; the counter sets go in slices of their own (at most 8 per slice), as resource.k8s.io/v1 allows only one of
 * `sharedCounters` and `devices` per slice, and devices that consume counters at most 64 per slice (else 128).
 * Every slice names the pool's slice count, and every change bumps the pool's generation.
 */
import type { DraDevice, DraOffer } from '../inventory/inventory.js';
import { COUNTER } from '../inventory/inventory.js';
import { toDnsLabel } from '../names.js';

export const MAX_DEVICES_PER_SLICE = 128;
export const MAX_COUNTER_DEVICES_PER_SLICE = 64;
export const MAX_COUNTER_SETS_PER_SLICE = 8;
const MAX_STRING = 64;

export type DeviceAttribute = { readonly string: string } | { readonly bool: boolean } | { readonly int: number };

export interface CounterValues {
  readonly [counter: string]: { readonly value: string };
}

export interface SliceDevice {
  readonly name: string;
  readonly attributes: Readonly<Record<string, DeviceAttribute>>;
  readonly consumesCounters?: readonly { readonly counterSet: string; readonly counters: CounterValues }[];
}

export interface CounterSet {
  readonly name: string;
  readonly counters: CounterValues;
}

export interface ResourceSlice {
  readonly apiVersion: 'resource.k8s.io/v1';
  readonly kind: 'ResourceSlice';
  readonly metadata: { readonly name: string };
  readonly spec: {
    readonly driver: string;
    readonly pool: { readonly name: string; readonly generation: number; readonly resourceSliceCount: number };
    readonly nodeName: string;
    readonly devices?: readonly SliceDevice[];
    readonly sharedCounters?: readonly CounterSet[];
  };
}

function sliceDevice(d: DraDevice): SliceDevice {
  const attributes: Record<string, DeviceAttribute> = {};
  // The API refuses strings over 64 characters; such a name is left out rather than cut into a wrong one.
  const str = (k: string, v: string | undefined): void => {
    if (v !== undefined && v.length <= MAX_STRING) attributes[k] = { string: v };
  };
  str('parent', d.parent);
  str('type', d.type);
  str('typeName', d.typeView?.name);
  str('deviceApi', d.typeView?.deviceApi);
  str('uuid', d.uuid);
  attributes.slot = { bool: d.slot };
  return {
    name: d.name,
    attributes,
    ...(d.consumes === undefined ? {} : { consumesCounters: [{ counterSet: d.consumes.counterSet, counters: { [COUNTER]: { value: String(d.consumes.units) } } }] }),
  };
}

/** The slices for `offer` on `node`, at `generation`. Always at least one (an empty pool is still announced). */
export function buildSlices(driver: string, node: string, generation: number, offer: DraOffer): ResourceSlice[] {
  const specs: ({ devices: SliceDevice[] } | { sharedCounters: CounterSet[] })[] = [];
  const sets = offer.counterSets.map((c) => ({ name: c.name, counters: { [COUNTER]: { value: String(c.units) } } }));
  for (let i = 0; i < sets.length; i += MAX_COUNTER_SETS_PER_SLICE) specs.push({ sharedCounters: sets.slice(i, i + MAX_COUNTER_SETS_PER_SLICE) });
  const devices = offer.devices.map(sliceDevice);
  const per = devices.some((d) => d.consumesCounters !== undefined) ? MAX_COUNTER_DEVICES_PER_SLICE : MAX_DEVICES_PER_SLICE;
  for (let i = 0; i < devices.length; i += per) specs.push({ devices: devices.slice(i, i + per) });
  if (specs.length === 0) specs.push({ devices: [] });
  const base = sliceNameBase(driver, node);
  return specs.map((part, i) => ({
    apiVersion: 'resource.k8s.io/v1',
    kind: 'ResourceSlice',
    metadata: { name: `${base}-${i}` },
    spec: { driver, pool: { name: node, generation, resourceSliceCount: specs.length }, nodeName: node, ...part },
  }));
}

/** `<node>-<driver as a label>`, short enough that `-<index>` keeps it a 253-character subdomain. */
export function sliceNameBase(driver: string, node: string): string {
  const d = toDnsLabel(driver);
  return `${node.slice(0, 253 - d.length - 6).replace(/[.-]+$/, '')}-${d}`;
}
