/**
 * Concepts: the body of a READDIR or READDIRPLUS reply. Entry `i` of the listing (0 is `.`, 1 is `..`, then the
 * directory's own entries in their stable order) carries offset `i + 1`, which the kernel hands back to continue.
 * READDIRPLUS entries other than `.` and `..` count as one lookup each (the kernel will FORGET them), so a node id is
 * taken only for an entry that fits in the reply.
 */
import type { AttrNode, AttrNodeKind, AttrTree } from './attr-tree.js';
import { type Attr, encodeDirent, encodeDirentplus } from './codec.js';
import { InodeTable, linkTarget } from './inodes.js';
import { DT_DIR, DT_LNK, DT_REG, Size, align8 } from './protocol.js';

/** What one READDIR needs to know; built by the dispatcher per request. */
export interface DirectoryListing {
  readonly path: readonly string[];
  readonly ino: number;
  readonly parentIno: number;
  /** The directory's entries as listed at offset 0 (without `.` and `..`). */
  readonly entries: readonly { readonly name: string; readonly kind: AttrNodeKind }[];
  readonly offset: number;
  readonly plus: boolean;
  readonly tree: AttrTree;
  readonly inodes: InodeTable;
  readonly attrOf: (ino: number, node: AttrNode, path: readonly string[]) => Attr;
}

const DOT = Buffer.from('.');
const DOTDOT = Buffer.from('..');

function direntType(kind: AttrNodeKind): number {
  return kind === 'dir' ? DT_DIR : kind === 'file' ? DT_REG : DT_LNK;
}

/** Encodes entries from `listing.offset` into `buf` at `off` until `size` bytes are used; returns the bytes written. */
export function encodeDirectory(buf: Buffer, off: number, size: number, listing: DirectoryListing): number {
  const limit = off + size;
  let p = off;
  for (let i = listing.offset; i < listing.entries.length + 2; i++) {
    let n: number;
    if (i < 2) {
      const name = i === 0 ? DOT : DOTDOT;
      const ino = i === 0 ? listing.ino : listing.parentIno;
      // In READDIRPLUS, `.` and `..` carry node id 0: the kernel neither instantiates nor counts them.
      n = listing.plus ? encodeDirentplus(buf, p, limit, 0, undefined, ino, i + 1, DT_DIR, name) : encodeDirent(buf, p, limit, ino, i + 1, DT_DIR, name);
    } else {
      const e = listing.entries[i - 2]!;
      const name = Buffer.from(e.name);
      const childPath = [...listing.path, e.name];
      if (!listing.plus) {
        n = encodeDirent(buf, p, limit, listing.inodes.find(childPath)?.ino ?? InodeTable.direntIno(childPath), i + 1, direntType(e.kind), name);
      } else {
        if (p + align8(Size.DIRENTPLUS + name.length) > limit) break;
        const node = listing.tree.resolve(childPath);
        if (node === undefined) continue; // Removed since the listing was taken.
        const inode = listing.inodes.ref(childPath, linkTarget(node));
        n = encodeDirentplus(buf, p, limit, inode.ino, listing.attrOf(inode.ino, node, childPath), inode.ino, i + 1, direntType(node.kind), name);
      }
    }
    if (n === 0) break;
    p += n;
  }
  return p - off;
}
