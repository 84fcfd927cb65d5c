/**
 * Concepts: the kernel names files by node id; an attribute tree names them by path. `InodeTable` keeps the one map
 * between the two while the kernel holds references: LOOKUP (and each READDIRPLUS entry) adds one, FORGET drops
 * them, and the node id of a path stays the same as long as the count is above zero. A removal detaches a path, so
 * a later entry of the same name gets a fresh node id and the kernel never mistakes it for the old one.
 */
import type { AttrNode } from './attr-tree.js';
import { FUSE_ROOT_ID } from './protocol.js';

/** One node id the kernel knows. Owned by the table; `nlookup` is the kernel's reference count. */
export interface Inode {
  readonly ino: number;
  readonly path: readonly string[];
  readonly key: string;
  /**
   * A symlink's target when the node id was handed out. The kernel caches it for the life of the node id, so a path
   * whose link now points elsewhere gets a fresh node id (see `ref`).
   */
  readonly target: string | undefined;
  nlookup: number;
  /** Set when the path was removed from the tree: requests on this node id fail with ENOENT. */
  detached: boolean;
}

/** What `InodeTable.ref` compares: a symlink's target, undefined for any other node. */
export function linkTarget(node: AttrNode): string | undefined {
  return node.kind === 'symlink' ? node.target : undefined;
}

function keyOf(path: readonly string[]): string {
  return path.join('/');
}

function parentKeyOf(key: string): string {
  const at = key.lastIndexOf('/');
  return at < 0 ? '' : key.slice(0, at);
}

/** Node id ↔ path map of one mount; lives as long as its server. */
export class InodeTable {
  readonly #byIno = new Map<number, Inode>();
  readonly #byKey = new Map<string, Inode>();
  /** Keys in `#byKey` by their parent's key, so a removal visits its own subtree, not every node of the mount. */
  readonly #children = new Map<string, Set<string>>();
  #next = FUSE_ROOT_ID + 1;

  constructor() {
    // The root is never forgotten: the kernel holds it for the life of the mount.
    const root: Inode = { ino: FUSE_ROOT_ID, path: [], key: '', target: undefined, nlookup: 1, detached: false };
    this.#byIno.set(root.ino, root);
    this.#byKey.set(root.key, root);
  }

  /** The node for a node id, or undefined for one the kernel has forgotten (or never had). */
  get(ino: number): Inode | undefined {
    return this.#byIno.get(ino);
  }

  /** The live node of a path the kernel currently knows, without taking a reference. */
  find(path: readonly string[]): Inode | undefined {
    return this.#byKey.get(keyOf(path));
  }

  /**
   * Takes one kernel reference on `path` (pairs with `forget`), creating its node id if needed. `target` is the
   * symlink's target now (undefined for any other node): a path whose target differs from its node id's is detached
   * first, so the kernel never pairs a new target with a node id whose old target it has cached.
   */
  ref(path: readonly string[], target: string | undefined): Inode {
    const key = keyOf(path);
    let node = this.#byKey.get(key);
    if (node !== undefined && node.target !== target) {
      this.detach(path);
      node = undefined;
    }
    if (node === undefined) {
      node = { ino: this.#next++, path: path.slice(), key, target, nlookup: 0, detached: false };
      this.#byIno.set(node.ino, node);
      this.#setKey(node);
    }
    node.nlookup++;
    return node;
  }

  /** Drops `n` kernel references (FORGET); the node id is released when none remain. */
  forget(ino: number, n: number): void {
    const node = this.#byIno.get(ino);
    if (node === undefined || ino === FUSE_ROOT_ID) return;
    node.nlookup -= n;
    if (node.nlookup > 0) return;
    this.#byIno.delete(ino);
    if (this.#byKey.get(node.key) === node) this.#deleteKey(node.key);
  }

  /** Detaches `path` and everything below it (a removal); returns the node that was at `path`, if the kernel knew it. */
  detach(path: readonly string[]): Inode | undefined {
    const key = keyOf(path);
    const top = this.#byKey.get(key);
    const visited: string[] = [];
    const todo = [key];
    for (let k = todo.pop(); k !== undefined; k = todo.pop()) {
      visited.push(k);
      const kids = this.#children.get(k);
      if (kids !== undefined) todo.push(...kids);
      const node = this.#byKey.get(k);
      if (node === undefined) continue;
      node.detached = true;
      this.#byKey.delete(k);
    }
    // Leaves first, so each parent is empty by the time it is looked at.
    for (let i = visited.length - 1; i >= 0; i--) this.#prune(visited[i]!);
    return top;
  }

  #setKey(node: Inode): void {
    this.#byKey.set(node.key, node);
    // Link the key under each ancestor not linked yet: a subtree stays reachable from any ancestor, even one whose
    // own node the kernel has forgotten.
    for (let key = node.key; key !== ''; key = parentKeyOf(key)) {
      const parent = parentKeyOf(key);
      let kids = this.#children.get(parent);
      if (kids === undefined) this.#children.set(parent, (kids = new Set()));
      if (kids.has(key)) return;
      kids.add(key);
    }
  }

  #deleteKey(key: string): void {
    this.#byKey.delete(key);
    this.#prune(key);
  }

  /** Unlinks `key` and then its ancestors while each is neither a live node nor above one. */
  #prune(key: string): void {
    while (key !== '' && !this.#byKey.has(key) && !this.#children.has(key)) {
      const parent = parentKeyOf(key);
      const kids = this.#children.get(parent);
      if (kids === undefined) return;
      kids.delete(key);
      if (kids.size > 0) return;
      this.#children.delete(parent);
      key = parent;
    }
  }

  /** How many node ids the kernel holds, the root included (for statfs and leak checks in tests). */
  get size(): number {
    return this.#byIno.size;
  }

  /**
   * The d_ino READDIR reports for an entry the kernel has no node id for: stable per path and far above the node ids
   * the table hands out, because READDIR must not create references.
   */
  static direntIno(path: readonly string[]): number {
    let h = 0x811c9dc5;
    const key = keyOf(path);
    for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193) >>> 0;
    return 0x1_0000_0000 + h;
  }
}
