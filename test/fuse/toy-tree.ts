// A small mutable AttrTree for the FUSE tests and bench: nodes by path, children in insertion order, and change
// events like the sysfs tree sends.
import type { AttrDir, AttrFile, AttrNode, AttrNodeKind, AttrTree } from '../../src/fuse/attr-tree.js';

type Listener = (change: { readonly kind: 'add' | 'remove'; readonly path: readonly string[] }) => void;

export class ToyTree implements AttrTree {
  readonly #nodes = new Map<string, AttrNode>();
  readonly #children = new Map<string, string[]>();
  readonly #listeners = new Set<Listener>();

  constructor() {
    this.#put([], this.#dir(0o755, ''));
  }

  resolve(path: readonly string[]): AttrNode | undefined {
    return this.#nodes.get(path.join('/'));
  }

  onChange(listener: Listener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  dir(path: string, mode = 0o755): this {
    this.#add(path, this.#dir(mode, path));
    return this;
  }

  file(path: string, mode: number, show?: AttrFile['show'], store?: AttrFile['store']): this {
    const f: AttrFile = { kind: 'file', mode, ...(show ? { show } : {}), ...(store ? { store } : {}) };
    this.#add(path, f);
    return this;
  }

  link(path: string, target: string): this {
    this.#add(path, { kind: 'symlink', target });
    return this;
  }

  /** Points the link at `path` elsewhere in place, without a change event: a tree that breaks the contract. */
  retarget(path: string, target: string): this {
    if (this.#nodes.get(path)?.kind !== 'symlink') throw new Error(`toy tree: ${path} is not a link`);
    this.#nodes.set(path, { kind: 'symlink', target });
    return this;
  }

  /** Removes `path` and everything below it; one `remove` event for `path`. */
  remove(path: string): this {
    const parts = path.split('/');
    const key = parts.join('/');
    for (const k of [...this.#nodes.keys()]) if (k === key || k.startsWith(key + '/')) this.#nodes.delete(k);
    for (const k of [...this.#children.keys()]) if (k === key || k.startsWith(key + '/')) this.#children.delete(k);
    const siblings = this.#children.get(parts.slice(0, -1).join('/'));
    siblings?.splice(siblings.indexOf(parts[parts.length - 1]!), 1);
    for (const l of this.#listeners) l({ kind: 'remove', path: parts });
    return this;
  }

  has(path: string): boolean {
    return this.#nodes.has(path);
  }

  #dir(mode: number, key: string): AttrDir {
    return {
      kind: 'dir',
      mode,
      entries: () =>
        (this.#children.get(key) ?? []).map((name) => ({ name, kind: this.#nodes.get(key === '' ? name : `${key}/${name}`)!.kind as AttrNodeKind })),
    };
  }

  #add(path: string, node: AttrNode): void {
    const parts = path.split('/');
    const parent = parts.slice(0, -1).join('/');
    if (!this.#nodes.has(parent) || this.#nodes.get(parent)!.kind !== 'dir') throw new Error(`toy tree: no directory ${parent}`);
    if (this.#nodes.has(path)) throw new Error(`toy tree: ${path} exists`);
    this.#put(parts, node);
    for (const l of this.#listeners) l({ kind: 'add', path: parts });
  }

  #put(parts: readonly string[], node: AttrNode): void {
    const key = parts.join('/');
    this.#nodes.set(key, node);
    if (parts.length > 0) {
      const parent = parts.slice(0, -1).join('/');
      const list = this.#children.get(parent) ?? [];
      list.push(parts[parts.length - 1]!);
      this.#children.set(parent, list);
    }
  }
}
