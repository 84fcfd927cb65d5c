/**
 * Concepts: `SysfsTree` is the `AttrTree` of one core, mountable at `/sys`. It holds no state of its own: every
 * directory listing, value and link is computed from the core when asked, and only `active` devices are visible, so
 * a device's directory, its attributes and all links to it appear together when the core activates it (before the
 * `create` write returns) and vanish together when removal starts (before the `remove` write returns). Nothing can
 * dangle: each link is shown only while its target is. `resolve` walks the path with one O(1) lookup per component.
 */
import type { Core, CoreEvent, MdevDevice, Parent } from '../core/index.js';
import type { AttrNode, AttrTree } from '../fuse/attr-tree.js';
import { busDir, moduleDir } from './bus.js';
import { classDir } from './class-dir.js';
import {
  BUS_PATH,
  type SysfsContext,
  type SysfsLayout,
  classPath,
  devicePath,
  driverNames,
  driverPath,
  groupPath,
  modulePath,
  parentClass,
  parentPath,
  shownDriver,
  visibleDevice,
} from './context.js';
import { groupsDir } from './iommu-groups.js';
import { mainlineParentChildren, parentDevices } from './mainline.js';
import { type Dynamic, type Entry, type LookupDir, dir, dirChild } from './nodes.js';
import { seedParentChildren } from './seed-v6.js';
import { vfioDevPath, vfioName } from './vfio-dev.js';

/** Options of `SysfsTree`. */
export interface SysfsTreeOptions {
  /** Which ABI to render; `mainline` (default) is what mdevctl drives. */
  readonly layout?: SysfsLayout;
  /**
   * Show umdev's own device files, `online` and `reset` (default true). Off, the mainline layout is a 6.12 kernel's
   * entry for entry; nothing else differs.
   */
  readonly extensions?: boolean;
}

/** One change the FUSE server should tell the kernel about. */
export interface TreeChange {
  readonly kind: 'add' | 'remove';
  readonly path: readonly string[];
}

/** The sysfs tree of `core`. Owns only its event subscriptions (dropped by each `onChange` unsubscribe). */
export class SysfsTree implements AttrTree {
  readonly #ctx: SysfsContext;
  readonly #root: LookupDir;

  constructor(core: Core, options: SysfsTreeOptions = {}) {
    this.#ctx = { core, layout: options.layout ?? 'mainline', extensions: options.extensions ?? true };
    this.#root = rootDir(this.#ctx);
  }

  get layout(): SysfsLayout {
    return this.#ctx.layout;
  }

  get extensions(): boolean {
    return this.#ctx.extensions;
  }

  resolve(path: readonly string[]): AttrNode | undefined {
    let node: AttrNode | undefined = this.#root;
    for (const name of path) {
      // Every directory of this tree is made by `dir()`, so it can look one child up without listing the others.
      if (node === undefined || node.kind !== 'dir') return undefined;
      node = (node as LookupDir).lookup(name);
    }
    return node;
  }

  /**
   * Reports the paths that appear or vanish with each device and parent. Called synchronously from the core's event,
   * which the core emits before the operation that caused it completes. A removed device or parent is no longer in
   * the core when its event comes, so the paths each one had are remembered from when it was seen (at subscription or
   * at its `add`/`registered` event, and again at a device's `change`, which the core emits on bind and unbind):
   * invalidation bookkeeping only, never used to render anything.
   */
  onChange(listener: (change: TreeChange) => void): () => void {
    const core = this.#ctx.core;
    // What each device's paths depend on that can change, not the paths themselves: a few words per device instead of
    // a dozen path arrays, since a daemon may hold thousands of idle devices.
    const devices = new Map<string, SeenDevice>();
    const parents = new Map<string, readonly (readonly string[])[]>();
    for (const p of core.parents()) parents.set(p.name, this.#parentPaths(p));
    let shared = this.#sharedPaths();
    for (const d of core.devices()) if (d.state === 'active') devices.set(d.uuid, seen(this.#ctx, d));
    const emit = (kind: TreeChange['kind'], paths: readonly (readonly string[])[] | undefined): void => {
      for (const path of paths ?? []) listener({ kind, path });
    };
    const onEvent = (e: CoreEvent): void => {
      if (e.kind === 'add' && e.uuid !== undefined) {
        const d = visibleDevice(core.device(e.uuid));
        if (d === undefined) return;
        const now = seen(this.#ctx, d);
        devices.set(d.uuid, now);
        emit('add', this.#devicePaths(now));
      } else if (e.kind === 'change' && e.uuid !== undefined) {
        // The core emits `change` when an existing device is bound or unbound: its driver link (and IOMMU group)
        // appear or vanish, and removal must later report what the device has then, not what it had at `add`.
        const was = devices.get(e.uuid);
        const d = visibleDevice(core.device(e.uuid));
        if (was === undefined || d === undefined) return;
        const now = seen(this.#ctx, d);
        const before = this.#devicePaths(was);
        const after = this.#devicePaths(now);
        const key = (p: readonly string[]): string => p.join('/');
        const had = new Set(before.map(key));
        const has = new Set(after.map(key));
        devices.set(d.uuid, now);
        emit('remove', before.filter((p) => !has.has(key(p))));
        emit('add', after.filter((p) => !had.has(key(p))));
      } else if (e.kind === 'remove' && e.uuid !== undefined) {
        const was = devices.get(e.uuid);
        if (was !== undefined) emit('remove', this.#devicePaths(was));
        devices.delete(e.uuid);
      } else if (e.kind === 'registered') {
        const p = core.parent(e.parent);
        if (p === undefined) return;
        parents.set(p.name, this.#parentPaths(p));
        emit('add', parents.get(p.name));
      } else if (e.kind === 'unregistered') {
        emit('remove', parents.get(e.parent));
        parents.delete(e.parent);
      }
      if (e.kind === 'registered' || e.kind === 'unregistered') {
        // Directories that exist while at least one parent needs them: a parent's coming or going can add or end them.
        const now = this.#sharedPaths();
        emit('remove', [...shared].filter(([k]) => !now.has(k)).map(([, path]) => path));
        emit('add', [...now].filter(([k]) => !shared.has(k)).map(([, path]) => path));
        shared = now;
      }
    };
    return core.subscribe(onEvent);
  }

  /**
   * Every path that exists only because `d` does, the bus link first (it must vanish first); in mainline also what
   * exists only while it is bound (its VFIO device and the vendor's attribute groups), so an unbind reports them.
   */
  #devicePaths({ device: d, driver, iommuGroup, vfioIndex }: SeenDevice): string[][] {
    const paths = [[...BUS_PATH, 'devices', d.name], devicePath(d)];
    const mainline = this.#ctx.layout === 'mainline';
    if (mainline) paths.push([...parentPath(d.parent), 'mdev_supported_types', d.type.id, 'devices', d.name]);
    if (iommuGroup !== undefined) paths.push(groupPath(iommuGroup));
    if (driver !== undefined) paths.push([...driverPath(driver), d.name], [...devicePath(d), 'driver']);
    const vfio = vfioIndex === undefined ? undefined : vfioName({ vfioIndex });
    if (mainline && vfio !== undefined) {
      paths.push([...classPath('vfio-dev'), vfio], vfioDevPath(d, vfio));
      for (const g of d.parent.deviceAttributes) {
        if (g.name !== undefined) paths.push([...devicePath(d), g.name]);
        else for (const a of g.attrs) paths.push([...devicePath(d), a.name]);
      }
    }
    return paths;
  }

  /**
   * The directories the parents share, by path key: the intermediate `devices/…` directories above them and, in
   * mainline, each vendor driver's `bus/mdev/drivers/<name>` and `module/<name>` and each parent class's `class/<name>`.
   */
  #sharedPaths(): Map<string, readonly string[]> {
    const out = new Map<string, readonly string[]>();
    const add = (path: readonly string[]): void => void out.set(path.join('/'), path);
    const parents = this.#ctx.core.parents();
    for (const p of parents) {
      const segs = parentPath(p);
      for (let n = 2; n < segs.length; n++) add(segs.slice(0, n));
    }
    if (this.#ctx.layout === 'mainline') {
      for (const name of driverNames(this.#ctx)) {
        add(driverPath(name));
        add(modulePath(name));
      }
      for (const p of parents) {
        const cls = parentClass(p);
        if (cls !== undefined) add(classPath(cls));
      }
    }
    return out;
  }

  /** The class links (mainline) and the parent's directory. */
  #parentPaths(p: Parent): string[][] {
    const paths: string[][] = [];
    if (this.#ctx.layout === 'mainline') {
      paths.push(['class', 'mdev_bus', p.name]);
      const cls = parentClass(p);
      if (cls !== undefined) paths.push([...classPath(cls), p.name]);
    }
    paths.push(parentPath(p));
    return paths;
  }
}

/** A device as the tree last saw it: the device itself and the state its paths depend on that binding changes. */
interface SeenDevice {
  readonly device: MdevDevice;
  /** The driver it is shown bound to (`shownDriver`). */
  readonly driver: string | undefined;
  readonly iommuGroup: number | undefined;
  readonly vfioIndex: number | undefined;
}

function seen(ctx: SysfsContext, d: MdevDevice): SeenDevice {
  return { device: d, driver: shownDriver(ctx, d), iommuGroup: d.iommuGroup, vfioIndex: d.vfioIndex };
}

function rootDir(ctx: SysfsContext): LookupDir {
  return dir([
    dirChild('bus', () => dir([dirChild('mdev', () => busDir(ctx))])),
    dirChild('class', () => classDir(ctx)),
    dirChild('devices', () => devicesDir(ctx, [])),
    dirChild('kernel', () => dir([dirChild('iommu_groups', () => groupsDir(ctx))])),
    dirChild('module', () => moduleDir(ctx), () => ctx.layout === 'mainline'),
  ]);
}

/**
 * `devices/<segs…>`: a parent's directory where `segs` is its `devicePath`, else an intermediate directory on the
 * way to one or more parents (`devices/virtual/mtty`). A parent is found by its name (the last segment of its path)
 * in O(1); only intermediate directories scan the (few) parents.
 */
function devicesDir(ctx: SysfsContext, segs: readonly string[]): LookupDir {
  const p = segs.length > 0 ? ctx.core.parent(segs[segs.length - 1] as string) : undefined;
  const parent = p !== undefined && p.devicePath === segs.join('/') ? p : undefined;
  const nested: Dynamic = {
    list: () => intermediateEntries(ctx.core.parents(), segs),
    lookup: (name) => {
      const child = [...segs, name];
      const cp = ctx.core.parent(name);
      if (cp !== undefined && cp.devicePath === child.join('/')) return devicesDir(ctx, child);
      return intermediateEntries(ctx.core.parents(), segs).some((e) => e.name === name) ? devicesDir(ctx, child) : undefined;
    },
  };
  if (parent === undefined) return dir([], [nested]);
  const own = ctx.layout === 'mainline' ? mainlineParentChildren(ctx, parent) : seedParentChildren(ctx, parent);
  return dir(own, [parentDevices(ctx, parent.name), nested]);
}

/** The next path segment of every parent whose directory lies below `segs`. */
function intermediateEntries(parents: readonly Parent[], segs: readonly string[]): Entry[] {
  const prefix = segs.length === 0 ? '' : `${segs.join('/')}/`;
  const names = new Set<string>();
  for (const p of parents) {
    if (p.devicePath.startsWith(prefix)) names.add(p.devicePath.slice(prefix.length).split('/')[0] as string);
  }
  return [...names].sort().map((name) => ({ name, kind: 'dir' as const }));
}
