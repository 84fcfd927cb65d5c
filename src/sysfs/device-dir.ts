/**
 * One mediated device's directory, `devices/<devicePath>/<name>/`, in both layouts. Core attributes first (as
 * `mdev_device_groups`), then the vendor's groups (`mdev_driver.driver.dev_groups`). Every store parses its input and
 * calls one core operation, returning or throwing what the core gives, like `remove_store` in `mdev_sysfs.c`.
 *
 * In mainline the vendor's groups are the bound driver's `dev_groups`, so they exist only while the device is bound
 * (`really_probe` adds them, `device_release_driver` removes them), as does `vfio-dev/`; the driver-core `power/` is
 * always there. `online` and `reset` are umdev's own (`extensions`): no kernel has them in an mdev's directory.
 */
import type { AttrFile } from '../fuse/attr-tree.js';
import type { DeviceAttrGroupSpec, DeviceAttrSpec, MdevDevice } from '../core/index.js';
import {
  BUS_PATH,
  type SysfsContext,
  devicePath,
  driverNames,
  driverPath,
  groupPath,
  liveDevice,
  parentPath,
  deviceNamed,
  shownDriver,
} from './context.js';
import { type Child, type LookupDir, dir, dirChild, fileChild, link, linkChild, rwFile, woFile } from './nodes.js';
import { parseBool, parseRemove, parseReset, parseUevent } from './parse.js';
import { powerDir } from './power.js';
import { vfioDevDir } from './vfio-dev.js';

/** The directory of `device` (which the caller found active); nodes below it re-check the device on every call. */
export function deviceDir(ctx: SysfsContext, device: MdevDevice): LookupDir {
  const here = devicePath(device);
  const name = device.name;
  const uuid = device.uuid;
  const live = (): MdevDevice => liveDevice(ctx, name);
  const current = (): MdevDevice | undefined => deviceNamed(ctx, name);
  const mainline = ctx.layout === 'mainline';
  const extensions = ctx.extensions;
  const shown = (): string | undefined => {
    const d = current();
    return d === undefined ? undefined : shownDriver(ctx, d);
  };
  const bound = (): boolean => current()?.driver !== undefined;

  const children: Child[] = [
    // Only while bound, and only to a driver directory that exists: a link must never dangle.
    linkChild(
      'driver',
      () => link(here, driverPath(shown() ?? '')),
      () => {
        const drv = shown();
        return drv !== undefined && driverNames(ctx).includes(drv);
      },
    ),
    linkChild(
      'iommu_group',
      () => link(here, groupPath(current()?.iommuGroup ?? -1)),
      () => {
        const g = current()?.iommuGroup;
        return g !== undefined && ctx.core.deviceByGroup(g)?.uuid === uuid;
      },
    ),
    linkChild('mdev_type', () => link(here, [...parentPath(device.parent), 'mdev_supported_types', device.type.id]), () => mainline),
    fileChild(
      'online',
      () =>
        rwFile(
          () => (live().online ? '1\n' : '0\n'),
          (data) => ctx.core.setOnline(live().uuid, parseBool('online', data)),
        ),
      () => extensions,
    ),
    dirChild('power', () => powerDir(), () => mainline),
    fileChild(
      'remove',
      () =>
        woFile(async (data) => {
          // As remove_store: 0 is a successful no-op; the device is gone before the write returns.
          if (parseRemove(data)) await ctx.core.remove(live().uuid, { origin: 'sysfs' });
        }),
      () => mainline,
    ),
    fileChild(
      'reset',
      () =>
        woFile((data) => {
          parseReset(data);
          return ctx.core.reset(live().uuid);
        }),
      () => extensions && device.parent.hasReset,
    ),
    linkChild('subsystem', () => link(here, BUS_PATH)),
    fileChild('uevent', () => rwFile(() => uevent(ctx, live()), (data) => parseUevent(data))),
    dirChild('vfio-dev', () => vfioDevDir(ctx, name), () => mainline && current()?.vfioIndex !== undefined),
  ];
  // Mainline: the bound driver's groups; v6: the parent's `mdev_attr_groups`, there from creation.
  const vendorVisible = mainline ? bound : undefined;
  const reserved = new Set(children.map((c) => c.name));
  for (const group of groupsByName(device.parent.deviceAttributes)) {
    if (group.name === undefined) {
      for (const spec of group.attrs) {
        // A vendor attribute may not shadow a core one (sysfs would refuse the duplicate name).
        if (!reserved.has(spec.name)) children.push(fileChild(spec.name, () => vendorFile(ctx, name, spec), vendorVisible));
      }
    } else if (!reserved.has(group.name)) {
      const attrs = group.attrs;
      children.push(dirChild(group.name, () => dir(attrs.map((spec) => fileChild(spec.name, () => vendorFile(ctx, name, spec)))), vendorVisible));
    }
  }
  return dir(children);
}

/**
 * The `uevent` file. Mainline: only the driver core's `DRIVER=` while bound, as 6.12 shows it; the mdev bus has no
 * `uevent` callback of its own, so there is no `MDEV_TYPE=`. The seed v6 layout adds umdev's `MDEV_TYPE=` and
 * `MDEV_INSTANCE=`, which tell instances of one UUID apart.
 */
function uevent(ctx: SysfsContext, d: MdevDevice): string {
  const lines: string[] = [];
  const driver = shownDriver(ctx, d);
  if (driver !== undefined) lines.push(`DRIVER=${driver}`);
  if (ctx.layout === 'v6') {
    lines.push(`MDEV_TYPE=${d.type.id}`);
    if (d.instance !== undefined) lines.push(`MDEV_INSTANCE=${d.instance}`);
  }
  return lines.map((l) => `${l}\n`).join('');
}

/** A vendor attribute: the vendor's `show`/`store` with the device and its state (`driverData`). */
function vendorFile(ctx: SysfsContext, name: string, spec: DeviceAttrSpec): AttrFile {
  const file: { -readonly [K in keyof AttrFile]: AttrFile[K] } = { kind: 'file', mode: spec.mode };
  const { show, store } = spec;
  if (show) {
    file.show = () => {
      const d = liveDevice(ctx, name);
      return show(d, d.driverData);
    };
  }
  if (store) {
    file.store = (data) => {
      const d = liveDevice(ctx, name);
      return store(d, d.driverData, data.toString('utf8'));
    };
  }
  return file;
}

/** Groups with the same directory name are merged, as they share one kernfs directory. */
function groupsByName(groups: readonly DeviceAttrGroupSpec[]): DeviceAttrGroupSpec[] {
  const out = new Map<string | undefined, DeviceAttrSpec[]>();
  for (const g of groups) {
    const attrs = out.get(g.name) ?? [];
    const names = new Set(attrs.map((a) => a.name));
    for (const a of g.attrs) if (!names.has(a.name)) attrs.push(a);
    out.set(g.name, attrs);
  }
  return [...out].map(([n, attrs]) => (n === undefined ? { attrs } : { name: n, attrs }));
}
