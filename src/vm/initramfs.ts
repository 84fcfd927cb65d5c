/**
 * Packs the guest's initramfs: a gzip'd cpio archive in the kernel's "newc" format (init/initramfs.c), written
 * here so the host needs no cpio. It holds busybox (from the VM root), the guest's `/init` from this folder, the
 * directories init mounts on, and `/dev/console`, which the kernel opens for init before any devtmpfs exists.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

/** One archive member. `data` for regular files; `rdev` [major, minor] for device nodes. */
interface Entry {
  readonly name: string;
  readonly mode: number;
  readonly data?: Buffer;
  readonly rdev?: readonly [number, number];
}

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFCHR = 0o020000;

/** The guest's init script, kept readable beside this module. */
export const GUEST_INIT = fileURLToPath(new URL('../../../vm/guest/init', import.meta.url));

/** An extra regular file for the guest: `name` relative to the archive root, in a directory listed in `dirs`. */
export interface ExtraFile {
  readonly name: string;
  readonly data: Buffer;
}

/**
 * Write `path` as the initramfs for a guest that runs `init` with busybox from `busybox`, plus `extra` files (kernel
 * modules, data) in the extra directories `dirs`, which come before them in the archive.
 */
export async function writeInitramfs(path: string, busybox: string, init = GUEST_INIT, extra: { dirs?: readonly string[]; files?: readonly ExtraFile[] } = {}): Promise<void> {
  const entries: Entry[] = [
    ...['bin', 'dev', 'proc', 'sys', 'tmp', ...(extra.dirs ?? [])].map((name) => ({ name, mode: S_IFDIR | 0o755 })),
    { name: 'dev/console', mode: S_IFCHR | 0o600, rdev: [5, 1] },
    { name: 'bin/busybox', mode: S_IFREG | 0o755, data: await readFile(busybox) },
    { name: 'init', mode: S_IFREG | 0o755, data: await readFile(init) },
    ...(extra.files ?? []).map((f) => ({ name: f.name, mode: S_IFREG | 0o644, data: f.data })),
  ];
  await writeFile(path, gzipSync(cpioNewc(entries)));
}

/** The entries as one newc archive, closed by the `TRAILER!!!` member. */
function cpioNewc(entries: readonly Entry[]): Buffer {
  const parts: Buffer[] = [];
  let ino = 1;
  for (const e of [...entries, { name: 'TRAILER!!!', mode: 0 }]) {
    const data = e.data ?? Buffer.alloc(0);
    const name = Buffer.from(`${e.name}\0`);
    const rdev = e.rdev ?? [0, 0];
    // magic, ino, mode, uid, gid, nlink, mtime, filesize, devmajor, devminor, rdevmajor, rdevminor, namesize, check
    const fields = [ino++, e.mode, 0, 0, e.mode & S_IFDIR ? 2 : 1, 0, data.length, 0, 0, rdev[0], rdev[1], name.length, 0];
    const header = Buffer.from(`070701${fields.map((f) => f.toString(16).padStart(8, '0')).join('')}`, 'ascii');
    parts.push(header, name, pad(header.length + name.length), data, pad(data.length));
  }
  return Buffer.concat(parts);
}

/** Zero bytes that bring `n` to a multiple of 4, as newc aligns names and data. */
function pad(n: number): Buffer {
  return Buffer.alloc((4 - (n % 4)) % 4);
}
