/**
 * `class/`. Mainline: `mdev_bus/<parent>` links to every parent, a `<class>/<name>` link for each parent that is a
 * class device (`virtual/<class>/<name>`, as mtty's), and `vfio-dev/` for the bound devices' VFIO devices. The seed
 * v6 layout has its own `mdev/` with `mdev_start`/`mdev_stop` instead.
 */
import { type SysfsContext, classPath, parentClass, parentPath } from './context.js';
import { type Dynamic, type LookupDir, dir, dirChild, link } from './nodes.js';
import { seedClassDir } from './seed-v6.js';
import { vfioClassDir } from './vfio-dev.js';

/** `class/`. */
export function classDir(ctx: SysfsContext): LookupDir {
  if (ctx.layout === 'v6') return dir([dirChild('mdev', () => seedClassDir(ctx))]);
  const busHere = classPath('mdev_bus');
  const mdevBus: Dynamic = {
    list: () => ctx.core.parents().map((p) => ({ name: p.name, kind: 'symlink' as const })),
    lookup: (name) => {
      const p = ctx.core.parent(name);
      return p ? link(busHere, parentPath(p)) : undefined;
    },
  };
  // Fixed names first: a parent class called `mdev_bus` or `vfio-dev` is shadowed rather than merged.
  const classes: Dynamic = {
    list: () => classNames(ctx).map((name) => ({ name, kind: 'dir' as const })),
    lookup: (name) => (classNames(ctx).includes(name) ? parentClassDir(ctx, name) : undefined),
  };
  return dir([dirChild('mdev_bus', () => dir([], [mdevBus])), dirChild('vfio-dev', () => vfioClassDir(ctx))], [classes]);
}

function classNames(ctx: SysfsContext): string[] {
  const names = new Set<string>();
  for (const p of ctx.core.parents()) {
    const c = parentClass(p);
    if (c !== undefined) names.add(c);
  }
  return [...names].sort();
}

/** `class/<class>/`: a link per parent of that class. */
function parentClassDir(ctx: SysfsContext, cls: string): LookupDir {
  const here = classPath(cls);
  return dir([], [
    {
      list: () => ctx.core.parents().filter((p) => parentClass(p) === cls).map((p) => ({ name: p.name, kind: 'symlink' as const })),
      lookup: (name) => {
        const p = ctx.core.parent(name);
        return p !== undefined && parentClass(p) === cls ? link(here, parentPath(p)) : undefined;
      },
    },
  ]);
}
