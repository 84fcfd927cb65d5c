/**
 * Building blocks of the sysfs tree. Every directory here can look up one child by name (`lookup`) without listing
 * the others, so `resolve` costs O(depth) core lookups however many devices exist. Nodes are made on demand by
 * `resolve` and hold only names; each `show`/`store`/`entries` call asks the core again, so a node kept by the FUSE
 * layer never serves stale state.
 */
import type { AttrDir, AttrFile, AttrLink, AttrNode, AttrNodeKind } from '../fuse/attr-tree.js';

/** A directory that can also find one child by name in O(1) (or O(fixed children)). */
export interface LookupDir extends AttrDir {
  lookup(name: string): AttrNode | undefined;
}

/** One entry as `AttrDir.entries` lists it. */
export interface Entry {
  readonly name: string;
  readonly kind: AttrNodeKind;
}

/** A fixed child of a directory; `visible` hides it (like the kernel's `is_visible`), `make` builds the node. */
export interface Child {
  readonly name: string;
  readonly kind: AttrNodeKind;
  readonly visible?: () => boolean;
  readonly make: () => AttrNode;
}

/** The dynamic part of a directory: a listing (O(n)) and a lookup by name (O(1)). */
export interface Dynamic {
  list(): readonly Entry[];
  lookup(name: string): AttrNode | undefined;
}

/** sysfs directories are 0755. */
export const DIR_MODE = 0o755;

/** A directory of fixed children followed by dynamic ones; a fixed name shadows a dynamic one. */
export function dir(children: readonly Child[], dynamic: readonly Dynamic[] = []): LookupDir {
  return {
    kind: 'dir',
    mode: DIR_MODE,
    entries() {
      const out: Entry[] = [];
      const seen = new Set<string>();
      for (const c of children) {
        if (seen.has(c.name) || (c.visible && !c.visible())) continue;
        seen.add(c.name);
        out.push({ name: c.name, kind: c.kind });
      }
      for (const d of dynamic) {
        for (const e of d.list()) {
          if (seen.has(e.name)) continue;
          seen.add(e.name);
          out.push(e);
        }
      }
      return out;
    },
    lookup(name) {
      const c = children.find((x) => x.name === name && (!x.visible || x.visible()));
      if (c) return c.make();
      for (const d of dynamic) {
        const n = d.lookup(name);
        if (n) return n;
      }
      return undefined;
    },
  };
}

/** A read-only attribute (0444). */
export function roFile(show: () => string): AttrFile {
  return { kind: 'file', mode: 0o444, show };
}

/** A write-only attribute (0200). */
export function woFile(store: (data: Buffer) => void | Promise<void>): AttrFile {
  return { kind: 'file', mode: 0o200, store };
}

/** A read-write attribute (0644). */
export function rwFile(show: () => string, store: (data: Buffer) => void | Promise<void>): AttrFile {
  return { kind: 'file', mode: 0o644, show, store };
}

/**
 * A symlink from the directory `from` to the node `to` (both paths from the mount root), made relative through their
 * common prefix as `sysfs_create_link` does (`class/mdev_bus/mtty` → `../../devices/virtual/mtty/mtty`). As
 * `kernfs_get_target_path`, the common ancestor is looked for among the target's parents only, so a link to an
 * ancestor climbs past it and names it (`<mdev>/vfio-dev/vfio0/device` → `../../../<mdev>`, not `../..`).
 */
export function link(from: readonly string[], to: readonly string[]): AttrLink {
  let common = 0;
  while (common < from.length && common < to.length - 1 && from[common] === to[common]) common++;
  const up = Array<string>(from.length - common).fill('..');
  return { kind: 'symlink', target: [...up, ...to.slice(common)].join('/') };
}

/** Shorthand for a fixed child that is a file. */
export function fileChild(name: string, make: () => AttrFile, visible?: () => boolean): Child {
  return visible ? { name, kind: 'file', make, visible } : { name, kind: 'file', make };
}

/** Shorthand for a fixed child that is a directory. */
export function dirChild(name: string, make: () => AttrDir, visible?: () => boolean): Child {
  return visible ? { name, kind: 'dir', make, visible } : { name, kind: 'dir', make };
}

/** Shorthand for a fixed child that is a symlink. */
export function linkChild(name: string, make: () => AttrLink, visible?: () => boolean): Child {
  return visible ? { name, kind: 'symlink', make, visible } : { name, kind: 'symlink', make };
}
