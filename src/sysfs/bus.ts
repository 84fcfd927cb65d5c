/**
 * `bus/mdev/` and the vendor drivers' modules (`module/<name>/`), as the driver core lays them out (`bus.c`): the
 * bus's `devices/` links, `drivers/<name>/` with a link per bound device, and the driver-core files. In mainline,
 * `drivers/<name>/unbind` detaches a device from its driver (the vfio-user socket closes, the driver link and the
 * vendor attributes go) and `bind` re-attaches it. The kernel's mdev bus `.match` refuses every driver, so its generic
 * `bind` answers `ENODEV`; umdev lets a vendor's driver take back its own devices instead, so an unbind is not a
 * one-way trip short of removing the device.
 */
import { err } from '../errors.js';
import type { MdevDevice } from '../core/index.js';
import {
  BUS_PATH,
  type SysfsContext,
  deviceNamed,
  devicePath,
  driverNames,
  driverPath,
  modulePath,
  shownDriver,
} from './context.js';
import { type Dynamic, type LookupDir, dir, dirChild, fileChild, link, linkChild, rwFile, roFile, woFile } from './nodes.js';
import { parseBool, parseDeviceName, parseUevent } from './parse.js';

/** `bus/mdev/`. */
export function busDir(ctx: SysfsContext): LookupDir {
  const here = [...BUS_PATH, 'devices'];
  const mainline = ctx.layout === 'mainline';
  const allDevices: Dynamic = {
    list: () => ctx.core.devices().filter((d) => d.state === 'active').map((d) => ({ name: d.name, kind: 'symlink' as const })),
    lookup: (name) => {
      const d = deviceNamed(ctx, name);
      return d ? link(here, devicePath(d)) : undefined;
    },
  };
  const drivers: Dynamic = {
    list: () => driverNames(ctx).map((name) => ({ name, kind: 'dir' as const })),
    lookup: (name) => (driverNames(ctx).includes(name) ? driverDir(ctx, name) : undefined),
  };
  return dir([
    dirChild('devices', () => dir([], [allDevices])),
    dirChild('drivers', () => dir([], [drivers])),
    fileChild(
      'drivers_autoprobe',
      () =>
        rwFile(
          () => (ctx.core.busAutoprobe ? '1\n' : '0\n'),
          (data) => {
            ctx.core.busAutoprobe = parseBool('drivers_autoprobe', data);
          },
        ),
      () => mainline,
    ),
    // As drivers_probe_store: an unknown device is ENODEV; an unbound one is offered to the drivers again.
    fileChild(
      'drivers_probe',
      () =>
        woFile(async (data) => {
          const d = namedDevice(ctx, data);
          if (d.driver === undefined) await ctx.core.bind(d.uuid);
        }),
      () => mainline,
    ),
    fileChild('uevent', () => woFile((data) => parseUevent(data)), () => mainline),
  ]);
}

/** The device a bind/unbind/drivers_probe write names, exactly (`bus_find_device_by_name`), or `ENODEV`. */
function namedDevice(ctx: SysfsContext, data: Buffer): MdevDevice {
  const name = parseDeviceName(data);
  const d = deviceNamed(ctx, name);
  if (d === undefined) throw err('ENODEV', `no device ${JSON.stringify(name)} on the mdev bus`);
  return d;
}

/** `bus/mdev/drivers/<driver>/`: a link per device bound to it, plus (mainline) bind, module, uevent and unbind. */
function driverDir(ctx: SysfsContext, driver: string): LookupDir {
  const here = driverPath(driver);
  const mainline = ctx.layout === 'mainline';
  return dir(
    [
      fileChild(
        'bind',
        () =>
          woFile(async (data) => {
            const d = namedDevice(ctx, data);
            if (d.parent.driverName !== driver) throw err('ENODEV', `device ${d.name} does not belong to driver ${driver}`);
            await ctx.core.bind(d.uuid);
          }),
        () => mainline,
      ),
      linkChild('module', () => link(here, modulePath(driver)), () => mainline),
      fileChild('uevent', () => woFile((data) => parseUevent(data)), () => mainline),
      // As unbind_store: only a device bound to this driver can be unbound from it.
      fileChild(
        'unbind',
        () =>
          woFile(async (data) => {
            const d = namedDevice(ctx, data);
            if (shownDriver(ctx, d) !== driver) throw err('ENODEV', `device ${d.name} is not bound to ${driver}`);
            await ctx.core.unbind(d.uuid);
          }),
        () => mainline,
      ),
    ],
    [
      {
        list: () =>
          ctx.core
            .devices()
            .filter((d) => d.state === 'active' && shownDriver(ctx, d) === driver)
            .map((d) => ({ name: d.name, kind: 'symlink' as const })),
        lookup: (name) => {
          const d = deviceNamed(ctx, name);
          return d && shownDriver(ctx, d) === driver ? link(here, devicePath(d)) : undefined;
        },
      },
    ],
  );
}

/** `module/`: one directory per vendor driver (mainline), so `drivers/<name>/module` never dangles. */
export function moduleDir(ctx: SysfsContext): LookupDir {
  return dir([], [
    {
      list: () => driverNames(ctx).map((name) => ({ name, kind: 'dir' as const })),
      lookup: (name) => (driverNames(ctx).includes(name) ? oneModule(name) : undefined),
    },
  ]);
}

/** `module/<name>/`: the few entries of a loaded module that say what it is; the driver link points back. */
function oneModule(name: string): LookupDir {
  const drivers = [...modulePath(name), 'drivers'];
  return dir([
    dirChild('drivers', () => dir([linkChild(`mdev:${name}`, () => link(drivers, driverPath(name)))])),
    fileChild('initstate', () => roFile(() => 'live\n')),
    fileChild('uevent', () => woFile((data) => parseUevent(data))),
  ]);
}
