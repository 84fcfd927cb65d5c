/**
 * What every part of the tree shares: the core it renders (the only state) and the layout, plus the canonical path of
 * each kind of node, so links are computed from one place and can never disagree with where the node really is.
 */
import type { Core, MdevDevice, Parent } from '../core/index.js';
import { err } from '../errors.js';

/** `mainline`: today's kernel ABI (what mdevctl drives). `v6`: the 2016 seed patch's parent files and class files. */
export type SysfsLayout = 'mainline' | 'v6';

/** Shared by all nodes of one tree; lives as long as the tree. */
export interface SysfsContext {
  readonly core: Core;
  readonly layout: SysfsLayout;
  /** Whether umdev's own device files (`online`, `reset`) are shown; off gives the kernel's layout exactly. */
  readonly extensions: boolean;
}

/** `devices/<devicePath>`: where a parent's directory is. */
export function parentPath(p: Parent): string[] {
  return ['devices', ...p.devicePath.split('/')];
}

/** `devices/<devicePath>/<name>`: where a device's directory is. */
export function devicePath(d: MdevDevice): string[] {
  return [...parentPath(d.parent), d.name];
}

/** `bus/mdev`. */
export const BUS_PATH: readonly string[] = ['bus', 'mdev'];

/** `class/<name>`. */
export function classPath(name: string): string[] {
  return ['class', name];
}

/**
 * The class of a parent whose directory is `virtual/<class>/<name>`: the kernel puts a class device that has no parent
 * device there (mtty: class `mtty`). Other parents (on a bus) have no class here.
 */
export function parentClass(p: Parent): string | undefined {
  const segs = p.devicePath.split('/');
  return segs.length === 3 && segs[0] === 'virtual' ? segs[1] : undefined;
}

/** `bus/mdev/drivers/<name>`. */
export function driverPath(name: string): string[] {
  return [...BUS_PATH, 'drivers', name];
}

/** `module/<name>`: the vendor driver's module. */
export function modulePath(name: string): string[] {
  return ['module', name];
}

/**
 * The driver a view shows a bound device under. In the seed the bus driver (`vfio_mpci`) was the mdev driver, so v6
 * shows the core's bus driver. In mainline the vendor's own `mdev_driver` is bound and VFIO is only how it serves the
 * device (`vfio_register_emulated_iommu_dev` in its probe), so mainline shows the vendor's `driverName`
 * (`drivers/mtty`, `DRIVER=mtty`) whichever umdev bus driver (the vfio-user server) really serves it: which transport
 * carries VFIO is umdev's business, not the ABI's.
 */
export function shownDriver(ctx: SysfsContext, d: MdevDevice): string | undefined {
  if (d.driver === undefined) return undefined;
  return ctx.layout === 'mainline' ? d.parent.driverName : d.driver;
}

/** The driver directories under `bus/mdev/drivers`: one per vendor (mainline) or per bus driver (v6), sorted. */
export function driverNames(ctx: SysfsContext): string[] {
  const names = ctx.layout === 'mainline' ? ctx.core.parents().map((p) => p.driverName) : ctx.core.drivers().map((d) => d.name);
  return [...new Set(names)].sort();
}

/** `kernel/iommu_groups/<n>`. */
export function groupPath(group: number): string[] {
  return ['kernel', 'iommu_groups', String(group)];
}

/** Only active devices are visible; the core's lookups promise that, and this keeps the promise checked here too. */
export function visibleDevice(d: MdevDevice | undefined): MdevDevice | undefined {
  return d !== undefined && d.state === 'active' ? d : undefined;
}

/**
 * The visible device with exactly this sysfs name. The core's lookup accepts any case; sysfs names are exact, so
 * `bus/mdev/devices/<UPPER-CASE>` must not exist (mdevctl relies on the lower-case entry only).
 */
export function deviceNamed(ctx: SysfsContext, name: string): MdevDevice | undefined {
  const d = visibleDevice(ctx.core.deviceByName(name));
  return d !== undefined && d.name === name ? d : undefined;
}

/** A device by sysfs name at the moment of a `show`/`store`, or `ENODEV` if it went away since the lookup. */
export function liveDevice(ctx: SysfsContext, name: string): MdevDevice {
  const d = deviceNamed(ctx, name);
  if (d === undefined) throw err('ENODEV', `device ${name} is gone`);
  return d;
}

/** A parent by name at the moment of a `show`/`store`, or `ENODEV`. */
export function liveParent(ctx: SysfsContext, name: string): Parent {
  const p = ctx.core.parent(name);
  if (p === undefined) throw err('ENODEV', `parent ${name} is gone`);
  return p;
}

/** The canonical decimal form of a non-negative integer name (`"7"`, not `"07"`), or undefined. */
export function decimalName(name: string): number | undefined {
  if (!/^(0|[1-9][0-9]{0,9})$/.test(name)) return undefined;
  return Number(name);
}
