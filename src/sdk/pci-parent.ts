/**
 * Concepts: a parent whose devices are `PciDevice`s, the usual shape of a vendor driver. The vendor declares the
 * parent (`PciParentSpec`): its types, the pool they draw on, how to build one device's model (`device`), the
 * vendor attributes, and optional start/stop. umdev turns the declaration into the core's `ParentSpec`, and keeps
 * two things apart that a kernel driver keeps in one module:
 *
 * - the parent's part (types, pool accounting, attributes drawn from the device's record) runs where the core is;
 * - the device's part (the model built by `device`, attributes drawn from its registers, start/stop, reset) runs
 *   where the device lives: a device host of its own under umdevd, or this process (`pciParent`'s default
 *   placement, for tests and tools).
 *
 * So `device` must build the whole model from the type alone, and an attribute says which part it belongs to:
 * `record` (from the device's name and type, answered without reaching the device) or `show`/`store` (on the model).
 */
import type { DeviceAttrGroupSpec, DeviceAttrSpec, MdevDevice, MdevType, ParentOps, ParentSpec, TypeSpec } from '../core/index.js';
import { VFIO_DEVICE_API } from '../vfio/constants.js';
import { PciDevice, requirePciDevice } from '../vfio/pci-device.js';
import { DeviceInstance } from '../vfio-user/instance.js';
import { type AttributeHooks, LocalInstance } from '../vfio-user/local-instance.js';
import { Pool, type PoolSpec } from './pool.js';

/** One vendor attribute of a PCI device: drawn from the record (`record`) or from the model (`show`/`store`). */
export interface PciAttrSpec<D extends PciDevice> {
  readonly name: string;
  /** Permission bits as sysfs shows them: 0o444 read-only, 0o200 write-only, 0o644 read-write. */
  readonly mode: number;
  /** The value from the device's record alone (its name, its type), ending in `\n`. */
  record?(device: MdevDevice): string;
  /** The value from the device's model, ending in `\n`. */
  show?(model: D): string | Promise<string>;
  /** Parse and apply a write to the model; throw `UmdevError` (usually `EINVAL`) to refuse it with nothing changed. */
  store?(model: D, value: string): void | Promise<void>;
}

/** A named group of vendor attributes (`vendor/`), or the device's own directory when `name` is absent. */
export interface PciAttrGroupSpec<D extends PciDevice> {
  readonly name?: string;
  readonly attrs: readonly PciAttrSpec<D>[];
}

/** What a new device's model is built from: its type, and its names (for log lines). */
export interface DeviceIdentity {
  /** The type's sysfs name within the parent (`2` for `mtty-2`). */
  readonly type: string;
  readonly uuid: string;
  readonly name: string;
}

/** What a vendor writes for a PCI parent. */
export interface PciParentSpec<D extends PciDevice> {
  /** `dev_name(parent)`: the entry in `/sys/class/mdev_bus`, and the basename of `devicePath`. */
  readonly name: string;
  readonly devicePath: string;
  readonly driverName: string;
  readonly types: readonly TypeSpec[];
  /** A limit on devices of all types together (EUSERS past it), when the parent has no `pool`. */
  readonly maxInstances?: number;
  /** Units its devices share (ports, MiB): `available_instances` and ENOSPC follow from it. */
  readonly pool?: PoolSpec;
  /** Build one device's model. Runs where the device lives; must not depend on anything but `identity`. */
  device(identity: DeviceIdentity): D;
  /** The vendor's start and stop (the device's `online`); without them a device is online from creation. */
  start?(model: D): void | Promise<void>;
  stop?(model: D): void | Promise<void>;
  readonly attributes?: readonly PciAttrGroupSpec<D>[];
  /** Seed v6 `supported_config`: the text of the read-only `mdev_supported_types` file. */
  supportedConfigs?(): string;
}

/** Where a parent's devices live: gives each new device its instance. */
export interface Placement {
  /** The instance of `device`; `build` makes it in this process (a placement elsewhere builds it there instead). */
  place(device: MdevDevice, build: () => LocalInstance): DeviceInstance;
}

/** Devices live in this process. */
export const inProcess: Placement = { place: (_device, build) => build() };

/** The core's spec of a PCI parent, with the declaration it was made from (which a device host builds from too). */
export type PciParent<D extends PciDevice> = ParentSpec<DeviceInstance> & { readonly declaration: PciParentSpec<D> };

/** Build `spec`'s model for `identity`, checked to be a `PciDevice`, with its vendor hooks: the device's part. */
export function buildInstance<D extends PciDevice>(spec: PciParentSpec<D>, identity: DeviceIdentity): LocalInstance {
  const model = spec.device(identity);
  if (!(model instanceof PciDevice)) requirePciDevice(model, `parent ${spec.name}`);
  const attrs = new Map<string, PciAttrSpec<D>>();
  for (const g of spec.attributes ?? []) for (const a of g.attrs) if (a.record === undefined) attrs.set(attrKey(g.name, a.name), a);
  const { start, stop } = spec;
  return new LocalInstance(model, {
    attribute: (group, name): AttributeHooks | undefined => {
      const a = attrs.get(attrKey(group, name));
      if (a === undefined) return undefined;
      const { show, store } = a;
      return { ...(show ? { show: () => show(model) } : {}), ...(store ? { store: (v: string) => store(model, v) } : {}) };
    },
    ...(start ? { start: () => start(model) } : {}),
    ...(stop ? { stop: () => stop(model) } : {}),
  });
}

function attrKey(group: string | undefined, name: string): string {
  return group === undefined ? name : `${group}/${name}`;
}

/** The identity a device's model is built from. */
export function identityOf(device: MdevDevice): DeviceIdentity {
  return { type: device.type.sysfsName, uuid: device.uuid, name: device.name };
}

/**
 * The core's `ParentSpec` for `spec`, whose devices are placed by `placement` (default: in this process). The
 * device API is `vfio-pci`; the sysfs `reset` resets the device (ENOTTY when its model declares none); removal
 * disposes of the instance, then gives the pool its units back.
 */
export function pciParent<D extends PciDevice>(spec: PciParentSpec<D>, placement: Placement = inProcess): PciParent<D> {
  const pool = spec.pool === undefined ? undefined : new Pool(spec.pool, spec.name);
  const held = new WeakMap<DeviceInstance, number>();
  const ops: ParentOps<DeviceInstance> = {
    create: (device) => {
      const units = pool?.reserve(device.type) ?? 0;
      try {
        const instance = placement.place(device, () => buildInstance(spec, identityOf(device)));
        held.set(instance, units);
        return instance;
      } catch (e) {
        pool?.release(units);
        throw e;
      }
    },
    remove: async (_device, instance) => {
      try {
        await instance.dispose();
      } finally {
        // Pairs with the reservation in create; the map makes a repeated remove harmless.
        const units = held.get(instance);
        if (units !== undefined) {
          held.delete(instance);
          pool?.release(units);
        }
      }
    },
    reset: (_device, instance) => instance.reset(),
    ...(pool === undefined ? {} : { getAvailable: (type: MdevType) => pool.available(type) }),
    ...(spec.start ? { start: (_d: MdevDevice, i: DeviceInstance) => i.start() } : {}),
    ...(spec.stop ? { stop: (_d: MdevDevice, i: DeviceInstance) => i.stop() } : {}),
    ...(spec.supportedConfigs ? { supportedConfigs: spec.supportedConfigs } : {}),
  };
  return {
    name: spec.name,
    devicePath: spec.devicePath,
    driverName: spec.driverName,
    deviceApi: VFIO_DEVICE_API.PCI,
    types: spec.types,
    ...(spec.maxInstances === undefined ? {} : { maxInstances: spec.maxInstances }),
    ops,
    deviceAttributes: (spec.attributes ?? []).map((g) => attrGroup(g)),
    declaration: spec,
  };
}

/** A vendor attribute group as the core renders it: record attributes here, model attributes on the instance. */
function attrGroup<D extends PciDevice>(g: PciAttrGroupSpec<D>): DeviceAttrGroupSpec<DeviceInstance> {
  const attrs = g.attrs.map((a): DeviceAttrSpec<DeviceInstance> => {
    const { record } = a;
    if (record !== undefined) return { name: a.name, mode: a.mode, show: (device) => record(device) };
    return {
      name: a.name,
      mode: a.mode,
      ...(a.show ? { show: (_device: MdevDevice, i: DeviceInstance) => i.showAttribute(g.name, a.name) } : {}),
      ...(a.store ? { store: (_device: MdevDevice, i: DeviceInstance, v: string) => i.storeAttribute(g.name, a.name, v) } : {}),
    };
  });
  return g.name === undefined ? { attrs } : { name: g.name, attrs };
}
