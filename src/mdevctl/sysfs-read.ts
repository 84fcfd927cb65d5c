/**
 * Concepts: the file operations mdevctl performs on a sysfs tree, with its semantics: "exists?" and "is a dir?"
 * follow symlinks and treat any error as "no"; directory listings keep readdir order and classify entries without
 * following links; names of active mdevs come from `realpath`, never from reading link text; attribute writes open
 * with `O_WRONLY|O_CREAT|O_TRUNC` and write the whole value in one `write()`. Everything is async, because the tree
 * may be a FUSE mount served by this very process (reads go through `fileReads()`, which a CLI process makes
 * synchronous).
 */
import { constants as fsConstants } from 'node:fs';
import { open } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { UmdevError } from '../errors.js';
import { fail, osError } from './failure.js';
import { fileReads } from './read-text.js';
import type { Sysroot } from './sysroot.js';

/** `Path::exists`: stat follows links; any failure means "no". */
export async function exists(p: string): Promise<boolean> {
  try {
    await fileReads().stat(p);
    return true;
  } catch {
    return false;
  }
}

/** `Path::is_dir`: follows links; any failure means "no". */
export async function isDir(p: string): Promise<boolean> {
  try {
    return (await fileReads().stat(p)).isDirectory();
  } catch {
    return false;
  }
}

/** What a directory entry is without following it (`DirEntry::metadata`); errors propagate as os errors. */
export async function lstatKind(p: string): Promise<'dir' | 'file' | 'other'> {
  try {
    const s = await fileReads().lstat(p);
    return s.isDirectory() ? 'dir' : s.isFile() ? 'file' : 'other';
  } catch (e) {
    throw osError(e);
  }
}

/** Entry names in getdents order, as mdevctl sees them. */
export async function readDirNames(p: string): Promise<string[]> {
  try {
    return await fileReads().dirNames(p);
  } catch (e) {
    throw osError(e);
  }
}

/** `basename(realpath(p))`, as mdevctl's `canonical_basename`. */
export async function canonicalBasename(p: string): Promise<string> {
  let real: string;
  try {
    real = await fileReads().realpath(p);
  } catch (e) {
    throw osError(e);
  }
  if (real === '/') throw fail('EINVAL', 'Invalid path');
  return basename(real);
}

/**
 * Writes `value` to a sysfs attribute as mdevctl does: `open(O_WRONLY|O_CREAT|O_TRUNC, 0666)` and `write_all`.
 * The errno of the write is what counts; close errors are ignored (Rust drops the file without checking).
 */
export async function writeAttr(p: string, value: string): Promise<void> {
  try {
    const fh = await open(p, 'w', 0o666);
    try {
      const buf = Buffer.from(value, 'utf8');
      let off = 0;
      while (off < buf.length) {
        const { bytesWritten } = await fh.write(buf, off, buf.length - off);
        if (bytesWritten === 0) throw new UmdevError('EIO', 'failed to write whole buffer');
        off += bytesWritten;
      }
    } finally {
      await fh.close().catch(() => undefined);
    }
  } catch (e) {
    throw osError(e);
  }
}

/** Writes `value` to an existing attribute without creating it (`O_WRONLY` only), for umdev's own extras. */
export async function writeExisting(p: string, value: string): Promise<void> {
  try {
    const fh = await open(p, fsConstants.O_WRONLY);
    try {
      await fh.write(Buffer.from(value, 'utf8'));
    } finally {
      await fh.close().catch(() => undefined);
    }
  } catch (e) {
    throw osError(e);
  }
}

/** Rust's `str::parse::<i32>()` with its error texts (after mdevctl's `trim()`). */
export function parseI32(s: string): number {
  if (s.length === 0) throw fail('EINVAL', 'cannot parse integer from empty string');
  let digits = s;
  let negative = false;
  if (s[0] === '+' || s[0] === '-') {
    negative = s[0] === '-';
    digits = s.slice(1);
    if (digits.length === 0) throw fail('EINVAL', 'invalid digit found in string');
  }
  if (!/^[0-9]+$/.test(digits)) throw fail('EINVAL', 'invalid digit found in string');
  const n = Number(BigInt(negative ? `-${digits}` : digits));
  if (n > 2147483647) throw fail('ERANGE', 'number too large to fit in target type');
  if (n < -2147483648) throw fail('ERANGE', 'number too small to fit in target type');
  return n;
}

/** Parent and type of an active mdev, as derived from sysfs. */
export interface ActiveMdev {
  readonly parent: string;
  readonly mdevType: string;
}

/**
 * mdevctl's `load_from_sysfs`: `undefined` when `bus/mdev/devices/<uuid>` does not exist (a dangling link counts as
 * missing); otherwise the parent is `basename(dirname(realpath(link)))` and the type is
 * `basename(realpath(link/mdev_type))`. A realpath failure while the device still exists is an error; if the
 * device vanished meanwhile, it is simply not active. Each symlink costs a round trip on a FUSE mount, so what is
 * resolved once is not resolved again: whether the device exists is asked only when a realpath fails (one succeeds
 * only for what exists), the parent's directory is canonical already, and `mdev_type` is looked up from the device's
 * real directory, where the link leads.
 */
export async function readActiveMdev(root: Sysroot, uuid: string): Promise<ActiveMdev | undefined> {
  const path = root.mdevPath(uuid);
  const orGone = async (f: () => Promise<string>): Promise<string | undefined> => {
    try {
      return await f();
    } catch (e) {
      if (await exists(path)) throw e;
      return undefined;
    }
  };
  let real: string | undefined;
  const parent = await orGone(async () => {
    try {
      real = await fileReads().realpath(path);
    } catch (e) {
      throw osError(e);
    }
    const dir = dirname(real);
    if (dir === '/') throw fail('EINVAL', 'Invalid path');
    return basename(dir);
  });
  if (parent === undefined || real === undefined) return undefined;
  const device = real;
  const mdevType = await orGone(() => canonicalBasename(join(device, 'mdev_type')));
  if (mdevType === undefined) return undefined;
  return { parent, mdevType };
}
