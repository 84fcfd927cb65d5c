/**
 * `kernel/iommu_groups/<n>/`: one group per device, holding its `devices/<name>` link. In mainline also the group's
 * own files as a 6.12 kernel shows them for a VFIO no-IOMMU group: umdev devices do DMA through fds the VMM passes
 * (vfio-user), never through an IOMMU, so `name` says `vfio-noiommu`, `reserved_regions` is empty, `type` is
 * `unknown` and a write to it fails with `EINVAL` (`iommu_group_store_type` without a default domain).
 */
import { err } from '../errors.js';
import { type SysfsContext, decimalName, devicePath, groupPath, visibleDevice } from './context.js';
import { type Dynamic, type LookupDir, dir, dirChild, fileChild, link, roFile, rwFile } from './nodes.js';

/** `kernel/iommu_groups/`. */
export function groupsDir(ctx: SysfsContext): LookupDir {
  const mainline = ctx.layout === 'mainline';
  const groups: Dynamic = {
    list: () =>
      ctx.core
        .devices()
        .filter((d) => d.state === 'active' && d.iommuGroup !== undefined)
        .map((d) => d.iommuGroup as number)
        .sort((a, b) => a - b)
        .map((g) => ({ name: String(g), kind: 'dir' as const })),
    lookup: (name) => {
      const g = decimalName(name);
      const d = g === undefined ? undefined : visibleDevice(ctx.core.deviceByGroup(g));
      if (d === undefined || g === undefined) return undefined;
      const here = [...groupPath(g), 'devices'];
      const dname = d.name;
      return dir([
        dirChild('devices', () =>
          dir([], [
            {
              list: () => {
                const cur = visibleDevice(ctx.core.deviceByGroup(g));
                return cur ? [{ name: cur.name, kind: 'symlink' as const }] : [];
              },
              lookup: (n) => {
                const cur = visibleDevice(ctx.core.deviceByGroup(g));
                return cur && n === cur.name && n === dname ? link(here, devicePath(cur)) : undefined;
              },
            },
          ]),
        ),
        fileChild('name', () => roFile(() => 'vfio-noiommu\n'), () => mainline),
        fileChild('reserved_regions', () => roFile(() => ''), () => mainline),
        fileChild(
          'type',
          () =>
            rwFile(
              () => 'unknown\n',
              () => {
                throw err('EINVAL', `iommu group ${g} has no default domain to change`);
              },
            ),
          () => mainline,
        ),
      ]);
    },
  };
  return dir([], [groups]);
}
