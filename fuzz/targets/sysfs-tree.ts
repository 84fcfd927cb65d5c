/** The sysfs fuzz target's map of the mount: every entry, walked without following links (sysfs links loop). */
import { readdir, lstat } from 'node:fs/promises';
import { join } from 'node:path';

/** What the mount holds now; refreshed after a batch and now and then while devices come and go. */
export interface TreeMap {
  readonly files: readonly string[];
  /** Files with a write bit (create, remove, bind, online, power/control, …). */
  readonly writable: readonly string[];
  readonly dirs: readonly string[];
  readonly links: readonly string[];
  /** UUIDs of the devices present (bus/mdev/devices). */
  readonly devices: readonly string[];
  /** Permission bits of every file and directory as walked (chmod is allowed, as on kernfs, so inputs change them). */
  readonly modes: ReadonlyMap<string, number>;
}

/** Walk `root` (at most `limit` entries, so a runaway tree cannot stall the fuzzer). */
export async function walk(root: string, limit = 20_000): Promise<TreeMap> {
  const files: string[] = [];
  const writable: string[] = [];
  const dirs: string[] = [root];
  const links: string[] = [];
  const modes = new Map<string, number>();
  for (let i = 0; i < dirs.length && files.length + dirs.length + links.length < limit; i++) {
    let entries;
    try {
      entries = await readdir(dirs[i]!, { withFileTypes: true });
    } catch {
      continue; // removed under us
    }
    for (const e of entries) {
      const p = join(dirs[i]!, e.name);
      if (e.isSymbolicLink()) {
        links.push(p);
        continue;
      }
      const st = await lstat(p).catch(() => undefined);
      if (st !== undefined) modes.set(p, st.mode & 0o7777);
      if (e.isDirectory()) dirs.push(p);
      else {
        files.push(p);
        // Kernel sysfs refuses a write open of a file without write bits even to root (kernfs_fop_open): skip those.
        if (st !== undefined && (st.mode & 0o222) !== 0) writable.push(p);
      }
    }
  }
  const devices = await readdir(join(root, 'bus/mdev/devices')).catch(() => [] as string[]);
  return { files, writable, dirs, links, devices, modes };
}
