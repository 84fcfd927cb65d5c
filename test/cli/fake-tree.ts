/**
 * Believable fake sysfs + definitions trees for CLI tests, laid out like a kernel's (see mdevctl's own tests):
 * `sys/devices/virtual/<class>/<parent>` with `mdev_supported_types/<type>/…`, relative class and bus symlinks, and
 * `etc/` standing in for `/etc/mdevctl.d` with empty `scripts.d/{callouts,notifiers}`. Each tree lives in a fresh
 * temp dir that `remove()` deletes.
 */
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Sysroot } from '../../src/mdevctl/sysroot.js';

/** One supported type of a fake parent. */
export interface FakeType {
  readonly name: string;
  readonly available?: string;
  readonly deviceApi?: string;
  readonly prettyName?: string;
  readonly description?: string;
}

/** A fake tree; owned by the test that made it, which calls `remove()`. */
export class FakeTree {
  readonly dir: string;
  constructor(dir: string) {
    this.dir = dir;
  }

  static async create(prefix = 'umdevctl-'): Promise<FakeTree> {
    const t = new FakeTree(await mkdtemp(join(tmpdir(), prefix)));
    await mkdir(join(t.sys, 'class/mdev_bus'), { recursive: true });
    await mkdir(join(t.sys, 'bus/mdev/devices'), { recursive: true });
    await mkdir(join(t.etc, 'scripts.d/callouts'), { recursive: true });
    await mkdir(join(t.etc, 'scripts.d/notifiers'), { recursive: true });
    return t;
  }

  get sys(): string {
    return join(this.dir, 'sys');
  }
  get etc(): string {
    return join(this.dir, 'etc');
  }
  get root(): Sysroot {
    return new Sysroot({ sysfsRoot: this.sys, configRoot: this.etc });
  }
  /** The CLI flags that point umdevctl at this tree. */
  get flags(): string[] {
    return ['--sysfs-root', this.sys, '--config-root', this.etc];
  }

  parentDir(parent: string, cls = 'mtty'): string {
    return join(this.sys, 'devices/virtual', cls, parent);
  }

  /** A registered parent with its types (values end in `\n`, as sysfs prints them). */
  async addParent(parent: string, types: readonly FakeType[], cls = 'mtty'): Promise<void> {
    const pdir = this.parentDir(parent, cls);
    await mkdir(join(pdir, 'mdev_supported_types'), { recursive: true });
    await symlink(`../../devices/virtual/${cls}/${parent}`, join(this.sys, 'class/mdev_bus', parent));
    for (const t of types) {
      const tdir = join(pdir, 'mdev_supported_types', t.name);
      await mkdir(join(tdir, 'devices'), { recursive: true });
      await writeFile(join(tdir, 'available_instances'), `${t.available ?? '24'}\n`);
      await writeFile(join(tdir, 'device_api'), `${t.deviceApi ?? 'vfio-pci'}\n`);
      if (t.prettyName !== undefined) await writeFile(join(tdir, 'name'), `${t.prettyName}\n`);
      if (t.description !== undefined) await writeFile(join(tdir, 'description'), `${t.description}\n`);
      await writeFile(join(tdir, 'create'), '');
    }
  }

  /** An active mdev: its dir under the parent, `mdev_type`, `remove`, extra attribute files, and the bus link. */
  async addActive(uuid: string, parent: string, type: string, attrs: readonly string[] = [], cls = 'mtty'): Promise<void> {
    const ddir = join(this.parentDir(parent, cls), uuid);
    await mkdir(ddir, { recursive: true });
    await symlink(`../mdev_supported_types/${type}`, join(ddir, 'mdev_type'));
    await writeFile(join(ddir, 'remove'), '');
    for (const a of attrs) {
      await mkdir(join(ddir, a, '..'), { recursive: true });
      await writeFile(join(ddir, a), '');
    }
    await symlink(`../../../devices/virtual/${cls}/${parent}/${uuid}`, join(this.sys, 'bus/mdev/devices', uuid));
  }

  /** A definition file with exactly `text` as content. */
  async addDefinition(parent: string, uuid: string, text: string): Promise<void> {
    await mkdir(join(this.etc, parent), { recursive: true });
    await writeFile(join(this.etc, parent, uuid), text);
  }

  async remove(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
  }
}

/** A definition in mdevctl's own format (pretty JSON, no trailing newline). */
export function definitionText(type: string, start: 'auto' | 'manual', attrs: ReadonlyArray<readonly [string, string]> = []): string {
  const a = attrs.length === 0 ? '[]' : `[\n${attrs.map(([k, v]) => `    {\n      ${JSON.stringify(k)}: ${JSON.stringify(v)}\n    }`).join(',\n')}\n  ]`;
  return `{\n  "mdev_type": ${JSON.stringify(type)},\n  "start": "${start}",\n  "attrs": ${a}\n}`;
}
