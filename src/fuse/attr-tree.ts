/**
 * Concepts: the contract between the FUSE server and whatever tree it serves. The FUSE layer knows nothing about mdev;
 * `src/sysfs/` implements this interface from core state. Paths are arrays of names below the mount root, never
 * containing `.` or `..`; `resolve` does not follow symlinks (the kernel does, through READLINK).
 */

import type { FuseStats } from './stats.js';

export type AttrNodeKind = 'dir' | 'file' | 'symlink';

/** A directory: its entries are computed on every call (no second copy of state). */
export interface AttrDir {
  readonly kind: 'dir';
  /** Permission bits (0o755 for sysfs directories). */
  readonly mode: number;
  /** Names and kinds of the children, in a stable order. */
  entries(): readonly { readonly name: string; readonly kind: AttrNodeKind }[];
}

/** An attribute file: `show` renders the whole value, `store` parses one write. */
export interface AttrFile {
  readonly kind: 'file';
  /** Permission bits: 0o444, 0o200, 0o644 … An open that the mode forbids gets `EACCES`, even for root (kernfs). */
  readonly mode: number;
  show?(): string | Buffer | Promise<string | Buffer>;
  /** The whole written buffer; throw a `UmdevError` to fail the `write()` with its errno (nothing may change). */
  store?(data: Buffer): void | Promise<void>;
}

/**
 * A symbolic link; `target` is relative, as the kernel makes them. The kernel caches the target, so a tree that points
 * a path elsewhere reports the old link removed (`onChange`); one that does not is read anew only when its entry expires.
 */
export interface AttrLink {
  readonly kind: 'symlink';
  readonly target: string;
}

export type AttrNode = AttrDir | AttrFile | AttrLink;

/** A tree the FUSE server can serve. */
export interface AttrTree {
  /** The node at `path`, or undefined when none exists. `[]` is the root, which must be a directory. */
  resolve(path: readonly string[]): AttrNode | undefined;
  /**
   * Subscribe to removals and additions so the server can tell the kernel (FUSE_NOTIFY_DELETE / INVAL_ENTRY) before
   * the operation that caused them replies. Returns the unsubscribe function.
   */
  onChange?(listener: (change: { readonly kind: 'add' | 'remove'; readonly path: readonly string[] }) => void): () => void;
  /**
   * Where a server that mounts this tree counts its requests and their latency; absent: nothing is counted. The
   * tree's owner reads it (umdevd's `GET /metrics`).
   */
  readonly requestStats?: FuseStats;
}
