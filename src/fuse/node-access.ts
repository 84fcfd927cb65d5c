/**
 * Concepts: what the kernel is told about a node (its attributes) and who may do what with it. Semantics are
 * kernfs's: every node belongs to one owner, files are 4096 bytes long, symlinks 0777, a directory
 * has 2 links plus one per subdirectory (its own `.` and each child's `..`), and an attribute's mode is a capability
 * (what it can do), which even root cannot override. The owner is uid 0 and gid 0 as in sysfs, except for a server
 * running as another user: its nodes belong to that user, who could otherwise not write a 0644 file on its own mount.
 * A chmod/chown (`Meta`) replaces the mode or owner shown and checked, as kernfs keeps a node's changed iattrs.
 * One difference: a symlink's size is its target's length (POSIX `lstat`; kernfs says 0), because a kernel that
 * caches link targets (FUSE_CACHE_SYMLINKS) may end a cached target at the inode's size (`page_get_link`).
 */
import { err } from '../errors.js';
import type { AttrFile, AttrNode } from './attr-tree.js';
import type { Attr } from './codec.js';
import { S_IFDIR, S_IFLNK, S_IFREG } from './protocol.js';

/** access(2) mask bits. */
export const X_OK = 1;
export const W_OK = 2;
export const R_OK = 4;

/** Who every node of a tree belongs to. */
export interface Owner {
  readonly uid: number;
  readonly gid: number;
}

/** sysfs's owner, and the owner whenever the server runs as root. */
export const ROOT_OWNER: Owner = { uid: 0, gid: 0 };

/** The owner for a server running with these ids: root's trees stay root's (see the module comment). */
export function ownerFor(uid: number, gid: number): Owner {
  return uid === 0 ? ROOT_OWNER : { uid, gid };
}

/** What a chmod or chown changed on one node; absent fields keep the tree's value. */
export interface Meta {
  readonly mode?: number;
  readonly uid?: number;
  readonly gid?: number;
}

/** The owner of a node once `meta` is applied. */
export function metaOwner(owner: Owner, meta: Meta | undefined): Owner {
  if (meta === undefined || (meta.uid === undefined && meta.gid === undefined)) return owner;
  return { uid: meta.uid ?? owner.uid, gid: meta.gid ?? owner.gid };
}

/** `node` with the mode of `meta`, if it changed one (symlinks stay 0777, as chmod cannot reach them). */
export function withMeta<N extends AttrNode>(node: N, meta: Meta | undefined): N {
  if (meta?.mode === undefined || node.kind === 'symlink') return node;
  return { ...node, mode: meta.mode };
}

/** The attributes of `node` as node id `ino`; `timeSec` stands for every timestamp. */
export function nodeAttr(ino: number, node: AttrNode, timeSec: number, owner: Owner = ROOT_OWNER): Attr {
  const { uid, gid } = owner;
  switch (node.kind) {
    case 'dir': {
      let nlink = 2;
      for (const e of node.entries()) if (e.kind === 'dir') nlink++;
      return { ino, mode: S_IFDIR | (node.mode & 0o7777), size: 0, nlink, timeSec, timeNsec: 0, uid, gid };
    }
    case 'file':
      return { ino, mode: S_IFREG | (node.mode & 0o7777), size: 4096, nlink: 1, timeSec, timeNsec: 0, uid, gid };
    case 'symlink':
      return { ino, mode: S_IFLNK | 0o777, size: Buffer.byteLength(node.target), nlink: 1, timeSec, timeNsec: 0, uid, gid };
  }
}

/**
 * Whether the permission bits grant `want` (R_OK|W_OK|X_OK) to a caller with `uid`/`gid`, for a node of `owner`:
 * the owner's, group's or others' bits, as the kernel picks them. Root passes here (its limits are the attribute's
 * capabilities, checked in `checkFileAccess`).
 */
export function permits(mode: number, uid: number, gid: number, want: number, owner: Owner = ROOT_OWNER): boolean {
  if (uid === 0) return true;
  const bits = uid === owner.uid ? mode >> 6 : gid === owner.gid ? mode >> 3 : mode;
  return (bits & want) === want;
}

/**
 * kernfs: an attribute's mode is what it can do, not a permission root overrides. Writing needs a `store` and a
 * write bit, reading a `show` and a read bit, whoever asks; other users also need the permission bits.
 */
export function checkFileAccess(key: string, file: AttrFile, want: number, uid: number, gid: number, owner: Owner = ROOT_OWNER): void {
  if (want & W_OK && (file.store === undefined || (file.mode & 0o222) === 0)) throw err('EACCES', `${key} is not writable`);
  if (want & R_OK && (file.show === undefined || (file.mode & 0o444) === 0)) throw err('EACCES', `${key} is not readable`);
  if (want & X_OK) throw err('EACCES', `${key} is not executable`);
  if (!permits(file.mode, uid, gid, want, owner)) throw err('EACCES', `${key}: permission denied`);
}
