/**
 * Today's kernel ABI below a parent (`mdev_sysfs.c`): `mdev_supported_types/<type-id>/` directories with
 * `create`, `name`, `description`, `device_api`, `available_instances` and `devices/`, plus the mdev directories.
 */
import { err } from '../errors.js';
import type { MdevType, Parent } from '../core/index.js';
import { type SysfsContext, classPath, deviceNamed, devicePath, liveParent, parentClass, parentPath } from './context.js';
import { deviceDir } from './device-dir.js';
import { type Child, type Dynamic, type LookupDir, dir, dirChild, fileChild, link, linkChild, roFile, rwFile, woFile } from './nodes.js';
import { parseCreate, parseUevent } from './parse.js';
import { powerDir } from './power.js';

/** The devices of one parent (both layouts), listed in O(n) and found by name in O(1). */
export function parentDevices(ctx: SysfsContext, parentName: string): Dynamic {
  return {
    list: () => ctx.core.devices({ parent: parentName }).filter((d) => d.state === 'active').map((d) => ({ name: d.name, kind: 'dir' as const })),
    lookup: (name) => {
      const d = deviceNamed(ctx, name);
      return d !== undefined && d.parent.name === parentName ? deviceDir(ctx, d) : undefined;
    },
  };
}

/** `mdev_supported_types/`: one real directory per type. */
export function supportedTypesDir(ctx: SysfsContext, parent: Parent): LookupDir {
  const name = parent.name;
  return dir([], [
    {
      list: () => (ctx.core.parent(name)?.types ?? []).map((t) => ({ name: t.id, kind: 'dir' as const })),
      lookup: (id) => {
        const t = ctx.core.type(name, id);
        return t === undefined ? undefined : typeDir(ctx, t);
      },
    },
  ]);
}

/** `mdev_supported_types/<type-id>/`. */
function typeDir(ctx: SysfsContext, type: MdevType): LookupDir {
  const parentName = type.parent.name;
  const typeId = type.id;
  // Re-read at every call: a node kept across an unregistration must fail, not show the old type.
  const live = (): MdevType => {
    liveParent(ctx, parentName);
    const t = ctx.core.type(parentName, typeId);
    if (t === undefined) throw err('ENODEV', `type ${typeId} of ${parentName} is gone`);
    return t;
  };
  const here = [...parentPath(type.parent), 'mdev_supported_types', typeId];
  const devicesHere = [...here, 'devices'];
  return dir([
    // As create_store: parse, then one core call whose errno (EEXIST, ENODEV, ENOSPC, EUSERS…) is the write's.
    fileChild('create', () =>
      woFile(async (data) => {
        await ctx.core.create(parentName, typeId, parseCreate(data), { origin: 'sysfs' });
      }),
    ),
    fileChild('available_instances', () => roFile(() => `${ctx.core.availableInstances(live())}\n`)),
    fileChild('device_api', () => roFile(() => `${live().deviceApi}\n`)),
    fileChild('name', () => roFile(() => `${live().name}\n`)),
    // Like mdev_types_core_is_visible: only when the driver can describe the type.
    // The driver's text; a missing final newline is added, as every sysfs value ends in one.
    fileChild('description', () => roFile(() => (live().description?.() ?? '').replace(/\n?$/, '\n')), () => type.description !== undefined),
    dirChild('devices', () =>
      dir([], [
        {
          list: () =>
            ctx.core
              .devices({ parent: parentName, type: live() })
              .filter((d) => d.state === 'active')
              .map((d) => ({ name: d.name, kind: 'symlink' as const })),
          lookup: (name) => {
            const d = deviceNamed(ctx, name);
            if (d === undefined || d.parent.name !== parentName || d.type.id !== typeId) return undefined;
            return link(devicesHere, devicePath(d));
          },
        },
      ]),
    ),
  ]);
}

/**
 * The mainline entries of a parent directory (the device directories are added by the caller): the types, plus what
 * the driver core gives every device: `power/`, `uevent` (empty: mtty's parent has no device number) and, for a class
 * device, `subsystem -> class/<class>`.
 */
export function mainlineParentChildren(ctx: SysfsContext, parent: Parent): Child[] {
  const cls = parentClass(parent);
  return [
    dirChild('mdev_supported_types', () => supportedTypesDir(ctx, parent)),
    dirChild('power', () => powerDir()),
    linkChild('subsystem', () => link(parentPath(parent), classPath(cls ?? '')), () => cls !== undefined),
    fileChild('uevent', () => rwFile(() => '', (data) => parseUevent(data))),
  ];
}
