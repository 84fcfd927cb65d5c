/**
 * One sysfs fuzz input: a file operation through the FUSE mount, made with fs calls of this process (no shell), so
 * the daemon sees exactly the requests the kernel forms from them. Every error is an answer and is dropped; only a
 * call that never returns matters (the engine's input timeout counts it as a hang).
 */
import { constants as C } from 'node:fs';
import * as fs from 'node:fs/promises';
import { join } from 'node:path';
import type { Rng } from '../rng.js';
import { junkName, payload, uuid } from './sysfs-payloads.js';
import type { TreeMap } from './sysfs-tree.js';

/** Open flags worth trying on an attribute, a directory or a link (O_PATH and O_TMPFILE are not in `constants`). */
const FLAGS = [
  C.O_RDONLY, C.O_WRONLY, C.O_RDWR, C.O_WRONLY | C.O_TRUNC, C.O_WRONLY | C.O_APPEND, C.O_RDWR | C.O_CREAT,
  C.O_WRONLY | C.O_CREAT | C.O_EXCL, C.O_RDONLY | C.O_DIRECTORY, C.O_RDONLY | C.O_NOFOLLOW, C.O_RDONLY | C.O_NONBLOCK,
  C.O_WRONLY | C.O_SYNC, C.O_RDONLY | C.O_NOATIME, C.O_RDONLY | C.O_TRUNC, C.O_WRONLY | C.O_DIRECT, 0o10000000,
  0o20000000 | C.O_DIRECTORY | C.O_RDWR,
];

const ignore = (): undefined => undefined;

/** Run one random operation on the tree `t` under `root`. */
export async function fileOp(rng: Rng, root: string, t: TreeMap): Promise<void> {
  const roll = rng.int(100);
  if (roll < 40) return write(rng, rng.chance(0.9) && t.writable.length > 0 ? rng.pick(t.writable) : anyPath(rng, t), t.devices);
  if (roll < 58) return read(rng, anyPath(rng, t));
  if (roll < 65) return openOdd(rng, anyPath(rng, t));
  if (roll < 71) return void (await fs.readdir(rng.pick(t.dirs)).catch(ignore));
  if (roll < 78) return void (await fs.lstat(join(rng.pick(t.dirs), junkName(rng))).catch(ignore));
  if (roll < 82) return meta(rng, anyPath(rng, t));
  if (roll < 87) return namespace(rng, root, t);
  if (roll < 93) return createRemoveStorm(rng, root, t);
  if (t.links.length > 0 && rng.chance(0.5)) return void (await fs.readlink(rng.pick(t.links)).catch(ignore));
  return void (await fs.stat(anyPath(rng, t)).catch(ignore));
}

function anyPath(rng: Rng, t: TreeMap): string {
  const r = rng.int(10);
  if (r < 6 || (t.links.length === 0 && r < 8)) return rng.pick(t.files);
  if (r < 8) return rng.pick(t.links);
  return rng.pick(t.dirs);
}

/** A write of a random payload, whole or in two parts, at 0 or an offset, through one of a few open modes. */
async function write(rng: Rng, path: string, known: readonly string[]): Promise<void> {
  const data = payload(rng, known);
  const fh = await fs.open(path, rng.pick(['w', 'a', 'r+', C.O_WRONLY, C.O_WRONLY])).catch(ignore);
  if (fh === undefined) return;
  try {
    const at = rng.chance(0.85) ? 0 : rng.pick([1, 4095, 4096, 1 << 20]);
    if (rng.chance(0.2) && data.length > 1) {
      const cut = 1 + rng.int(data.length - 1);
      await fh.write(data, 0, cut, at).catch(ignore);
      await fh.write(data, cut, data.length - cut, at + cut).catch(ignore);
    } else {
      await fh.write(data, 0, data.length, at).catch(ignore);
    }
  } finally {
    await fh.close().catch(ignore);
  }
}

/** A read of a random length at a random offset. */
async function read(rng: Rng, path: string): Promise<void> {
  const fh = await fs.open(path, 'r').catch(ignore);
  if (fh === undefined) return;
  try {
    const buf = Buffer.alloc(rng.pick([0, 1, 7, 4096, 65536]));
    await fh.read(buf, 0, buf.length, rng.chance(0.8) ? 0 : rng.pick([1, 4095, 4096, 1 << 30])).catch(ignore);
  } finally {
    await fh.close().catch(ignore);
  }
}

async function openOdd(rng: Rng, path: string): Promise<void> {
  const flags = rng.chance(0.8) ? rng.pick(FLAGS) : rng.u32() & 0o37777777;
  const fh = await fs.open(path, flags).catch(ignore);
  await fh?.close().catch(ignore);
}

/** Attribute changes sysfs refuses or ignores: modes, owners, sizes, times. */
async function meta(rng: Rng, path: string): Promise<void> {
  switch (rng.int(5)) {
    case 0:
      return fs.chmod(path, rng.int(0o10000)).catch(ignore);
    case 1:
      return fs.chown(path, rng.pick([0, 1, 65534]), rng.pick([0, 1, 65534])).catch(ignore);
    case 2:
      return fs.truncate(path, rng.pick([0, 1, 4096])).catch(ignore);
    case 3:
      return fs.utimes(path, rng.int(2e9), rng.int(2e9)).catch(ignore);
    default:
      return void (await fs.access(path, rng.int(8)).catch(ignore));
  }
}

/** Changes to the namespace itself, which sysfs does not allow from userspace. */
async function namespace(rng: Rng, root: string, t: TreeMap): Promise<void> {
  const dir = rng.pick(t.dirs);
  const fresh = join(dir, junkName(rng));
  switch (rng.int(7)) {
    case 0:
      return fs.mkdir(rng.chance(0.5) ? fresh : join(root, 'bus/mdev/devices', uuid(rng))).catch(ignore);
    case 1:
      return fs.unlink(anyPath(rng, t)).catch(ignore);
    case 2:
      return fs.rmdir(dir).catch(ignore);
    case 3:
      return fs.rename(anyPath(rng, t), rng.chance(0.5) ? fresh : anyPath(rng, t)).catch(ignore);
    case 4:
      return fs.symlink(anyPath(rng, t), fresh).catch(ignore);
    case 5:
      return fs.link(rng.pick(t.files), fresh).catch(ignore);
    default:
      return fs.writeFile(fresh, 'x').catch(ignore);
  }
}

/** Creates and removes of the same few UUIDs at once, on every type, as racing tools would. */
async function createRemoveStorm(rng: Rng, root: string, t: TreeMap): Promise<void> {
  const creates = t.writable.filter((p) => p.endsWith('/create'));
  const uuids = Array.from({ length: 1 + rng.int(4) }, () => (t.devices.length > 0 && rng.chance(0.3) ? rng.pick(t.devices) : uuid(rng)));
  const ops: Promise<unknown>[] = [];
  for (const u of uuids) {
    for (let i = 0, n = 1 + rng.int(3); i < n; i++) {
      ops.push(creates.length > 0 && rng.chance(0.6) ? fs.writeFile(rng.pick(creates), u, { flag: C.O_WRONLY }) : fs.writeFile(join(root, 'bus/mdev/devices', u, 'remove'), '1', { flag: C.O_WRONLY }));
    }
  }
  await Promise.allSettled(ops);
}
