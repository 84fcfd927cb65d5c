/**
 * Concepts: one mediated device as the CLI sees it, merged from up to two sources: a definition (type, start mode,
 * attributes) and sysfs (active or not; parent and type by realpath). The methods are mdevctl 1.2.0's `MDev`
 * operations with their checks, order and messages; the kernel (or umdevd behind a FUSE mount) still decides, and
 * its errno comes back as the `Caused by:` line. Instances are short-lived values owned by one command.
 */
import { unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { context, debugPath, fail } from './failure.js';
import {
  definitionJson, formatDefinition, parseAttrs, parseDefinition, readDefinitionFile, writeDefinitionFile, type Definition,
} from './definitions.js';
import type { Json, JsonOut } from './serde-json.js';
import { exists, isDir, parseI32, readActiveMdev, readDirNames, writeAttr } from './sysfs-read.js';
import { readToString } from './read-text.js';
import type { Sysroot } from './sysroot.js';

/** Which listing a device is printed in: active (`list`) or defined (`list -d`). */
export type ListKind = 'active' | 'defined';

/** A mediated device: UUID plus whatever is known about it. */
export class MDev {
  readonly root: Sysroot;
  readonly uuid: string;
  active = false;
  autostart = false;
  parent: string | undefined;
  mdevType: string | undefined;
  attrs: Array<[string, string]> = [];

  constructor(root: Sysroot, uuid: string) {
    this.root = root;
    this.uuid = uuid;
  }

  clone(): MDev {
    const d = new MDev(this.root, this.uuid);
    d.active = this.active;
    d.autostart = this.autostart;
    d.parent = this.parent;
    d.mdevType = this.mdevType;
    d.attrs = this.attrs.map(([k, v]) => [k, v]);
    return d;
  }

  /** `<sysfs>/bus/mdev/devices/<uuid>`. */
  get activePath(): string {
    return this.root.mdevPath(this.uuid);
  }

  requireParent(): string {
    if (this.parent === undefined) throw fail('EINVAL', `Device ${this.uuid} is missing a parent`);
    return this.parent;
  }

  requireType(): string {
    if (this.mdevType === undefined) throw fail('EINVAL', `Device ${this.uuid} is missing a mdev_type`);
    return this.mdevType;
  }

  get persistentPath(): string | undefined {
    return this.parent === undefined ? undefined : this.root.definitionPath(this.parent, this.uuid);
  }

  async isDefined(): Promise<boolean> {
    const p = this.persistentPath;
    return p !== undefined && (await exists(p));
  }

  /** Marks the device active when sysfs has it with the same parent and type as already known (if known). */
  async loadFromSysfs(): Promise<void> {
    const a = await readActiveMdev(this.root, this.uuid);
    if (a === undefined) return;
    if (this.parent !== undefined && this.parent !== a.parent) return;
    if (this.mdevType !== undefined && this.mdevType !== a.mdevType) return;
    this.parent = a.parent;
    this.mdevType = a.mdevType;
    this.active = true;
  }

  /** Takes type, start mode and attributes from a parsed definition (appending attributes, as mdevctl does). */
  loadFromJson(parent: string, json: Json): void {
    this.parent = parent;
    this.apply(parseDefinition(json));
  }

  /** `warn` hears mdevctl's `Overwriting mdev type` when the definition's type differs from what was known (sysfs). */
  apply(d: Definition, warn?: (message: string) => void): void {
    if (this.mdevType !== undefined && this.mdevType !== d.mdevType) warn?.(`Overwriting mdev type for mdev ${this.uuid}: ${this.mdevType} => ${d.mdevType}`);
    this.mdevType = d.mdevType;
    this.autostart = d.autostart;
    this.attrs.push(...d.attrs.map(([k, v]): [string, string] => [k, v]));
  }

  /** Appends attributes from a JSON array (a `get` callout's answer). */
  addAttributes(json: Json): void {
    this.attrs.push(...parseAttrs(json));
  }

  /** Merges the stored definition, if any (missing or unreadable: the caller decides whether that matters). */
  async loadDefinition(warn?: (message: string) => void): Promise<void> {
    const p = this.persistentPath;
    if (p !== undefined) this.apply(await readDefinitionFile(p), warn);
  }

  definition(): Definition {
    return { mdevType: this.requireType(), autostart: this.autostart, attrs: this.attrs };
  }

  /** A listing line (plus attributes with `verbose`), or `undefined` when the device does not belong in it. */
  async toText(kind: ListKind, verbose: boolean): Promise<string | undefined> {
    try {
      if (kind === 'defined' ? !(await this.isDefined()) : !this.active) return undefined;
      let s = `${this.uuid} ${this.requireParent()} ${this.requireType()} ${this.autostart ? 'auto' : 'manual'}`;
      if (kind === 'defined' && this.active) s += ' (active)';
      if (kind === 'active' && (await this.isDefined())) s += ' (defined)';
      s += '\n';
      if (verbose) s += this.formatAttrs();
      return s;
    } catch {
      return undefined;
    }
  }

  formatAttrs(): string {
    if (this.attrs.length === 0) return '';
    return `  Attrs:\n${this.attrs.map(([k, v], i) => `    @{${i}}: {"${k}":"${v}"}\n`).join('')}`;
  }

  /** The definition object, or `{ "<uuid>": definition }` with `includeUuid`. */
  toJson(includeUuid: boolean): JsonOut {
    const partial = definitionJson(this.definition());
    return includeUuid ? new Map<string, JsonOut>([[this.uuid, partial]]) : partial;
  }

  /** Writes `1` to `remove`. */
  async stop(): Promise<void> {
    try {
      await writeAttr(join(this.activePath, 'remove'), '1');
    } catch (e) {
      throw context(e, `Error removing device ${this.uuid}`);
    }
    this.active = false;
  }

  /** The parent's class entry; on a miss, a case-insensitive "did you mean". */
  async findParentDir(): Promise<string> {
    const parent = this.requireParent();
    const path = join(this.root.mdevBus, parent);
    if (await isDir(path)) return path;
    for (const name of await readDirNames(this.root.mdevBus)) {
      if (name.toLowerCase() === parent.toLowerCase()) {
        throw fail('ENODEV', `Unable to find parent device '${parent}'. Did you mean '${name}'?`);
      }
    }
    throw fail('ENODEV', `Unable to find parent device '${parent}'`);
  }

  /** The pre-checks of mdevctl's `create`, then the write of the UUID to the type's `create`. */
  async create(): Promise<void> {
    const parent = this.requireParent();
    const mdevType = this.requireType();
    const existing = new MDev(this.root, this.uuid);
    let loaded = true;
    try {
      await existing.loadFromSysfs();
    } catch {
      loaded = false;
    }
    if (loaded && existing.active) {
      if (existing.parent !== parent) throw fail('EEXIST', 'Device exists under different parent');
      if (existing.mdevType !== mdevType) throw fail('EEXIST', 'Device exists with different type');
      throw fail('EEXIST', 'Device already exists');
    }
    const supported = join(await this.findParentDir(), 'mdev_supported_types');
    if (!(await isDir(supported))) throw fail('ENODEV', `Parent ${parent} is not currently registered for mdev support`);
    const typeDir = join(supported, mdevType);
    if (!(await isDir(typeDir))) throw fail('EINVAL', `Parent ${parent} does not support mdev type ${mdevType}`);
    const avail = parseI32((await readToString(join(typeDir, 'available_instances'))).trim());
    if (avail === 0) throw fail('ENOSPC', `No available instances of ${mdevType} on ${parent}`);
    try {
      await writeAttr(join(typeDir, 'create'), this.uuid);
    } catch (e) {
      throw context(e, `Failed to create mdev ${this.uuid}, type ${mdevType} on ${parent}`);
    }
    this.active = true;
  }

  /** `create`, then each attribute in order; an attribute failure removes the device again. */
  async start(): Promise<void> {
    await this.create();
    for (const [k, v] of this.attrs) {
      try {
        const p = join(this.activePath, k);
        if (!(await exists(p))) throw fail('ENOENT', `Invalid attribute '${k}'`);
        try {
          await writeAttr(p, v);
        } catch (e) {
          throw context(e, `Failed to write ${v} to attribute ${k}`);
        }
      } catch (e) {
        // As mdevctl: if the rollback fails, its error is the one reported.
        await this.stop();
        throw e;
      }
    }
  }

  /** Stores the definition (atomically; see definitions.ts). */
  async writeConfig(): Promise<void> {
    const path = this.persistentPath;
    if (path === undefined) throw fail('EINVAL', `Device ${this.uuid} is missing a parent`);
    await writeDefinitionFile(path, formatDefinition(this.definition()));
  }

  async undefine(): Promise<void> {
    const p = this.persistentPath;
    if (p === undefined) throw fail('EINVAL', `Failed to undefine ${this.uuid}`);
    try {
      await unlink(p);
    } catch (e) {
      throw context(e, `Failed to remove file ${debugPath(p)}`);
    }
  }

  /** Inserts an attribute at `index` (default: the end). */
  addAttribute(name: string, value: string, index: number | undefined): void {
    if (index === undefined) this.attrs.push([name, value]);
    else if (index > this.attrs.length) throw fail('EINVAL', `Attribute index ${index} is invalid`);
    else this.attrs.splice(index, 0, [name, value]);
  }

  /** Deletes the attribute at `index` (default: the last one). */
  deleteAttribute(index: number | undefined): void {
    if (index === undefined) this.attrs.pop();
    else if (index >= this.attrs.length) throw fail('EINVAL', `Attribute index ${index} is invalid`);
    else this.attrs.splice(index, 1);
  }
}
