/**
 * Concepts: writing a device attribute the way mdevctl does (`/sys/bus/mdev/devices/<uuid>/<attr>`), but straight
 * through the in-memory attribute tree instead of a mount, so autostart works with or without FUSE. Path lookup
 * follows symlinks as the kernel's path walk does (`bus/mdev/devices/<uuid>` is a link into `devices/…`).
 */
import { err } from '../core/errors.js';
import type { AttrNode, AttrTree } from '../fuse/attr-tree.js';

const MAX_LINKS = 40;

/** The node at `path`, following symlinks in every component (ELOOP-style limit of 40 links → `ENOENT`). */
export function resolveFollowing(tree: AttrTree, path: readonly string[]): AttrNode | undefined {
  let cur: string[] = [];
  const rest = [...path];
  let links = 0;
  while (rest.length > 0) {
    const name = rest.shift() as string;
    if (name === '' || name === '.') continue;
    if (name === '..') {
      cur.pop();
      continue;
    }
    const next = [...cur, name];
    const node = tree.resolve(next);
    if (node === undefined) return undefined;
    if (node.kind !== 'symlink') {
      if (node.kind === 'file' && rest.length > 0) return undefined;
      cur = next;
      continue;
    }
    if (++links > MAX_LINKS) return undefined;
    const target = node.target.split('/');
    if (node.target.startsWith('/')) cur = [];
    rest.unshift(...target);
  }
  return tree.resolve(cur);
}

/** Write `value` to attribute `attr` (a relative path such as `vendor/knob`) of device `uuid`; errno as sysfs gives it. */
export async function writeDeviceAttr(tree: AttrTree, uuid: string, attr: string, value: string): Promise<void> {
  const parts = attr.split('/');
  if (parts.some((p) => p === '..')) throw err('EINVAL', `attribute path ${attr} leaves the device directory`);
  const node = resolveFollowing(tree, ['bus', 'mdev', 'devices', uuid, ...parts]);
  if (node === undefined) throw err('ENOENT', `device ${uuid} has no attribute ${attr}`);
  if (node.kind !== 'file') throw err('EISDIR', `${attr} is not an attribute file`);
  if ((node.mode & 0o222) === 0 || node.store === undefined) throw err('EACCES', `attribute ${attr} is read-only`);
  await node.store(Buffer.from(value));
}
