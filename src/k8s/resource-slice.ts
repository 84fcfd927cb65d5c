/**
 * Concepts: the ResourceSlices (resource.k8s.io/v1) that describe this node's umdev devices to the DRA scheduler.
 * The pool is named after the node and holds what `inventory.ts` offers for every configured type: existing devices
 * (named by UUID) and the free slots of dynamic types. Each device carries attributes `parent`, `type`, `typeName`,
 * `deviceApi`, `slot` (a free slot, created on NodePrepareResources) and `uuid` (once the device exists), and the
 * capacity `poolInstances`: how many instances of its type the parent's pool holds now (existing plus available),
 * which is what all of the type's slots draw from. A pool larger than 128 devices is split over several slices,
 * each naming the count, and every change bumps the pool's generation.
 */
import type { TypeView } from '../daemon/api/views.js';
import { resolveResources, type K8sConfig } from './config.js';
import type { OfferedDevice, SlotIndex } from './inventory.js';
import { toDnsLabel } from './names.js';
import type { UmdevSnapshot } from './umdev-watch.js';

export const MAX_DEVICES_PER_SLICE = 128;
const MAX_STRING = 64;

export type DeviceAttribute = { readonly string: string } | { readonly bool: boolean } | { readonly int: number };

export interface SliceDevice {
  readonly name: string;
  readonly attributes: Readonly<Record<string, DeviceAttribute>>;
  readonly capacity: Readonly<Record<string, { readonly value: string }>>;
}

export interface ResourceSlice {
  readonly apiVersion: 'resource.k8s.io/v1';
  readonly kind: 'ResourceSlice';
  readonly metadata: { readonly name: string };
  readonly spec: {
    readonly driver: string;
    readonly pool: { readonly name: string; readonly generation: number; readonly resourceSliceCount: number };
    readonly nodeName: string;
    readonly devices: readonly SliceDevice[];
  };
}

/** The DRA driver's view of the node: what it offers per device name (for preparing claims). */
export function offeredForDra(cfg: Pick<K8sConfig, 'resources' | 'resourcePrefix'>, snap: UmdevSnapshot, slots: SlotIndex): OfferedDevice[] {
  const out: OfferedDevice[] = [];
  for (const r of resolveResources(cfg, snap.types)) {
    for (const { parent, type } of r.types) {
      const t = snap.types.find((x) => x.parent === parent && x.id === type);
      if (t !== undefined) out.push(...slots.offer(snap, t, r.dynamic));
    }
  }
  // Two resources may name one type; a device is offered once.
  return [...new Map(out.map((d) => [d.id, d])).values()];
}

function sliceDevice(d: OfferedDevice, t: TypeView | undefined, existingOfType: number): SliceDevice {
  const attributes: Record<string, DeviceAttribute> = {};
  // The API refuses strings over 64 characters; such a name is left out rather than cut into a wrong one.
  const str = (k: string, v: string | undefined): void => {
    if (v !== undefined && v.length <= MAX_STRING) attributes[k] = { string: v };
  };
  str('parent', d.parent);
  str('type', d.type);
  str('typeName', t?.name);
  str('deviceApi', t?.deviceApi);
  attributes.slot = { bool: d.device === undefined };
  if (d.device !== undefined) str('uuid', d.uuid);
  const pool = existingOfType + (t?.availableInstances ?? 0);
  return { name: d.id, attributes, capacity: { poolInstances: { value: String(pool) } } };
}

/** The slices for `offered` on `node`, at `generation`. Always at least one (an empty pool is still announced). */
export function buildSlices(driver: string, node: string, generation: number, snap: UmdevSnapshot, offered: readonly OfferedDevice[]): ResourceSlice[] {
  const devices = offered.map((d) => {
    const t = snap.types.find((x) => x.parent === d.parent && x.id === d.type);
    const existing = snap.devices.filter((x) => x.parent === d.parent && x.type === d.type).length;
    return sliceDevice(d, t, existing);
  });
  const chunks: SliceDevice[][] = [];
  for (let i = 0; i < devices.length; i += MAX_DEVICES_PER_SLICE) chunks.push(devices.slice(i, i + MAX_DEVICES_PER_SLICE));
  if (chunks.length === 0) chunks.push([]);
  const base = sliceNameBase(driver, node);
  return chunks.map((chunk, i) => ({
    apiVersion: 'resource.k8s.io/v1',
    kind: 'ResourceSlice',
    metadata: { name: `${base}-${i}` },
    spec: { driver, pool: { name: node, generation, resourceSliceCount: chunks.length }, nodeName: node, devices: chunk },
  }));
}

/** `<node>-<driver as a label>`, short enough that `-<index>` keeps it a 253-character subdomain. */
export function sliceNameBase(driver: string, node: string): string {
  const d = toDnsLabel(driver);
  return `${node.slice(0, 253 - d.length - 6).replace(/[.-]+$/, '')}-${d}`;
}
