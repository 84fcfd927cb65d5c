/**
 * The VFIO device of a bound mdev (mainline): `<mdev>/vfio-dev/vfio<N>/` and its class link `class/vfio-dev/vfio<N>`,
 * as `vfio_register_group_dev` makes them in the vendor's probe. They exist only while the device is bound, with the
 * index the core holds for that binding.
 */
import type { MdevDevice } from '../core/index.js';
import { type SysfsContext, classPath, deviceNamed, devicePath } from './context.js';
import { type LookupDir, dir, dirChild, fileChild, link, linkChild, rwFile } from './nodes.js';
import { parseUevent } from './parse.js';
import { powerDir } from './power.js';

const CLASS = 'vfio-dev';

/** `vfio<N>`, the name of a bound device's VFIO device; undefined while unbound. */
export function vfioName(d: Pick<MdevDevice, 'vfioIndex'>): string | undefined {
  return d.vfioIndex === undefined ? undefined : `vfio${d.vfioIndex}`;
}

/** `<mdev>/vfio-dev/vfio<N>`. */
export function vfioDevPath(d: MdevDevice, name: string): string[] {
  return [...devicePath(d), CLASS, name];
}

/** `<mdev>/vfio-dev/`: the one `vfio<N>` of the device named `mdevName` while it is bound. */
export function vfioDevDir(ctx: SysfsContext, mdevName: string): LookupDir {
  const bound = (): MdevDevice | undefined => {
    const d = deviceNamed(ctx, mdevName);
    return d !== undefined && d.vfioIndex !== undefined ? d : undefined;
  };
  return dir([], [
    {
      list: () => {
        const d = bound();
        return d === undefined ? [] : [{ name: vfioName(d)!, kind: 'dir' as const }];
      },
      lookup: (name) => {
        const d = bound();
        return d !== undefined && vfioName(d) === name ? vfioDir(d, name) : undefined;
      },
    },
  ]);
}

function vfioDir(d: MdevDevice, name: string): LookupDir {
  const here = vfioDevPath(d, name);
  return dir([
    linkChild('device', () => link(here, devicePath(d))),
    dirChild('power', () => powerDir()),
    linkChild('subsystem', () => link(here, classPath(CLASS))),
    // The kernel's shows nothing for an mdev's VFIO device (no character device under the group interface).
    fileChild('uevent', () => rwFile(() => '', (data) => parseUevent(data))),
  ]);
}

/**
 * `class/vfio-dev/`: a link per bound device. A lookup scans the active devices for the index (the core keeps no index
 * → device map); this directory is only ever read by people and udev, never on a hot path.
 */
export function vfioClassDir(ctx: SysfsContext): LookupDir {
  const here = classPath(CLASS);
  const bound = (): MdevDevice[] => ctx.core.devices().filter((d) => d.state === 'active' && d.vfioIndex !== undefined);
  return dir([], [
    {
      list: () =>
        bound()
          .sort((a, b) => a.vfioIndex! - b.vfioIndex!)
          .map((d) => ({ name: vfioName(d)!, kind: 'symlink' as const })),
      lookup: (name) => {
        const d = bound().find((x) => vfioName(x) === name);
        return d === undefined ? undefined : link(here, vfioDevPath(d, name));
      },
    },
  ]);
}
