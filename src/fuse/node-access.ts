/**
 * Concepts: what the kernel is told about a node (its attributes) and who may do what with it. Semantics are
 * kernfs's: every node belongs to uid 0 and gid 0, files are 4096 bytes long, symlinks 0777, and an attribute's mode
 * is a capability (what it can do), which even root cannot override.
 */
import { err } from '../core/errors.js';
import type { AttrFile, AttrNode } from './attr-tree.js';
import type { Attr } from './codec.js';
import { S_IFDIR, S_IFLNK, S_IFREG } from './protocol.js';

/** access(2) mask bits. */
export const X_OK = 1;
export const W_OK = 2;
export const R_OK = 4;

/** The attributes of `node` as node id `ino`; `timeSec` stands for every timestamp. */
export function nodeAttr(ino: number, node: AttrNode, timeSec: number): Attr {
  switch (node.kind) {
    case 'dir':
      return { ino, mode: S_IFDIR | (node.mode & 0o7777), size: 0, nlink: 2, timeSec, timeNsec: 0 };
    case 'file':
      return { ino, mode: S_IFREG | (node.mode & 0o7777), size: 4096, nlink: 1, timeSec, timeNsec: 0 };
    case 'symlink':
      return { ino, mode: S_IFLNK | 0o777, size: Buffer.byteLength(node.target), nlink: 1, timeSec, timeNsec: 0 };
  }
}

/**
 * Whether the permission bits grant `want` (R_OK|W_OK|X_OK) to a caller. Every node is owned by uid 0 and gid 0;
 * root passes here (its limits are the attribute's capabilities, checked in `checkFileAccess`).
 */
export function permits(mode: number, uid: number, gid: number, want: number): boolean {
  if (uid === 0) return true;
  const bits = gid === 0 ? mode >> 3 : mode;
  return (bits & want) === want;
}

/**
 * kernfs: an attribute's mode is what it can do, not a permission root overrides. Writing needs a `store` and a
 * write bit, reading a `show` and a read bit, whoever asks; other users also need the permission bits.
 */
export function checkFileAccess(key: string, file: AttrFile, want: number, uid: number, gid: number): void {
  if (want & W_OK && (file.store === undefined || (file.mode & 0o222) === 0)) throw err('EACCES', `${key} is not writable`);
  if (want & R_OK && (file.show === undefined || (file.mode & 0o444) === 0)) throw err('EACCES', `${key} is not readable`);
  if (want & X_OK) throw err('EACCES', `${key} is not executable`);
  if (!permits(file.mode, uid, gid, want)) throw err('EACCES', `${key}: permission denied`);
}
