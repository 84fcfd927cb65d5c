/**
 * One mediated device's directory, `devices/<devicePath>/<name>/`, in both layouts. Core attributes first (as
 * `mdev_device_groups`), then the vendor's groups (`mdev_driver.driver.dev_groups`). Every store parses its input and
 * calls one core operation, returning or throwing what the core gives, like `remove_store` in `mdev_sysfs.c`.
 */
import type { AttrFile } from '../fuse/attr-tree.js';
import type { DeviceAttrGroupSpec, DeviceAttrSpec, MdevDevice } from '../core/types.js';
import {
  BUS_PATH,
  type SysfsContext,
  devicePath,
  driverPath,
  groupPath,
  liveDevice,
  parentPath,
  deviceNamed,
} from './context.js';
import { type Child, type LookupDir, dir, dirChild, fileChild, link, linkChild, rwFile, woFile } from './nodes.js';
import { parseBool, parseRemove, parseReset, parseUevent } from './parse.js';

/** The directory of `device` (which the caller found active); nodes below it re-check the device on every call. */
export function deviceDir(ctx: SysfsContext, device: MdevDevice): LookupDir {
  const here = devicePath(device);
  const name = device.name;
  const uuid = device.uuid;
  const live = (): MdevDevice => liveDevice(ctx, name);
  const current = (): MdevDevice | undefined => deviceNamed(ctx, name);
  const mainline = ctx.layout === 'mainline';

  const children: Child[] = [
    // Only while bound, and only to a driver directory that exists: a link must never dangle.
    linkChild(
      'driver',
      () => link(here, driverPath(current()?.driver ?? '')),
      () => {
        const drv = current()?.driver;
        return drv !== undefined && ctx.core.drivers().some((d) => d.name === drv);
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
    fileChild('online', () =>
      rwFile(
        () => (live().online ? '1\n' : '0\n'),
        (data) => ctx.core.setOnline(live().uuid, parseBool('online', data)),
      ),
    ),
    fileChild(
      'remove',
      () =>
        woFile(async (data) => {
          // As remove_store: 0 is a successful no-op; the device is gone before the write returns.
          if (parseRemove(data)) await ctx.core.remove(live().uuid);
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
      () => device.parent.hasReset,
    ),
    linkChild('subsystem', () => link(here, BUS_PATH)),
    fileChild('uevent', () => rwFile(() => uevent(live()), (data) => parseUevent(data))),
  ];
  const reserved = new Set(children.map((c) => c.name));
  for (const group of groupsByName(device.parent.deviceAttributes)) {
    if (group.name === undefined) {
      for (const spec of group.attrs) {
        // A vendor attribute may not shadow a core one (sysfs would refuse the duplicate name).
        if (!reserved.has(spec.name)) children.push(fileChild(spec.name, () => vendorFile(ctx, name, spec)));
      }
    } else if (!reserved.has(group.name)) {
      const attrs = group.attrs;
      children.push(dirChild(group.name, () => dir(attrs.map((spec) => fileChild(spec.name, () => vendorFile(ctx, name, spec))))));
    }
  }
  return dir(children);
}

/** The `uevent` file as the kernel shows it for a device on the mdev bus. */
function uevent(d: MdevDevice): string {
  const lines: string[] = [];
  if (d.driver !== undefined) lines.push(`DRIVER=${d.driver}`);
  lines.push(`MDEV_TYPE=${d.type.id}`);
  if (d.instance !== undefined) lines.push(`MDEV_INSTANCE=${d.instance}`);
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
