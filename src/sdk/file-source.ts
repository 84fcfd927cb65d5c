/**
 * Concepts: the root's half of a device's file (`PciFileSpec`): who may name which file, and how it is opened.
 * A name is a path under the parent's directory (absolute, or relative to it); it is opened with openat2 beneath
 * that directory and with no symlink at any component, so neither `..`, an absolute path elsewhere, nor a symlink
 * planted in the directory reaches anything outside it. What opens must be a regular file or a block device. The
 * file is opened read-write, or read-only when the daemon may only read it (the device then refuses writes).
 *
 * A device that names no file gets its default: `<uuid>.img` in the same directory, a sparse file of the type's
 * size made on first use, kept after the device is removed (it is the disk's data: a device created again with the
 * same UUID, as mdevctl's defined devices are, finds its disk again).
 *
 * The root opens and checks; it never reads a byte of the file. The open file travels to the device's model as an
 * fd (`OpenedFile`), which the receiver owns.
 */
import fs from 'node:fs';
import path from 'node:path';
import { UmdevError, err, isErrno, isUmdevError } from '../errors.js';
import { native } from '../native/index.js';
import type { OpenedFile } from '../vfio-user/instance.js';

/** The longest path accepted for a file attribute (PATH_MAX). */
const MAX_PATH = 4096;

/** `value` as written to a file attribute: one path, trailing newline allowed; EINVAL for anything else. */
export function parseFileName(value: string): string {
  const name = value.replace(/\n$/, '');
  if (name === '' || name.length >= MAX_PATH || /[\0\n]/.test(name)) throw err('EINVAL', 'a file attribute takes one path');
  return name;
}

/** `name` relative to `dir`: EACCES for an absolute path outside it. The rest is openat2's to refuse. */
function beneath(dir: string, name: string): string {
  if (!path.isAbsolute(name)) return name;
  const rel = path.relative(dir, path.normalize(name));
  if (rel === '' || rel.startsWith('..') || path.isAbsolute(rel)) throw err('EACCES', `${name} is not under ${dir}`);
  return rel;
}

/** openat2's refusals as the errnos a user reads: a symlink or an escape is EACCES, the rest as they are. */
function opened(dir: string, rel: string, write: boolean, create: boolean): number {
  try {
    return native.openBeneath(dir, rel, write, create, 0o600);
  } catch (e) {
    const code = isUmdevError(e) ? ((e.cause as { code?: string } | undefined)?.code ?? e.errno) : 'EIO';
    if (code === 'ELOOP' || code === 'EXDEV') throw err('EACCES', `${rel} leaves ${dir} or goes through a symlink`, e);
    throw new UmdevError(isErrno(code) ? code : 'EIO', `cannot open ${rel} under ${dir}: ${(e as Error).message}`, { cause: e });
  }
}

/**
 * Open `name` beneath `dir` for a device: read-write, or read-only when writing is refused (EACCES, EROFS). The fd
 * is checked to be a regular file or a block device (EINVAL otherwise, with nothing left open).
 */
export function openNamed(dir: string, name: string): OpenedFile {
  const rel = beneath(dir, name);
  let fd: number;
  let readOnly = false;
  try {
    fd = opened(dir, rel, true, false);
  } catch (e) {
    if (!isUmdevError(e) || (e.errno !== 'EACCES' && e.errno !== 'EROFS' && e.errno !== 'EPERM') || /symlink/.test(e.message)) throw e;
    fd = opened(dir, rel, false, false);
    readOnly = true;
  }
  return checked(fd, readOnly, path.join(dir, rel));
}

/** The device's default file, `<dir>/<uuid>.img`, made sparse at `size` bytes when it does not exist (or is empty). */
export function openDefault(dir: string, uuid: string, size: number): OpenedFile {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const fd = opened(dir, `${uuid}.img`, true, true);
  try {
    const st = fs.fstatSync(fd);
    if (st.isFile() && st.size === 0) fs.ftruncateSync(fd, size);
  } catch (e) {
    native.close(fd);
    throw err('EIO', `cannot size the default image ${uuid}.img: ${(e as Error).message}`, e);
  }
  return checked(fd, false, `default: ${path.join(dir, `${uuid}.img`)}`);
}

function checked(fd: number, readOnly: boolean, label: string): OpenedFile {
  try {
    const st = fs.fstatSync(fd);
    const kind = st.isFile() ? 'file' : st.isBlockDevice() ? 'block' : undefined;
    if (kind === undefined) throw err('EINVAL', `${label} is neither a regular file nor a block device`);
    const size = native.fdSize(fd);
    if (size > BigInt(Number.MAX_SAFE_INTEGER)) throw err('EINVAL', `${label} is larger than 2^53 bytes`);
    return { fd, size: Number(size), kind, readOnly, label };
  } catch (e) {
    native.close(fd);
    throw e;
  }
}
