/**
 * The sysfs fuzz target: the shipped umdevd with its FUSE mount, attacked through the mount with random and mutated
 * file operations (sysfs-ops.ts): writes of odd values to every writable attribute, reads, opens with odd flags,
 * readdir, lookups of junk names, attribute and namespace changes, racing creates and removes. After a batch every
 * device is removed again; the probe then lists the types, checks each type's available_instances is back where it
 * started (the pool is consistent), and creates and removes one device.
 */
import { constants as C } from 'node:fs';
import { chmod, lstat, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { FuzzTarget, Launched } from '../engine.js';
import type { Rng } from '../rng.js';
import { launchUmdevd, type Umdevd } from '../umdevd.js';
import { fileOp } from './sysfs-ops.js';
import { walk, type TreeMap } from './sysfs-tree.js';

/** The probe's own device, outside the UUID pool the inputs draw from. */
const PROBE_UUID = 'ffffffff-0000-4000-8000-00000000f00f';

class Session implements Launched {
  readonly pid: number;
  readonly exited: Launched['exited'];
  readonly #d: Umdevd;
  readonly #types: string;
  #tree: TreeMap;
  /** The tree as launched: its modes are put back after each batch. */
  readonly #first: TreeMap;
  #pool: Map<string, string> | undefined;
  readonly #errors: string[] = [];

  constructor(d: Umdevd, tree: TreeMap) {
    this.#d = d;
    this.pid = d.served.pid;
    this.exited = d.served.exited;
    this.#types = join(d.mount, 'class/mdev_bus/mtty/mdev_supported_types');
    this.#tree = tree;
    this.#first = tree;
  }

  async input(rng: Rng): Promise<void> {
    // Devices come and go; look again now and then so their files are attacked too.
    if (rng.chance(0.01)) this.#tree = await walk(this.#d.mount);
    await fileOp(rng, this.#d.mount, this.#tree);
  }

  /**
   * Put back the modes inputs changed (a `create` without write bits refuses root, as on kernfs) and remove every
   * device the batch left, so the probe can compare the pool with where it started.
   */
  async endBatch(): Promise<void> {
    for (const [p, mode] of this.#first.modes) {
      const now = await lstat(p).catch(() => undefined);
      if (now !== undefined && (now.mode & 0o7777) !== mode) await chmod(p, mode).catch((e: Error) => this.#errors.push(`cannot restore mode of ${p}: ${e.message}`));
    }
    const devices = join(this.#d.mount, 'bus/mdev/devices');
    for (const u of await readdir(devices).catch(() => [] as string[])) {
      // A device created after the first walk has no recorded modes; inputs may have taken its `remove` file's
      // write bits, which refuses even root (as kernfs does), so give them back (0200, as the kernel's) first.
      const remove = join(devices, u, 'remove');
      await chmod(remove, 0o200).catch(() => undefined);
      await writeFile(remove, '1', { flag: C.O_WRONLY }).catch((e: Error) => this.#errors.push(`cannot remove ${u} after a batch: ${e.message}`));
    }
    this.#tree = await walk(this.#d.mount);
  }

  async probe(): Promise<void> {
    const pool = await this.#available();
    if (this.#pool === undefined) this.#pool = pool;
    else if (!sameMap(pool, this.#pool)) this.#errors.push(`available_instances ${show(pool)} after removing every device; started at ${show(this.#pool)}`);
    const [type] = [...pool.keys()];
    if (type === undefined) throw new Error('no mdev_supported_types');
    await writeFile(join(this.#types, type, 'create'), PROBE_UUID, { flag: C.O_WRONLY });
    const during = await this.#available();
    await writeFile(join(this.#d.mount, 'bus/mdev/devices', PROBE_UUID, 'remove'), '1', { flag: C.O_WRONLY });
    const after = await this.#available();
    if (Number(during.get(type)) >= Number(pool.get(type))) this.#errors.push(`${type}: a create left available_instances at ${during.get(type)}`);
    if (!sameMap(after, pool)) this.#errors.push(`a create and remove changed available_instances from ${show(pool)} to ${show(after)}`);
  }

  takeErrors(): string[] {
    return [...this.#errors.splice(0), ...this.#d.takeErrors()];
  }

  stop(): Promise<void> {
    return this.#d.stop();
  }

  async #available(): Promise<Map<string, string>> {
    const m = new Map<string, string>();
    for (const t of (await readdir(this.#types)).sort()) m.set(t, (await readFile(join(this.#types, t, 'available_instances'), 'utf8')).trim());
    return m;
  }
}

function sameMap(a: ReadonlyMap<string, string>, b: ReadonlyMap<string, string>): boolean {
  return a.size === b.size && [...a].every(([k, v]) => b.get(k) === v);
}

function show(m: ReadonlyMap<string, string>): string {
  return [...m].map(([k, v]) => `${k}=${v}`).join(' ');
}

export const target: FuzzTarget = {
  name: 'sysfs',
  // A FUSE round trip is latency, not work: eight in flight keep the daemon busy.
  concurrency: 8,
  launch: async () => {
    const d = await launchUmdevd();
    return new Session(d, await walk(d.mount));
  },
};
