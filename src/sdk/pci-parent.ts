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
import { err } from '../errors.js';
import { VFIO_DEVICE_API } from '../vfio/constants.js';
import { PciDevice, requirePciDevice } from '../vfio/pci-device.js';
import { native } from '../native/index.js';
import { DeviceInstance } from '../vfio-user/instance.js';
import { type AttributeHooks, LocalInstance } from '../vfio-user/local-instance.js';
import { Pool, type PoolSpec } from './pool.js';
import type { BackingFile } from '../vfio/backing-file.js';
import { openDefault, openNamed, parseFileName } from './file-source.js';

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

/**
 * A file the device works on (a disk's backing store), named by a read-write attribute `name` in the device's own
 * directory (`mdevctl modify --addattr=backing --value=PATH`). The root opens it (see `file-source.ts`: beneath
 * `dir`, no symlinks, a regular file or a block device) and the model gets it as a `BackingFile`, wherever it lives.
 * A device that names none gets a sparse `<uuid>.img` of `defaultSize` bytes in `dir`. The attribute reads back the
 * file's full path.
 */
export interface PciFileSpec<D extends PciDevice> {
  readonly name: string;
  /** The directory files may be named from and defaults are made in (absolute); undefined: the device takes no file. */
  readonly dir: string | undefined;
  /** Bytes of the default file of a device of `type` (the type's sysfs name). */
  defaultSize(type: string): number;
  /** Give the model its file, where the device lives. Throw `EBUSY` to refuse a change while a client uses the device. */
  attach(model: D, file: BackingFile): void | Promise<void>;
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
  /** Files the device works on; each adds its attribute to the device's own directory. */
  readonly files?: readonly PciFileSpec<D>[];
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
  const { start, stop, files } = spec;
  return new LocalInstance(model, {
    file: async (name, file) => {
      const f = files?.find((x) => x.name === name);
      if (f === undefined) throw err('EINVAL', `parent ${spec.name} declares no file ${name}`);
      await f.attach(model, file);
    },
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
  const files = new DeviceFiles(spec.files ?? []);
  const ops: ParentOps<DeviceInstance> = {
    create: (device) => {
      const units = pool?.reserve(device.type) ?? 0;
      let instance: DeviceInstance;
      try {
        instance = placement.place(device, () => buildInstance(spec, identityOf(device)));
      } catch (e) {
        pool?.release(units);
        throw e;
      }
      // Synchronous without files, as a kernel driver's create: a refusal is thrown, not a rejected promise.
      if (!files.any) {
        held.set(instance, units);
        return instance;
      }
      return files.attachDefaults(device, instance).then(
        () => {
          held.set(instance, units);
          return instance;
        },
        async (e: unknown) => {
          await instance.dispose();
          pool?.release(units);
          throw e;
        },
      );
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
    deviceAttributes: [...(spec.attributes ?? []).map((g) => attrGroup(g)), ...files.attributes()],
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

/**
 * The root's record of each device's files: what was named (the attribute's value) and how to open it again. The
 * model holds the open file; the root holds a name and opens it anew when a fresh model needs it.
 */
class DeviceFiles<D extends PciDevice> {
  readonly #specs: readonly PciFileSpec<D>[];
  readonly #labels = new WeakMap<DeviceInstance, Map<string, string>>();

  constructor(specs: readonly PciFileSpec<D>[]) {
    this.#specs = specs;
  }

  /** True when the parent declares any file. */
  get any(): boolean {
    return this.#specs.length > 0;
  }

  /** Each declared file's default, for a new device. */
  async attachDefaults(device: MdevDevice, instance: DeviceInstance): Promise<void> {
    const labels = new Map<string, string>();
    this.#labels.set(instance, labels);
    for (const f of this.#specs) {
      const dir = f.dir;
      if (dir === undefined) continue;
      const size = f.defaultSize(device.type.sysfsName);
      await instance.attachFile(f.name, () => openDefault(dir, device.uuid, size));
      labels.set(f.name, `default: ${dir}/${device.uuid}.img`);
    }
  }

  /** One attribute per file, in the device's own directory: what was named, and the way to name another. */
  attributes(): DeviceAttrGroupSpec<DeviceInstance>[] {
    if (this.#specs.length === 0) return [];
    const attrs = this.#specs.map((f): DeviceAttrSpec<DeviceInstance> => ({
      name: f.name,
      mode: 0o644,
      show: (_device, instance) => `${this.#labels.get(instance)?.get(f.name) ?? ''}\n`,
      store: async (_device, instance, value) => {
        const dir = f.dir;
        if (dir === undefined) throw err('EACCES', `no directory is configured for ${f.name} files`);
        const name = parseFileName(value);
        // Checked now, so a bad name fails the write itself; the model's copy is opened when it needs it.
        const probe = openNamed(dir, name);
        native.close(probe.fd);
        await instance.attachFile(f.name, () => openNamed(dir, name));
        let labels = this.#labels.get(instance);
        if (labels === undefined) this.#labels.set(instance, (labels = new Map()));
        labels.set(f.name, probe.label);
      },
    }));
    return [{ attrs }];
  }
}
